//! Compact JWS with RS256 (RFC 7515, 7518 §3.3), the only algorithm PDND and ModI use, verified and
//! signed with OpenSSL (the workspace's one cryptographic library). No other `alg` is accepted, so a
//! token cannot downgrade to `none` or to an HMAC keyed with a public key. One implementation for
//! every side of PDND: the ANPR connector signs its ModI tokens with it, the ANPR simulator's PDND
//! and GovWay verify them, and the ANPR client certification judges a vendor's tokens by it.

use openssl::base64::{decode_block, encode_block};
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{HasPublic, PKey, PKeyRef, Private};
use openssl::sign::{Signer, Verifier};
use serde_json::{Value, json};

/// Why a token was refused; the texts name the part, never a claim's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("not a compact JWS (three base64url parts)")]
    Shape,
    #[error("the JOSE header or the claims are not base64url JSON objects")]
    Encoding,
    #[error("alg must be RS256")]
    Algorithm,
    #[error("the header names no kid")]
    NoKid,
    #[error("the signature does not verify with the key of kid {kid}")]
    Signature { kid: String },
}

/// Unpadded base64url (RFC 7515 §2), as JWS parts are written.
pub fn base64url(bytes: &[u8]) -> String {
    encode_block(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// The bytes of unpadded base64url; `None` for padding or the standard alphabet's `+` and `/`, which a
/// JWS part may not carry.
pub fn from_base64url(text: &str) -> Option<Vec<u8>> {
    if text.contains(['+', '/', '=']) {
        return None;
    }
    let mut standard = text.replace('-', "+").replace('_', "/");
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    decode_block(&standard).ok()
}

fn object(part: &str) -> Result<Value, JwtError> {
    let bytes = from_base64url(part).ok_or(JwtError::Encoding)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Encoding)?;
    value.is_object().then_some(value).ok_or(JwtError::Encoding)
}

/// The `kid` of a token's header, to choose the key before verifying.
pub fn kid(token: &str) -> Result<String, JwtError> {
    let header = object(token.split('.').next().ok_or(JwtError::Shape)?)?;
    header["kid"].as_str().map(str::to_owned).ok_or(JwtError::NoKid)
}

/// The claims of `token` once its RS256 signature verified with `key`.
pub fn verify<T: HasPublic>(token: &str, key: &PKeyRef<T>) -> Result<Value, JwtError> {
    verify_with_any(token, [key])
}

/// The claims of `token` once its RS256 signature verified with one of `keys`. The header must name a
/// `kid` even when the caller does not choose the key by it: ModI requires one on every token.
pub fn verify_with_any<'k, T: HasPublic + 'k>(
    token: &str,
    keys: impl IntoIterator<Item = &'k PKeyRef<T>>,
) -> Result<Value, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(JwtError::Shape);
    };
    let header_json = object(header)?;
    if header_json["alg"] != "RS256" {
        return Err(JwtError::Algorithm);
    }
    let kid = header_json["kid"].as_str().ok_or(JwtError::NoKid)?.to_owned();
    let signature = from_base64url(signature).ok_or(JwtError::Encoding)?;
    let input = format!("{header}.{claims}");
    // A key OpenSSL cannot use is one the token does not verify with, not a different error.
    let verifies = |key: &PKeyRef<T>| {
        Verifier::new(MessageDigest::sha256(), key)
            .and_then(|mut verifier| {
                verifier.update(input.as_bytes())?;
                verifier.verify(&signature)
            })
            .unwrap_or(false)
    };
    if !keys.into_iter().any(verifies) {
        return Err(JwtError::Signature { kid });
    }
    object(claims)
}

/// `claims` signed with RS256 under `kid`.
pub fn sign(claims: &Value, key: &PKey<Private>, kid: &str) -> Result<String, openssl::error::ErrorStack> {
    let header = base64url(
        json!({"alg": "RS256", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes(),
    );
    let claims = base64url(claims.to_string().as_bytes());
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    signer.update(format!("{header}.{claims}").as_bytes())?;
    Ok(format!("{header}.{claims}.{}", base64url(&signer.sign_to_vec()?)))
}

/// SHA-256 of `bytes`, raw.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    hash(MessageDigest::sha256(), bytes)
        .map(|d| d.to_vec())
        .expect("SHA-256 is always available in OpenSSL")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;

    #[test]
    fn a_signed_token_verifies_and_a_changed_one_does_not() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let token = sign(&json!({"iss": "a", "n": 1}), &key, "k1").unwrap();
        assert_eq!(kid(&token).unwrap(), "k1");
        assert_eq!(verify(&token, &key).unwrap()["iss"], "a");
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], base64url(br#"{"iss":"b","n":1}"#), parts[2]);
        assert_eq!(
            verify(&forged, &key),
            Err(JwtError::Signature { kid: "k1".into() })
        );
        let none = format!("{}.{}.", base64url(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(verify(&none, &key), Err(JwtError::Algorithm));
        let kidless = format!("{}.{}.{}", base64url(br#"{"alg":"RS256"}"#), parts[1], parts[2]);
        assert_eq!(verify(&kidless, &key), Err(JwtError::NoKid));
    }

    #[test]
    fn a_token_verifies_with_any_one_of_the_keys_and_not_without_its_own() {
        let signer = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let other = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let token = sign(&json!({"iss": "a"}), &signer, "k1").unwrap();
        assert_eq!(verify_with_any(&token, [&*other, &*signer]).unwrap()["iss"], "a");
        assert_eq!(
            verify_with_any(&token, [&*other]),
            Err(JwtError::Signature { kid: "k1".into() })
        );
        let no_keys: [&PKeyRef<Private>; 0] = [];
        assert_eq!(
            verify_with_any(&token, no_keys),
            Err(JwtError::Signature { kid: "k1".into() })
        );
    }

    #[test]
    fn base64url_refuses_padding_and_the_standard_alphabet() {
        assert_eq!(from_base64url(&base64url(&[0xfb, 0xff])).unwrap(), [0xfb, 0xff]);
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(from_base64url("+_8"), None);
        assert_eq!(from_base64url("-_8="), None);
    }
}

//! ModI on PDND (platform notes §2.4), signed with OpenSSL like everything else in Snodo: the JWS
//! compact serialization with RS256, the `Agid-JWT-TrackingEvidence` (AUDIT_REST_02), the voucher's
//! client assertion carrying the audit token's digest, the `Digest` header and the
//! `Agid-JWT-Signature` (INTEGRITY_REST_02) whose `signed_headers` is an array of objects — GovWay
//! refuses it as a string.

use openssl::base64;
use openssl::pkey::{PKey, Private};
use serde_json::{Value, json};
use snodo_security::jws::{hex, sha256};
use uuid::Uuid;

/// How long each of Snodo's ModI tokens is valid: one call, with room for clock skew.
pub const TOKEN_LIFETIME_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum ModiError {
    #[error("signing the {what} JWT failed in OpenSSL: {reason}")]
    Sign { what: &'static str, reason: String },
}

/// The RSA key and key id (`kid`, the one registered on PDND) of one client.
#[derive(Clone)]
pub struct JwtSigner {
    key: PKey<Private>,
    kid: String,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    pub fn new(key: PKey<Private>, kid: impl Into<String>) -> JwtSigner {
        JwtSigner { key, kid: kid.into() }
    }

    /// `header.claims.signature`, RS256.
    pub fn sign(&self, what: &'static str, claims: &Value) -> Result<String, ModiError> {
        snodo_security::jws::sign(claims, &self.key, &self.kid).map_err(|e| ModiError::Sign {
            what,
            reason: e.to_string(),
        })
    }
}

/// Who asks, for the audit token (AUDIT_REST_02).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSubject {
    pub user_id: String,
    pub user_location: String,
    pub loa: String,
}

/// The three tokens and the digest of one e-service call.
#[derive(Debug, Clone)]
pub struct CallTokens {
    pub tracking_evidence: String,
    pub client_assertion: String,
    pub digest: String,
    pub signature: String,
}

/// What one call is about.
pub struct CallContext<'a> {
    pub client_id: &'a str,
    pub purpose_id: &'a str,
    /// The e-service audience (§2.2: the URL without `-PDND` and without the operation).
    pub audience: &'a str,
    /// The voucher's client-assertion audience.
    pub assertion_audience: &'a str,
    pub audit: &'a AuditSubject,
    pub now: i64,
}

/// Builds every token of one call over `body` (the exact bytes that will be sent): a fresh audit
/// token and client assertion each time, since the voucher is bound to this audit token's digest.
pub fn call_tokens(signer: &JwtSigner, ctx: &CallContext<'_>, body: &[u8]) -> Result<CallTokens, ModiError> {
    let now = ctx.now;
    let exp = now + TOKEN_LIFETIME_SECS;
    let tracking_evidence = signer.sign(
        "Agid-JWT-TrackingEvidence",
        &json!({
            "iss": ctx.client_id, "aud": ctx.audience, "purposeId": ctx.purpose_id,
            "dnonce": dnonce(), "userID": ctx.audit.user_id, "userLocation": ctx.audit.user_location,
            "LoA": ctx.audit.loa, "iat": now, "nbf": now, "exp": exp, "jti": Uuid::new_v4().to_string(),
        }),
    )?;
    let client_assertion = signer.sign(
        "client assertion",
        &json!({
            "iss": ctx.client_id, "sub": ctx.client_id, "aud": ctx.assertion_audience,
            "purposeId": ctx.purpose_id, "jti": Uuid::new_v4().to_string(), "iat": now, "exp": exp,
            "digest": {"alg": "SHA256", "value": hex(&sha256(tracking_evidence.as_bytes()))},
        }),
    )?;
    let digest = format!("SHA-256={}", base64::encode_block(&sha256(body)));
    let signature = signer.sign(
        "Agid-JWT-Signature",
        &json!({
            "iss": ctx.client_id, "sub": ctx.client_id, "aud": ctx.audience,
            "iat": now, "nbf": now, "exp": exp, "jti": Uuid::new_v4().to_string(),
            "signed_headers": [{"digest": digest}, {"content-type": "application/json"}],
        }),
    )?;
    Ok(CallTokens {
        tracking_evidence,
        client_assertion,
        digest,
        signature,
    })
}

/// A random 13-digit number, as AUDIT_REST_02's `dnonce`.
fn dnonce() -> u64 {
    1_000_000_000_000 + (Uuid::new_v4().as_u128() % 9_000_000_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::hash::MessageDigest;
    use openssl::rsa::Rsa;
    use openssl::sign::Verifier;
    use snodo_security::jws::from_base64url;

    fn signer() -> (JwtSigner, PKey<Private>) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        (JwtSigner::new(key.clone(), "kid-1"), key)
    }

    #[test]
    fn a_jws_verifies_with_the_public_key_and_names_its_kid() {
        let (signer, key) = signer();
        let jwt = signer.sign("test", &json!({"iss": "x"})).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&from_base64url(parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"}));
        let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
        verifier
            .update(format!("{}.{}", parts[0], parts[1]).as_bytes())
            .unwrap();
        assert!(verifier.verify(&from_base64url(parts[2]).unwrap()).unwrap());
        assert!(!jwt.contains('='), "no padding in a JWS");
    }

    #[test]
    fn the_voucher_is_bound_to_the_audit_token_and_signed_headers_is_an_array() {
        let (signer, _) = signer();
        let audit = AuditSubject {
            user_id: "operatore-1".into(),
            user_location: "postazione-1".into(),
            loa: "LoA2".into(),
        };
        let ctx = CallContext {
            client_id: "client",
            purpose_id: "purpose",
            audience: "https://modipa.example/MinInternoPortaANPR/C020-x/v1",
            assertion_audience: "auth.interop.pagopa.it/client-assertion",
            audit: &audit,
            now: 1_700_000_000,
        };
        let body = br#"{"idOperazioneClient":"1"}"#;
        let t = call_tokens(&signer, &ctx, body).unwrap();
        let claims = |jwt: &str| -> Value {
            serde_json::from_slice(&from_base64url(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
        };
        let assertion = claims(&t.client_assertion);
        assert_eq!(assertion["digest"]["alg"], "SHA256");
        assert_eq!(
            assertion["digest"]["value"],
            hex(&sha256(t.tracking_evidence.as_bytes()))
        );
        assert_eq!(assertion["aud"], ctx.assertion_audience);
        let signature = claims(&t.signature);
        assert!(signature["signed_headers"].is_array());
        assert_eq!(signature["signed_headers"][0]["digest"], t.digest);
        assert_eq!(signature["aud"], ctx.audience);
        assert!(signature["iat"].is_i64());
        // The Digest header is SHA-256 of exactly the bytes sent (checked against the openssl CLI's
        // algorithm through OpenSSL itself: base64 of the raw digest).
        assert_eq!(
            t.digest,
            format!("SHA-256={}", base64::encode_block(&sha256(body)))
        );
        let evidence = claims(&t.tracking_evidence);
        assert_eq!(evidence["purposeId"], "purpose");
        assert_eq!(evidence["LoA"], "LoA2");
    }
}

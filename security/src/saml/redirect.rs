//! The HTTP-Redirect binding (SAML Bindings §3.4): a message as a query parameter, raw DEFLATE +
//! base64 + URL-encoding, signed over the query string rather than with XML-DSig.
//!
//! Signing (§3.4.4.1): the octets `SAMLRequest=…&RelayState=…&SigAlg=…` (or `SAMLResponse=…`), each
//! value URL-encoded, are signed with the SigAlg algorithm; `&Signature=` the URL-encoded base64
//! value is appended. Values are encoded like Python's `quote_plus` (only `A-Za-z0-9_.-~` kept, space
//! as `+`, upper-case `%XX`), because spid-sp-test rebuilds the signed string that way
//! (spid-and-cie-id.md §1.1).
//!
//! Verification works on the **octets as received**: the signed string is cut from the raw query, not
//! rebuilt from decoded values, since two encodings of one value are different octets and
//! re-encoding would verify something the signer never signed (Bindings §3.4.4.1 says so). The
//! SigAlg must be in an allowlist (never SHA-1), the key one of the trusted keys, and only a
//! verified message is inflated, through a hard size limit: a DEFLATE bomb (a few KB expanding to
//! gigabytes) stops at the limit with [`RedirectError::InflatedTooLarge`], having allocated at most
//! the limit. The XML then goes through the crate's parser.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::{Signer, Verifier};

use super::response::decode_base64;
use crate::dsig::{KeyType, SignatureMethod, SigningKey, TrustedKeys};
use crate::xml::{Document, Limits, XmlError, parse};

/// Which parameter carries the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageParameter {
    /// `SAMLRequest`: AuthnRequest, LogoutRequest.
    Request,
    /// `SAMLResponse`: LogoutResponse (SPID answers AuthnRequests by HTTP-POST only).
    Response,
}

impl MessageParameter {
    pub const fn name(self) -> &'static str {
        match self {
            MessageParameter::Request => "SAMLRequest",
            MessageParameter::Response => "SAMLResponse",
        }
    }
}

/// Size limits of a received Redirect message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectLimits {
    /// The whole query string, before anything is decoded.
    pub max_query_bytes: usize,
    /// The inflated XML; reaching it is [`RedirectError::InflatedTooLarge`].
    pub max_inflated_bytes: usize,
    /// Parser limits for the inflated XML.
    pub xml: Limits,
}

impl Default for RedirectLimits {
    /// 16 KiB of query (browsers and proxies cut URLs around 8–64 KiB; SPID requests are ~1 KiB
    /// deflated) and 128 KiB of XML (an AuthnRequest or LogoutRequest is 1–4 KiB).
    fn default() -> Self {
        RedirectLimits {
            max_query_bytes: 16 << 10,
            max_inflated_bytes: 128 << 10,
            xml: Limits::default(),
        }
    }
}

/// A received Redirect message refused.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("query string is {size} bytes, over the limit of {limit}")]
    QueryTooLarge { size: usize, limit: usize },
    #[error("query parameter {name} is missing")]
    MissingParameter { name: &'static str },
    #[error("query parameter {name} appears more than once")]
    DuplicateParameter { name: &'static str },
    #[error("both SAMLRequest and SAMLResponse are present")]
    BothMessages,
    #[error("query parameter {name} is not valid URL-encoding")]
    BadPercentEncoding { name: &'static str },
    #[error("query parameter {name} is not valid base64")]
    NotBase64 { name: &'static str },
    #[error("SigAlg {sig_alg:?} is not allowed (allowed: {allowed})")]
    SigAlgNotAllowed { sig_alg: String, allowed: String },
    #[error("no trusted key is configured: nothing can verify the query signature")]
    NoTrustedKeys,
    #[error("the query signature ({method}) does not verify with any trusted key")]
    BadSignature { method: &'static str },
    #[error("{name} is not a valid raw DEFLATE stream")]
    NotDeflate { name: &'static str },
    #[error("{name} inflates to more than {limit} bytes (DEFLATE bomb or oversized message)")]
    InflatedTooLarge { name: &'static str, limit: usize },
    #[error("the inflated message was refused by the XML parser: {0}")]
    Xml(#[from] XmlError),
    #[error("signing the query string failed: {reason}")]
    Signing { reason: String },
}

/// A verified Redirect message.
#[derive(Debug)]
pub struct RedirectMessage {
    pub parameter: MessageParameter,
    /// The message, parsed once with the crate's parser.
    pub document: Document,
    /// `RelayState`, decoded.
    pub relay_state: Option<String>,
    pub signature_method: SignatureMethod,
    /// Index in the [`TrustedKeys`] of the key that verified the signature.
    pub trusted_key: usize,
}

/// The signature methods SPID allows on a query string: the XML-DSig policy's (RSA-SHA256/384/512,
/// ECDSA-SHA256). No SHA-1.
pub fn spid_sig_algs() -> Vec<SignatureMethod> {
    crate::dsig::SignaturePolicy::spid().signature_methods().to_vec()
}

/// The query string carrying `xml` (without `?`): DEFLATE, base64, URL-encoding, RelayState, and,
/// with `signing`, SigAlg and Signature.
pub fn encode(
    parameter: MessageParameter,
    xml: &str,
    relay_state: Option<&str>,
    signing: Option<(SignatureMethod, &SigningKey)>,
) -> Result<String, RedirectError> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    let deflated = encoder
        .write_all(xml.as_bytes())
        .and_then(|()| encoder.finish())
        .expect("deflating into memory cannot fail");
    let mut query = format!(
        "{}={}",
        parameter.name(),
        url_encode(&openssl::base64::encode_block(&deflated))
    );
    if let Some(relay_state) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&url_encode(relay_state));
    }
    if let Some((method, key)) = signing {
        query.push_str("&SigAlg=");
        query.push_str(&url_encode(method.uri()));
        let signature = sign_octets(method, key, query.as_bytes())?;
        query.push_str("&Signature=");
        query.push_str(&url_encode(&openssl::base64::encode_block(&signature)));
    }
    Ok(query)
}

/// Verifies a received query string (the raw octets after `?`) and returns the parsed message.
pub fn verify(
    query: &str,
    allowed: &[SignatureMethod],
    keys: &TrustedKeys,
    limits: &RedirectLimits,
) -> Result<RedirectMessage, RedirectError> {
    if query.len() > limits.max_query_bytes {
        return Err(RedirectError::QueryTooLarge {
            size: query.len(),
            limit: limits.max_query_bytes,
        });
    }
    let raw = RawQuery::split(query)?;
    let (parameter, message) = match (raw.saml_request, raw.saml_response) {
        (Some(m), None) => (MessageParameter::Request, m),
        (None, Some(m)) => (MessageParameter::Response, m),
        (Some(_), Some(_)) => return Err(RedirectError::BothMessages),
        (None, None) => return Err(RedirectError::MissingParameter { name: "SAMLRequest" }),
    };
    let sig_alg_raw = raw
        .sig_alg
        .ok_or(RedirectError::MissingParameter { name: "SigAlg" })?;
    let signature_raw = raw
        .signature
        .ok_or(RedirectError::MissingParameter { name: "Signature" })?;

    let sig_alg = url_decode(sig_alg_raw, "SigAlg")?;
    let method = SignatureMethod::from_uri(&sig_alg)
        .filter(|m| allowed.contains(m))
        .ok_or_else(|| RedirectError::SigAlgNotAllowed {
            sig_alg: crate::dsig::shown(&sig_alg),
            allowed: allowed.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "),
        })?;
    let signature = decode_base64(&url_decode(signature_raw, "Signature")?)
        .ok_or(RedirectError::NotBase64 { name: "Signature" })?;

    // The signed octets, exactly as received, in the order the binding fixes.
    let mut signed = format!("{}={message}", parameter.name());
    if let Some(relay_state) = raw.relay_state {
        signed.push_str("&RelayState=");
        signed.push_str(relay_state);
    }
    signed.push_str("&SigAlg=");
    signed.push_str(sig_alg_raw);
    if keys.is_empty() {
        return Err(RedirectError::NoTrustedKeys);
    }
    let min_rsa_bits = crate::dsig::SignaturePolicy::spid().min_rsa_bits();
    let trusted_key = (0..keys.len())
        .find(|&i| {
            let key = keys.get(i).expect("index below len").public_key();
            let fits = match method.key_type() {
                KeyType::Rsa => key.id() == Id::RSA && key.bits() >= min_rsa_bits,
                KeyType::Ec => key.id() == Id::EC,
            };
            fits && verifies(method, key, signed.as_bytes(), &signature)
        })
        .ok_or(RedirectError::BadSignature {
            method: method.name(),
        })?;

    let relay_state = raw.relay_state.map(|r| url_decode(r, "RelayState")).transpose()?;
    let name = parameter.name();
    let deflated = decode_base64(&url_decode(message, name)?).ok_or(RedirectError::NotBase64 { name })?;
    let xml = inflate(&deflated, limits.max_inflated_bytes, name)?;
    let document = parse(&xml, &limits.xml)?;
    Ok(RedirectMessage {
        parameter,
        document,
        relay_state,
        signature_method: method,
        trusted_key,
    })
}

/// Inflates raw DEFLATE, reading at most `limit` bytes of output.
pub fn inflate(deflated: &[u8], limit: usize, name: &'static str) -> Result<Vec<u8>, RedirectError> {
    let mut out = Vec::with_capacity(limit.min(deflated.len().saturating_mul(8)));
    // One byte beyond the limit tells "exactly the limit" from "more".
    let read = DeflateDecoder::new(deflated)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| RedirectError::NotDeflate { name })?;
    if read > limit {
        return Err(RedirectError::InflatedTooLarge { name, limit });
    }
    Ok(out)
}

/// The raw (still URL-encoded) values of the parameters the binding defines; others are ignored,
/// as they are not signed. Each may appear once.
#[derive(Default)]
struct RawQuery<'q> {
    saml_request: Option<&'q str>,
    saml_response: Option<&'q str>,
    relay_state: Option<&'q str>,
    sig_alg: Option<&'q str>,
    signature: Option<&'q str>,
}

impl<'q> RawQuery<'q> {
    fn split(query: &'q str) -> Result<RawQuery<'q>, RedirectError> {
        let mut raw = RawQuery::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (slot, name) = match key {
                "SAMLRequest" => (&mut raw.saml_request, "SAMLRequest"),
                "SAMLResponse" => (&mut raw.saml_response, "SAMLResponse"),
                "RelayState" => (&mut raw.relay_state, "RelayState"),
                "SigAlg" => (&mut raw.sig_alg, "SigAlg"),
                "Signature" => (&mut raw.signature, "Signature"),
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(RedirectError::DuplicateParameter { name });
            }
        }
        Ok(raw)
    }
}

fn sign_octets(method: SignatureMethod, key: &SigningKey, data: &[u8]) -> Result<Vec<u8>, RedirectError> {
    let failed = |e: openssl::error::ErrorStack| RedirectError::Signing {
        reason: e.to_string(),
    };
    let private = key.private_key();
    let fits = match method.key_type() {
        KeyType::Rsa => private.id() == Id::RSA,
        KeyType::Ec => private.id() == Id::EC,
    };
    if !fits {
        return Err(RedirectError::Signing {
            reason: format!("{} needs another type of key", method.name()),
        });
    }
    let der = Signer::new(method.digest().message_digest(), private)
        .and_then(|mut s| s.sign_oneshot_to_vec(data))
        .map_err(failed)?;
    match method.key_type() {
        KeyType::Rsa => Ok(der),
        // The binding names XML-DSig algorithms, whose ECDSA value is r || s (RFC 4051 §3.3).
        KeyType::Ec => {
            let n = ecdsa_component_len(private).ok_or(RedirectError::Signing {
                reason: "EC key without a usable group".to_owned(),
            })?;
            let sig = EcdsaSig::from_der(&der).map_err(failed)?;
            let mut raw = sig
                .r()
                .to_vec_padded(i32::try_from(n).unwrap_or(i32::MAX))
                .map_err(failed)?;
            raw.extend(
                sig.s()
                    .to_vec_padded(i32::try_from(n).unwrap_or(i32::MAX))
                    .map_err(failed)?,
            );
            Ok(raw)
        }
    }
}

fn verifies(method: SignatureMethod, key: &PKey<Public>, data: &[u8], value: &[u8]) -> bool {
    let der;
    let value = match method.key_type() {
        KeyType::Rsa => value,
        KeyType::Ec => {
            let Some(n) = ecdsa_component_len(key) else {
                return false;
            };
            if value.len() != 2 * n {
                return false;
            }
            let (r, s) = value.split_at(n);
            let parts = BigNum::from_slice(r).and_then(|r| Ok((r, BigNum::from_slice(s)?)));
            match parts
                .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
                .and_then(|sig| sig.to_der())
            {
                Ok(d) => {
                    der = d;
                    &der[..]
                }
                Err(_) => return false,
            }
        }
    };
    Verifier::new(method.digest().message_digest(), key)
        .and_then(|mut v| v.verify_oneshot(value, data))
        .unwrap_or(false)
}

/// Bytes of one ECDSA signature component for `key`'s curve.
fn ecdsa_component_len<T: openssl::pkey::HasPublic>(key: &PKey<T>) -> Option<usize> {
    let bits = key.ec_key().ok()?.group().order_bits();
    Some(usize::try_from(bits).ok()?.div_ceil(8))
}

/// URL-encoding as Python's `quote_plus`: `A-Za-z0-9_.-~` kept, space as `+`, the rest `%XX`.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Form URL-decoding (`+` is a space, `%XX` a byte), strict: a `%` without two hex digits, or bytes
/// that are not UTF-8, are errors.
pub fn url_decode(value: &str, name: &'static str) -> Result<String, RedirectError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(RedirectError::BadPercentEncoding { name })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| RedirectError::BadPercentEncoding { name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_matches_quote_plus_and_round_trips() {
        assert_eq!(url_encode("a b+c/=~*"), "a+b%2Bc%2F%3D~%2A");
        assert_eq!(
            url_encode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
            "http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
        );
        for s in ["", "città è", "a+b %", "QUJD+/=="] {
            assert_eq!(url_decode(&url_encode(s), "x").expect("round trip"), s);
        }
        for bad in ["%", "%4", "%zz", "%C3"] {
            assert!(url_decode(bad, "x").is_err(), "{bad}");
        }
        assert_eq!(url_decode("%c3%a8", "x").expect("lower-case hex"), "è");
    }

    #[test]
    fn inflation_stops_at_the_limit() {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
        e.write_all(&vec![b' '; 1 << 20]).expect("deflate");
        let bomb = e.finish().expect("deflate");
        assert!(
            bomb.len() < 4096,
            "1 MiB of spaces deflates to {} bytes",
            bomb.len()
        );
        assert!(matches!(
            inflate(&bomb, 1000, "SAMLRequest"),
            Err(RedirectError::InflatedTooLarge { limit: 1000, .. })
        ));
        assert_eq!(
            inflate(&bomb, 1 << 20, "SAMLRequest").expect("fits").len(),
            1 << 20
        );
        assert!(matches!(
            inflate(b"not deflate at all", 1000, "SAMLRequest"),
            Err(RedirectError::NotDeflate { .. })
        ));
    }
}

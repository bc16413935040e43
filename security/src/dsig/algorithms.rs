//! The XML-DSig algorithms this crate implements, by their identifiers (XML-DSig 1.0 §6, RFC 6931).
//!
//! Implemented is not allowed: a [`SignaturePolicy`](super::SignaturePolicy) decides per use which of
//! these a message may name. HMAC, DSA, XPath and XSLT have no variant at all, so no policy can let
//! them in.

use openssl::hash::MessageDigest;
use openssl::sha;

use crate::c14n::{self, Sink};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestMethod {
    /// Only for peers whose published policy demands it (ANPR's Basic128Rsa15); never on SAML.
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestMethod {
    pub const ALL: [DigestMethod; 4] = [
        DigestMethod::Sha1,
        DigestMethod::Sha256,
        DigestMethod::Sha384,
        DigestMethod::Sha512,
    ];

    pub const fn uri(self) -> &'static str {
        match self {
            DigestMethod::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
            DigestMethod::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            DigestMethod::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            DigestMethod::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    pub fn from_uri(uri: &str) -> Option<DigestMethod> {
        DigestMethod::ALL.into_iter().find(|m| m.uri() == uri)
    }

    pub const fn name(self) -> &'static str {
        match self {
            DigestMethod::Sha1 => "SHA-1",
            DigestMethod::Sha256 => "SHA-256",
            DigestMethod::Sha384 => "SHA-384",
            DigestMethod::Sha512 => "SHA-512",
        }
    }

    /// Length of the digest in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            DigestMethod::Sha1 => 20,
            DigestMethod::Sha256 => 32,
            DigestMethod::Sha384 => 48,
            DigestMethod::Sha512 => 64,
        }
    }

    pub(crate) fn message_digest(self) -> MessageDigest {
        match self {
            DigestMethod::Sha1 => MessageDigest::sha1(),
            DigestMethod::Sha256 => MessageDigest::sha256(),
            DigestMethod::Sha384 => MessageDigest::sha384(),
            DigestMethod::Sha512 => MessageDigest::sha512(),
        }
    }

    /// A digest that canonical bytes can stream into, so the canonical form is never buffered.
    pub(crate) fn digester(self) -> Digester {
        match self {
            DigestMethod::Sha1 => Digester::Sha1(sha::Sha1::new()),
            DigestMethod::Sha256 => Digester::Sha256(sha::Sha256::new()),
            DigestMethod::Sha384 => Digester::Sha384(sha::Sha384::new()),
            DigestMethod::Sha512 => Digester::Sha512(sha::Sha512::new()),
        }
    }
}

pub(crate) enum Digester {
    Sha1(sha::Sha1),
    Sha256(sha::Sha256),
    Sha384(sha::Sha384),
    Sha512(sha::Sha512),
}

impl Sink for Digester {
    fn write(&mut self, bytes: &[u8]) {
        match self {
            Digester::Sha1(h) => h.update(bytes),
            Digester::Sha256(h) => h.update(bytes),
            Digester::Sha384(h) => h.update(bytes),
            Digester::Sha512(h) => h.update(bytes),
        }
    }
}

impl Digester {
    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Digester::Sha1(h) => h.finish().to_vec(),
            Digester::Sha256(h) => h.finish().to_vec(),
            Digester::Sha384(h) => h.finish().to_vec(),
            Digester::Sha512(h) => h.finish().to_vec(),
        }
    }
}

/// The kind of public key a signature method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    /// Elliptic curve (ECDSA); the signature value is `r || s`, each as long as the curve order
    /// (RFC 4051 §3.3), which OpenSSL's DER form is converted from and to.
    Ec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureMethod {
    /// RSA PKCS#1 v1.5 with SHA-1: ANPR's Basic128Rsa15 only; never on SAML.
    RsaSha1,
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
}

impl SignatureMethod {
    pub const ALL: [SignatureMethod; 7] = [
        SignatureMethod::RsaSha1,
        SignatureMethod::RsaSha256,
        SignatureMethod::RsaSha384,
        SignatureMethod::RsaSha512,
        SignatureMethod::EcdsaSha256,
        SignatureMethod::EcdsaSha384,
        SignatureMethod::EcdsaSha512,
    ];

    pub const fn uri(self) -> &'static str {
        match self {
            SignatureMethod::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            SignatureMethod::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SignatureMethod::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            SignatureMethod::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            SignatureMethod::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            SignatureMethod::EcdsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
            SignatureMethod::EcdsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
        }
    }

    pub fn from_uri(uri: &str) -> Option<SignatureMethod> {
        SignatureMethod::ALL.into_iter().find(|m| m.uri() == uri)
    }

    pub const fn name(self) -> &'static str {
        match self {
            SignatureMethod::RsaSha1 => "RSA-SHA1",
            SignatureMethod::RsaSha256 => "RSA-SHA256",
            SignatureMethod::RsaSha384 => "RSA-SHA384",
            SignatureMethod::RsaSha512 => "RSA-SHA512",
            SignatureMethod::EcdsaSha256 => "ECDSA-SHA256",
            SignatureMethod::EcdsaSha384 => "ECDSA-SHA384",
            SignatureMethod::EcdsaSha512 => "ECDSA-SHA512",
        }
    }

    /// The hash the signature is computed over.
    pub const fn digest(self) -> DigestMethod {
        match self {
            SignatureMethod::RsaSha1 => DigestMethod::Sha1,
            SignatureMethod::RsaSha256 | SignatureMethod::EcdsaSha256 => DigestMethod::Sha256,
            SignatureMethod::RsaSha384 | SignatureMethod::EcdsaSha384 => DigestMethod::Sha384,
            SignatureMethod::RsaSha512 | SignatureMethod::EcdsaSha512 => DigestMethod::Sha512,
        }
    }

    pub const fn key_type(self) -> KeyType {
        match self {
            SignatureMethod::RsaSha1
            | SignatureMethod::RsaSha256
            | SignatureMethod::RsaSha384
            | SignatureMethod::RsaSha512 => KeyType::Rsa,
            SignatureMethod::EcdsaSha256 | SignatureMethod::EcdsaSha384 | SignatureMethod::EcdsaSha512 => {
                KeyType::Ec
            }
        }
    }
}

/// A `Transform` of a Reference. XPath, XSLT and Base64 transforms are deliberately absent
/// (spid-and-cie-id.md §5 "Transform injection").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// XML-DSig §6.6.4: the Signature element containing the transform is removed from the node-set.
    EnvelopedSignature,
    Canonicalization(c14n::Algorithm),
}

impl Transform {
    pub const ENVELOPED_SIGNATURE_URI: &'static str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

    pub const fn uri(self) -> &'static str {
        match self {
            Transform::EnvelopedSignature => Transform::ENVELOPED_SIGNATURE_URI,
            Transform::Canonicalization(a) => a.uri(),
        }
    }

    pub fn from_uri(uri: &str) -> Option<Transform> {
        if uri == Transform::ENVELOPED_SIGNATURE_URI {
            Some(Transform::EnvelopedSignature)
        } else {
            c14n::Algorithm::from_uri(uri).map(Transform::Canonicalization)
        }
    }
}

/// Strict base64 as XML-DSig writes it (`ds:CryptoBinary`, `base64Binary`): whitespace anywhere is
/// ignored (line breaks every 64 or 76 characters are common); anything else outside the alphabet,
/// misplaced padding or a truncated quantum fails.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .collect();
    if !compact.len().is_multiple_of(4) {
        return None;
    }
    let body = compact.trim_end_matches('=');
    if compact.len() - body.len() > 2
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    openssl::base64::decode_block(&compact).ok()
}

/// The base64 of `bytes` in lines of 64 characters, as xmlsec1 writes SignatureValue.
pub(crate) fn encode_base64_lines(bytes: &[u8]) -> String {
    let flat = openssl::base64::encode_block(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 64 + 1);
    for (i, chunk) in flat.as_bytes().chunks(64).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_uri_round_trips() {
        for m in SignatureMethod::ALL {
            assert_eq!(SignatureMethod::from_uri(m.uri()), Some(m));
        }
        for d in DigestMethod::ALL {
            assert_eq!(DigestMethod::from_uri(d.uri()), Some(d));
        }
        for a in c14n::Algorithm::ALL {
            let t = Transform::Canonicalization(a);
            assert_eq!(Transform::from_uri(t.uri()), Some(t));
        }
        assert_eq!(
            Transform::from_uri(Transform::ENVELOPED_SIGNATURE_URI),
            Some(Transform::EnvelopedSignature)
        );
        assert_eq!(
            SignatureMethod::from_uri("http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
            None
        );
    }

    #[test]
    fn base64_is_strict_but_ignores_line_breaks() {
        assert_eq!(decode_base64("QUJD\nREVG"), Some(b"ABCDEF".to_vec()));
        assert_eq!(decode_base64(" QUI= "), Some(b"AB".to_vec()));
        assert_eq!(decode_base64("QUI"), None);
        assert_eq!(decode_base64("QU=I"), None);
        assert_eq!(decode_base64("Q==="), None);
        assert_eq!(decode_base64("QUJ*"), None);
        assert_eq!(decode_base64(""), Some(Vec::new()));
        let long: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_base64(&encode_base64_lines(&long)), Some(long));
    }
}

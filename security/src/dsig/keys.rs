//! Keys: the trusted ones a signature is verified with, and the one Snodo signs with.
//!
//! Verification keys come only from configuration (IdP metadata, a platform's published certificate),
//! parsed once into OpenSSL keys and reused for every message. A message's `KeyInfo` may *select* among
//! them (by X509Certificate, X509IssuerSerial, X509SKI or X509SubjectName) and never adds one: a hint
//! that matches no trusted key is refused, not used; KeyValue, KeyName and RetrievalMethod are ignored
//! (never used, never fetched). Key confusion, spid-and-cie-id.md §5: xml-crypto CVE-2024-32962,
//! xmlseclibs CVE-2018-7644, libxmlsec1's lax key search.

use openssl::asn1::Asn1Object;
use openssl::bn::BigNum;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::x509::{X509, X509NameRef};

use super::algorithms::{KeyType, SignatureMethod, decode_base64};
use super::{DSIG_NAMESPACE, SignatureError};
use crate::xml::{Document, NodeId};

/// One trusted certificate and its public key, parsed once.
#[derive(Clone)]
pub struct TrustedKey {
    certificate: X509,
    public_key: PKey<Public>,
    der: Vec<u8>,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("type", &self.key_type())
            .field("bits", &self.public_key.bits())
            .finish_non_exhaustive()
    }
}

impl TrustedKey {
    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }
    pub fn public_key(&self) -> &PKey<Public> {
        &self.public_key
    }
    pub(crate) fn key_type(&self) -> Option<KeyType> {
        match self.public_key.id() {
            Id::RSA => Some(KeyType::Rsa),
            Id::EC => Some(KeyType::Ec),
            _ => None,
        }
    }
}

/// The keys signatures of one use may be made with: an IdP's signing certificates from its metadata
/// (two during a key rollover), or a platform's certificate. Clone it freely; build it once.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// An empty set: every verification fails with [`SignatureError::NoTrustedKeys`] until
    /// certificates are added.
    pub fn new() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// Every certificate in `pem` (one or more `BEGIN CERTIFICATE` blocks).
    pub fn from_pem(pem: &[u8]) -> Result<TrustedKeys, SignatureError> {
        let certificates = X509::stack_from_pem(pem).map_err(|e| SignatureError::InvalidCertificate {
            index: 0,
            reason: format!("not PEM certificates: {e}"),
        })?;
        if certificates.is_empty() {
            return Err(SignatureError::InvalidCertificate {
                index: 0,
                reason: "no certificate in PEM input".to_owned(),
            });
        }
        TrustedKeys::from_certificates(certificates)
    }

    pub fn from_certificates(
        certificates: impl IntoIterator<Item = X509>,
    ) -> Result<TrustedKeys, SignatureError> {
        let mut keys = TrustedKeys::new();
        for certificate in certificates {
            keys.add_certificate(certificate)?;
        }
        Ok(keys)
    }

    /// Trusts `certificate`'s public key (RSA or EC). Validity dates and chains are the metadata
    /// layer's concern: being configured here is what makes a certificate trusted.
    pub fn add_certificate(&mut self, certificate: X509) -> Result<(), SignatureError> {
        let index = self.keys.len();
        let invalid = |reason: String| SignatureError::InvalidCertificate { index, reason };
        let public_key = certificate
            .public_key()
            .map_err(|e| invalid(format!("no usable public key: {e}")))?;
        if !matches!(public_key.id(), Id::RSA | Id::EC) {
            return Err(invalid("only RSA and EC keys are supported".to_owned()));
        }
        let der = certificate
            .to_der()
            .map_err(|e| invalid(format!("cannot encode: {e}")))?;
        self.keys.push(TrustedKey {
            certificate,
            public_key,
            der,
        });
        Ok(())
    }

    pub fn get(&self, index: usize) -> Option<&TrustedKey> {
        self.keys.get(index)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Indices of the trusted keys a signature with `method` and this `KeyInfo` may have been made
    /// with: those every recognised KeyInfo hint selects, of the right type and size. Hints are
    /// intersected, so two hints pointing at different certificates select nothing.
    pub(crate) fn candidates(
        &self,
        doc: &Document,
        key_info: Option<NodeId>,
        method: SignatureMethod,
        min_rsa_bits: u32,
    ) -> Result<Vec<usize>, SignatureError> {
        if self.keys.is_empty() {
            return Err(SignatureError::NoTrustedKeys);
        }
        let mut selected: Vec<usize> = (0..self.keys.len()).collect();
        if let Some(key_info) = key_info {
            for (hint, matches) in self.hints(doc, key_info)? {
                if matches.is_empty() {
                    return Err(SignatureError::UntrustedKeyInfo { hint });
                }
                selected.retain(|i| matches.contains(i));
                if selected.is_empty() {
                    return Err(SignatureError::UntrustedKeyInfo {
                        hint: "hints (they select different certificates)",
                    });
                }
            }
        }
        selected.retain(|&i| self.keys[i].key_type() == Some(method.key_type()));
        if selected.is_empty() {
            return Err(SignatureError::NoKeyForAlgorithm {
                method: method.name(),
            });
        }
        if method.key_type() == KeyType::Rsa {
            let smallest = selected.iter().map(|&i| self.keys[i].public_key.bits()).min();
            selected.retain(|&i| self.keys[i].public_key.bits() >= min_rsa_bits);
            if let (true, Some(bits)) = (selected.is_empty(), smallest) {
                return Err(SignatureError::KeyTooSmall {
                    bits,
                    minimum: min_rsa_bits,
                });
            }
        }
        Ok(selected)
    }

    /// Each recognised hint in `KeyInfo` with the trusted keys it matches. Hints this crate does not
    /// interpret (KeyName, RetrievalMethod, a WS-Security SecurityTokenReference, which that layer
    /// resolves) select nothing and add nothing; an empty `<X509Certificate/>`, as spid-sp-test
    /// writes, is no hint.
    fn hints(
        &self,
        doc: &Document,
        key_info: NodeId,
    ) -> Result<Vec<(&'static str, Vec<usize>)>, SignatureError> {
        let mut hints = Vec::new();
        for data in dsig_children(doc, key_info, "X509Data") {
            // The certificates of one X509Data may be a chain (leaf and CAs, XML-DSig §4.4.4): together
            // they are one hint, matching the trusted keys any of them is.
            let mut certificates: Option<Vec<usize>> = None;
            for child in doc.child_elements(data) {
                let element = doc.element(child).expect("child_elements yields elements");
                let name = element.name();
                if name.namespace() != Some(DSIG_NAMESPACE) {
                    continue;
                }
                match name.local_name() {
                    "X509Certificate" => {
                        let text = doc.text_content(child);
                        if text.trim().is_empty() {
                            continue;
                        }
                        let der = decode_base64(&text).ok_or(SignatureError::InvalidBase64 {
                            element: "X509Certificate",
                        })?;
                        let matches = self.matching(|k| k.der == der);
                        let union = certificates.get_or_insert_with(Vec::new);
                        for i in matches {
                            if !union.contains(&i) {
                                union.push(i);
                            }
                        }
                    }
                    "X509SKI" => {
                        let ski = decode_base64(&doc.text_content(child))
                            .ok_or(SignatureError::InvalidBase64 { element: "X509SKI" })?;
                        hints.push((
                            "X509SKI",
                            self.matching(|k| {
                                k.certificate.subject_key_id().map(|s| s.as_slice()) == Some(&ski[..])
                            }),
                        ));
                    }
                    "X509SubjectName" => {
                        let wanted = parse_dn(&doc.text_content(child));
                        hints.push((
                            "X509SubjectName",
                            self.matching(|k| {
                                wanted.as_ref() == Some(&name_entries(k.certificate.subject_name()))
                            }),
                        ));
                    }
                    "X509IssuerSerial" => {
                        let issuer = dsig_children(doc, child, "X509IssuerName")
                            .next()
                            .map(|n| doc.text_content(n))
                            .and_then(|s| parse_dn(&s));
                        let serial = dsig_children(doc, child, "X509SerialNumber")
                            .next()
                            .and_then(|n| BigNum::from_dec_str(doc.text_content(n).trim()).ok());
                        hints.push((
                            "X509IssuerSerial",
                            self.matching(|k| {
                                let same_serial = match (&serial, k.certificate.serial_number().to_bn()) {
                                    (Some(s), Ok(theirs)) => *s == theirs,
                                    _ => false,
                                };
                                same_serial
                                    && issuer.as_ref() == Some(&name_entries(k.certificate.issuer_name()))
                            }),
                        ));
                    }
                    _ => {}
                }
            }
            if let Some(matches) = certificates {
                hints.push(("X509Certificate", matches));
            }
        }
        Ok(hints)
    }

    fn matching(&self, predicate: impl Fn(&TrustedKey) -> bool) -> Vec<usize> {
        (0..self.keys.len())
            .filter(|&i| predicate(&self.keys[i]))
            .collect()
    }
}

fn dsig_children<'d>(doc: &'d Document, parent: NodeId, local: &'d str) -> impl Iterator<Item = NodeId> + 'd {
    doc.child_elements(parent).filter(move |&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(DSIG_NAMESPACE), local))
    })
}

/// A distinguished name as a sorted list of (attribute short name, lowercased, whitespace-folded
/// value). Sorting makes RFC 4514 order (most specific first, as xmlsec1 writes) and X.500 order
/// compare equal; folding makes the comparison case-insensitive as caseIgnoreMatch is. Leniency is
/// safe here: a DN only selects among keys already trusted.
type DnEntries = Vec<(String, String)>;

fn name_entries(name: &X509NameRef) -> DnEntries {
    let mut entries: DnEntries = name
        .entries()
        .map(|e| {
            let kind = e.object().nid().short_name().unwrap_or("").to_ascii_lowercase();
            let value = e.data().to_string().map(|v| fold(&v)).unwrap_or_default();
            (kind, value)
        })
        .collect();
    entries.sort();
    entries
}

fn fold(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Parses an RFC 4514 (or RFC 2253) string; `None` when it is not one.
fn parse_dn(text: &str) -> Option<DnEntries> {
    // Values are collected as bytes: `\HH` escapes one byte of UTF-8, multi-byte characters arrive as
    // consecutive escapes.
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    let mut chars = text.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next()?;
                if next.is_ascii_hexdigit() {
                    let low = chars.next()?.to_digit(16)?;
                    current.push(u8::try_from(next.to_digit(16)? * 16 + low).ok()?);
                } else {
                    current.extend_from_slice(next.encode_utf8(&mut [0; 4]).as_bytes());
                }
            }
            ',' | ';' | '+' => parts.push(std::mem::take(&mut current)),
            c => current.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    parts.push(current);
    let mut entries = Vec::new();
    for part in parts {
        let part = String::from_utf8_lossy(&part);
        let (kind, value) = part.split_once('=')?;
        entries.push((canonical_attribute_type(kind.trim())?, fold(value)));
    }
    entries.sort();
    Some(entries)
}

/// The OpenSSL short name (lowercased) of an attribute type written as a name, an alias or an OID.
fn canonical_attribute_type(kind: &str) -> Option<String> {
    let lower = kind.to_ascii_lowercase();
    let oid = lower.strip_prefix("oid.").unwrap_or(&lower);
    if oid.starts_with(|c: char| c.is_ascii_digit()) {
        let object = Asn1Object::from_str(oid).ok()?;
        return Some(object.nid().short_name().ok()?.to_ascii_lowercase());
    }
    Some(
        match oid {
            "e" | "email" => "emailaddress",
            "s" => "st",
            other => other,
        }
        .to_owned(),
    )
}

/// The key Snodo signs with (a simulated IdP, WS-Security requests), with the certificate written
/// into `KeyInfo` when signing.
#[derive(Clone)]
pub struct SigningKey {
    key: PKey<Private>,
    certificate: Option<X509>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("bits", &self.key.bits())
            .field("certificate", &self.certificate.is_some())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn new(key: PKey<Private>, certificate: Option<X509>) -> SigningKey {
        SigningKey { key, certificate }
    }

    /// A PEM private key (PKCS#8 or traditional) and, optionally, its PEM certificate.
    pub fn from_pem(key_pem: &[u8], certificate_pem: Option<&[u8]>) -> Result<SigningKey, SignatureError> {
        let key =
            PKey::private_key_from_pem(key_pem).map_err(SignatureError::crypto("reading the signing key"))?;
        let certificate = certificate_pem
            .map(X509::from_pem)
            .transpose()
            .map_err(SignatureError::crypto("reading the signing certificate"))?;
        Ok(SigningKey { key, certificate })
    }

    pub fn private_key(&self) -> &PKey<Private> {
        &self.key
    }

    pub fn certificate(&self) -> Option<&X509> {
        self.certificate.as_ref()
    }
}

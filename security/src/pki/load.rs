//! Reading certificates and identities from files in the forms operators receive them: PEM (one or
//! more blocks, key possibly in the same file), DER (one certificate) and PKCS#12 (the Ministry issues
//! the ANPR `<ISTAT>-CO-9999` credentials as `.p12`, anpr-and-cie-booking.md §1.6).
//!
//! The form is recognised from the bytes, not the file name, so a `.crt` holding PEM or DER both work.

use std::path::{Path, PathBuf};

use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::X509;

use super::PkiError;

/// A certificate, its private key and the intermediates to present with it: what a TLS endpoint or a
/// signer needs. The key is checked to belong to the certificate when the identity is built.
#[derive(Clone)]
pub struct Identity {
    certificate: X509,
    key: PKey<Private>,
    chain: Vec<X509>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key; the subject may name a person, so only sizes.
        f.debug_struct("Identity")
            .field("key_bits", &self.key.bits())
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// `origin` names where the parts came from in errors.
    pub fn new(
        certificate: X509,
        key: PKey<Private>,
        chain: Vec<X509>,
        origin: &Path,
    ) -> Result<Identity, PkiError> {
        let public = certificate.public_key().map_err(|e| PkiError::OpenSsl {
            file: origin.to_owned(),
            doing: "reading the certificate's public key",
            reason: e.to_string(),
        })?;
        if !public.public_eq(&key) {
            return Err(PkiError::KeyMismatch {
                file: origin.to_owned(),
            });
        }
        Ok(Identity {
            certificate,
            key,
            chain,
        })
    }

    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }
    pub fn key(&self) -> &PKey<Private> {
        &self.key
    }
    /// Intermediates (never the trust anchor itself, though a file may include it).
    pub fn chain(&self) -> &[X509] {
        &self.chain
    }

    /// The certificate followed by the chain, PEM: what a TLS client presents.
    pub fn certificate_chain_pem(&self) -> Vec<u8> {
        let mut pem = Vec::new();
        for c in std::iter::once(&self.certificate).chain(&self.chain) {
            pem.extend(c.to_pem().expect("an X509 already parsed serializes"));
        }
        pem
    }

    /// The key as unencrypted PKCS#8 PEM (what native-tls takes).
    pub fn key_pkcs8_pem(&self) -> Vec<u8> {
        self.key
            .private_key_to_pem_pkcs8()
            .expect("an OpenSSL private key serializes")
    }

    /// A PKCS#12 file of this identity protected by `password` (OpenSSL 3 defaults: AES-256, PBKDF2).
    pub fn to_pkcs12(&self, name: &str, password: &str) -> Result<Vec<u8>, PkiError> {
        let fail = |e: openssl::error::ErrorStack| PkiError::OpenSsl {
            file: PathBuf::from(name),
            doing: "writing PKCS#12",
            reason: e.to_string(),
        };
        let mut builder = Pkcs12::builder();
        builder.name(name).pkey(&self.key).cert(&self.certificate);
        let mut stack = Stack::new().map_err(fail)?;
        for c in &self.chain {
            stack.push(c.clone()).map_err(fail)?;
        }
        if !self.chain.is_empty() {
            builder.ca(stack);
        }
        builder.build2(password).map_err(fail)?.to_der().map_err(fail)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|source| PkiError::Read {
        file: path.to_owned(),
        source,
    })
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Every certificate in `path`: PEM blocks in order, one DER certificate, or a PKCS#12 file's
/// certificate then its chain (`password` for PKCS#12 only; `None` is the empty password).
pub fn read_certificates(path: &Path, password: Option<&str>) -> Result<Vec<X509>, PkiError> {
    parse_certificates(&read(path)?, password, path)
}

/// [`read_certificates`] on bytes already read; `origin` names them in errors.
pub fn parse_certificates(
    bytes: &[u8],
    password: Option<&str>,
    origin: &Path,
) -> Result<Vec<X509>, PkiError> {
    let certificates = if is_pem(bytes) {
        X509::stack_from_pem(bytes).map_err(|e| PkiError::NotACertificate {
            file: origin.to_owned(),
            reason: e.to_string(),
        })?
    } else {
        match X509::from_der(bytes) {
            Ok(c) => vec![c],
            Err(der_error) => match open_pkcs12(bytes, password, origin) {
                Ok((_, certificate, chain)) => std::iter::once(certificate).chain(chain).collect(),
                Err(PkiError::Pkcs12 { .. }) if Pkcs12::from_der(bytes).is_err() => {
                    return Err(PkiError::NotACertificate {
                        file: origin.to_owned(),
                        reason: der_error.to_string(),
                    });
                }
                Err(e) => return Err(e),
            },
        }
    };
    if certificates.is_empty() {
        return Err(PkiError::NoCertificate {
            file: origin.to_owned(),
        });
    }
    Ok(certificates)
}

/// What a PKCS#12 file holds: its key if any, its certificate, its chain.
type Pkcs12Contents = (Option<PKey<Private>>, X509, Vec<X509>);

fn open_pkcs12(bytes: &[u8], password: Option<&str>, origin: &Path) -> Result<Pkcs12Contents, PkiError> {
    let fail = |e: openssl::error::ErrorStack| PkiError::Pkcs12 {
        file: origin.to_owned(),
        reason: e.to_string(),
    };
    let parsed = Pkcs12::from_der(bytes)
        .map_err(fail)?
        .parse2(password.unwrap_or(""))
        .map_err(fail)?;
    let certificate = parsed.cert.ok_or_else(|| PkiError::NoCertificate {
        file: origin.to_owned(),
    })?;
    let chain = parsed.ca.map(|s| s.into_iter().collect()).unwrap_or_default();
    Ok((parsed.pkey, certificate, chain))
}

/// An identity from `certificate` (PEM with the chain and possibly the key, DER, or PKCS#12 holding
/// everything) and, when the key is elsewhere, `key` (PEM, PKCS#8 or traditional). `password` opens a
/// PKCS#12 file or an encrypted PEM key.
pub fn read_identity(
    certificate: &Path,
    key: Option<&Path>,
    password: Option<&str>,
) -> Result<Identity, PkiError> {
    let bytes = read(certificate)?;
    if !is_pem(&bytes) && X509::from_der(&bytes).is_err() {
        let (pkcs12_key, leaf, chain) = open_pkcs12(&bytes, password, certificate)?;
        let key = match key {
            Some(path) => read_private_key(path, password)?,
            None => pkcs12_key.ok_or_else(|| PkiError::NoPrivateKey {
                file: certificate.to_owned(),
            })?,
        };
        return Identity::new(leaf, key, chain, certificate);
    }
    let mut certificates = parse_certificates(&bytes, password, certificate)?.into_iter();
    let leaf = certificates
        .next()
        .expect("parse_certificates never returns an empty list");
    let chain: Vec<X509> = certificates.collect();
    let key = match key {
        Some(path) => read_private_key(path, password)?,
        None if bytes.windows(11).any(|w| w == b"PRIVATE KEY") => {
            parse_private_key(&bytes, password, certificate)?
        }
        None => {
            return Err(PkiError::NoPrivateKey {
                file: certificate.to_owned(),
            });
        }
    };
    Identity::new(leaf, key, chain, certificate)
}

/// A private key from a PEM file (PKCS#8, encrypted PKCS#8 with `password`, or traditional RSA/EC).
pub fn read_private_key(path: &Path, password: Option<&str>) -> Result<PKey<Private>, PkiError> {
    parse_private_key(&read(path)?, password, path)
}

fn parse_private_key(bytes: &[u8], password: Option<&str>, origin: &Path) -> Result<PKey<Private>, PkiError> {
    let parsed = match password {
        Some(p) => PKey::private_key_from_pem_passphrase(bytes, p.as_bytes()),
        None if is_pem(bytes) => PKey::private_key_from_pem(bytes),
        None => PKey::private_key_from_der(bytes),
    };
    parsed.map_err(|e| PkiError::PrivateKey {
        file: origin.to_owned(),
        reason: e.to_string(),
    })
}

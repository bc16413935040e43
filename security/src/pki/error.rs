//! What can be wrong with a configured certificate, key or trust anchor, always naming the file.
//!
//! Messages say which file and what is wrong with it; they never quote subject names (a person's
//! certificate carries a name and a codice fiscale), only the file, the use and OpenSSL's reason.

use std::path::PathBuf;

use super::CertificateUse;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a certificate in PEM, DER or PKCS#12 form: {reason}")]
    NotACertificate { file: PathBuf, reason: String },
    #[error("{file}: holds no certificate")]
    NoCertificate { file: PathBuf },
    #[error("{file}: no private key in the file (configure `key`, or use a PKCS#12 file)")]
    NoPrivateKey { file: PathBuf },
    #[error("{file}: cannot read the private key: {reason}")]
    PrivateKey { file: PathBuf, reason: String },
    #[error("{file}: cannot open the PKCS#12 file (wrong password, or not PKCS#12): {reason}")]
    Pkcs12 { file: PathBuf, reason: String },
    #[error("{file}: the private key does not belong to the certificate")]
    KeyMismatch { file: PathBuf },
    #[error("{file}: cannot read the certificate's fields: {reason}")]
    Fields { file: PathBuf, reason: String },
    #[error("{file}: no trust anchor configured to validate the chain against")]
    NoTrustAnchors { file: PathBuf },
    #[error(
        "{file}: the chain does not validate for {usage} against the configured CAs: {reason} (at depth {depth})"
    )]
    Untrusted {
        file: PathBuf,
        usage: CertificateUse,
        reason: String,
        depth: u32,
    },
    #[error("{file}: not usable for {usage}: {reason}")]
    WrongUsage {
        file: PathBuf,
        usage: CertificateUse,
        reason: String,
    },
    #[error("{file}: OpenSSL failed while {doing}: {reason}")]
    OpenSsl {
        file: PathBuf,
        doing: &'static str,
        reason: String,
    },
}

//! The verified client certificate of a connection, as handlers read it from request extensions.

use std::path::Path;

use openssl::x509::X509Ref;

use crate::pki::{CertificateInfo, SubjectFields};

/// The client certificate OpenSSL verified during the handshake against the configured CAs, with
/// its parsed subject. Present in a request's extensions only when the client presented one and it
/// verified; with [`ClientAuth::Optional`](super::ClientAuth) a request may come without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub subject: SubjectFields,
    pub issuer: SubjectFields,
    /// Hexadecimal serial number.
    pub serial: String,
    /// SHA-256 of the DER, lower-case hex with colons (what pagoPA's mock EC pins).
    pub sha256_fingerprint: String,
    pub der: Vec<u8>,
}

impl PeerCertificate {
    pub(crate) fn read(certificate: &X509Ref) -> Option<PeerCertificate> {
        let owned = certificate.to_owned();
        let info = CertificateInfo::read(&owned, Path::new("<TLS peer>")).ok()?;
        Some(PeerCertificate {
            subject: info.subject,
            issuer: info.issuer,
            serial: info.serial,
            sha256_fingerprint: info.sha256_fingerprint,
            der: owned.to_der().ok()?,
        })
    }
}

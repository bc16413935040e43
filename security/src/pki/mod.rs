//! Certificates: loading them in the forms operators receive (PEM, DER, PKCS#12), reading the fields
//! the platforms use, validating chains per use with OpenSSL, and the summary `snodo check` prints.
//!
//! The platforms identify a municipality by certificate: ANPR by the `<ISTAT>-CO-9999` TLS client
//! certificate the Ministry issues (anpr-and-cie-booking.md §1.6), SPID/CIE by the SP signing
//! certificate whose subject carries organizationIdentifier `PA:IT-<codice IPA>` and uri = entityID
//! (Avviso SPID n.29 v3, spid-and-cie-id.md §1.2), pagoPA by mutual TLS (pagopa.md). OpenSSL stays the
//! one cryptographic library; `x509-parser` only reads fields OpenSSL has no names for.

mod error;
mod inspect;
mod load;
mod summary;
mod verify;

pub use error::PkiError;
pub use inspect::{
    CertificateInfo, DEVELOPMENT_MARKER, ExtendedKeyUsageBits, KeyAlgorithm, KeyUsageBits,
    OID_ORGANIZATION_IDENTIFIER, OID_URI, POLICY_AGID_CERT, POLICY_SPID_PRIVATE_SECTOR_SP,
    POLICY_SPID_PUBLIC_SECTOR_SP, SubjectFields,
};
pub use load::{Identity, parse_certificates, read_certificates, read_identity, read_private_key};
pub use summary::{CertificateSource, CertificateSummary, MIN_RSA_BITS, Verdict, WARNING_WINDOW, format_utc};
pub use verify::{CertificateUse, TrustAnchors, check_usage};

pub(crate) use inspect::unix_seconds;

//! The fields of a certificate the platforms and operators care about, read once into plain values.
//!
//! OpenSSL has no names for some subject attributes the Italian profiles use, so the subject and the
//! extensions are read with `x509-parser`, by OID: organizationIdentifier 2.5.4.97 (`PA:IT-<codice
//! IPA>` for a public SPID SP, Avviso SPID n.29 v3), uri 2.5.4.83 (= the SP entityID), serialNumber
//! 2.5.4.5. Key type and size come from OpenSSL, which already parsed the key.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use openssl::x509::X509;
use x509_parser::der_parser::Oid;
use x509_parser::der_parser::oid;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use super::PkiError;

/// organizationIdentifier (ETSI EN 319 412-1): `PA:IT-<codice IPA>` on a public SPID SP certificate.
pub const OID_ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";
/// uri (RFC 4519 / X.520): the SPID SP entityID.
pub const OID_URI: &str = "2.5.4.83";
/// agIDcert: the policy every SPID SP certificate declares (Avviso SPID n.29 v3).
pub const POLICY_AGID_CERT: &str = "1.3.76.16.6";
/// spid-publicsector-SP (Avviso SPID n.29 v3).
pub const POLICY_SPID_PUBLIC_SECTOR_SP: &str = "1.3.76.16.4.2.1";
/// spid-privatesector-SP (Avviso SPID n.29 v3).
pub const POLICY_SPID_PRIVATE_SECTOR_SP: &str = "1.3.76.16.4.3.1";

/// The subject attributes the platforms read. Values are as written in the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFields {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    /// 2.5.4.97, e.g. `PA:IT-c_f205`.
    pub organization_identifier: Option<String>,
    /// 2.5.4.5; on a person's certificate `TINIT-<codice fiscale>`: personal data, mask before printing.
    pub serial_number: Option<String>,
    /// 2.5.4.83, the SPID SP entityID.
    pub uri: Option<String>,
    pub country: Option<String>,
    pub locality: Option<String>,
}

impl SubjectFields {
    pub(crate) fn read(name: &X509Name<'_>) -> SubjectFields {
        let first = |oid: Oid<'_>| {
            name.iter_by_oid(&oid).next().map(|a| match a.as_str() {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(a.as_slice()).into_owned(),
            })
        };
        SubjectFields {
            common_name: first(oid!(2.5.4.3)),
            organization: first(oid!(2.5.4.10)),
            organizational_unit: first(oid!(2.5.4.11)),
            organization_identifier: first(oid!(2.5.4.97)),
            serial_number: first(oid!(2.5.4.5)),
            uri: first(oid!(2.5.4.83)),
            country: first(oid!(2.5.4.6)),
            locality: first(oid!(2.5.4.7)),
        }
    }

    /// The subject's serialNumber safe to print: a person's `TINIT-` codice fiscale is masked.
    pub fn serial_number_masked(&self) -> Option<String> {
        self.serial_number.as_deref().map(|s| {
            if s.len() > 6 && (s.starts_with("TINIT-") || s.len() == 16) {
                let keep = if s.starts_with("TINIT-") { 6 } else { 0 };
                format!("{}{}", &s[..keep], "*".repeat(s.len() - keep))
            } else {
                s.to_owned()
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa,
    Ec,
    Ed25519,
    Other(String),
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa => f.write_str("RSA"),
            KeyAlgorithm::Ec => f.write_str("EC"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other(name) => f.write_str(name),
        }
    }
}

/// keyUsage bits Snodo checks; `None` on [`CertificateInfo`] when the extension is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsageBits {
    pub digital_signature: bool,
    pub non_repudiation: bool,
    pub key_encipherment: bool,
    pub key_agreement: bool,
    pub key_cert_sign: bool,
}

/// extendedKeyUsage purposes Snodo checks; `None` on [`CertificateInfo`] when absent (any use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtendedKeyUsageBits {
    pub any: bool,
    pub server_auth: bool,
    pub client_auth: bool,
}

/// Everything `snodo check` and the connectors read from a certificate.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub subject: SubjectFields,
    pub issuer: SubjectFields,
    /// Hexadecimal, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub key_algorithm: KeyAlgorithm,
    pub key_bits: u32,
    /// e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// certificatePolicies OIDs, dotted.
    pub policies: Vec<String>,
    pub policies_critical: bool,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub is_ca: bool,
    pub key_usage: Option<KeyUsageBits>,
    pub extended_key_usage: Option<ExtendedKeyUsageBits>,
    /// SHA-256 of the DER, lower-case hex with colons.
    pub sha256_fingerprint: String,
}

/// The marker the development PKI puts in every certificate it issues (organizationName), so that a
/// development certificate is recognisable wherever it turns up.
pub const DEVELOPMENT_MARKER: &str = "Snodo DEVELOPMENT";

impl CertificateInfo {
    /// Reads `certificate`; `origin` names it in errors.
    pub fn read(certificate: &X509, origin: &Path) -> Result<CertificateInfo, PkiError> {
        let openssl = |doing: &'static str| {
            move |e: openssl::error::ErrorStack| PkiError::OpenSsl {
                file: origin.to_owned(),
                doing,
                reason: e.to_string(),
            }
        };
        let der = certificate
            .to_der()
            .map_err(openssl("encoding the certificate"))?;
        let fields = |reason: String| PkiError::Fields {
            file: origin.to_owned(),
            reason,
        };
        let (_, parsed) = X509Certificate::from_der(&der).map_err(|e| fields(e.to_string()))?;
        let key = certificate
            .public_key()
            .map_err(openssl("reading the public key"))?;
        let key_algorithm = match key.id() {
            Id::RSA | Id::RSA_PSS => KeyAlgorithm::Rsa,
            Id::EC => KeyAlgorithm::Ec,
            Id::ED25519 => KeyAlgorithm::Ed25519,
            other => KeyAlgorithm::Other(format!("{other:?}")),
        };
        let mut info = CertificateInfo {
            subject: SubjectFields::read(parsed.subject()),
            issuer: SubjectFields::read(parsed.issuer()),
            serial: parsed
                .raw_serial_as_string()
                .replace(':', "")
                .to_ascii_uppercase(),
            not_before: system_time(parsed.validity().not_before.timestamp()),
            not_after: system_time(parsed.validity().not_after.timestamp()),
            key_algorithm,
            key_bits: key.bits(),
            signature_algorithm: certificate
                .signature_algorithm()
                .object()
                .nid()
                .short_name()
                .map(str::to_owned)
                .unwrap_or_else(|_| certificate.signature_algorithm().object().to_string()),
            policies: Vec::new(),
            policies_critical: false,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            is_ca: parsed.is_ca(),
            key_usage: None,
            extended_key_usage: None,
            sha256_fingerprint: certificate
                .digest(MessageDigest::sha256())
                .map_err(openssl("hashing the certificate"))?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        };
        for extension in parsed.extensions() {
            match extension.parsed_extension() {
                ParsedExtension::CertificatePolicies(policies) => {
                    info.policies = policies.iter().map(|p| p.policy_id.to_id_string()).collect();
                    info.policies_critical = extension.critical;
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => info.dns_names.push((*d).to_owned()),
                            GeneralName::IPAddress(bytes) => {
                                if let Some(ip) = ip_from_bytes(bytes) {
                                    info.ip_addresses.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::KeyUsage(ku) => {
                    info.key_usage = Some(KeyUsageBits {
                        digital_signature: ku.digital_signature(),
                        non_repudiation: ku.non_repudiation(),
                        key_encipherment: ku.key_encipherment(),
                        key_agreement: ku.key_agreement(),
                        key_cert_sign: ku.key_cert_sign(),
                    });
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    info.extended_key_usage = Some(ExtendedKeyUsageBits {
                        any: eku.any,
                        server_auth: eku.server_auth,
                        client_auth: eku.client_auth,
                    });
                }
                ParsedExtension::ParseError { error } => {
                    return Err(fields(format!(
                        "extension {} is malformed: {error}",
                        extension.oid.to_id_string()
                    )));
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// Whether the development PKI issued this certificate (its organizationName says so).
    pub fn is_development(&self) -> bool {
        self.subject
            .organization
            .as_deref()
            .is_some_and(|o| o.contains(DEVELOPMENT_MARKER))
    }

    /// Time left until `notAfter` at `now`; `None` once expired.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.not_after.duration_since(now).ok()
    }
}

fn system_time(unix: i64) -> SystemTime {
    if unix >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// Seconds since the Unix epoch, for OpenSSL's `time_t` parameters and `Asn1Time::from_unix`.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

//! Issuing certificates with OpenSSL: a self-signed authority and the leaf profiles Snodo needs.
//!
//! Profiles follow the platforms' rules where they have them: the SPID public-sector SP signing
//! certificate of Avviso SPID n.29 v3 (subject with organizationIdentifier `PA:IT-<codice IPA>`, uri =
//! entityID, countryName, localityName; certificatePolicies agIDcert 1.3.76.16.6 and
//! spid-publicsector-SP 1.3.76.16.4.2.1; keyUsage digitalSignature + nonRepudiation; RSA 3072,
//! SHA-256), the ANPR municipality certificate (CN `<ISTAT>-CO-9999`, OU ANPR, clientAuth) and plain
//! TLS server/client certificates. Every subject's organizationName carries
//! [`DEVELOPMENT_MARKER`](crate::pki::DEVELOPMENT_MARKER).

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509Name, X509NameBuilder};

use super::DevPkiError;
use crate::pki::{DEVELOPMENT_MARKER, POLICY_AGID_CERT, POLICY_SPID_PUBLIC_SECTOR_SP, unix_seconds};

/// notBefore and notAfter of a certificate to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// From an hour before `now` (clock skew between hosts) to `days` days after it.
    pub fn days_from(now: SystemTime, days: u64) -> Validity {
        Validity {
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(days * 86_400),
        }
    }
}

/// What a leaf certificate is for, with the subject details its profile needs.
#[derive(Debug, Clone)]
pub enum LeafProfile {
    /// serverAuth, with these DNS names and IP addresses as subjectAltName.
    TlsServer {
        common_name: String,
        dns_names: Vec<String>,
        ip_addresses: Vec<IpAddr>,
    },
    /// clientAuth.
    TlsClient { common_name: String },
    /// A SPID/CIE public-sector SP signing certificate (Avviso SPID n.29 v3).
    SpidPublicSp {
        /// The municipality's name (commonName and organizationName).
        name: String,
        /// Codice IPA, e.g. `c_f205`: organizationIdentifier `PA:IT-c_f205`.
        ipa_code: String,
        /// The SP entityID: the uri attribute (2.5.4.83).
        entity_id: String,
        locality: String,
    },
    /// A (simulated) IdP's metadata and assertion signing certificate.
    IdpSigning { common_name: String },
    /// ANPR municipality certificate: CN `<ISTAT>-CO-9999`, OU ANPR, TLS client.
    AnprMunicipality { istat: String, name: String },
}

/// A certificate authority: its certificate and key.
#[derive(Clone)]
pub struct Authority {
    certificate: X509,
    key: PKey<Private>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn ssl(doing: &'static str) -> impl Fn(openssl::error::ErrorStack) -> DevPkiError {
    move |e| DevPkiError::OpenSsl {
        doing,
        reason: e.to_string(),
    }
}

impl Authority {
    /// A self-signed development CA named `common_name`. `critical_policies`, when not empty, adds a
    /// certificatePolicies extension marked critical, as Italian public-sector CAs do: the chain that
    /// rustls refuses and OpenSSL must accept.
    pub fn self_signed(
        common_name: &str,
        key: &PKey<Private>,
        validity: Validity,
        critical_policies: &[&str],
    ) -> Result<Authority, DevPkiError> {
        let name = subject(&[("CN", common_name), ("O", DEVELOPMENT_MARKER), ("C", "IT")])?;
        let mut b = builder(&name, &name, key, validity)?;
        b.append_extension(
            BasicConstraints::new()
                .critical()
                .ca()
                .build()
                .map_err(ssl("building basicConstraints"))?,
        )
        .map_err(ssl("adding basicConstraints"))?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .map_err(ssl("building keyUsage"))?,
        )
        .map_err(ssl("adding keyUsage"))?;
        let ski = SubjectKeyIdentifier::new()
            .build(&b.x509v3_context(None, None))
            .map_err(ssl("building subjectKeyIdentifier"))?;
        b.append_extension(ski)
            .map_err(ssl("adding subjectKeyIdentifier"))?;
        if !critical_policies.is_empty() {
            let policies: Vec<(&str, Option<&str>)> = critical_policies.iter().map(|p| (*p, None)).collect();
            b.append_extension(certificate_policies(&policies, true)?)
                .map_err(ssl("adding certificatePolicies"))?;
        }
        b.sign(key, MessageDigest::sha256())
            .map_err(ssl("signing the CA certificate"))?;
        Ok(Authority {
            certificate: b.build(),
            key: key.clone(),
        })
    }

    /// An authority from an existing certificate and key (the on-disk cache).
    pub fn from_parts(certificate: X509, key: PKey<Private>) -> Authority {
        Authority { certificate, key }
    }

    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }
    pub fn key(&self) -> &PKey<Private> {
        &self.key
    }

    /// Issues a certificate of `profile` for `key`, valid over `validity`, signed with SHA-256.
    pub fn issue(
        &self,
        profile: &LeafProfile,
        key: &PKey<Private>,
        validity: Validity,
    ) -> Result<X509, DevPkiError> {
        let development = DEVELOPMENT_MARKER.to_owned();
        let name = match profile {
            LeafProfile::TlsServer { common_name, .. }
            | LeafProfile::TlsClient { common_name }
            | LeafProfile::IdpSigning { common_name } => {
                subject(&[("CN", common_name), ("O", &development), ("C", "IT")])?
            }
            LeafProfile::SpidPublicSp {
                name,
                ipa_code,
                entity_id,
                locality,
            } => subject(&[
                ("CN", name),
                ("O", &format!("{name} ({DEVELOPMENT_MARKER})")),
                ("organizationIdentifier", &format!("PA:IT-{ipa_code}")),
                ("2.5.4.83", entity_id),
                ("C", "IT"),
                ("L", locality),
            ])?,
            LeafProfile::AnprMunicipality { istat, name } => subject(&[
                ("CN", &format!("{istat}-CO-9999")),
                ("OU", "ANPR"),
                ("O", &format!("{name} ({DEVELOPMENT_MARKER})")),
                ("C", "IT"),
            ])?,
        };
        let mut b = builder(&name, self.certificate.subject_name(), key, validity)?;
        b.append_extension(
            BasicConstraints::new()
                .critical()
                .build()
                .map_err(ssl("building basicConstraints"))?,
        )
        .map_err(ssl("adding basicConstraints"))?;
        let mut ku = KeyUsage::new();
        ku.critical().digital_signature();
        let mut eku = None;
        match profile {
            LeafProfile::TlsServer {
                dns_names,
                ip_addresses,
                ..
            } => {
                ku.key_encipherment();
                eku = Some(ExtendedKeyUsage::new().server_auth().build());
                let mut san = SubjectAlternativeName::new();
                for d in dns_names {
                    san.dns(d);
                }
                for ip in ip_addresses {
                    san.ip(&ip.to_string());
                }
                let san = san
                    .build(&b.x509v3_context(Some(&self.certificate), None))
                    .map_err(ssl("building subjectAltName"))?;
                b.append_extension(san).map_err(ssl("adding subjectAltName"))?;
            }
            LeafProfile::TlsClient { .. } | LeafProfile::AnprMunicipality { .. } => {
                ku.key_encipherment();
                eku = Some(ExtendedKeyUsage::new().client_auth().build());
            }
            LeafProfile::SpidPublicSp { .. } => {
                // Avviso SPID n.29 v3: keyUsage digitalSignature + nonRepudiation, the two policies.
                ku.non_repudiation();
                b.append_extension(certificate_policies(
                    &[
                        (POLICY_AGID_CERT, Some("agIDcert")),
                        (POLICY_SPID_PUBLIC_SECTOR_SP, Some("cert_SP_Pub")),
                    ],
                    false,
                )?)
                .map_err(ssl("adding certificatePolicies"))?;
            }
            LeafProfile::IdpSigning { .. } => {
                ku.non_repudiation();
            }
        }
        b.append_extension(ku.build().map_err(ssl("building keyUsage"))?)
            .map_err(ssl("adding keyUsage"))?;
        if let Some(eku) = eku {
            b.append_extension(eku.map_err(ssl("building extendedKeyUsage"))?)
                .map_err(ssl("adding extendedKeyUsage"))?;
        }
        let ctx = b.x509v3_context(Some(&self.certificate), None);
        let ski = SubjectKeyIdentifier::new()
            .build(&ctx)
            .map_err(ssl("building subjectKeyIdentifier"))?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&ctx)
            .map_err(ssl("building authorityKeyIdentifier"))?;
        b.append_extension(ski)
            .map_err(ssl("adding subjectKeyIdentifier"))?;
        b.append_extension(aki)
            .map_err(ssl("adding authorityKeyIdentifier"))?;
        b.sign(&self.key, MessageDigest::sha256())
            .map_err(ssl("signing the certificate"))?;
        Ok(b.build())
    }
}

fn subject(entries: &[(&str, &str)]) -> Result<X509Name, DevPkiError> {
    let mut name = X509NameBuilder::new().map_err(ssl("building a subject"))?;
    for (field, value) in entries {
        name.append_entry_by_text(field, value)
            .map_err(ssl("adding a subject attribute"))?;
    }
    Ok(name.build())
}

fn builder(
    subject: &X509Name,
    issuer: &openssl::x509::X509NameRef,
    key: &PKey<Private>,
    validity: Validity,
) -> Result<X509Builder, DevPkiError> {
    let mut b = X509Builder::new().map_err(ssl("starting a certificate"))?;
    b.set_version(2).map_err(ssl("setting the version"))?;
    let mut serial = BigNum::new().map_err(ssl("allocating a serial"))?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(ssl("drawing a serial"))?;
    let serial: Asn1Integer = serial.to_asn1_integer().map_err(ssl("encoding the serial"))?;
    b.set_serial_number(&serial).map_err(ssl("setting the serial"))?;
    b.set_subject_name(subject).map_err(ssl("setting the subject"))?;
    b.set_issuer_name(issuer).map_err(ssl("setting the issuer"))?;
    b.set_pubkey(key).map_err(ssl("setting the public key"))?;
    let time = |t: SystemTime| Asn1Time::from_unix(unix_seconds(t) as _).map_err(ssl("encoding a time"));
    let (not_before, not_after) = (time(validity.not_before)?, time(validity.not_after)?);
    b.set_not_before(&not_before).map_err(ssl("setting notBefore"))?;
    b.set_not_after(&not_after).map_err(ssl("setting notAfter"))?;
    Ok(b)
}

/// certificatePolicies (RFC 5280 §4.2.1.4), each policy with an optional userNotice explicitText,
/// DER-encoded by hand: the openssl crate has no builder for it and its config mini-language is
/// deprecated.
fn certificate_policies(
    policies: &[(&str, Option<&str>)],
    critical: bool,
) -> Result<X509Extension, DevPkiError> {
    let mut infos = Vec::new();
    for (oid, notice) in policies {
        let mut info = der_oid(oid)?;
        if let Some(text) = notice {
            // PolicyQualifierInfo { id-qt-unotice, UserNotice { explicitText UTF8String } }
            let user_notice = der(0x30, &der(0x0c, text.as_bytes()));
            let qualifier = der(0x30, &[der_oid("1.3.6.1.5.5.7.2.2")?, user_notice].concat());
            info.extend(der(0x30, &qualifier));
        }
        infos.extend(der(0x30, &info));
    }
    let value = der(0x30, &infos);
    let oid = Asn1Object::from_str("2.5.29.32").map_err(ssl("naming certificatePolicies"))?;
    let contents = Asn1OctetString::new_from_bytes(&value).map_err(ssl("encoding certificatePolicies"))?;
    X509Extension::new_from_der(&oid, critical, &contents).map_err(ssl("building certificatePolicies"))
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn der_oid(dotted: &str) -> Result<Vec<u8>, DevPkiError> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()
        .filter(|a: &Vec<u64>| a.len() >= 2 && a[0] <= 2 && a[1] < 40)
        .ok_or_else(|| DevPkiError::InvalidOid {
            oid: dotted.to_owned(),
        })?;
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut chunk = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            chunk.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    };
    push(arcs[0] * 40 + arcs[1]);
    for arc in &arcs[2..] {
        push(*arc);
    }
    Ok(der(0x06, &body))
}

//! Chain validation against configured CAs, per use, at a given instant.
//!
//! OpenSSL's `X509Store` does the path building, signatures, validity and its purpose checks (keyUsage,
//! extendedKeyUsage for TLS); it accepts a critical certificatePolicies extension, which the Italian
//! public-sector chains carry and rustls/webpki refuse (middleware-and-crates.md, TLS rows). Our own
//! check of keyUsage/extendedKeyUsage per use runs first, so the error says which bit is missing rather
//! than OpenSSL's generic "unsupported certificate purpose".

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509PurposeId, X509StoreContext};

use super::inspect::{CertificateInfo, unix_seconds};
use super::{PkiError, read_certificates};

/// What a certificate is for; each use has its own keyUsage/extendedKeyUsage rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateUse {
    /// An HTTPS endpoint Snodo serves (inbound listener, simulators): serverAuth.
    TlsServer,
    /// Snodo as a TLS client (ANPR `<ISTAT>-CO-9999`, the pagoPA node towards us): clientAuth.
    TlsClient,
    /// XML signatures (SPID/CIE SP metadata and AuthnRequests, WS-Security): digitalSignature or
    /// nonRepudiation.
    Signing,
    /// A CA certificate: keyCertSign.
    CertificateAuthority,
}

impl std::fmt::Display for CertificateUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertificateUse::TlsServer => "TLS server",
            CertificateUse::TlsClient => "TLS client",
            CertificateUse::Signing => "signing",
            CertificateUse::CertificateAuthority => "certificate authority",
        })
    }
}

impl CertificateUse {
    fn purpose(self) -> X509PurposeId {
        match self {
            CertificateUse::TlsServer => X509PurposeId::SSL_SERVER,
            CertificateUse::TlsClient => X509PurposeId::SSL_CLIENT,
            // No OpenSSL purpose fits XML signing (S/MIME would demand emailProtection when an EKU is
            // present): `ANY`, with our keyUsage rule below.
            CertificateUse::Signing => X509PurposeId::ANY,
            CertificateUse::CertificateAuthority => X509PurposeId::ANY,
        }
    }
}

/// Whether the extensions of `info` allow `usage`; the reason names the missing bit.
pub fn check_usage(info: &CertificateInfo, usage: CertificateUse) -> Result<(), String> {
    let ku = info.key_usage;
    let eku = info.extended_key_usage;
    match usage {
        CertificateUse::TlsServer | CertificateUse::TlsClient => {
            if let Some(ku) = ku
                && !(ku.digital_signature || ku.key_encipherment || ku.key_agreement)
            {
                return Err("keyUsage has none of digitalSignature, keyEncipherment, keyAgreement".into());
            }
            let (wanted, name) = match usage {
                CertificateUse::TlsServer => (eku.map(|e| e.server_auth || e.any), "serverAuth"),
                _ => (eku.map(|e| e.client_auth || e.any), "clientAuth"),
            };
            if wanted == Some(false) {
                return Err(format!("extendedKeyUsage does not include {name}"));
            }
            if info.is_ca {
                return Err("it is a CA certificate (basicConstraints CA:TRUE)".into());
            }
        }
        CertificateUse::Signing => {
            if let Some(ku) = ku
                && !(ku.digital_signature || ku.non_repudiation)
            {
                return Err("keyUsage has neither digitalSignature nor nonRepudiation".into());
            }
        }
        CertificateUse::CertificateAuthority => {
            if !info.is_ca {
                return Err("basicConstraints does not say CA:TRUE".into());
            }
            if ku.is_some_and(|k| !k.key_cert_sign) {
                return Err("keyUsage lacks keyCertSign".into());
            }
        }
    }
    Ok(())
}

/// The CAs a chain must lead to, from configuration. Cheap to clone.
#[derive(Clone, Default)]
pub struct TrustAnchors {
    certificates: Vec<X509>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl TrustAnchors {
    pub fn new(certificates: Vec<X509>) -> TrustAnchors {
        TrustAnchors { certificates }
    }

    /// Every certificate of every file (PEM bundles, DER, PKCS#12 without password).
    pub fn read(files: &[PathBuf]) -> Result<TrustAnchors, PkiError> {
        let mut certificates = Vec::new();
        for file in files {
            certificates.extend(read_certificates(file, None)?);
        }
        Ok(TrustAnchors { certificates })
    }

    pub fn certificates(&self) -> &[X509] {
        &self.certificates
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// An OpenSSL store of these anchors for `usage`: what TLS contexts verify peers with.
    pub fn store(
        &self,
        usage: CertificateUse,
    ) -> Result<openssl::x509::store::X509Store, openssl::error::ErrorStack> {
        let mut builder = X509StoreBuilder::new()?;
        for c in &self.certificates {
            builder.add_cert(c.clone())?;
        }
        builder.set_purpose(usage.purpose())?;
        Ok(builder.build())
    }

    /// Validates `leaf` with its `chain` (intermediates) for `usage` at instant `at`: usage bits, then
    /// OpenSSL's path validation (signatures, validity at `at`, purpose). `origin` names the file.
    pub fn verify(
        &self,
        leaf: &X509,
        chain: &[X509],
        usage: CertificateUse,
        at: SystemTime,
        origin: &Path,
    ) -> Result<(), PkiError> {
        let info = CertificateInfo::read(leaf, origin)?;
        check_usage(&info, usage).map_err(|reason| PkiError::WrongUsage {
            file: origin.to_owned(),
            usage,
            reason,
        })?;
        if self.certificates.is_empty() {
            return Err(PkiError::NoTrustAnchors {
                file: origin.to_owned(),
            });
        }
        let openssl = |e: openssl::error::ErrorStack| PkiError::OpenSsl {
            file: origin.to_owned(),
            doing: "validating the chain",
            reason: e.to_string(),
        };
        let mut builder = X509StoreBuilder::new().map_err(openssl)?;
        for c in &self.certificates {
            builder.add_cert(c.clone()).map_err(openssl)?;
        }
        let mut param = X509VerifyParam::new().map_err(openssl)?;
        param.set_time(unix_seconds(at) as _);
        param.set_purpose(usage.purpose()).map_err(openssl)?;
        builder.set_param(&param).map_err(openssl)?;
        let store = builder.build();
        let mut untrusted = Stack::new().map_err(openssl)?;
        for c in chain {
            untrusted.push(c.clone()).map_err(openssl)?;
        }
        let mut context = X509StoreContext::new().map_err(openssl)?;
        let (ok, error, depth) = context
            .init(&store, leaf, &untrusted, |ctx| {
                let ok = ctx.verify_cert()?;
                Ok((ok, ctx.error(), ctx.error_depth()))
            })
            .map_err(openssl)?;
        if ok {
            Ok(())
        } else {
            Err(PkiError::Untrusted {
                file: origin.to_owned(),
                usage,
                reason: error.error_string().to_owned(),
                depth,
            })
        }
    }
}

//! Certificate settings: the inbound listener's TLS identity and the CAs it accepts clients from
//! (`[tls]`), and each tenant's own certificates (`[tenants.certificates.*]`): the ANPR client
//! certificate (`<ISTAT>-CO-9999`, usually PKCS#12) and the SPID/CIE SP signing certificates.
//!
//! ```toml
//! [tls]
//! client_ca = ["/etc/snodo/pagopa-forwarder-ca.pem"]   # CAs whose client certificates the inbound listener accepts
//! [tls.server]                                          # the inbound listener's certificate
//! certificate = "/etc/snodo/inbound.pem"                # PEM (certificate, chain, maybe key), DER or PKCS#12
//! key = "/etc/snodo/inbound.key"                        # when the key is in its own file
//! ca = ["/etc/snodo/issuing-ca.pem"]                    # CAs its chain is checked against by `snodo check`
//!
//! [tenants.certificates.anpr_client]                    # inside a [[tenants]] entry
//! certificate = "/etc/snodo/015146-CO-9999.p12"
//! password_file = "/etc/snodo/015146-CO-9999.pass"     # secrets are read from files, never printed
//! ca = ["/etc/snodo/anpr-ca.pem"]
//! [tenants.certificates.spid_signing]
//! certificate = "/etc/snodo/spid-sp.pem"
//! key = "/etc/snodo/spid-sp.key"                        # no `ca`: a self-signed SP certificate (Avviso 28/2020)
//! ```
//!
//! Environment overrides work as for every key: `SNODO_TLS__SERVER__CERTIFICATE=…`,
//! `SNODO_TENANTS__0__CERTIFICATES__ANPR_CLIENT__PASSWORD_FILE=…`. `tls.dev_pki_dir` names the
//! development PKI's cache and is refused unless every tenant is in the development environment.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Config, Environment};

/// Where one certificate and its key are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// PEM (certificate, then chain, possibly the key), DER, or PKCS#12 with everything.
    pub certificate: PathBuf,
    /// The private key, when not inside `certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// A file holding the PKCS#12 or key password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// CAs the chain must validate against; empty: the chain is not checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca: Vec<PathBuf>,
}

/// `[tls]`: the inbound HTTPS listener (DESIGN §6: pagoPA, SAML ACS, ANPR notifications).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<CertificateFiles>,
    /// CAs whose client certificates the inbound listener accepts (the pagoPA node presents one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_ca: Vec<PathBuf>,
    /// Directory of the development PKI (development only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_pki_dir: Option<PathBuf>,
}

/// A tenant's certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TenantCertificates {
    /// The TLS client certificate ANPR identifies the municipality by (`<ISTAT>-CO-9999`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anpr_client: Option<CertificateFiles>,
    /// The SPID SP signing certificate (metadata and AuthnRequests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spid_signing: Option<CertificateFiles>,
    /// The CIE ID SP signing certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cie_signing: Option<CertificateFiles>,
}

/// What a configured certificate is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateRole {
    TlsServer,
    TlsClient,
    Signing,
    /// A CA certificate file (e.g. `tls.client_ca`).
    Authority,
}

/// One certificate of the configuration, with the key it was configured under.
#[derive(Debug, Clone)]
pub struct ConfiguredCertificate<'c> {
    /// e.g. `tenants[0].certificates.anpr_client`.
    pub key: String,
    pub role: CertificateRole,
    pub files: CertificateFiles,
    /// The environment it serves: its tenant's, or for global settings the strictest of all tenants.
    pub environment: Environment,
    /// The tenant it belongs to, for tenant certificates.
    pub tenant: Option<&'c str>,
}

impl Config {
    /// Every certificate and CA file the configuration names, in file order.
    pub fn certificates(&self) -> Vec<ConfiguredCertificate<'_>> {
        let strictest = self
            .tenants
            .iter()
            .map(|t| t.environment)
            .max_by_key(|e| match e {
                Environment::Development => 0,
                Environment::Test => 1,
                Environment::Production => 2,
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        if let Some(server) = &self.tls.server {
            out.push(ConfiguredCertificate {
                key: "tls.server".into(),
                role: CertificateRole::TlsServer,
                files: server.clone(),
                environment: strictest,
                tenant: None,
            });
        }
        for (i, ca) in self.tls.client_ca.iter().enumerate() {
            out.push(ConfiguredCertificate {
                key: format!("tls.client_ca[{i}]"),
                role: CertificateRole::Authority,
                files: CertificateFiles {
                    certificate: ca.clone(),
                    key: None,
                    password_file: None,
                    ca: Vec::new(),
                },
                environment: strictest,
                tenant: None,
            });
        }
        for (i, t) in self.tenants.iter().enumerate() {
            let c = &t.certificates;
            for (name, role, files) in [
                ("anpr_client", CertificateRole::TlsClient, &c.anpr_client),
                ("spid_signing", CertificateRole::Signing, &c.spid_signing),
                ("cie_signing", CertificateRole::Signing, &c.cie_signing),
            ] {
                if let Some(files) = files {
                    out.push(ConfiguredCertificate {
                        key: format!("tenants[{i}].certificates.{name}"),
                        role,
                        files: files.clone(),
                        environment: t.environment,
                        tenant: Some(&t.istat),
                    });
                }
            }
        }
        out
    }
}

/// The configuration rules of certificate settings, as (key, reason).
pub(super) fn validate(c: &Config) -> Result<(), (String, String)> {
    if c.tls.dev_pki_dir.is_some()
        && let Some((i, t)) = c
            .tenants
            .iter()
            .enumerate()
            .find(|(_, t)| t.environment != Environment::Development)
    {
        return Err((
            "tls.dev_pki_dir".into(),
            format!(
                "the development PKI is for development only, but tenants[{i}] ({}) is {:?}",
                t.istat, t.environment
            ),
        ));
    }
    for certificate in c.certificates() {
        if certificate.files.certificate.as_os_str().is_empty() {
            return Err((
                format!("{}.certificate", certificate.key),
                "must name a file".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_from_str;

    const TENANT: &str = r#"
        [[tenants]]
        istat = "015146"
        name = "Comune di Milano"
        fiscal_code = "01199250158"
        cadastral_code = "F205"
        public_base_url = "https://snodo.comune.milano.it"
        environment = "production"
    "#;

    #[test]
    fn certificate_keys_load_from_the_file_and_are_listed_with_their_roles() {
        let text = format!(
            r#"
            [tls]
            client_ca = ["/etc/snodo/pagopa-ca.pem"]
            [tls.server]
            certificate = "/etc/snodo/inbound.pem"
            key = "/etc/snodo/inbound.key"
            {TENANT}
            [tenants.certificates.anpr_client]
            certificate = "/etc/snodo/015146-CO-9999.p12"
            password_file = "/etc/snodo/015146-CO-9999.pass"
            ca = ["/etc/snodo/anpr-ca.pem"]
            [tenants.certificates.spid_signing]
            certificate = "/etc/snodo/spid.pem"
            key = "/etc/snodo/spid.key"
            "#
        );
        let c = load_from_str("snodo.toml", Some(&text), Vec::new()).unwrap();
        let listed: Vec<(String, CertificateRole, Environment)> = c
            .certificates()
            .into_iter()
            .map(|c| (c.key, c.role, c.environment))
            .collect();
        assert_eq!(
            listed,
            vec![
                (
                    "tls.server".into(),
                    CertificateRole::TlsServer,
                    Environment::Production
                ),
                (
                    "tls.client_ca[0]".into(),
                    CertificateRole::Authority,
                    Environment::Production
                ),
                (
                    "tenants[0].certificates.anpr_client".into(),
                    CertificateRole::TlsClient,
                    Environment::Production
                ),
                (
                    "tenants[0].certificates.spid_signing".into(),
                    CertificateRole::Signing,
                    Environment::Production
                ),
            ]
        );
        let anpr = c.tenants[0].certificates.anpr_client.as_ref().unwrap();
        assert_eq!(anpr.ca, vec![PathBuf::from("/etc/snodo/anpr-ca.pem")]);
    }

    #[test]
    fn environment_overrides_set_certificate_keys() {
        let env = vec![
            (
                "SNODO_TENANTS__0__CERTIFICATES__ANPR_CLIENT__CERTIFICATE".to_owned(),
                "/run/secrets/anpr.p12".to_owned(),
            ),
            (
                "SNODO_TENANTS__0__CERTIFICATES__ANPR_CLIENT__PASSWORD_FILE".to_owned(),
                "/run/secrets/anpr.pass".to_owned(),
            ),
            (
                "SNODO_TLS__SERVER__CERTIFICATE".to_owned(),
                "/run/secrets/inbound.p12".to_owned(),
            ),
        ];
        let c = load_from_str("x", None, env).unwrap();
        let anpr = c.tenants[0].certificates.anpr_client.as_ref().unwrap();
        assert_eq!(anpr.certificate, PathBuf::from("/run/secrets/anpr.p12"));
        assert_eq!(
            anpr.password_file.as_deref(),
            Some(std::path::Path::new("/run/secrets/anpr.pass"))
        );
        assert_eq!(
            c.tls.server.as_ref().unwrap().certificate,
            PathBuf::from("/run/secrets/inbound.p12")
        );
        let err = load_from_str(
            "x",
            None,
            vec![(
                "SNODO_TENANTS__0__CERTIFICATES__ANPR_CLIENT__PASWORD_FILE".to_owned(),
                "/x".to_owned(),
            )],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("environment SNODO_TENANTS__0__CERTIFICATES__ANPR_CLIENT__PASWORD_FILE"),
            "{err}"
        );
    }

    #[test]
    fn the_development_pki_is_refused_for_a_production_tenant() {
        let text = format!("[tls]\ndev_pki_dir = \"/tmp/dev-pki\"\n{TENANT}");
        let err = load_from_str("snodo.toml", Some(&text), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("key `tls.dev_pki_dir`"), "{err}");
        assert!(err.to_string().contains("development only"), "{err}");
        let env = vec![("SNODO_TLS__DEV_PKI_DIR".to_owned(), "/tmp/dev-pki".to_owned())];
        let c = load_from_str("x", None, env).unwrap();
        assert_eq!(c.tls.dev_pki_dir, Some(PathBuf::from("/tmp/dev-pki")));
    }
}

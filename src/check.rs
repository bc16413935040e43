//! `snodo check`: validates the configuration (file, key and reason on error), the configured
//! certificates (key, chain, use, expiry: a warning 30 days before, a failure once expired; DESIGN §6)
//! and, when a RabbitMQ URL is configured, that the broker answers. Exits non-zero when anything is
//! wrong; a warning alone does not fail.

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use snodo_connectors::config::{self, CertificateRole, Config, Environment};
use snodo_connectors::tenants::Tenants;
use snodo_security::pki::{CertificateSource, CertificateSummary, CertificateUse, TrustAnchors, Verdict};

pub async fn run(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = match config::load(file) {
        Ok(c) => c,
        Err(e) => {
            println!("configuration: INVALID\n  {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "configuration: ok ({})",
        file.map(|f| f.display().to_string())
            .unwrap_or_else(|| "development defaults".into())
    );
    for t in &config.tenants {
        println!(
            "  tenant {} {} (codice fiscale {}, {}; {:?})",
            t.istat, t.name, t.fiscal_code, t.cadastral_code, t.environment
        );
        print!("{}", tenant_urls(t));
    }
    let (report, tenants_complete) = tenant_report(&config);
    print!("{report}");
    for b in &config.backends {
        println!("  backend {}: events → {} {:?}", b.name, b.events_queue, b.events);
    }
    let (report, verdict) = certificate_report(&config, SystemTime::now());
    print!("{report}");
    let mut failed = verdict == Verdict::Failed || !tenants_complete;
    let (report, platforms_ok) = platform_report(&config).await;
    print!("{report}");
    failed |= !platforms_ok;
    match &config.transport.amqp_url {
        None => println!("transport: embedded (development only)"),
        Some(_) => match crate::transport::connect(&config, "snodo check").await {
            Ok(t) => {
                println!("transport: RabbitMQ reachable");
                t.close().await;
            }
            Err(e) => {
                println!("transport: RabbitMQ UNREACHABLE: {e:#}");
                failed = true;
            }
        },
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A TLS handshake with each `[platforms.<name>]` endpoint, and whether every one succeeded.
async fn platform_report(config: &Config) -> (String, bool) {
    if config.platforms.is_empty() {
        return (
            "platforms: none configured (development: the simulators)\n".to_owned(),
            true,
        );
    }
    let mut out = String::from("platforms:\n");
    let mut ok = true;
    for (name, endpoint) in &config.platforms {
        let url = endpoint.url.clone();
        let result = match TrustAnchors::read(&endpoint.ca) {
            Err(e) => Err(format!("ca: {e}")),
            Ok(trusted) => tokio::task::spawn_blocking(move || {
                snodo_connectors::ops::preflight::tls_handshake(&url, &trusted)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string())),
        };
        match result {
            Ok(h) => out.push_str(&format!(
                "  {name} {}: TLS handshake ok ({}, {})\n",
                endpoint.url, h.protocol, h.subject
            )),
            Err(reason) => {
                ok = false;
                out.push_str(&format!("  {name} {}: FAILED: {reason}\n", endpoint.url));
            }
        }
    }
    (out, ok)
}

/// The public URLs a tenant gives the platforms, one per line.
fn tenant_urls(t: &config::TenantConfig) -> String {
    let urls = Tenants::public_urls(t);
    let mut out = String::new();
    for (station, url) in &urls.pagopa {
        out.push_str(&format!("    pagoPA station {station}: {url}\n"));
    }
    if t.anpr.is_some() {
        out.push_str(&format!("    ANPR notifications: {}\n", urls.anpr_notifications));
    }
    for (label, url) in [
        ("SPID metadata", &urls.spid_metadata),
        ("CIE metadata", &urls.cie_metadata),
    ] {
        if let Some(url) = url {
            out.push_str(&format!("    {label}: {url}\n"));
        }
    }
    if t.identity.is_some() {
        out.push_str(&format!("    login: {}  acs: {}\n", urls.login, urls.acs));
    }
    out
}

/// What the tenants' configuration lacks for the platforms they use, and whether nothing does.
fn tenant_report(config: &Config) -> (String, bool) {
    let gaps = Tenants::from_config(config).gaps();
    if gaps.is_empty() {
        return ("tenants: complete\n".to_owned(), true);
    }
    let mut out = String::from("tenants: INCOMPLETE\n");
    for gap in gaps {
        out.push_str(&format!("  {gap}\n"));
    }
    (out, false)
}

/// The certificate section of the report at `now`, and the worst verdict in it.
fn certificate_report(config: &Config, now: SystemTime) -> (String, Verdict) {
    let certificates = config.certificates();
    if certificates.is_empty() {
        return ("certificates: none configured\n".to_owned(), Verdict::Ok);
    }
    let mut report = String::from("certificates:\n");
    let mut worst = Verdict::Ok;
    for c in certificates {
        let summary = summarize(&c, now);
        worst = worst.max(summary.verdict);
        for line in summary.to_string().lines() {
            report.push_str("  ");
            report.push_str(line);
            report.push('\n');
        }
    }
    (report, worst)
}

/// When each configured certificate that could be read expires, for `snodo_certificate_expiry_days`.
pub(crate) fn certificate_expiries(
    config: &Config,
) -> Vec<snodo_connectors::ops::telemetry::CertificateExpiry> {
    config
        .certificates()
        .iter()
        .filter_map(|c| {
            summarize(c, SystemTime::now()).info.map(|info| {
                snodo_connectors::ops::telemetry::CertificateExpiry {
                    key: c.key.clone(),
                    not_after: info.not_after,
                }
            })
        })
        .collect()
}

fn summarize(c: &config::ConfiguredCertificate<'_>, now: SystemTime) -> CertificateSummary {
    let usage = match c.role {
        CertificateRole::TlsServer => CertificateUse::TlsServer,
        CertificateRole::TlsClient => CertificateUse::TlsClient,
        CertificateRole::Signing => CertificateUse::Signing,
        CertificateRole::Authority => CertificateUse::CertificateAuthority,
    };
    let mut problems = Vec::new();
    let anchors = TrustAnchors::read(&c.files.ca).unwrap_or_else(|e| {
        problems.push(format!("ca: {e}"));
        TrustAnchors::default()
    });
    // Secrets come from files and are never printed; a missing file is reported by its path only.
    let password = c.files.password_file.as_ref().and_then(|path| {
        std::fs::read_to_string(path)
            .map(|p| p.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| problems.push(format!("password_file {}: {e}", path.display())))
            .ok()
    });
    let source = CertificateSource {
        certificate: c.files.certificate.clone(),
        key: c.files.key.clone(),
        password,
        needs_key: c.role != CertificateRole::Authority,
    };
    let mut summary = CertificateSummary::inspect(&c.key, &source, usage, &anchors, now);
    for problem in problems {
        summary.add_failure(problem);
    }
    if c.environment != Environment::Development && summary.info.as_ref().is_some_and(|i| i.is_development())
    {
        summary.add_failure(format!(
            "a development certificate, configured for a {:?} environment",
            c.environment
        ));
    }
    summary
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use snodo_connectors::config::{CertificateFiles, load_from_str};
    use snodo_security::devpki::{self, DevPki, DevTenant};

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn incomplete_tenants_fail_the_check_and_say_what_is_missing() {
        let (report, complete) = tenant_report(&Config::development());
        assert!(complete, "{report}");
        let mut config = Config::development();
        config.tenants[0].environment = Environment::Test;
        config.tenants[0].anpr = None;
        let (report, complete) = tenant_report(&config);
        assert!(!complete);
        assert!(report.contains("tenants: INCOMPLETE"), "{report}");
        assert!(
            report.contains("certificates.spid_signing is missing"),
            "{report}"
        );
        assert!(report.contains("tls.client_ca is empty"), "{report}");
        let urls = tenant_urls(&Config::development().tenants[0]);
        assert!(
            urls.contains("pagoPA station 01199250158_01: https://127.0.0.1:7443/pagopa/01199250158_01"),
            "{urls}"
        );
        assert!(
            urls.contains("ANPR notifications: https://127.0.0.1:7443/anpr/015146/notifications"),
            "{urls}"
        );
    }

    fn dev_pki() -> DevPki {
        let dir = std::env::temp_dir().join(format!("snodo-check-test-{}", std::process::id()));
        DevPki::ensure(&dir, &DevTenant::default()).unwrap()
    }

    fn files(issued: &devpki::Issued, ca: &Path) -> CertificateFiles {
        CertificateFiles {
            certificate: issued.certificate_file.clone(),
            key: Some(issued.key_file.clone()),
            password_file: None,
            ca: vec![ca.to_owned()],
        }
    }

    fn configured(pki: &DevPki) -> Config {
        let password_file = pki.directory().join("anpr.pass");
        std::fs::write(&password_file, format!("{}\n", devpki::PKCS12_PASSWORD)).unwrap();
        let mut config = load_from_str("x", None, Vec::new()).unwrap();
        config.tls.server = Some(files(pki.tls_server(), pki.ca_file()));
        config.tls.client_ca = vec![pki.ca_file().to_owned()];
        let certificates = &mut config.tenants[0].certificates;
        certificates.anpr_client = Some(CertificateFiles {
            certificate: pki.anpr_pkcs12_file().to_owned(),
            key: None,
            password_file: Some(password_file),
            ca: vec![pki.ca_file().to_owned()],
        });
        certificates.spid_signing = Some(files(pki.sp_signing(), pki.ca_file()));
        config
    }

    #[test]
    fn configured_certificates_are_summarized_and_pass() {
        let pki = dev_pki();
        let (report, verdict) = certificate_report(&configured(&pki), SystemTime::now());
        assert_eq!(verdict, Verdict::Ok, "{report}");
        for expected in [
            "tls.server (TLS server): ok",
            "tls.client_ca[0] (certificate authority): ok",
            "tenants[0].certificates.anpr_client (TLS client): ok",
            "CN=015146-CO-9999",
            "tenants[0].certificates.spid_signing (signing): ok",
            "organizationIdentifier=PA:IT-c_f205",
        ] {
            assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
        }
        assert!(
            !report.contains(devpki::PKCS12_PASSWORD),
            "the password is never printed"
        );
    }

    #[test]
    fn certificates_warn_30_days_before_expiry_and_fail_once_expired() {
        let pki = dev_pki();
        let config = configured(&pki);
        let not_after = snodo_security::pki::CertificateInfo::read(
            pki.tls_server().identity.certificate(),
            Path::new("server"),
        )
        .unwrap()
        .not_after;
        let (report, verdict) = certificate_report(&config, not_after - 29 * DAY);
        assert_eq!(verdict, Verdict::Warning, "{report}");
        assert!(report.contains("expires in 29 days"), "{report}");
        let (report, verdict) = certificate_report(&config, not_after + DAY);
        assert_eq!(verdict, Verdict::Failed, "{report}");
        assert!(report.contains("EXPIRED on"), "{report}");
    }

    #[test]
    fn a_development_certificate_fails_on_a_production_tenant_and_bad_files_are_named() {
        let pki = dev_pki();
        let mut config = configured(&pki);
        config.tenants[0].environment = Environment::Production;
        let (report, verdict) = certificate_report(&config, SystemTime::now());
        assert_eq!(verdict, Verdict::Failed);
        assert!(
            report.contains("a development certificate, configured for a Production environment"),
            "{report}"
        );

        let mut config = configured(&pki);
        let anpr = config.tenants[0].certificates.anpr_client.as_mut().unwrap();
        anpr.password_file = Some(PathBuf::from("/nonexistent/anpr.pass"));
        let (report, verdict) = certificate_report(&config, SystemTime::now());
        assert_eq!(verdict, Verdict::Failed);
        assert!(report.contains("/nonexistent/anpr.pass"), "{report}");
    }

    #[test]
    fn without_certificates_the_report_says_so() {
        let config = load_from_str("x", None, Vec::new()).unwrap();
        assert_eq!(
            certificate_report(&config, SystemTime::now()),
            ("certificates: none configured\n".to_owned(), Verdict::Ok)
        );
    }
}

//! The development PKI: what it issues (checked with the `openssl` CLI as the independent judge), the
//! Avviso SPID n.29 v3 profile of the SP signing certificate, the on-disk cache (reuse, 0600 keys,
//! regeneration when expired or issued for another tenant).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use snodo_security::devpki::{self, DevPki, DevTenant};
use snodo_security::pki::{CertificateInfo, KeyAlgorithm, POLICY_AGID_CERT, POLICY_SPID_PUBLIC_SECTOR_SP};

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pki-devpki-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI is installed (Debian package openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn openssl_verifies_every_development_certificate_for_its_purpose() {
    let pki = devpki::shared_for_tests();
    let ca = s(pki.ca_file());
    for (issued, purpose) in [
        (pki.tls_server(), "sslserver"),
        (pki.tls_client(), "sslclient"),
        (pki.anpr_client(), "sslclient"),
        (pki.sp_signing(), "any"),
        (pki.idp_signing(), "any"),
    ] {
        let (ok, text) = openssl(&[
            "verify",
            "-CAfile",
            ca,
            "-purpose",
            purpose,
            s(&issued.certificate_file),
        ]);
        assert!(ok, "{}: {text}", issued.certificate_file.display());
    }
    // And not for the other TLS role: the purposes are really set.
    let (ok, _) = openssl(&[
        "verify",
        "-CAfile",
        ca,
        "-purpose",
        "sslclient",
        s(&pki.tls_server().certificate_file),
    ]);
    assert!(!ok, "a server certificate must not pass as a client certificate");
    let (ok, _) = openssl(&[
        "verify",
        "-CAfile",
        ca,
        "-purpose",
        "sslserver",
        s(&pki.anpr_client().certificate_file),
    ]);
    assert!(!ok);
}

#[test]
fn spid_sp_signing_certificate_follows_avviso_29_public_sector_profile() {
    let pki = devpki::shared_for_tests();
    let info = CertificateInfo::read(
        pki.sp_signing().identity.certificate(),
        Path::new("sp-signing.pem"),
    )
    .unwrap();
    assert_eq!(
        info.subject.organization_identifier.as_deref(),
        Some("PA:IT-c_f205")
    );
    assert_eq!(
        info.subject.uri.as_deref(),
        Some("https://127.0.0.1:7443/identity/015146")
    );
    assert_eq!(info.subject.common_name.as_deref(), Some("Comune di Milano"));
    assert_eq!(info.subject.country.as_deref(), Some("IT"));
    assert_eq!(info.subject.locality.as_deref(), Some("Milano"));
    assert_eq!(
        info.policies,
        vec![
            POLICY_AGID_CERT.to_owned(),
            POLICY_SPID_PUBLIC_SECTOR_SP.to_owned()
        ]
    );
    assert_eq!(
        (info.key_algorithm.clone(), info.key_bits),
        (KeyAlgorithm::Rsa, 3072)
    );
    assert_eq!(info.signature_algorithm, "RSA-SHA256");
    let ku = info.key_usage.expect("keyUsage present");
    assert!(ku.digital_signature && ku.non_repudiation && !ku.key_cert_sign);
    assert!(info.extended_key_usage.is_none());
    assert!(info.is_development());

    // The independent reading: OpenSSL's text dump shows the same attributes and policies.
    let (ok, text) = openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        s(&pki.sp_signing().certificate_file),
    ]);
    assert!(ok, "{text}");
    for expected in [
        "organizationIdentifier = PA:IT-c_f205",
        "2.5.4.83 = https://127.0.0.1:7443/identity/015146",
        "Policy: 1.3.76.16.6",
        "Explicit Text: agIDcert",
        "Policy: 1.3.76.16.4.2.1",
        "Public-Key: (3072 bit)",
        "Digital Signature, Non Repudiation",
        "sha256WithRSAEncryption",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let idp = CertificateInfo::read(pki.idp_signing().identity.certificate(), Path::new("idp")).unwrap();
    assert_eq!(idp.key_bits, 3072);
}

#[test]
fn anpr_certificate_is_named_istat_co_9999_and_ships_as_pkcs12() {
    let pki = devpki::shared_for_tests();
    let info = CertificateInfo::read(pki.anpr_client().identity.certificate(), Path::new("anpr")).unwrap();
    assert_eq!(info.subject.common_name.as_deref(), Some("015146-CO-9999"));
    assert_eq!(info.subject.organizational_unit.as_deref(), Some("ANPR"));
    assert!(info.extended_key_usage.unwrap().client_auth);
    assert!(pki.anpr_pkcs12_file().ends_with("015146-CO-9999.p12"));
    let pass = format!("pass:{}", devpki::PKCS12_PASSWORD);
    let (ok, text) = openssl(&[
        "pkcs12",
        "-in",
        s(pki.anpr_pkcs12_file()),
        "-passin",
        &pass,
        "-nokeys",
        "-info",
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("015146-CO-9999") && text.contains("Snodo DEVELOPMENT CA"),
        "{text}"
    );
    let (ok, _) = openssl(&[
        "pkcs12",
        "-in",
        s(pki.anpr_pkcs12_file()),
        "-passin",
        "pass:wrong",
        "-nokeys",
    ]);
    assert!(!ok, "the PKCS#12 file is really protected by its password");
}

#[test]
fn tls_server_certificate_names_localhost_and_127_0_0_1() {
    let pki = devpki::shared_for_tests();
    let info = CertificateInfo::read(pki.tls_server().identity.certificate(), Path::new("srv")).unwrap();
    assert_eq!(info.dns_names, vec!["localhost".to_owned()]);
    assert_eq!(
        info.ip_addresses,
        vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    let (ok, text) = openssl(&[
        "x509",
        "-noout",
        "-in",
        s(&pki.tls_server().certificate_file),
        "-checkhost",
        "localhost",
        "-checkip",
        "127.0.0.1",
    ]);
    assert!(
        ok && text.contains("does match certificate") && !text.contains("NOT match"),
        "{text}"
    );
}

#[test]
fn private_keys_are_written_0600_and_a_valid_set_is_reused() {
    let dir = scratch("reuse");
    let first = DevPki::ensure(&dir, &DevTenant::default()).unwrap();
    for key in [
        &first.tls_server().key_file,
        &first.sp_signing().key_file,
        &first.ca_file().with_extension("key"),
    ] {
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
    let mode = std::fs::metadata(first.anpr_pkcs12_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let second = DevPki::ensure(&dir, &DevTenant::default()).unwrap();
    assert_eq!(first.directory(), second.directory());
    assert_eq!(
        first.ca().certificate().to_der().unwrap(),
        second.ca().certificate().to_der().unwrap()
    );
}

#[test]
fn an_expired_or_nearly_expired_set_is_regenerated() {
    let dir = scratch("expiry");
    let year_ago = SystemTime::now() - Duration::from_secs(400 * 86_400);
    let old = DevPki::ensure_at(&dir, &DevTenant::default(), year_ago).unwrap();
    let fresh = DevPki::ensure(&dir, &DevTenant::default()).unwrap();
    assert_ne!(old.directory(), fresh.directory());
    assert!(
        fresh.tls_server().identity.certificate().not_after()
            > old.tls_server().identity.certificate().not_after()
    );

    // 20 days before the end: within the renewal window, so it is replaced too.
    let nearly = SystemTime::now() - Duration::from_secs((devpki::VALIDITY_DAYS - 20) * 86_400);
    let dir = scratch("nearly");
    let old = DevPki::ensure_at(&dir, &DevTenant::default(), nearly).unwrap();
    let fresh = DevPki::ensure(&dir, &DevTenant::default()).unwrap();
    assert_ne!(old.directory(), fresh.directory());
}

#[test]
fn a_set_for_another_tenant_is_not_reused() {
    let dir = scratch("tenant");
    let milano = DevPki::ensure(&dir, &DevTenant::default()).unwrap();
    let roma = DevTenant {
        istat: "058091".into(),
        name: "Roma Capitale".into(),
        ipa_code: "c_h501".into(),
        locality: "Roma".into(),
        sp_entity_id: "https://127.0.0.1:7443/identity/058091".into(),
    };
    let other = DevPki::ensure(&dir, &roma).unwrap();
    assert_ne!(milano.directory(), other.directory());
    let info = CertificateInfo::read(other.anpr_client().identity.certificate(), Path::new("anpr")).unwrap();
    assert_eq!(info.subject.common_name.as_deref(), Some("058091-CO-9999"));
}

#[test]
fn a_damaged_cache_is_replaced_not_used() {
    let dir = scratch("damaged");
    let first = DevPki::ensure(&dir, &DevTenant::default()).unwrap();
    std::fs::write(first.directory().join("sp-signing.key"), b"not a key").unwrap();
    let second = DevPki::ensure(&dir, &DevTenant::default()).unwrap();
    assert_ne!(first.directory(), second.directory());
}

#[test]
fn threads_ensuring_one_empty_directory_at_once_all_get_a_complete_pki() {
    // Tests of one process (and `snodo up` beside `snodo simulate`) ensure the same directory at the
    // same moment; each must end with a usable PKI, and the directory must point at one of them.
    // Several rounds: keys are cached after the first, so later rounds race on the files alone.
    for round in 0..6 {
        let dir = scratch(&format!("concurrent-{round}"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    DevPki::ensure(&dir, &DevTenant::default())
                        .map(|pki| pki.ca_file().to_owned())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for handle in handles {
            let ca = handle
                .join()
                .expect("no panic")
                .unwrap_or_else(|e| panic!("round {round}: a thread got no PKI: {e}"));
            assert!(ca.exists(), "{}", ca.display());
        }
        let again = DevPki::ensure(&dir, &DevTenant::default()).expect("the directory is usable after");
        let current = std::fs::read_to_string(dir.join("current")).expect("a current pointer");
        assert!(
            again.ca_file().starts_with(dir.join(current.trim())),
            "the pointer names the generation reopened"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no pointer left half-written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Certificates: loading PEM, DER and PKCS#12 (our own files and files the `openssl` CLI made), typed
//! errors naming the file, chain validation per use and at a given time (cross-checked with `openssl
//! verify -attime`), a CA with a critical certificatePolicies extension, and the `snodo check` summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use snodo_security::devpki::{self, Authority, LeafProfile, Validity};
use snodo_security::pki::{
    self, CertificateInfo, CertificateSource, CertificateSummary, CertificateUse, PkiError, TrustAnchors,
    Verdict,
};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pki-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
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

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn pem_der_and_pkcs12_files_load_to_the_same_certificate() {
    let pki = devpki::shared_for_tests();
    let server = &pki.tls_server().certificate_file;
    let expected = pki.tls_server().identity.certificate().to_der().unwrap();

    let der = scratch("server.der");
    let (ok, text) = openssl(&["x509", "-in", s(server), "-outform", "DER", "-out", s(&der)]);
    assert!(ok, "{text}");
    assert_eq!(
        pki::read_certificates(&der, None).unwrap()[0].to_der().unwrap(),
        expected
    );

    // A PKCS#12 made by the openssl CLI, with the CA in it.
    let p12 = scratch("server.p12");
    let (ok, text) = openssl(&[
        "pkcs12",
        "-export",
        "-in",
        s(server),
        "-inkey",
        s(&pki.tls_server().key_file),
        "-certfile",
        s(pki.ca_file()),
        "-passout",
        "pass:s3cret",
        "-out",
        s(&p12),
    ]);
    assert!(ok, "{text}");
    let identity = pki::read_identity(&p12, None, Some("s3cret")).unwrap();
    assert_eq!(identity.certificate().to_der().unwrap(), expected);
    assert_eq!(identity.chain().len(), 1, "the CA travels as the chain");

    // PEM with the key in the same file.
    let combined = scratch("combined.pem");
    let mut bytes = std::fs::read(server).unwrap();
    bytes.extend(std::fs::read(&pki.tls_server().key_file).unwrap());
    std::fs::write(&combined, bytes).unwrap();
    let identity = pki::read_identity(&combined, None, None).unwrap();
    assert_eq!(identity.certificate().to_der().unwrap(), expected);

    // The dev PKI's own PKCS#12 (the ANPR one) reads back with its password.
    let anpr = pki::read_identity(pki.anpr_pkcs12_file(), None, Some(devpki::PKCS12_PASSWORD)).unwrap();
    assert_eq!(
        anpr.certificate().to_der().unwrap(),
        pki.anpr_client().identity.certificate().to_der().unwrap()
    );
}

#[test]
fn loading_errors_name_the_file_and_the_problem() {
    let pki = devpki::shared_for_tests();
    let missing = scratch("missing.pem");
    let e = pki::read_certificates(&missing, None).unwrap_err();
    assert!(
        matches!(e, PkiError::Read { .. }) && e.to_string().contains("missing.pem"),
        "{e}"
    );

    let garbage = scratch("garbage.crt");
    std::fs::write(&garbage, b"\x30\x03\x02\x01\x00garbage").unwrap();
    let e = pki::read_certificates(&garbage, None).unwrap_err();
    assert!(
        matches!(e, PkiError::NotACertificate { .. }) && e.to_string().contains("garbage.crt"),
        "{e}"
    );

    let e = pki::read_identity(pki.anpr_pkcs12_file(), None, Some("wrong")).unwrap_err();
    assert!(
        matches!(e, PkiError::Pkcs12 { .. }) && e.to_string().contains("015146-CO-9999.p12"),
        "{e}"
    );

    let e = pki::read_identity(
        &pki.tls_server().certificate_file,
        Some(&pki.tls_client().key_file),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, PkiError::KeyMismatch { .. }), "{e}");

    let e = pki::read_identity(&pki.tls_server().certificate_file, None, None).unwrap_err();
    assert!(matches!(e, PkiError::NoPrivateKey { .. }), "{e}");
}

#[test]
fn chains_validate_per_use_and_at_a_given_time_like_openssl_verify() {
    let pki = devpki::shared_for_tests();
    let anchors = pki.trust_anchors();
    let now = SystemTime::now();
    let server = pki.tls_server().identity.certificate();
    let file = &pki.tls_server().certificate_file;
    anchors
        .verify(server, &[], CertificateUse::TlsServer, now, file)
        .unwrap();
    let e = anchors
        .verify(server, &[], CertificateUse::TlsClient, now, file)
        .unwrap_err();
    assert!(e.to_string().contains("clientAuth"), "{e}");
    anchors
        .verify(
            pki.sp_signing().identity.certificate(),
            &[],
            CertificateUse::Signing,
            now,
            file,
        )
        .unwrap();

    // Two years on, the certificate has expired: ours and OpenSSL's verdicts agree.
    let later = now + 2 * 365 * DAY;
    let e = anchors
        .verify(server, &[], CertificateUse::TlsServer, later, file)
        .unwrap_err();
    assert!(
        matches!(&e, PkiError::Untrusted { reason, .. } if reason.contains("expired")),
        "{e}"
    );
    let attime = pki::format_utc(later); // only for the message
    let secs = later
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let (ok, text) = openssl(&["verify", "-attime", &secs, "-CAfile", s(pki.ca_file()), s(file)]);
    assert!(!ok && text.contains("expired"), "openssl at {attime}: {text}");

    // Another CA's certificate is not trusted.
    let other = Authority::self_signed(
        "Another CA",
        &devpki::cached_key("other-ca", 2048).unwrap(),
        Validity::days_from(now, 10),
        &[],
    )
    .unwrap();
    let e = TrustAnchors::new(vec![other.certificate().clone()])
        .verify(server, &[], CertificateUse::TlsServer, now, file)
        .unwrap_err();
    assert!(matches!(&e, PkiError::Untrusted { .. }), "{e}");
    let e = TrustAnchors::default()
        .verify(server, &[], CertificateUse::TlsServer, now, file)
        .unwrap_err();
    assert!(matches!(e, PkiError::NoTrustAnchors { .. }));
}

#[test]
fn a_ca_with_critical_certificate_policies_is_accepted_by_openssl_and_by_us() {
    let now = SystemTime::now();
    let ca = Authority::self_signed(
        "Public sector style CA",
        &devpki::cached_key("policy-ca", 2048).unwrap(),
        Validity::days_from(now, 30),
        &["2.5.29.32.0", "1.3.76.16.6"],
    )
    .unwrap();
    let info = CertificateInfo::read(ca.certificate(), Path::new("ca")).unwrap();
    assert!(info.policies_critical);
    assert_eq!(
        info.policies,
        vec!["2.5.29.32.0".to_owned(), "1.3.76.16.6".to_owned()]
    );
    let key = devpki::cached_key("policy-leaf", 2048).unwrap();
    let leaf = ca
        .issue(
            &LeafProfile::TlsClient {
                common_name: "015146-CO-9999".into(),
            },
            &key,
            Validity::days_from(now, 20),
        )
        .unwrap();
    TrustAnchors::new(vec![ca.certificate().clone()])
        .verify(&leaf, &[], CertificateUse::TlsClient, now, Path::new("leaf"))
        .unwrap();
    let ca_file = scratch("policy-ca.pem");
    let leaf_file = scratch("policy-leaf.pem");
    std::fs::write(&ca_file, ca.certificate().to_pem().unwrap()).unwrap();
    std::fs::write(&leaf_file, leaf.to_pem().unwrap()).unwrap();
    let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", s(&ca_file)]);
    assert!(
        ok && text.contains("X509v3 Certificate Policies: critical"),
        "{text}"
    );
    let (ok, text) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        s(&ca_file),
        s(&leaf_file),
    ]);
    assert!(ok, "{text}");
}

#[test]
fn summary_is_ok_then_warns_within_30_days_then_fails_once_expired() {
    let pki = devpki::shared_for_tests();
    let source = CertificateSource {
        certificate: pki.sp_signing().certificate_file.clone(),
        key: Some(pki.sp_signing().key_file.clone()),
        password: None,
        needs_key: true,
    };
    let anchors = pki.trust_anchors();
    let not_after = CertificateInfo::read(pki.sp_signing().identity.certificate(), Path::new("sp"))
        .unwrap()
        .not_after;
    let at = |t: SystemTime| {
        CertificateSummary::inspect(
            "tenants[0].certificates.spid_signing",
            &source,
            CertificateUse::Signing,
            &anchors,
            t,
        )
    };
    let ok = at(SystemTime::now());
    assert_eq!(ok.verdict, Verdict::Ok, "{ok}");
    let text = ok.to_string();
    for expected in [
        "tenants[0].certificates.spid_signing (signing): ok",
        "organizationIdentifier=PA:IT-c_f205",
        "uri=https://127.0.0.1:7443/identity/015146",
        "RSA 3072 bits",
        "policies: 1.3.76.16.6, 1.3.76.16.4.2.1",
        "development certificate",
        "chain: checked against 1",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let soon = at(not_after - 10 * DAY);
    assert_eq!(soon.verdict, Verdict::Warning, "{soon}");
    assert!(soon.to_string().contains("expires in 10 days"), "{soon}");
    let day_31 = at(not_after - 31 * DAY);
    assert_eq!(day_31.verdict, Verdict::Ok, "{day_31}");

    let expired = at(not_after + DAY);
    assert_eq!(expired.verdict, Verdict::Failed, "{expired}");
    assert!(expired.to_string().contains("EXPIRED on"), "{expired}");
}

#[test]
fn summary_fails_on_a_wrong_use_an_unreadable_file_or_a_foreign_chain() {
    let pki = devpki::shared_for_tests();
    let now = SystemTime::now();
    let source = |issued: &devpki::Issued| CertificateSource {
        certificate: issued.certificate_file.clone(),
        key: Some(issued.key_file.clone()),
        password: None,
        needs_key: true,
    };
    let wrong_use = CertificateSummary::inspect(
        "tls.server",
        &source(pki.anpr_client()),
        CertificateUse::TlsServer,
        &pki.trust_anchors(),
        now,
    );
    assert_eq!(wrong_use.verdict, Verdict::Failed);
    assert!(wrong_use.to_string().contains("serverAuth"), "{wrong_use}");

    let missing = CertificateSource {
        certificate: scratch("nowhere.pem"),
        key: None,
        password: None,
        needs_key: false,
    };
    let summary = CertificateSummary::inspect(
        "x",
        &missing,
        CertificateUse::TlsClient,
        &TrustAnchors::default(),
        now,
    );
    assert_eq!(summary.verdict, Verdict::Failed);
    assert!(
        summary.to_string().contains("nowhere.pem: cannot read"),
        "{summary}"
    );

    let other = Authority::self_signed(
        "Another CA",
        &devpki::cached_key("other-ca", 2048).unwrap(),
        Validity::days_from(now, 10),
        &[],
    )
    .unwrap();
    let foreign = CertificateSummary::inspect(
        "tenants[0].certificates.anpr_client",
        &CertificateSource {
            certificate: pki.anpr_pkcs12_file().to_owned(),
            key: None,
            password: Some(devpki::PKCS12_PASSWORD.into()),
            needs_key: true,
        },
        CertificateUse::TlsClient,
        &TrustAnchors::new(vec![other.certificate().clone()]),
        now,
    );
    assert_eq!(foreign.verdict, Verdict::Failed, "{foreign}");
    assert!(foreign.to_string().contains("chain not valid"), "{foreign}");
}

#[test]
fn a_persons_codice_fiscale_in_serial_number_is_masked() {
    let fields = pki::SubjectFields {
        serial_number: Some("TINIT-RSSMRA80A01F205X".into()),
        ..Default::default()
    };
    let masked = fields.serial_number_masked().unwrap();
    assert!(
        !masked.contains("RSSMRA80A01F205X") && masked.starts_with("TINIT-"),
        "{masked}"
    );
    let body = pki::SubjectFields {
        serial_number: Some("VATIT-01199250158".into()),
        ..Default::default()
    };
    assert_eq!(body.serial_number_masked().as_deref(), Some("VATIT-01199250158"));
}

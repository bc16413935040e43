//! `snodo certify spid-sp` against Snodo itself: a `snodo up` (embedded transport, development
//! tenant) that trusts the suite's IdP through `SNODO_IDENTITY_TRUSTED_IDP_METADATA`, as an operator
//! would configure it, judged on both profiles. Every case must pass, and the reports must say so.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{SnodoUp, free_simulator_offset};

const TENANT: &str = "015146";
const RETURN_URL: &str = "https://portal.example.invalid/after-login";

fn certify(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_snodo"))
        .arg("certify")
        .args(args)
        .env("SNODO_LOG", "warn")
        .output()
        .expect("run snodo certify")
}

/// An offset under which the simulators' ports and the inbound listener (7443) are all free.
fn free_offset() -> u16 {
    loop {
        let offset = free_simulator_offset();
        if std::net::TcpListener::bind(("127.0.0.1", 7443 + offset)).is_ok() {
            return offset;
        }
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written")).expect("report is JSON")
}

#[test]
fn snodo_passes_every_spid_sp_case_on_both_profiles() {
    let work: PathBuf =
        std::env::temp_dir().join(format!("snodo-certify-spid-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    let dir = |name: &str| work.join(name).to_string_lossy().into_owned();

    // The suite's IdP, one metadata document per federation, written before Snodo starts.
    for (profile, file) in [
        ("spid-sp-public", "idp-spid.xml"),
        ("cie-sp-public", "idp-cie.xml"),
    ] {
        let out = certify(&[
            "spid-sp",
            "--profile",
            profile,
            "--idp-metadata-out",
            &dir(file),
            "--idp-key-dir",
            &keys.to_string_lossy(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let offset = free_offset();
    let inbound = format!("https://127.0.0.1:{}", 7443 + offset);
    let trusted = format!("{},{}", dir("idp-spid.xml"), dir("idp-cie.xml"));
    let return_urls = format!("[\"{RETURN_URL}\"]");
    let devpki = dir("devpki");
    let up = SnodoUp::start(
        &["--listener-offset", &offset.to_string()],
        &[
            ("SNODO_LISTENERS__INBOUND", "127.0.0.1:7443"),
            ("SNODO_TENANTS__0__PUBLIC_BASE_URL", &inbound),
            ("SNODO_TENANTS__0__IDENTITY__RETURN_URLS", &return_urls),
            ("SNODO_TLS__DEV_PKI_DIR", &devpki),
            ("SNODO_IDENTITY_TRUSTED_IDP_METADATA", &trusted),
        ],
    );
    let current = std::fs::read_to_string(work.join("devpki/current")).expect("the development PKI is made");
    let ca = work.join("devpki").join(current.trim()).join("ca.pem");

    for (profile, federation) in [("spid-sp-public", "spid"), ("cie-sp-public", "cie")] {
        let reports = work.join(format!("reports-{federation}"));
        let login = format!(
            "{inbound}/identity/{TENANT}/login?federation={federation}&idp=https://idp.certify.snodo.invalid/{federation}&return={RETURN_URL}"
        );
        let out = certify(&[
            "spid-sp",
            "--profile",
            profile,
            "--metadata",
            &format!("{inbound}/identity/{TENANT}/{federation}/metadata"),
            "--login",
            &login,
            "--ca",
            &ca.to_string_lossy(),
            "--idp-key-dir",
            &keys.to_string_lossy(),
            "--report",
            &reports.to_string_lossy(),
        ]);
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{profile}: snodo certify spid-sp failed:\n{summary}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = read_json(&reports.join("spid-sp.json"));
        assert_eq!(report["success"], true, "{summary}");
        let cases = report["cases"].as_array().expect("cases");
        // Every case of the catalogue ran: the metadata rules, the AuthnRequest, the simulator's
        // Responses and the attacks beyond it.
        let listed = certify(&["spid-sp", "--list"]);
        assert_eq!(
            cases.len(),
            String::from_utf8_lossy(&listed.stdout).lines().count(),
            "{summary}"
        );
        assert!(cases.len() > 120, "{} cases", cases.len());
        for case in cases {
            assert_eq!(case["outcome"], "pass", "{profile}: {case}");
        }
        let junit = std::fs::read_to_string(reports.join("spid-sp.junit.xml")).expect("junit written");
        assert!(junit.contains(&format!(r#"tests="{}" failures="0" errors="0""#, cases.len())));
    }
    up.stop();
    let _ = std::fs::remove_dir_all(&work);
}

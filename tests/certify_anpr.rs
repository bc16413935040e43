//! `snodo certify anpr-client` with Snodo's ANPR connector as the client (`snodo up --no-simulators`
//! pointed at the judging simulator, driven by a few `snodo send` commands, plus the connector's own
//! 3003 notification pull): every request passes every check. Then a test-only client sends one
//! correct request and three each with one planted defect — an expired Timestamp, a Body changed
//! after signing, a TLS certificate that is not the comune's — and the suite must fail exactly those
//! checks of exactly those requests, in agreement with what the simulator itself answered.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{FixedOffset, Utc};
use std::io::BufRead as _;
use std::io::BufReader;

use snodo_mappings::anpr::header::{RequestContext, SendMode};
use snodo_mappings::anpr::lookup::{LookupResident, write_request};
use snodo_mappings::soap::EnvelopeBuilder;
use snodo_security::devpki::{DevPki, DevTenant};
use snodo_security::dsig::{SignaturePolicy, SigningKey};
use snodo_security::pki::Identity;
use snodo_security::tls::{TlsClientConfig, build_client};
use snodo_security::wssec::{AnprIdentity, RequestSigner};
use snodo_simulators::pagopa::settings::default_pki_dir;
use support::{SnodoUp, snodo};

const LOOKUP_PATH: &str = "/ANPR3000ServiziConsultazione/AnprService3000";

/// A running `snodo certify anpr-client`, its simulator's URL read from what it prints.
struct Certify {
    child: std::process::Child,
    url: String,
    report: std::path::PathBuf,
}

impl Certify {
    fn start(port: u16) -> Certify {
        let report =
            std::env::temp_dir().join(format!("snodo-certify-anpr-{}", uuid::Uuid::new_v4().simple()));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_snodo"))
            .args([
                "certify",
                "anpr-client",
                "--port",
                &port.to_string(),
                "--for",
                "3m",
                "--report",
            ])
            .arg(&report)
            .env("SNODO_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn snodo certify anpr-client");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let _ = tx.send(line);
            }
        });
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .expect("snodo certify anpr-client says where it listens");
            if let Some(rest) = line.split("listens at ").nth(1) {
                break rest.split_whitespace().next().expect("a URL").to_owned();
            }
        };
        Certify { child, url, report }
    }

    fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }

    /// Ends the run (`POST /admin/certify/done`) and returns the exit status, the summary, the JSON
    /// report and the per-request verdicts.
    fn finish(
        self,
    ) -> (
        std::process::ExitStatus,
        String,
        serde_json::Value,
        Vec<serde_json::Value>,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let client = build_client(&TlsClientConfig::new(pki().trust_anchors())).unwrap();
            let response = client
                .post(format!("{}/admin/certify/done", self.url))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 202);
        });
        let out = self.child.wait_with_output().expect("snodo certify ends");
        let read = |name: &str| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(self.report.join(name)).unwrap()).unwrap()
        };
        let requests = read("anpr-client.requests.json")["requests"]
            .as_array()
            .unwrap()
            .clone();
        assert!(self.report.join("anpr-client.junit.xml").is_file());
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            read("anpr-client.json"),
            requests,
        )
    }
}

fn pki() -> DevPki {
    DevPki::ensure(&default_pki_dir(), &DevTenant::default()).unwrap()
}

/// An offset at which 9441 + offset is free now, never the same twice in this process (the tests run
/// at once, each with its own simulator).
fn free_port_offset() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 2000 + (std::process::id() % 300) as u16 * 50;
    loop {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(i < 2000, "no free port");
        let offset = start.wrapping_add(i.wrapping_mul(17)) % 40_000 + 500;
        if std::net::TcpListener::bind(("127.0.0.1", 9441 + offset)).is_ok() {
            return offset;
        }
    }
}

#[test]
fn snodo_anpr_connector_passes_every_anpr_client_check() {
    let offset = free_port_offset();
    let certify = Certify::start(9441 + offset);
    let up = SnodoUp::start(
        &["--no-simulators", "--listener-offset", &offset.to_string()],
        &[],
    );
    for body in [
        r#"{"schema": 1, "by": {"codice_fiscale": "RSSMRA80A01H501U"}, "sections": ["personal_data", "residence"]}"#,
        r#"{"schema": 1, "by": {"generalita": {"surname": "ROSSI", "given_name": "MARIO"}}, "sections": ["personal_data"]}"#,
    ] {
        let out = snodo(&[
            "send",
            "anpr.resident.lookup",
            "--tenant",
            "015146",
            "--ops",
            &up.ops_url(),
        ])
        .stdin_json(body);
        let event: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("an event, got: {}", out.stderr_text()));
        let kind = event["type"].as_str().unwrap_or_default();
        // A person ANPR does not know is its business answer, not a refusal of the request.
        assert!(
            kind == "anpr.resident.lookup.completed"
                || (kind == "anpr.resident.lookup.failed" && event["body"]["code"] == "rejected"),
            "{event}"
        );
    }
    let (status, summary, report, requests) = certify.finish();
    up.stop();
    assert!(status.success(), "{summary}\n{requests:#?}");
    assert_eq!(report["success"], true, "{summary}");
    assert!(summary.contains("10 passed"), "{summary}");
    let payloads: BTreeSet<&str> = requests.iter().filter_map(|r| r["payload"].as_str()).collect();
    // The two lookups, and the connector's own notification pull at start-up.
    assert!(
        payloads.contains("Richiesta3002") && payloads.contains("Richiesta3003"),
        "{payloads:?}"
    );
    for request in &requests {
        assert_eq!(request["passes"], true, "{request:#}");
        assert!(
            !request["answer"].as_str().unwrap_or_default().contains("Fault"),
            "{request:#}"
        );
    }
}

/// The test client: the development comune's key and certificate, as Snodo's connector uses them.
struct Client {
    signer: RequestSigner,
    comune: Identity,
    other: Identity,
    trusted: snodo_security::pki::TrustAnchors,
}

impl Client {
    fn new() -> Client {
        let pki = pki();
        let comune = pki.anpr_client().identity.clone();
        let key = SigningKey::new(comune.key().clone(), Some(comune.certificate().clone()));
        let signer = RequestSigner::new(
            &SignaturePolicy::anpr_ws_security(),
            key.clone(),
            key,
            AnprIdentity {
                id_sede: "015146".into(),
                id_operatore: "certify-test".into(),
                id_postazione: "015146-CO-9999".into(),
                id_applicazione: "certify-test".into(),
                ip_address: "127.0.0.1".into(),
            },
        )
        .unwrap();
        Client {
            signer,
            comune,
            other: pki.tls_client().identity.clone(),
            trusted: pki.trust_anchors(),
        }
    }

    fn lookup(&self, id: u64, codice_fiscale: &str) -> String {
        let command: LookupResident = serde_json::from_value(serde_json::json!({
            "schema": 1, "by": {"codice_fiscale": codice_fiscale}, "sections": ["personal_data"]
        }))
        .unwrap();
        let context = RequestContext {
            id_operazione_comune: id.to_string(),
            istat_code: "015146".into(),
            mode: SendMode::Test,
            requested_at: Utc::now().with_timezone(&FixedOffset::east_opt(3600).unwrap()),
        };
        EnvelopeBuilder::new().body(&write_request(&command, &context).unwrap())
    }

    fn signed(&self, envelope: &str, at: SystemTime) -> String {
        self.signer.sign(envelope.as_bytes(), at).unwrap()
    }

    async fn post(&self, port: u16, body: String, identity: &Identity) -> u16 {
        let client =
            build_client(&TlsClientConfig::new(self.trusted.clone()).with_identity(identity.clone()))
                .unwrap();
        client
            .post(format!("https://127.0.0.1:{port}{LOOKUP_PATH}"))
            .header("content-type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn assertion(signed: &str) -> &str {
    let start = signed.find("<saml2:Assertion").expect("an assertion");
    let end = signed.find("</saml2:Assertion>").expect("its end") + "</saml2:Assertion>".len();
    &signed[start..end]
}

#[test]
fn a_client_with_planted_defects_fails_exactly_those_checks() {
    let certify = Certify::start(0);
    let port = certify.port();
    let client = Client::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // 1. Correct.
        let correct = client.signed(&client.lookup(100, "RSSMRA80A01H501U"), SystemTime::now());
        client.post(port, correct, &client.comune).await;

        // 2. An expired Timestamp, everything else valid: signed ten minutes ago, with the assertion of
        //    a request signed now (the assertion is not covered by the message signature).
        let envelope = client.lookup(101, "RSSMRA80A01H501U");
        let stale = client.signed(&envelope, SystemTime::now() - Duration::from_secs(600));
        let fresh = client.signed(&envelope, SystemTime::now());
        let expired = stale.replacen(assertion(&stale), assertion(&fresh), 1);
        client.post(port, expired, &client.comune).await;

        // 3. The Body changed after signing (another valid codice fiscale): the Body sent is unsigned.
        let signed = client.signed(&client.lookup(102, "RSSMRA80A01H501U"), SystemTime::now());
        let altered = signed.replacen("RSSMRA80A01H501U", "VRDLGU75C12F205W", 1);
        assert_ne!(altered, signed);
        client.post(port, altered, &client.comune).await;

        // 4. Correctly signed, over TLS with a certificate that is not the comune's.
        let correct = client.signed(&client.lookup(103, "RSSMRA80A01H501U"), SystemTime::now());
        client.post(port, correct, &client.other).await;
    });
    let (status, summary, report, requests) = certify.finish();
    assert_eq!(status.code(), Some(1), "{summary}");
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let failed: Vec<Vec<&str>> = requests
        .iter()
        .map(|r| {
            r["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["status"] == "fail")
                .map(|c| c["check"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            vec![],
            vec!["ws-security-timestamp"],
            vec!["ws-security-signature"],
            vec!["client-certificate"],
        ],
        "{requests:#?}"
    );
    // The suite agrees with the simulator: what it passes is answered, what it fails is a Fault.
    for request in &requests {
        let answer = request["answer"].as_str().unwrap_or_default();
        assert_eq!(
            request["passes"] == true,
            !answer.contains("SOAP Fault"),
            "{request:#}"
        );
    }
    let not_passed: BTreeSet<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] != "pass")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        not_passed,
        BTreeSet::from([
            "ws-security-timestamp",
            "ws-security-signature",
            "client-certificate"
        ]),
        "{summary}"
    );
    assert!(
        summary.contains("#2 Richiesta3002") && summary.contains("expired"),
        "{summary}"
    );
}

#[test]
fn sigterm_ends_the_run_and_the_reports_are_still_written() {
    let certify = Certify::start(0);
    let pid = certify.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let out = certify.child.wait_with_output().expect("snodo certify ends");
    let summary = String::from_utf8_lossy(&out.stdout);
    // No request reached it: every case could not be judged, and the run says so.
    assert_eq!(out.status.code(), Some(1), "{summary}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(certify.report.join("anpr-client.json")).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    assert!(
        cases
            .iter()
            .all(|c| c["outcome"] == "error" && c["reason"].as_str().unwrap().contains("no request reached")),
        "{report:#}"
    );
}

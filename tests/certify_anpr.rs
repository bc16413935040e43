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
use snodo_certify::anpr_client::{AnprClient, AnprClientArgs, RequestVerdict};
use snodo_certify::runner::{run, select};
use snodo_certify::{Report, Suite};
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
use tokio_util::sync::CancellationToken;

const LOOKUP_PATH: &str = "/ANPR3000ServiziConsultazione/AnprService3000";

fn args(port: u16, report: &std::path::Path) -> (AnprClientArgs, std::path::PathBuf) {
    #[derive(clap::Parser)]
    struct Command {
        // As the binary flattens them, so that `required_unless_present = "list"` resolves.
        #[command(flatten)]
        _common: snodo_certify::CommonArgs,
        #[command(flatten)]
        args: AnprClientArgs,
    }
    let argv = ["anpr-client", "--port", &port.to_string(), "--for", "3m"];
    (
        <Command as clap::Parser>::parse_from(argv).args,
        report.to_owned(),
    )
}

/// Runs the suite on its own thread (it is not `Send`) and returns its report and verdicts.
fn start_suite(
    port: u16,
    report_dir: &std::path::Path,
) -> std::thread::JoinHandle<(Report, Vec<RequestVerdict>)> {
    let (args, dir) = args(port, report_dir);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let mut suite = AnprClient::new(&args, Some(dir), CancellationToken::new());
            let cases = select(AnprClient::NAME, AnprClient::catalogue(), &[]).unwrap();
            let report = run(&mut suite, cases).await;
            (report, suite.verdicts().to_vec())
        })
    })
}

fn pki() -> DevPki {
    DevPki::ensure(&default_pki_dir(), &DevTenant::default()).unwrap()
}

/// Waits until the suite's simulator accepts connections on `port`.
fn wait_listening(port: u16) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the judging simulator did not listen on {port}");
}

fn done(port: u16) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = build_client(&TlsClientConfig::new(pki().trust_anchors())).unwrap();
        let response = client
            .post(format!("https://127.0.0.1:{port}/admin/certify/done"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
    });
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

fn report_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("snodo-certify-{name}-{}", uuid::Uuid::new_v4().simple()))
}

fn failed_checks(verdict: &RequestVerdict) -> Vec<&'static str> {
    verdict.failed()
}

#[test]
fn snodo_anpr_connector_passes_every_anpr_client_check() {
    let offset = free_port_offset();
    let port = 9441 + offset;
    let dir = report_dir("snodo");
    let suite = start_suite(port, &dir);
    wait_listening(port);
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
    done(port);
    let (report, verdicts) = suite.join().unwrap();
    up.stop();
    let summary = snodo_certify::report::summary::render(&report);
    assert!(report.is_success(), "{summary}\n{verdicts:#?}");
    let payloads: BTreeSet<&str> = verdicts.iter().filter_map(|v| v.payload.as_deref()).collect();
    assert!(payloads.contains("Richiesta3002"), "{payloads:?}");
    assert!(
        verdicts
            .iter()
            .all(|v| v.passes && !v.answer.as_deref().unwrap_or_default().contains("Fault"))
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("anpr-client.requests.json")).unwrap()).unwrap();
    assert_eq!(written["requests"].as_array().unwrap().len(), verdicts.len());
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
    let port = 9441 + free_port_offset();
    let dir = report_dir("broken");
    let suite = start_suite(port, &dir);
    wait_listening(port);
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
    done(port);
    let (report, verdicts) = suite.join().unwrap();
    let summary = snodo_certify::report::summary::render(&report);
    assert_eq!(verdicts.len(), 4, "{verdicts:#?}");
    let failed: Vec<Vec<&str>> = verdicts.iter().map(failed_checks).collect();
    assert_eq!(
        failed,
        vec![
            vec![],
            vec!["ws-security-timestamp"],
            vec!["ws-security-signature"],
            vec!["client-certificate"],
        ],
        "{verdicts:#?}"
    );
    // The suite agrees with the simulator: what it passes is answered, what it fails is a Fault.
    for verdict in &verdicts {
        let answer = verdict.answer.as_deref().unwrap_or_default();
        assert_eq!(
            verdict.passes,
            !answer.contains("SOAP Fault"),
            "#{}: {answer}",
            verdict.seq
        );
    }
    let not_passed: BTreeSet<&str> = report.not_passed().into_iter().collect();
    assert_eq!(
        not_passed,
        BTreeSet::from([
            "ws-security-timestamp",
            "ws-security-signature",
            "client-certificate"
        ]),
        "{summary}"
    );
    let timestamp = report
        .cases
        .iter()
        .find(|c| c.case.id == "ws-security-timestamp")
        .unwrap();
    assert!(
        timestamp.outcome.text().contains("#2") && timestamp.outcome.text().contains("expired"),
        "{summary}"
    );
}

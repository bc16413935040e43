//! `snodo certify anpr-client` with Snodo's ANPR connector as the client (`snodo up --no-simulators`
//! pointed at the judging simulator, driven by a few `snodo send` commands, plus the connector's own
//! 3003 notification pull, and a PDND e-service call): every request passes every check. Then a
//! test-only client sends one correct request and three each with one planted defect — an expired
//! Timestamp, a Body changed after signing, a TLS certificate that is not the comune's — and the
//! suite must fail exactly those checks of exactly those requests, in agreement with what the
//! simulator itself answered. A test-only PDND client does the same with ModI: a correct call, then a
//! Digest that is not the body's, signed_headers as a string, a reused voucher, a TrackingEvidence the
//! voucher was not issued for, and a client assertion signed by a key PDND does not know. Last, a
//! client whose certificate (CN the comune's) comes from a CA ANPR does not trust: its handshake is
//! refused, and the reports must say so in `client-certificate` with OpenSSL's reason.

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
use snodo_security::devpki::{self, Authority, DevPki, DevTenant, LeafProfile, Validity};
use snodo_security::dsig::{SignaturePolicy, SigningKey};
use snodo_security::pki::Identity;
use snodo_security::tls::{TlsClientConfig, build_client};
use snodo_security::wssec::{AnprIdentity, RequestSigner};
use snodo_simulators::pagopa::settings::default_pki_dir;
use support::{SnodoUp, snodo};

const LOOKUP_PATH: &str = "/ANPR3000ServiziConsultazione/AnprService3000";
const PDND_CASES: [&str; 6] = [
    "pdnd-voucher-request",
    "pdnd-tracking-evidence",
    "pdnd-audit-digest",
    "pdnd-digest",
    "pdnd-signature",
    "pdnd-fresh-voucher",
];

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
    let certify_report = certify.report.clone();
    let up = SnodoUp::start(
        &["--no-simulators", "--listener-offset", &offset.to_string()],
        &[],
    );
    for (command, body) in [
        r#"{"schema": 1, "by": {"codice_fiscale": "RSSMRA80A01H501U"}, "sections": ["personal_data", "residence"]}"#,
        r#"{"schema": 1, "by": {"generalita": {"surname": "ROSSI", "given_name": "MARIO"}}, "sections": ["personal_data"]}"#,
    ]
    .into_iter()
    .map(|body| ("anpr.resident.lookup", body))
    .chain([(
        "anpr.pdnd.lookup",
        r#"{"schema": 1, "service": "C030", "by": {"codice_fiscale": "RSSMRA80A01H501U"}, "reason": "Prot. 78/2025"}"#,
    )]) {
        let out = snodo(&[
            "send",
            command,
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
            kind == format!("{command}.completed")
                || (kind == format!("{command}.failed") && event["body"]["code"] == "rejected"),
            "{event}"
        );
    }
    let (status, summary, report, requests) = certify.finish();
    up.stop();
    assert!(status.success(), "{summary}\n{requests:#?}");
    assert_eq!(report["success"], true, "{summary}");
    assert!(summary.contains("16 passed"), "{summary}");
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
    // The PDND call: a voucher request, then the e-service with that voucher, both passing.
    let pdnd = std::fs::read(certify_report.join("anpr-client.requests.json")).unwrap();
    let pdnd: serde_json::Value = serde_json::from_slice(&pdnd).unwrap();
    let whats: Vec<&str> = pdnd["pdnd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        whats,
        ["voucher request", "C030-servizioAccertamentoIdUnicoNazionale"],
        "{pdnd:#}"
    );
    assert!(
        pdnd["pdnd"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["passes"] == true),
        "{pdnd:#}"
    );
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
        self.try_post(port, body, identity).await.unwrap()
    }

    async fn try_post(&self, port: u16, body: String, identity: &Identity) -> Result<u16, reqwest::Error> {
        let client =
            build_client(&TlsClientConfig::new(self.trusted.clone()).with_identity(identity.clone()))
                .unwrap();
        Ok(client
            .post(format!("https://127.0.0.1:{port}{LOOKUP_PATH}"))
            .header("content-type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await?
            .status()
            .as_u16())
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
    let outcomes = |outcome: &str| -> BTreeSet<&str> {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["outcome"] == outcome)
            .map(|c| c["id"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        outcomes("fail"),
        BTreeSet::from([
            "ws-security-timestamp",
            "ws-security-signature",
            "client-certificate"
        ]),
        "{summary}"
    );
    // This client made no PDND call: those cases are not judged, and say so.
    assert_eq!(outcomes("error"), BTreeSet::from(PDND_CASES), "{summary}");
    assert!(
        summary.contains("#2 Richiesta3002") && summary.contains("expired"),
        "{summary}"
    );
}

/// The comune's CN on a certificate of a CA nobody trusts: only its chain is wrong.
fn foreign_comune_identity() -> Identity {
    let now = SystemTime::now();
    let ca = Authority::self_signed(
        "Foreign CA of a vendor",
        &devpki::cached_key("certify-anpr-foreign-ca", 2048).unwrap(),
        Validity::days_from(now, 30),
        &[],
    )
    .unwrap();
    let key = devpki::cached_key("certify-anpr-foreign-client", 2048).unwrap();
    let certificate = ca
        .issue(
            &LeafProfile::TlsClient {
                common_name: "015146-CO-9999".into(),
            },
            &key,
            Validity::days_from(now, 10),
        )
        .unwrap();
    Identity::new(
        certificate,
        key,
        Vec::new(),
        std::path::Path::new("foreign comune"),
    )
    .unwrap()
}

#[test]
fn a_client_certificate_of_an_untrusted_ca_fails_client_certificate_with_the_reason() {
    let certify = Certify::start(0);
    let port = certify.port();
    let report_dir = certify.report.clone();
    let client = Client::new();
    let foreign = foreign_comune_identity();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let correct = client.signed(&client.lookup(200, "RSSMRA80A01H501U"), SystemTime::now());
        let refused = client.try_post(port, correct, &foreign).await;
        assert!(refused.is_err(), "the handshake must be refused: {refused:?}");
    });
    let (status, summary, report, requests) = certify.finish();
    assert_eq!(status.code(), Some(1), "{summary}");
    assert!(requests.is_empty(), "{requests:#?}");

    let cases = report["cases"].as_array().unwrap();
    let case = |id: &str| cases.iter().find(|c| c["id"] == id).unwrap().clone();
    let certificate = case("client-certificate");
    assert_eq!(certificate["outcome"], "fail", "{certificate:#}");
    let reason = certificate["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "client certificate chain not trusted: unable to get local issuer certificate (1 TLS handshake(s) refused"
        ),
        "{reason}"
    );
    // It is the only failure: nothing else reached the simulator to be judged.
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["client-certificate"], "{summary}");
    assert!(
        case("soap-envelope")["reason"]
            .as_str()
            .unwrap()
            .contains("1 TLS handshake(s) failed"),
        "{summary}"
    );
    assert!(
        summary.contains("client certificate chain not trusted: unable to get local issuer certificate"),
        "{summary}"
    );

    // The JUnit report carries the same failure, and the per-request report the handshake.
    let junit = std::fs::read_to_string(report_dir.join("anpr-client.junit.xml")).unwrap();
    let testcase = junit
        .split("<testcase ")
        .find(|t| t.contains("name=\"client-certificate:"))
        .expect("the client-certificate testcase");
    assert!(
        testcase.contains(
            "<failure message=\"client certificate chain not trusted: unable to get local issuer certificate"
        ),
        "{testcase}"
    );
    let xmllint = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", "certify/tests/junit-ant.xsd"])
        .arg(report_dir.join("anpr-client.junit.xml"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("xmllint");
    assert!(
        xmllint.status.success(),
        "{}",
        String::from_utf8_lossy(&xmllint.stderr)
    );
    let per_request: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("anpr-client.requests.json")).unwrap())
            .unwrap();
    let handshakes = per_request["tls_handshake_failures"].as_array().unwrap();
    assert_eq!(handshakes.len(), 1, "{per_request:#}");
    assert_eq!(handshakes[0]["untrusted_chain"], true);
    assert_eq!(handshakes[0]["reason"], "unable to get local issuer certificate");
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
    assert_eq!(cases.len(), 16);
    assert!(
        cases.iter().all(|c| {
            let reason = c["reason"].as_str().unwrap();
            c["outcome"] == "error" && (reason.contains("no request reached") || reason.contains("no PDND"))
        }),
        "{report:#}"
    );
}

/// The e-service the PDND test client calls, and its audience (platform notes §2.2).
const ESERVICE: &str = "C030-servizioAccertamentoIdUnicoNazionale";
const PDND_CLIENT_ID: &str = "snodo-015146";

/// A PDND client as the simulator registers the development comune (client `snodo-015146`, key id
/// `anpr-015146`, the comune's ANPR key, purpose `purpose-C030`), signing its ModI tokens itself with
/// OpenSSL so that each defect can be planted alone.
struct PdndTestClient {
    key: openssl::pkey::PKey<openssl::pkey::Private>,
    http: reqwest::Client,
    base: String,
}

fn b64url(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    openssl::hash::hash(openssl::hash::MessageDigest::sha256(), bytes)
        .unwrap()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn jws(key: &openssl::pkey::PKey<openssl::pkey::Private>, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "anpr-015146"});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(&signer.sign_to_vec().unwrap()))
}

fn now_unix() -> i64 {
    Utc::now().timestamp()
}

impl PdndTestClient {
    fn new(url: &str) -> PdndTestClient {
        let pki = pki();
        PdndTestClient {
            key: pki.anpr_client().identity.key().clone(),
            http: build_client(
                &TlsClientConfig::new(pki.trust_anchors()).with_identity(pki.anpr_client().identity.clone()),
            )
            .unwrap(),
            base: url.to_owned(),
        }
    }

    fn audience() -> String {
        format!("https://modipa-val.anpr.interno.it/govway/rest/in/MinInternoPortaANPR/{ESERVICE}/v1")
    }

    /// A fresh `Agid-JWT-TrackingEvidence`.
    fn evidence(&self) -> String {
        self.evidence_for(&Self::audience())
    }

    /// A fresh `Agid-JWT-TrackingEvidence` for `audience`.
    fn evidence_for(&self, audience: &str) -> String {
        let now = now_unix();
        jws(
            &self.key,
            &serde_json::json!({
                "iss": PDND_CLIENT_ID, "aud": audience, "purposeId": "purpose-C030",
                "dnonce": 1_234_567_890_123u64, "userID": "certify-test", "userLocation": "sportello-1",
                "LoA": "LoA2", "iat": now, "nbf": now, "exp": now + 300,
                "jti": uuid::Uuid::new_v4().to_string(),
            }),
        )
    }

    /// Asks for a voucher bound to `evidence`, the assertion signed with `key`.
    async fn voucher(
        &self,
        evidence: &str,
        key: &openssl::pkey::PKey<openssl::pkey::Private>,
    ) -> Option<String> {
        let now = now_unix();
        let assertion = jws(
            key,
            &serde_json::json!({
                "iss": PDND_CLIENT_ID, "sub": PDND_CLIENT_ID, "aud": "auth.uat.interop.pagopa.it/client-assertion",
                "purposeId": "purpose-C030", "jti": uuid::Uuid::new_v4().to_string(), "iat": now,
                "exp": now + 300, "digest": {"alg": "SHA256", "value": hex(&sha256(evidence.as_bytes()))},
            }),
        );
        let form = format!(
            "grant_type=client_credentials&client_id={PDND_CLIENT_ID}&client_assertion_type=\
             urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        );
        let answer = self
            .http
            .post(format!("{}/pdnd/token.oauth2", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        body["access_token"].as_str().map(str::to_owned)
    }

    /// Calls the e-service; `digest_of` is what the Digest header hashes (the body itself when
    /// correct), `signed_headers` replaces the array when given.
    async fn call(
        &self,
        voucher: &str,
        evidence: &str,
        id: u32,
        digest_of: Option<&[u8]>,
        signed_headers: Option<serde_json::Value>,
    ) -> u16 {
        let body = serde_json::json!({
            "idOperazioneClient": id.to_string(),
            "criteriRicerca": {"codiceFiscale": "RSSMRA80A01H501U"},
            "datiRichiesta": {"dataRiferimentoRichiesta": "2025-01-01", "motivoRichiesta": "Prot. 1/2025", "casoUso": "C030"},
        })
        .to_string();
        let digest = format!(
            "SHA-256={}",
            openssl::base64::encode_block(&sha256(digest_of.unwrap_or(body.as_bytes())))
        );
        let now = now_unix();
        let signature = jws(
            &self.key,
            &serde_json::json!({
                "iss": PDND_CLIENT_ID, "sub": PDND_CLIENT_ID, "aud": Self::audience(), "iat": now, "nbf": now,
                "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
                "signed_headers": signed_headers.unwrap_or_else(|| serde_json::json!(
                    [{"digest": digest}, {"content-type": "application/json"}]
                )),
            }),
        );
        self.http
            .post(format!(
                "{}/govway/rest/in/MinInternoPortaANPR-PDND/{ESERVICE}/v1/anpr-service-e002",
                self.base
            ))
            .header("authorization", format!("Bearer {voucher}"))
            .header("content-type", "application/json")
            .header("digest", digest)
            .header("agid-jwt-signature", signature)
            .header("agid-jwt-trackingevidence", evidence)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[test]
fn a_pdnd_client_with_planted_defects_fails_exactly_those_checks() {
    let certify = Certify::start(0);
    let report_dir = certify.report.clone();
    let client = PdndTestClient::new(&certify.url);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statuses = runtime.block_on(async {
        let mut statuses = Vec::new();
        // #1, #2: correct.
        let e1 = client.evidence();
        let v1 = client.voucher(&e1, &client.key).await.expect("a voucher");
        statuses.push(client.call(&v1, &e1, 1, None, None).await);
        // #3, #4: the Digest (and the signature over it) of another body.
        let e = client.evidence();
        let v = client.voucher(&e, &client.key).await.expect("a voucher");
        statuses.push(client.call(&v, &e, 2, Some(b"{}"), None).await);
        // #5, #6: signed_headers as a string.
        let e = client.evidence();
        let v = client.voucher(&e, &client.key).await.expect("a voucher");
        statuses.push(
            client
                .call(&v, &e, 3, None, Some(serde_json::json!("digest content-type")))
                .await,
        );
        // #7: the first voucher again, with its own TrackingEvidence (GovWay lets it through).
        statuses.push(client.call(&v1, &e1, 4, None, None).await);
        // #8, #9: a voucher bound to one TrackingEvidence, the call carrying another.
        let bound = client.evidence();
        let v = client.voucher(&bound, &client.key).await.expect("a voucher");
        statuses.push(client.call(&v, &client.evidence(), 5, None, None).await);
        // #10, #11: a TrackingEvidence whose aud is the e-service's URL as called (with -PDND and the
        //     operation), the voucher bound to it.
        let wrong_aud = client.evidence_for(&format!(
            "https://modipa-val.anpr.interno.it/govway/rest/in/MinInternoPortaANPR-PDND/{ESERVICE}/v1/anpr-service-e002"
        ));
        let v = client.voucher(&wrong_aud, &client.key).await.expect("a voucher");
        statuses.push(client.call(&v, &wrong_aud, 6, None, None).await);
        // #12: a client assertion signed with a key that is not the client's (no voucher comes back).
        let foreign = pki().tls_client().identity.key().clone();
        assert!(client.voucher(&client.evidence(), &foreign).await.is_none());
        statuses
    });
    let (status, summary, report, requests) = certify.finish();
    assert_eq!(status.code(), Some(1), "{summary}");
    assert!(requests.is_empty(), "no SOAP request was sent: {requests:#?}");
    let verdicts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("anpr-client.requests.json")).unwrap())
            .unwrap();
    let pdnd = verdicts["pdnd"].as_array().unwrap();
    let failed: Vec<(String, Vec<&str>)> = pdnd
        .iter()
        .map(|v| {
            (
                v["what"].as_str().unwrap().to_owned(),
                v["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["status"] == "fail")
                    .map(|c| c["check"].as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    let voucher = |f: &[&'static str]| ("voucher request".to_owned(), f.to_vec());
    let call = |f: &[&'static str]| (ESERVICE.to_owned(), f.to_vec());
    assert_eq!(
        failed,
        vec![
            voucher(&[]),
            call(&[]),
            voucher(&[]),
            call(&["pdnd-digest"]),
            voucher(&[]),
            call(&["pdnd-signature"]),
            call(&["pdnd-fresh-voucher"]),
            voucher(&[]),
            call(&["pdnd-audit-digest"]),
            voucher(&[]),
            call(&["pdnd-tracking-evidence"]),
            voucher(&["pdnd-voucher-request"]),
        ],
        "{verdicts:#}"
    );
    // The suite agrees with the simulator's GovWay where GovWay checks: a call passing every check gets
    // past it to ANPR (which answers 200, or 404 EN122 for a person not in its registry), a call
    // failing the Digest, the signature or the audit binding is refused 400. Only the reused voucher
    // gets through GovWay: the rule is PDND's binding, which the suite enforces.
    let past_govway = |status: u16| status == 200 || status == 404;
    assert!(
        past_govway(statuses[0]) && past_govway(statuses[3]),
        "{statuses:?}"
    );
    assert_eq!(
        [statuses[1], statuses[2], statuses[4]],
        [400, 400, 400],
        "{verdicts:#}"
    );
    let outcomes = |outcome: &str| -> BTreeSet<&str> {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["outcome"] == outcome)
            .map(|c| c["id"].as_str().unwrap())
            .collect()
    };
    assert_eq!(outcomes("fail"), BTreeSet::from(PDND_CASES), "{summary}");
    assert!(
        summary.contains("PDND #4") && summary.contains("is not SHA-256 of the"),
        "{summary}"
    );
    assert!(summary.contains("GovWay wants an array of objects"), "{summary}");
    assert!(summary.contains("already used by call #2"), "{summary}");
    assert!(
        summary.contains("PDND #11") && summary.contains("without -PDND"),
        "{summary}"
    );
}

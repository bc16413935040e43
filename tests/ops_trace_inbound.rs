//! Issue 9: every inbound call and every event is in the journal and found by `snodo ops trace`, for
//! the two inbound paths `tests/ops_trace.rs` does not cover, through `snodo up` with its simulators
//! on RabbitMQ:
//!
//! - a SPID login (the SP's login endpoint, the IdP simulator's JSON login, the SP's ACS) is traced by
//!   the citizen's codice fiscale as the ACS call (`identity.acs`) and then the
//!   `identity.login.succeeded` event it brought, with the codice fiscale nowhere in clear (raw bodies
//!   are off by default);
//! - an ANPR push to `/anpr/{tenant}/notifications` is traced by its `idOperazioneANPR` (the id the
//!   inbound SOAP endpoint indexes) as the call and then the `anpr.notification.received` event.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_security::saml::redirect::url_encode;
use support::{SnodoUp, snodo};

const TENANT: &str = "015146";
const RETURN_URL: &str = "https://portal.example.invalid/after-login";
/// A notification id no other test pushes (ANPR's ids are digits only).
const NOTIFICATION_ID: &str = "909090901234";

fn trace_json(ops: &str, id: &str) -> Vec<Value> {
    let out = snodo(&["ops", "trace", id, "--json", "--ops", ops]).run();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn kinds(story: &[Value]) -> Vec<&str> {
    story.iter().map(|r| r["kind"].as_str().unwrap()).collect()
}

/// Traces `id` until `done` holds (the journal writes in the background).
async fn trace_until(ops: &str, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (ops_url, id_owned) = (ops.to_owned(), id.to_owned());
        let story = tokio::task::spawn_blocking(move || trace_json(&ops_url, &id_owned))
            .await
            .unwrap();
        if done(&story) {
            return story;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "trace of a business id: {story:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An offset at which `snodo up`'s inbound listener (7443) and the four simulators are free now: the
/// tenant's public base URL (the SAML ACS the IdP posts to) names the inbound listener's port.
fn free_offset() -> u16 {
    let start = 1000 + (std::process::id() % 300) as u16 * 70 + 11;
    (0..500u16)
        .map(|i| start.wrapping_add(i * 19) % 40_000 + 500)
        .find(|offset| {
            [7443u16, 9441, 9442, 9443, 9444]
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + offset)).is_ok())
        })
        .expect("a free port offset")
}

/// The record of `kind` in `story`, or the story in the failure message.
fn record<'a>(story: &'a [Value], kind: &str) -> &'a Value {
    story
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {story:#?}"))
}

fn at(record: &Value) -> String {
    record["at"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spid_login_and_an_anpr_push_are_traced_with_their_inbound_calls_on_rabbitmq() {
    let broker = RabbitTestBroker::shared().await;
    let url = broker.url().to_owned();
    let offset = free_offset();
    let inbound = format!("https://127.0.0.1:{}", 7443 + offset);
    let work: PathBuf =
        std::env::temp_dir().join(format!("snodo-trace-inbound-{}", uuid::Uuid::new_v4().simple()));
    let devpki = work.join("devpki");
    let up = {
        let (url, inbound, devpki) = (url.clone(), inbound.clone(), devpki.clone());
        tokio::task::spawn_blocking(move || {
            SnodoUp::start(
                &["--amqp", &url, "--listener-offset", &offset.to_string()],
                &[
                    ("SNODO_LISTENERS__INBOUND", "127.0.0.1:7443"),
                    ("SNODO_TENANTS__0__PUBLIC_BASE_URL", &inbound),
                    (
                        "SNODO_TENANTS__0__IDENTITY__RETURN_URLS",
                        &format!("[\"{RETURN_URL}\"]"),
                    ),
                    ("SNODO_TLS__DEV_PKI_DIR", &devpki.to_string_lossy()),
                ],
            )
        })
        .await
        .unwrap()
    };
    let ops = up.ops_url();
    let current = std::fs::read_to_string(devpki.join("current")).expect("the development PKI is made");
    let ca = std::fs::read(devpki.join(current.trim()).join("ca.pem")).unwrap();
    // A browser (and ANPR) trusting the development CA; every hop looked at, none followed.
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let fiscal_code = spid_login(&http, offset, &inbound).await;
    let story = trace_until(&ops, &fiscal_code, |s| {
        kinds(s).contains(&"inbound_call") && kinds(s).contains(&"event_published")
    })
    .await;
    let call = record(&story, "inbound_call");
    assert_eq!(call["operation"], "identity.acs", "{story:#?}");
    assert_eq!(call["endpoint"], "/identity/{tenant}/acs");
    assert_eq!(call["outcome"], "ok");
    let event = record(&story, "event_published");
    assert_eq!(event["type"], "identity.login.succeeded", "{story:#?}");
    assert_eq!(event["outcome"], "ok");
    assert_eq!(
        call["message_id"], event["message_id"],
        "the call names the event it brought"
    );
    assert!(at(call) <= at(event), "the call comes first: {story:#?}");
    let text = serde_json::to_string(&story).unwrap();
    assert!(
        !text.to_uppercase().contains(&fiscal_code),
        "the codice fiscale in clear: {text}"
    );
    // The table prints the same story without it either.
    let (ops_url, id) = (ops.clone(), fiscal_code.clone());
    let table = tokio::task::spawn_blocking(move || snodo(&["ops", "trace", &id, "--ops", &ops_url]).run())
        .await
        .unwrap();
    assert!(table.status.success(), "{}", table.stderr_text());
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("inbound_call")
            && table.contains("/identity/{tenant}/acs")
            && table
                .lines()
                .any(|l| l.contains("inbound_call") && l.contains("identity.acs")),
        "{table}"
    );
    assert!(!table.to_uppercase().contains(&fiscal_code), "{table}");

    // ANPR pushes a notification to the tenant's endpoint.
    let pushed = http
        .post(format!("{inbound}/anpr/{TENANT}/notifications"))
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"\"")
        .body(anpr_push(TENANT, "N010", NOTIFICATION_ID))
        .send()
        .await
        .unwrap();
    let status = pushed.status();
    let answer = pushed.text().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("<codiceEsito>0</codiceEsito>"), "{answer}");
    let story = trace_until(&ops, NOTIFICATION_ID, |s| {
        kinds(s).contains(&"inbound_call") && kinds(s).contains(&"event_published")
    })
    .await;
    let call = record(&story, "inbound_call");
    assert_eq!(call["operation"], "anpr.RichiestaN000", "{story:#?}");
    assert_eq!(call["endpoint"], "/anpr/{tenant}/notifications");
    assert_eq!(call["outcome"], "ok");
    assert_eq!(call["tenant"], TENANT);
    let event = record(&story, "event_published");
    assert_eq!(event["type"], "anpr.notification.received", "{story:#?}");
    assert_eq!(event["outcome"], "ok");
    assert_eq!(call["message_id"], event["message_id"]);
    assert!(at(call) <= at(event), "the call comes first: {story:#?}");
    assert!(
        !serde_json::to_string(&story).unwrap().contains(NOTIFICATION_ID),
        "the notification id is indexed as a keyed hash only"
    );

    tokio::task::spawn_blocking(move || up.stop()).await.unwrap();
    let _ = std::fs::remove_dir_all(&work);
}

/// A citizen logs in with SPID as a browser would, answering the IdP simulator in JSON: the SP's login
/// endpoint, the simulator's SSO and login, the SP's ACS. Returns the citizen's codice fiscale.
async fn spid_login(http: &reqwest::Client, offset: u16, inbound: &str) -> String {
    let simulator = format!("https://127.0.0.1:{}/spid", 9443 + offset);
    let login = format!(
        "{inbound}/identity/{TENANT}/login?federation=spid&idp={}&return={}",
        url_encode(&simulator),
        url_encode(RETURN_URL)
    );
    // The SP learns the simulator's metadata (and registers its own there) in the background.
    let started = Instant::now();
    let sso = loop {
        let answer = http.get(&login).send().await.unwrap();
        if answer.status() == 302 {
            break answer.headers()["location"].to_str().unwrap().to_owned();
        }
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the SP's login answered HTTP {status}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let accept = ("accept", "application/json");
    let pending: Value = {
        let answer = http.get(&sso).header(accept.0, accept.1).send().await.unwrap();
        assert_eq!(answer.status(), 200, "the simulator refused the AuthnRequest");
        answer.json().await.unwrap()
    };
    let people: Value = http
        .get(format!("{simulator}/people?limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fiscal_code = people["people"][0]["fiscal_code"]
        .as_str()
        .expect("a person of the population")
        .to_uppercase();
    let signed: Value = {
        let answer = http
            .post(format!("{simulator}/login"))
            .header(accept.0, accept.1)
            .json(&json!({
                "ticket": pending["ticket"],
                "fiscal_code": fiscal_code,
                "level": "2",
                "outcome": "success",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.json().await.unwrap()
    };
    let mut form = format!(
        "SAMLResponse={}",
        url_encode(signed["SAMLResponse"].as_str().expect("a SAMLResponse"))
    );
    if let Some(relay) = signed["RelayState"].as_str() {
        form.push_str(&format!("&RelayState={}", url_encode(relay)));
    }
    let acs_url = signed["acs_url"].as_str().expect("the ACS").to_owned();
    assert_eq!(acs_url, format!("{inbound}/identity/{TENANT}/acs"));
    let back = http
        .post(&acs_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303, "{}", back.text().await.unwrap_or_default());
    let location = back.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{RETURN_URL}?ticket=")),
        "{location}"
    );
    fiscal_code
}

/// A draft-WSDL `RichiestaN000` push for `tenant`.
fn anpr_push(tenant: &str, kind: &str, id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<n:RichiestaN000 xmlns:n="{}"><testataNotifica><tipoNotifica>{kind}</tipoNotifica>
<codMittente>ANPR00</codMittente><codDestinatario>{tenant}</codDestinatario>
<dataOraRichiesta>2025-03-14T10:00:00</dataOraRichiesta><idOperazioneANPR>{id}</idOperazioneANPR></testataNotifica>
<contenuto>PE4wMTAvPg==</contenuto></n:RichiestaN000></soapenv:Body></soapenv:Envelope>"#,
        snodo_connectors::anpr::NOTIFICATION_NAMESPACE
    )
}

//! What the ACS answers once a login request is concluded, and that no outcome goes without its
//! event (the gaps the no-loss fault test found):
//!
//! - a refusal whose `identity.login.failed` cannot be stored is not shown: the browser is told to
//!   try again (503) and the request stays usable, so the re-post after the broker is back shows the
//!   refusal with exactly one failed event;
//! - when the instance that took a request stops after the broker got the event but before it could
//!   answer, the re-post of the same form to another instance (sharing Redis) gets the answer the
//!   event stands for — the 303 with that event's ticket, or the refusal page with its SPID code —
//!   and the event stays one (`message_id`), however many copies;
//! - meanwhile another Response for that request, or the same one with another RelayState, is
//!   refused and publishes nothing; and once the answer is given, the same form again is a replay
//!   (SPID: a Response is used once), refused without an event.

mod identity_common;

use std::sync::Arc;
use std::time::Duration;

use identity_common::*;
use snodo_connectors::identity::{IdentityService, IdentitySettings};
use snodo_connectors::inbound::InboundPublisher;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::inbound::GatedTransport;
use snodo_security::saml::Federation;
use tokio::time::Instant;

/// The SPID code the simulator answers with when the citizen refuses consent.
const CONSENT_DENIED: u64 = 22;

/// The SP's redirect to the IdP, as a response the walk through the IdP can start from again: the
/// same AuthnRequest answered twice gives two different Responses for one request.
fn redirect_to(location: &str) -> reqwest::Response {
    reqwest::Response::from(
        axum::http::Response::builder()
            .status(302)
            .header("location", location)
            .body(Vec::<u8>::new())
            .expect("a redirect"),
    )
}

async fn login_location(sp: &Sp) -> String {
    let answer = sp.start_login(Federation::Spid, "redirect").await;
    assert_eq!(answer.status(), 302);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// The Response's `InResponseTo`, read by `xmllint` (independently of the SP's parser).
fn in_response_to(form: &serde_json::Value) -> String {
    let xml = openssl::base64::decode_block(form["SAMLResponse"].as_str().unwrap()).unwrap();
    let dir = temp_dir("in-response-to");
    let file = dir.join("response.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--nonet", "--xpath", "string(/*/@InResponseTo)"])
        .arg(&file)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!id.is_empty(), "the Response names its request");
    id
}

fn location(answer: &reqwest::Response) -> String {
    answer.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_whose_event_cannot_be_stored_is_retried_until_its_event_is() {
    let (sp, gated) = Sp::start_behind_gate(None).await;
    let answer = sp.start_login(Federation::Spid, "redirect").await;
    let form = sp.through_idp(Federation::Spid, answer, "error:22").await;

    gated.set_down(true);
    let while_down = sp.post_to_acs(&form).await;
    assert_eq!(
        while_down.status(),
        503,
        "no refusal page before its event is stored"
    );
    let page = while_down.text().await.unwrap();
    assert!(page.contains("riprova"), "{page}");
    assert!(
        !page.contains("codice 22"),
        "the refusal is not shown yet: {page}"
    );
    assert!(sp.events().await.is_empty(), "nothing reached the broker");

    gated.set_down(false);
    let refused = sp.post_to_acs(&form).await;
    assert_eq!(
        refused.status(),
        403,
        "the request was given back: the re-post concludes it"
    );
    let page = refused.text().await.unwrap();
    assert!(page.contains("consenso") && page.contains("codice 22"), "{page}");
    let events = sp.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (kind, _, failed) = &events[0];
    assert_eq!(kind, "identity.login.failed");
    assert_eq!(failed["spid_error_code"], CONSENT_DENIED);
    assert_eq!(failed["reason"], "idp_error");

    // Answered: the same Response once more is a replay, refused without an event.
    let again = sp.post_to_acs(&form).await;
    assert_eq!(again.status(), 403);
    assert_ne!(again.text().await.unwrap(), page, "not the refusal again");
    assert!(sp.events().await.is_empty(), "a replay publishes nothing");
}

/// Instance B (the test's SP) and the ACS URL of instance A: the same tenant, its own connection to
/// the same Redis, and a broker link that delivers but whose confirm never comes back within the
/// life left to the instance (it is stopping).
async fn two_instances_a_stopping() -> (Sp, String) {
    let prefix = unique_redis_prefix();
    let b = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        Some(redis_store(&prefix).await),
        SpOptions::default(),
    )
    .await;
    let stalled = Arc::new(GatedTransport::new(b.transport.clone()));
    stalled.set_confirm_delay(Duration::from_secs(3600));
    let a = Arc::new(IdentityService {
        tenants: b.service.tenants.clone(),
        store: redis_store(&prefix).await,
        publisher: InboundPublisher::new(stalled, &b.names, "identity"),
        clock: b.service.clock.clone(),
        settings: IdentitySettings {
            store_budget: Duration::from_secs(120),
            ..IdentitySettings::default()
        },
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_acs = format!("http://{}/identity/{TENANT}/acs", listener.local_addr().unwrap());
    let router = a.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (b, a_acs)
}

/// Posts `form` to instance A, which never answers, and waits until its event is in the broker.
async fn post_to_stopping_instance(b: &Sp, a_acs: &str, form: &serde_json::Value) {
    let mut to_a = form.clone();
    to_a["acs_url"] = a_acs.into();
    let gave_up = tokio::time::timeout(Duration::from_secs(1), b.post_to_acs(&to_a)).await;
    assert!(gave_up.is_err(), "instance A never answers");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.transport.queue_stats(&b.inbox).await.unwrap().messages == 0 {
        assert!(
            Instant::now() < deadline,
            "instance A's event never reached the broker"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The body of the one `kind` event in the broker, published twice: by instance A before it stopped,
/// and by B, answering the re-post, as a copy with the same message_id (which the consumers dedupe).
async fn the_event_and_its_copy(b: &Sp, kind: &str) -> serde_json::Value {
    let events = b.events().await;
    assert_eq!(
        events.len(),
        2,
        "instance A's event and B's copy of it: {events:?}"
    );
    assert_eq!(events[0].1, events[1].1, "one event: one message_id");
    assert_eq!(events[0].2, events[1].2, "the copy is the same body");
    assert_eq!(events[0].0, kind);
    events[0].2.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_whose_instance_stopped_before_answering_is_answered_on_the_re_post() {
    let (b, a_acs) = two_instances_a_stopping().await;
    let to_idp = login_location(&b).await;
    let form = b
        .through_idp(Federation::Spid, redirect_to(&to_idp), "success")
        .await;
    // The IdP answering the same AuthnRequest again: another Response (its own IDs and signature)
    // with the same InResponseTo.
    let other = b
        .through_idp(Federation::Spid, redirect_to(&to_idp), "success")
        .await;
    assert_eq!(
        in_response_to(&form),
        in_response_to(&other),
        "both answer one request"
    );
    assert_ne!(form["SAMLResponse"], other["SAMLResponse"]);

    post_to_stopping_instance(&b, &a_acs, &form).await;

    // While the answer is on its way, nothing but the identical post gets it.
    let refused = b.post_to_acs(&other).await;
    assert_eq!(refused.status(), 403, "another Response for the request");
    let mut relayed = form.clone();
    relayed["RelayState"] = "anotherrelaystate".into();
    assert_eq!(b.post_to_acs(&relayed).await.status(), 403, "another RelayState");
    assert_eq!(
        b.transport.queue_stats(&b.inbox).await.unwrap().messages,
        1,
        "the refused posts published nothing"
    );

    let answered = b.post_to_acs(&form).await;
    assert_eq!(answered.status(), 303, "{}", answered.text().await.unwrap());
    let sent_to = location(&answered);
    let event = the_event_and_its_copy(&b, "identity.login.succeeded").await;
    let ticket = event["ticket"].as_str().unwrap();
    assert_eq!(sent_to, format!("{RETURN}?ticket={ticket}"));

    // Answered now: the same form again is a replay.
    assert_eq!(b.post_to_acs(&form).await.status(), 403);
    assert_eq!(b.post_to_acs(&other).await.status(), 403);
    assert!(b.events().await.is_empty(), "the replays published nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_whose_instance_stopped_before_answering_is_shown_on_the_re_post() {
    let (b, a_acs) = two_instances_a_stopping().await;
    let answer = b.start_login(Federation::Spid, "post").await;
    let form = b.through_idp(Federation::Spid, answer, "error:22").await;

    post_to_stopping_instance(&b, &a_acs, &form).await;

    let refused = b.post_to_acs(&form).await;
    assert_eq!(refused.status(), 403);
    let page = refused.text().await.unwrap();
    assert!(page.contains("consenso") && page.contains("codice 22"), "{page}");
    let event = the_event_and_its_copy(&b, "identity.login.failed").await;
    assert_eq!(event["spid_error_code"], CONSENT_DENIED);

    let again = b.post_to_acs(&form).await;
    assert_eq!(again.status(), 403);
    assert!(
        !again.text().await.unwrap().contains("codice 22"),
        "answered: now an unsolicited replay"
    );
    assert!(b.events().await.is_empty());
}

//! A SPID login end to end through RabbitMQ (a fresh vhost on the shared node): the SP's login
//! endpoint → the IdP simulator's SSO and login → the ACS → `identity.login.succeeded` confirmed
//! into a durable queue → the browser back at the return URL with the ticket → the backend's
//! `identity.ticket.redeem` command, through the consumer runtime, completed with the login once and
//! refused the second time; the same Response posted again refused; then logout both ways, each
//! published as `identity.logout`.

mod identity_common;

use std::sync::Arc;
use std::time::Duration;

use identity_common::*;
use serde_json::{Value, json};
use snodo_connectors::identity::TicketRedeemer;
use snodo_connectors::identity::contract::TICKET_REDEEM;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{
    EventTap, Running, command, declare_for, new_runtime, send, test_settings,
};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_security::saml::Federation;
use snodo_security::saml::redirect::url_encode;

const WAIT: Duration = Duration::from_secs(15);

async fn redeem(sp: &Sp, tap: &mut EventTap, ticket: &str) -> (String, Value) {
    let (envelope, message) = command(TICKET_REDEEM, json!({ "ticket": ticket }));
    send(&sp.transport, &sp.names, message).await;
    loop {
        let event = tap.next(WAIT).await.expect("the redemption is answered");
        if event.envelope.correlation_id == Some(envelope.message_id) {
            return (event.envelope.kind.as_str().to_owned(), event.body);
        }
    }
}

/// The next event of `kind` on the tap (others — the tap sees every event — are skipped).
async fn next_of(tap: &mut EventTap, kind: &str) -> (uuid::Uuid, Value) {
    loop {
        let event = tap.next(WAIT).await.unwrap_or_else(|| panic!("no {kind} event"));
        if event.envelope.kind.as_str() == kind {
            return (event.envelope.message_id, event.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spid_login_through_rabbitmq_is_redeemed_once_and_logs_out_both_ways() {
    let broker = RabbitTestBroker::shared().await;
    let sp = Sp::start(broker.connect().await, None, SpOptions::default()).await;
    let runtime = new_runtime(
        &sp.transport,
        Arc::new(TicketRedeemer {
            store: sp.store.clone(),
        }),
        test_settings(&sp.names, &[Duration::from_millis(50)]),
    );
    let mut tap = declare_for(&sp.transport, &sp.names, &runtime).await;
    let running = Running::start(runtime);

    // Level 1, so that the IdP keeps a session the logout can end.
    let mut fields = sp.login_fields(Federation::Spid, "redirect");
    fields[2].1 = "1".into();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = sp.login(&borrowed).await;
    let form = sp.through_idp_at(Federation::Spid, answer, "success", "1").await;
    let back = sp.post_to_acs(&form).await;
    assert_eq!(back.status(), 303);
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    let (_, login) = next_of(&mut tap, "identity.login.succeeded").await;
    let ticket = login["ticket"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("{RETURN}?ticket={ticket}"));

    let (kind, redeemed) = redeem(&sp, &mut tap, &ticket).await;
    assert_eq!(kind, "identity.ticket.redeem.completed", "{redeemed}");
    assert_eq!(redeemed["attributes"], login["attributes"]);
    assert_eq!(redeemed["name_id"], login["name_id"]);
    assert!(redeemed.get("ticket").is_none());
    let (kind, refused) = redeem(&sp, &mut tap, &ticket).await;
    assert_eq!(kind, "identity.ticket.redeem.failed");
    assert_eq!(refused["code"], "rejected");

    // The same Response again: refused, and no second login is published.
    assert_eq!(sp.post_to_acs(&form).await.status(), 403);

    // IdP-initiated logout of that session.
    let initiated: Value = sp
        .http
        .post(sp.sim.url(profile(Federation::Spid), "logout"))
        .header("accept", "application/json")
        .json(&json!({ "session_index": login["session_index"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sp.deliver(&initiated).await.status(), 302);
    let (_, logout) = next_of(&mut tap, "identity.logout").await;
    assert_eq!(logout["initiated_by"], "idp");
    assert_eq!(logout["name_id"], login["name_id"]);

    // SP-initiated logout, confirmed by the IdP.
    let query = [
        ("federation", "spid".to_owned()),
        ("idp", sp.sim.entity_id(Federation::Spid)),
        ("name_id", login["name_id"].as_str().unwrap().to_owned()),
        ("return", RETURN.to_owned()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", url_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let to_idp = sp
        .http
        .get(format!("{}?{query}", sp.url("logout")))
        .send()
        .await
        .unwrap();
    assert_eq!(to_idp.status(), 302);
    let idp_answer: Value = sp
        .http
        .get(to_idp.headers()["location"].to_str().unwrap())
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let home = sp.deliver(&idp_answer).await;
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], RETURN);
    let (_, logout) = next_of(&mut tap, "identity.logout").await;
    assert_eq!(logout["initiated_by"], "sp");

    // Nothing else: exactly one login, no failure for the refused replay.
    while let Some(extra) = tap.next(Duration::from_millis(300)).await {
        assert!(
            !extra.envelope.kind.as_str().starts_with("identity.login."),
            "unexpected {}",
            extra.envelope.kind
        );
    }
    running.stop().await;
}

//! Authentication levels end to end, SP and IdP simulator together: CIE ID logs in at the level asked
//! (SpidL1–L3, as SPID does) and the event carries it; the tenant's `minimum_level` is a floor the
//! login link cannot go under and the ACS enforces on its own, even for a request issued before the
//! floor was raised (an instance restarted with the new configuration while citizens were at the IdP).

mod identity_common;

use std::sync::Arc;

use identity_common::*;
use snodo_connectors::identity::IdentityService;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_security::saml::{Federation, SpidLevel};

/// A login at `level` through the simulator, which authenticates at `authenticated`; the ACS answer.
async fn login_at(sp: &Sp, federation: Federation, level: &str, authenticated: &str) -> reqwest::Response {
    let mut fields = sp.login_fields(federation, "post");
    fields[2].1 = level.to_owned();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = sp.login(&borrowed).await;
    let form = sp
        .through_idp_at(federation, answer, "success", authenticated)
        .await;
    sp.post_to_acs(&form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cie_id_logs_in_at_each_level_asked_and_the_event_says_which() {
    let sp = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions::default(),
    )
    .await;
    for level in ["1", "2", "3"] {
        // No level picked at the IdP: it answers the one asked.
        let mut fields = sp.login_fields(Federation::CieId, "post");
        fields[2].1 = level.to_owned();
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = sp.login(&borrowed).await;
        let form = sp.through_idp_at(Federation::CieId, answer, "success", "").await;
        assert_eq!(form["level"], format!("SpidL{level}"), "{form}");
        let back = sp.post_to_acs(&form).await;
        assert_eq!(back.status(), 303, "level {level}");
        let events = sp.events().await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "identity.login.succeeded");
        assert_eq!(events[0].2["federation"], "cie");
        assert_eq!(events[0].2["level"], level.parse::<u8>().unwrap());
    }
    // Below the level asked (minimum): refused, as for SPID.
    let back = login_at(&sp, Federation::CieId, "2", "1").await;
    assert_eq!(back.status(), 403);
    let events = sp.events().await;
    assert_eq!(events[0].0, "identity.login.failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_minimum_level_is_a_floor_for_links_and_for_the_acs() {
    let sp = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions {
            minimum_level: Some(SpidLevel::L2),
            ..SpOptions::default()
        },
    )
    .await;
    for federation in [Federation::Spid, Federation::CieId] {
        // A link asking less is the integrator's bug: refused, with the key to look at.
        let mut fields = sp.login_fields(federation, "redirect");
        fields[2].1 = "1".into();
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = sp.login(&borrowed).await;
        assert_eq!(refused.status(), 400);
        let page = refused.text().await.unwrap();
        assert!(page.contains("minimum_level"), "{page}");

        // Without a level, the floor is asked (when above the default SpidL2: see below).
        let fields: Vec<(&str, String)> = sp
            .login_fields(federation, "post")
            .into_iter()
            .filter(|(k, _)| *k != "level")
            .collect();
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = sp.login(&borrowed).await;
        let form = sp.through_idp_at(federation, answer, "success", "").await;
        assert_eq!(form["level"], "SpidL2", "{form}");
        assert_eq!(sp.post_to_acs(&form).await.status(), 303);
        assert_eq!(sp.events().await[0].0, "identity.login.succeeded");
    }

    // A floor of SpidL3: a link without a level asks L3.
    let strict = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions {
            minimum_level: Some(SpidLevel::L3),
            ..SpOptions::default()
        },
    )
    .await;
    let fields: Vec<(&str, String)> = strict
        .login_fields(Federation::CieId, "post")
        .into_iter()
        .filter(|(k, _)| *k != "level")
        .collect();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = strict.login(&borrowed).await;
    let form = strict
        .through_idp_at(Federation::CieId, answer, "success", "")
        .await;
    assert_eq!(form["level"], "SpidL3", "{form}");
    assert_eq!(strict.post_to_acs(&form).await.status(), 303);
}

/// The ACS checks the floor itself: a request asked at SpidL1 before the tenant's floor was raised to
/// SpidL2 is answered at SpidL1 — valid for that request, refused by the reconfigured SP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acs_refuses_an_assertion_below_the_floor_even_when_the_request_allowed_it() {
    let sp = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions::default(),
    )
    .await;
    // The same tenant, store and broker, restarted with minimum_level = 2.
    let raised = Arc::new(IdentityService {
        tenants: sp
            .service
            .tenants
            .iter()
            .cloned()
            .map(|mut t| {
                t.minimum_level = SpidLevel::L2;
                t
            })
            .collect(),
        store: sp.service.store.clone(),
        publisher: sp.service.publisher.clone(),
        clock: sp.service.clock.clone(),
        settings: sp.service.settings.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raised_acs = format!("http://{}/identity/{TENANT}/acs", listener.local_addr().unwrap());
    let router = raised.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    for federation in [Federation::Spid, Federation::CieId] {
        let mut fields = sp.login_fields(federation, "post");
        fields[2].1 = "1".into();
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = sp.login(&borrowed).await;
        let mut form = sp.through_idp_at(federation, answer, "success", "1").await;
        assert_eq!(form["level"], "SpidL1");
        assert_eq!(form["expected"], "accept", "valid for the request it answers");
        form["acs_url"] = raised_acs.clone().into();
        let back = sp.post_to_acs(&form).await;
        assert_eq!(back.status(), 403, "{federation:?}");
        let page = back.text().await.unwrap();
        assert!(page.contains("livello di sicurezza"), "{page}");
        let events = sp.events().await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "identity.login.failed");
        assert_eq!(events[0].2["reason"], "insufficient_level", "{}", events[0].2);
        assert!(
            events[0].2["message"]
                .as_str()
                .is_some_and(|m| m.contains("SpidL1") && m.contains("SpidL2")),
            "{}",
            events[0].2
        );
    }
}

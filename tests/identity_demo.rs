//! The demo backend's login (`simulators/src/backend/identity.rs`) as a newcomer meets it: `/demo`
//! links to the SP's login for both federations; after the IdP simulator, the browser lands on
//! `/demo/identity?ticket=…`, where the demo backend redeems the ticket with an
//! `identity.ticket.redeem` command through the consumer runtime and shows who logged in; the same
//! ticket again is refused.

mod identity_common;

use std::sync::Arc;
use std::time::Duration;

use identity_common::*;
use snodo_connectors::identity::TicketRedeemer;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::{Running, declare_for, new_runtime, test_settings};
use snodo_queue::topology::{SubscriberQueue, Topology};
use snodo_security::saml::Federation;
use snodo_simulators::backend::identity::IdentityLink;
use snodo_simulators::backend::{Answers, DemoBackend};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_logs_a_citizen_in_and_shows_who_it_was() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo = format!("http://{}", listener.local_addr().unwrap());
    let landing = format!("{demo}/demo/identity");
    let sp = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions {
            return_urls: vec![landing.clone()],
            ..SpOptions::default()
        },
    )
    .await;
    let runtime = new_runtime(
        &sp.transport,
        Arc::new(TicketRedeemer {
            store: sp.store.clone(),
        }),
        test_settings(&sp.names, &[Duration::from_millis(50)]),
    );
    let _tap = declare_for(&sp.transport, &sp.names, &runtime).await;
    let running = Running::start(runtime);
    let inbox = format!("{}.demo.events", sp.names.prefix);
    sp.transport
        .declare(&Topology::snodo(
            &sp.names,
            &[],
            &[SubscriberQueue {
                queue: inbox.clone(),
                patterns: vec!["#".into()],
            }],
            &[],
        ))
        .await
        .unwrap();
    let backend = DemoBackend::new(sp.transport.clone(), inbox, None, Answers::default()).with_identity(
        Some(IdentityLink {
            login_url: sp.url("login"),
            return_url: landing.clone(),
            tenant: TENANT.into(),
            spid_idp: sp.sim.entity_id(Federation::Spid),
            cie_idp: sp.sim.entity_id(Federation::CieId),
            commands_exchange: sp.names.commands_exchange(),
        }),
    );
    let router = backend.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let stop = CancellationToken::new();
    tokio::spawn(backend.run(stop.clone()));

    let page = sp
        .http
        .get(format!("{demo}/demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Entra con SPID") && page.contains("Entra con CIE"));
    assert!(page.contains("Nobody has logged in yet"));
    for federation in [Federation::Spid, Federation::CieId] {
        // The button's link, as the page wrote it (HTML-escaped ampersands).
        let marker = format!("federation={}&amp;", federation_path(federation));
        let at = page.find(&marker).expect("a login link");
        let start = page[..at].rfind("href=\"").unwrap() + 6;
        let href = page[start..at + page[at..].find('"').unwrap()].replace("&amp;", "&");
        assert!(href.starts_with(&sp.url("login")), "{href}");

        let answer = sp.http.get(&href).send().await.unwrap();
        let form = sp.through_idp(federation, answer, "success").await;
        let back = sp.post_to_acs(&form).await;
        assert_eq!(back.status(), 303);
        let location = back.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&format!("{landing}?ticket=")), "{location}");

        let shown = sp.http.get(&location).send().await.unwrap().text().await.unwrap();
        assert!(shown.contains("<h1>Logged in</h1>"), "{shown}");
        let person = sp.first_person().await;
        assert!(shown.contains(person["fiscal_code"].as_str().unwrap()), "{shown}");
        let again = sp.http.get(&location).send().await.unwrap().text().await.unwrap();
        assert!(
            again.contains("Login not redeemed") && again.contains("identity.ticket.redeem.failed"),
            "{again}"
        );
    }
    let page = sp
        .http
        .get(format!("{demo}/demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Last login:"), "the page remembers who logged in");
    stop.cancel();
    running.stop().await;
}

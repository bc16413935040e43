//! A citizen's login in a real browser: headless Debian `chromium`, driven over WebDriver by
//! `chromedriver` (package `chromium-driver`; `scripts/test` installs both), goes from the SP's login
//! link through the IdP simulator's login page — where it clicks "Entra" — and its consent page —
//! where it reads what the SP will receive and clicks "Acconsento" or "Non acconsento" — and the
//! auto-submitting forms. Consenting, it lands back on the backend's page with a ticket that redeems
//! to the login; refusing, on the SP's courtesy page explaining ErrorCode nr22, while the backend gets
//! `identity.login.failed`. This is what no HTTP client test shows: the pages work in a browser
//! (forms, buttons, scripts, redirects, no cookies needed across the IdP's cross-site POST).

mod identity_common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::extract::RawQuery;
use axum::response::Html;
use axum::routing::get;
use identity_common::*;
use serde_json::{Value, json};
use snodo_connectors::identity::TicketRedeemer;
use snodo_connectors::identity::contract::TICKET_REDEEM;
use snodo_queue::runtime::{Command as QueueCommand, CommandHandler};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_security::saml::Federation;

/// The flags the browser runs with: no sandbox (containers), nothing phoning home.
const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver` on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while driver
            .http
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver never listened"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        reply["value"].clone()
    }

    async fn session(&self) -> String {
        let value = self
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": CHROMIUM_FLAGS }
                }}})),
            )
            .await;
        value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {value}"))
            .to_owned()
    }

    async fn current_url(&self, session: &str) -> String {
        self.call(reqwest::Method::GET, &format!("/session/{session}/url"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits for an element matching `css` and clicks it.
    async fn click(&self, session: &str, css: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .call(
                    reqwest::Method::POST,
                    &format!("/session/{session}/element"),
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                self.call(
                    reqwest::Method::POST,
                    &format!("/session/{session}/element/{id}/click"),
                    Some(json!({})),
                )
                .await;
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {css} on {}",
                self.current_url(session).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's source contains `text`; returns the source.
    async fn wait_for_text(&self, session: &str, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let source = self
                .call(reqwest::Method::GET, &format!("/session/{session}/source"), None)
                .await
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if source.contains(text) {
                return source;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {text:?} on {}: {source}",
                self.current_url(session).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_for_url(&self, session: &str, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.current_url(session).await;
            if url.starts_with(prefix) {
                return url;
            }
            assert!(tokio::time::Instant::now() < deadline, "stuck at {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The backend's page the citizen returns to.
async fn backend_page() -> String {
    let router = axum::Router::new().route(
        "/area-personale",
        get(|RawQuery(query): RawQuery| async move {
            Html(format!(
                "<!DOCTYPE html><title>Area personale</title><p id=\"ticket\">{}</p>",
                query.unwrap_or_default()
            ))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/area-personale", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_logs_in_with_spid_and_cie_in_chromium_consents_or_refuses() {
    let page = backend_page().await;
    let sp = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions {
            return_urls: vec![page.clone()],
            ..SpOptions::default()
        },
    )
    .await;
    let driver = Driver::start().await;
    let session = driver.session().await;
    let redeemer = TicketRedeemer {
        store: sp.store.clone(),
    };
    let person = sp.first_person().await;
    let fiscal_code = person["fiscal_code"].as_str().unwrap().to_owned();
    for (federation, binding, consents) in [
        (Federation::Spid, "redirect", true),
        (Federation::CieId, "post", true),
        (Federation::Spid, "post", false),
        (Federation::CieId, "redirect", false),
    ] {
        let mut fields = sp.login_fields(federation, binding);
        fields[3].1 = page.clone();
        let query = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", snodo_security::saml::redirect::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{session}/url"),
                Some(json!({ "url": format!("{}?{query}", sp.url("login")) })),
            )
            .await;
        // The simulator's login page, reached by the Redirect or the auto-submitted POST: the first
        // person is preselected, "Entra" is the first button.
        driver.click(&session, "button[type='submit']").await;
        // The consent page: what goes to which SP.
        let consent = driver.wait_for_text(&session, "Acconsento").await;
        assert!(consent.contains("Comune di Milano"), "{consent}");
        assert!(
            consent.contains(&format!("TINIT-{fiscal_code}")),
            "the codice fiscale released is shown: {consent}"
        );
        if !consents {
            driver.click(&session, "#refuse").await;
            // The SP's courtesy page at the ACS (a non-200 the browser shows), explaining nr22.
            let courtesy = driver.wait_for_text(&session, "Accesso non riuscito").await;
            assert!(
                courtesy.contains("consenso") && courtesy.contains("codice 22"),
                "{courtesy}"
            );
            assert!(driver.current_url(&session).await.starts_with(&sp.url("acs")));
            let events = sp.events().await;
            assert_eq!(events.len(), 1, "{federation:?}");
            assert_eq!(events[0].0, "identity.login.failed");
            assert_eq!(events[0].2["spid_error_code"], 22, "{}", events[0].2);
            continue;
        }
        driver.click(&session, "#consent").await;
        let landed = driver.wait_for_url(&session, &page).await;
        let ticket = landed
            .split_once("ticket=")
            .map(|(_, t)| t.to_owned())
            .unwrap_or_else(|| panic!("no ticket in {landed}"));
        let events = sp.events().await;
        assert_eq!(events.len(), 1, "{federation:?}");
        assert_eq!(events[0].0, "identity.login.succeeded");
        assert_eq!(events[0].2["ticket"], ticket.as_str());
        let (mut envelope, message) =
            snodo_queue::testing::harness::command(TICKET_REDEEM, json!({ "ticket": ticket }));
        envelope.tenant = Some(TENANT.into());
        let login = redeemer
            .handle(&QueueCommand {
                envelope,
                body: message.body,
            })
            .await
            .expect("the ticket redeems");
        assert_eq!(login["federation"], federation_path(federation));
        assert_eq!(login["attributes"]["fiscalNumber"], fiscal_code.as_str());
    }
    driver
        .call(reqwest::Method::DELETE, &format!("/session/{session}"), None)
        .await;
}

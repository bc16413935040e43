//! The demo backend's side of a SPID / CIE ID login — what a Comune's online services would do with
//! Snodo's identity connector, and nothing more: `/demo` links to Snodo's login endpoint ("Entra con
//! SPID", "Entra con CIE"), the citizen goes through the IdP simulator's login page, Snodo's ACS sends
//! the browser back to `/demo/identity?ticket=…`, and the backend redeems the ticket the only way a
//! backend talks to Snodo: an `identity.ticket.redeem` command on the commands exchange, whose
//! completed event (arriving in its inbox like every other) says who logged in. The backend never
//! sees SAML, and a ticket works once.

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use parking_lot::Mutex;
use serde::Deserialize;

use super::DemoBackend;
use super::desk::escape;

const REDEEM: &str = "identity.ticket.redeem";
/// How long the page waits for the redemption's outcome event.
const OUTCOME_WAIT: Duration = Duration::from_secs(10);

/// Where the demo tenant's login starts and comes back, as `snodo up` wires it.
#[derive(Debug, Clone)]
pub struct IdentityLink {
    /// Snodo's login endpoint for the demo tenant (`https://127.0.0.1:7443/identity/015146/login`).
    pub login_url: String,
    /// This backend's landing page, under the tenant's `identity.return_urls`.
    pub return_url: String,
    pub tenant: String,
    /// The IdP simulator's entity IDs (`https://127.0.0.1:9443/spid`, `…/cie`).
    pub spid_idp: String,
    pub cie_idp: String,
    /// The exchange commands are published to (`snodo.commands`).
    pub commands_exchange: String,
}

/// The link and the last login redeemed, shown on `/demo`.
pub struct IdentityDemo {
    link: IdentityLink,
    last: Mutex<Option<serde_json::Value>>,
}

impl IdentityDemo {
    pub fn new(link: IdentityLink) -> IdentityDemo {
        IdentityDemo {
            link,
            last: Mutex::new(None),
        }
    }

    fn login_href(&self, federation: &str, idp: &str) -> String {
        format!(
            "{}?federation={federation}&idp={}&level=2&return={}",
            self.link.login_url,
            encode(idp),
            encode(&self.link.return_url)
        )
    }
}

/// The `/demo` section: the two login buttons and who logged in last.
pub(super) fn section(demo: Option<&IdentityDemo>) -> String {
    let Some(demo) = demo else {
        return String::new();
    };
    let last = match &*demo.last.lock() {
        Some(login) => format!("<p>Last login: {}</p>", describe(login)),
        None => "<p>Nobody has logged in yet.</p>".to_owned(),
    };
    format!(
        concat!(
            "<h2>Login with SPID or CIE ID</h2>",
            "<p><a href=\"{spid}\"><button>Entra con SPID</button></a> ",
            "<a href=\"{cie}\"><button>Entra con CIE</button></a> ",
            "(through the IdP simulator's login page; the browser will ask to trust the development CA ",
            "for <code>127.0.0.1:7443</code> and <code>:9443</code>)</p>{last}"
        ),
        spid = escape(&demo.login_href("spid", &demo.link.spid_idp)),
        cie = escape(&demo.login_href("cie", &demo.link.cie_idp)),
        last = last,
    )
}

/// `/demo/identity`.
pub(super) fn router(backend: DemoBackend) -> Router {
    Router::new()
        .route("/demo/identity", get(landing))
        .with_state(backend)
}

#[derive(Deserialize)]
struct Landing {
    ticket: Option<String>,
}

async fn landing(State(backend): State<DemoBackend>, Query(query): Query<Landing>) -> Html<String> {
    let (Some(demo), Some(ticket)) = (backend.identity.clone(), query.ticket) else {
        return page(
            "No ticket",
            "<p>This page is where Snodo sends the citizen back with a ticket.</p>",
        );
    };
    match redeem(&backend, &demo, &ticket).await {
        Ok((kind, body)) if kind.ends_with(".completed") => {
            *demo.last.lock() = Some(body.clone());
            let mut rows = String::new();
            if let Some(attributes) = body["attributes"].as_object() {
                for (name, value) in attributes {
                    rows.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td></tr>",
                        escape(name),
                        escape(value.as_str().unwrap_or_default())
                    ));
                }
            }
            page(
                "Logged in",
                &format!(
                    "<p>{}</p><table><tr><th>attribute</th><th>value</th></tr>{rows}</table>",
                    describe(&body)
                ),
            )
        }
        Ok((kind, body)) => page(
            "Login not redeemed",
            &format!(
                "<p><code>{}</code>: {}</p><p>(A ticket works once: reloading this page redeems it again.)</p>",
                escape(&kind),
                escape(body["message"].as_str().unwrap_or_default())
            ),
        ),
        Err(why) => page("Login not redeemed", &format!("<p>{}</p>", escape(&why))),
    }
}

/// Publishes `identity.ticket.redeem` and waits for its outcome in the backend's inbox.
async fn redeem(
    backend: &DemoBackend,
    demo: &IdentityDemo,
    ticket: &str,
) -> Result<(String, serde_json::Value), String> {
    let body = serde_json::json!({ "ticket": ticket });
    let link = &demo.link;
    backend
        .command_outcome(&link.tenant, &link.commands_exchange, REDEEM, &body, OUTCOME_WAIT)
        .await
}

/// "Name Surname (codice fiscale), SpidL2 via <IdP>" from a login body. Synthetic people only: the
/// demo runs against the simulator's population.
fn describe(login: &serde_json::Value) -> String {
    let attribute = |name: &str| login["attributes"][name].as_str().unwrap_or("?").to_owned();
    escape(&format!(
        "{} {} ({}), SpidL{} via {} ({})",
        attribute("name"),
        attribute("familyName"),
        attribute("fiscalNumber"),
        login["level"],
        login["idp"].as_str().unwrap_or("?"),
        login["federation"].as_str().unwrap_or("?"),
    ))
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Snodo demo — {t}</title></head>\
         <body style=\"font-family: system-ui, sans-serif; margin: 2rem\"><h1>{t}</h1>{body}\
         <p><a href=\"/demo\">Back to the demo page</a></p></body></html>",
        t = escape(title)
    ))
}

/// Query-component encoding (RFC 3986 unreserved characters kept).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

//! The demo backend's registry office (`/demo/anpr`): what a Comune's own software would do with
//! Snodo's ANPR connector — look a resident up (3002), issue a certificate (6001, its PDF
//! downloadable), register a change of address (5005) — and the notifications ANPR sends the comune
//! (`anpr.notification.received`, pushed or pulled with 3003). Every action is an `anpr.*` command
//! on the commands exchange whose outcome arrives in the backend's inbox; the page never calls ANPR.
//! The one exception is labelled: a button that asks the ANPR *simulator's* admin API to produce a
//! notification, standing in for an event in another comune.
//!
//! Server-rendered HTML (no script, no build step). Residents are the simulators' synthetic
//! population, so ANPR knows them.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use snodo_security::pki::TrustAnchors;
use snodo_security::tls::{TlsClientConfig, build_client};

use super::DemoBackend;
use super::desk::{desk_page, escape};

/// How long the page waits for a command's outcome event.
const OUTCOME_WAIT: Duration = Duration::from_secs(15);
/// How many received notifications the page lists.
const SHOWN_NOTIFICATIONS: usize = 20;

/// Where the demo tenant's ANPR commands go, as `snodo up` wires it.
#[derive(Debug, Clone)]
pub struct AnprLink {
    pub tenant: String,
    /// The exchange commands are published to (`snodo.commands`).
    pub commands_exchange: String,
    /// The ANPR simulator's base URL (`https://127.0.0.1:9441`) and the CA of its certificate, for
    /// the "ANPR sends a notification" button; `None` hides it.
    pub simulator: Option<(String, TrustAnchors)>,
}

/// The last certificate issued: its protocol number and PDF.
struct Certificate {
    protocol: String,
    pdf: Vec<u8>,
}

/// The link and what the desk last did.
pub struct AnprDemo {
    link: AnprLink,
    last_outcome: Mutex<Option<String>>,
    /// The last completed lookup, by citizen index.
    lookup: Mutex<Option<(u32, Value)>>,
    certificate: Mutex<Option<Certificate>>,
}

impl AnprDemo {
    pub fn new(link: AnprLink) -> AnprDemo {
        AnprDemo {
            link,
            last_outcome: Mutex::new(None),
            lookup: Mutex::new(None),
            certificate: Mutex::new(None),
        }
    }
}

/// The `/demo` section: a link to the desk.
pub(super) fn section(demo: Option<&AnprDemo>) -> String {
    match demo {
        Some(_) => "<h2>Registry office (ANPR)</h2><p><a href=\"/demo/anpr\">Open the registry desk</a> \
                    (lookup, certificate with its PDF, change of address — each an <code>anpr.*</code> command \
                    through Snodo — and the notifications ANPR sends)</p>"
            .to_owned(),
        None => String::new(),
    }
}

pub(super) fn router(backend: DemoBackend) -> Router {
    Router::new()
        .route("/demo/anpr", get(desk))
        .route("/demo/anpr/certificate.pdf", get(certificate_pdf))
        .route("/demo/anpr/{action}", post(act))
        .with_state(backend)
}

#[derive(Deserialize, Default)]
struct DeskQuery {
    /// The resident the desk serves: an index into the population's living residents.
    citizen: Option<u32>,
}

/// The `n`-th living resident: (codice fiscale, surname, given name).
fn resident(n: u32) -> Option<(String, String, String)> {
    let population = crate::anpr::population();
    let person = population
        .iter()
        .filter(|p| p.is_resident() && p.death_date.is_none())
        .nth(n as usize)?;
    Some((
        person.codice_fiscale.as_str().to_owned(),
        person.surname.to_owned(),
        person.given_name.to_owned(),
    ))
}

/// Sends one command for the demo tenant and waits for its outcome in the backend's inbox.
async fn command(
    backend: &DemoBackend,
    demo: &AnprDemo,
    kind: &str,
    body: Value,
) -> Result<(String, Value), String> {
    let link = &demo.link;
    backend
        .command_outcome(&link.tenant, &link.commands_exchange, kind, &body, OUTCOME_WAIT)
        .await
}

/// One line about an outcome: the event type and, when it failed, the code and ANPR's text.
fn describe(kind: &str, body: &Value) -> String {
    if kind.ends_with(".failed") {
        format!(
            "{kind}: {} {} — {}",
            body["code"].as_str().unwrap_or("?"),
            body["platform_code"].as_str().unwrap_or_default(),
            body["platform_message"]
                .as_str()
                .or(body["message"].as_str())
                .unwrap_or_default()
        )
    } else {
        format!(
            "{kind} (idOperazioneANPR {})",
            body["id_operazione_anpr"].as_str().unwrap_or("?")
        )
    }
}

/// The lookup of resident `n`: residence and family.
async fn look_up(backend: &DemoBackend, demo: &AnprDemo, n: u32, cf: &str) -> Result<Value, String> {
    let (kind, body) = command(
        backend,
        demo,
        "anpr.resident.lookup",
        json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data", "residence", "family"]}),
    )
    .await?;
    if kind.ends_with(".failed") {
        return Err(describe(&kind, &body));
    }
    *demo.lookup.lock() = Some((n, body.clone()));
    Ok(body)
}

/// `POST /demo/anpr/{lookup,certificate,move,notify}?citizen=n`: the action, then back to the desk.
async fn act(
    State(backend): State<DemoBackend>,
    Path(action): Path<String>,
    Query(query): Query<DeskQuery>,
) -> Response {
    let Some(demo) = backend.anpr.clone() else {
        return page("<p>ANPR is not configured for the demo tenant.</p>".into()).into_response();
    };
    let n = query.citizen.unwrap_or(0);
    let outcome = match resident(n) {
        None => "No such resident.".to_owned(),
        Some((cf, surname, given_name)) => match action.as_str() {
            "lookup" => match look_up(&backend, &demo, n, &cf).await {
                Ok(body) => describe("anpr.resident.lookup.completed", &body),
                Err(why) => why,
            },
            "certificate" => issue(&backend, &demo, &cf, &surname, &given_name).await,
            "move" => relocate(&backend, &demo, n, &cf).await,
            "notify" => notify(&demo).await,
            _ => "Unknown action.".to_owned(),
        },
    };
    *demo.last_outcome.lock() = Some(outcome);
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/demo/anpr?citizen={n}"))],
    )
        .into_response()
}

/// A residence certificate (type 8) for the resident, kept for download.
async fn issue(backend: &DemoBackend, demo: &AnprDemo, cf: &str, surname: &str, given_name: &str) -> String {
    let body = json!({"schema": 1, "holder": {"codice_fiscale": cf, "surname": surname, "given_name": given_name},
                      "certificate_types": [8], "requester": "holder", "delivery": "internet",
                      "stamp_duty_cents": 1600, "fees_cents": 52,
                      "officer": {"surname": "VERDI", "given_name": "ANNA"}});
    match command(backend, demo, "anpr.certificate.issue", body).await {
        Ok((kind, body)) if !kind.ends_with(".failed") => {
            let pdf = body["pdf_base64"]
                .as_str()
                .and_then(|b| openssl::base64::decode_block(b).ok());
            match pdf {
                Some(pdf) => {
                    *demo.certificate.lock() = Some(Certificate {
                        protocol: body["protocol_number"].as_str().unwrap_or_default().to_owned(),
                        pdf,
                    });
                    describe(&kind, &body)
                }
                None => format!("{kind}, but its pdf_base64 is not base64"),
            }
        }
        Ok((kind, body)) => describe(&kind, &body),
        Err(why) => why,
    }
}

/// A change of address within the comune for the resident's whole household, effective today.
async fn relocate(backend: &DemoBackend, demo: &AnprDemo, n: u32, cf: &str) -> String {
    let known = demo.lookup.lock().clone().filter(|(who, _)| *who == n);
    let before = match known {
        Some((_, body)) => body,
        None => match look_up(backend, demo, n, cf).await {
            Ok(body) => body,
            Err(why) => return why,
        },
    };
    let person = &before["persons"][0];
    let Some(household) = person["household"]["id_anpr"].as_str() else {
        return "ANPR listed no household for this resident.".into();
    };
    let comune = person["residence"]["comune"].clone();
    let number = (Utc::now().timestamp() % 200 + 1).to_string();
    let body = json!({"schema": 1, "household": {"id": {"anpr": household}, "cohabitation": false}, "change_kind": 2,
                      "new_residence": {"kind": 1, "postal_code": person["residence"]["postal_code"].as_str().unwrap_or("20121"),
                                        "comune": comune, "street_kind": "VIA", "street_name": "DELLA DEMO SNODO",
                                        "house_number": number},
                      "effective_date": Utc::now().date_naive().to_string()});
    match command(backend, demo, "anpr.residence.change", body).await {
        Ok((kind, body)) => {
            let line = describe(&kind, &body);
            // The registry changed: show the resident as ANPR now has them.
            match look_up(backend, demo, n, cf).await {
                Ok(_) => line,
                Err(why) => format!("{line}; the lookup after it: {why}"),
            }
        }
        Err(why) => why,
    }
}

/// Asks the ANPR simulator (not Snodo) to produce an N010 for the comune, as after a resident's
/// move registered by another comune; it reaches Snodo by push and by the 3003 pull.
async fn notify(demo: &AnprDemo) -> String {
    let Some((url, trusted)) = &demo.link.simulator else {
        return "No ANPR simulator is known to the demo.".into();
    };
    let client = match build_client(&TlsClientConfig::new(trusted.clone())) {
        Ok(c) => c,
        Err(e) => return format!("no HTTPS client for the simulator: {e}"),
    };
    // Bodies by hand: the crate does not rely on reqwest's `json` feature.
    let sent = client
        .post(format!("{url}/admin/anpr/notifications"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(json!({"comune": demo.link.tenant, "kind": "N010"}).to_string())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            let answer: Option<Value> = r.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok());
            let id = answer
                .as_ref()
                .and_then(|v| v["id_operazione_anpr"].as_str())
                .unwrap_or("?");
            format!(
                "The ANPR simulator produced N010 {id}: it arrives below, pushed at once and pulled (3003) \
                 at the next poll, both with one message_id."
            )
        }
        Ok(r) => format!("the simulator answered {}", r.status()),
        Err(e) => format!("the simulator could not be reached: {e}"),
    }
}

async fn certificate_pdf(State(backend): State<DemoBackend>) -> Response {
    let pdf = backend.anpr.as_ref().and_then(|d| {
        d.certificate
            .lock()
            .as_ref()
            .map(|c| (c.protocol.clone(), c.pdf.clone()))
    });
    match pdf {
        Some((protocol, pdf)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"certificato-{}.pdf\"", sanitize(&protocol)),
                ),
            ],
            pdf,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "No certificate issued yet.").into_response(),
    }
}

/// A protocol number fit for a file name.
fn sanitize(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

fn button(action: &str, n: u32, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/demo/anpr/{action}?citizen={n}\" style=\"display:inline\"><button>{}</button></form> ",
        escape(label)
    )
}

async fn desk(State(backend): State<DemoBackend>, Query(query): Query<DeskQuery>) -> Html<String> {
    let Some(demo) = backend.anpr.clone() else {
        return page("<p>ANPR is not configured for the demo tenant.</p>".into());
    };
    let n = query.citizen.unwrap_or(0);
    let mut html = String::new();
    if let Some(outcome) = demo.last_outcome.lock().take() {
        html.push_str(&format!("<p class=\"outcome\">{}</p>", escape(&outcome)));
    }
    let Some((cf, surname, given_name)) = resident(n) else {
        return page(format!(
            "{html}<p>No such resident. <a href=\"/demo/anpr\">Start again</a></p>"
        ));
    };
    html.push_str(&format!(
        "<p>Resident #{n} (synthetic): <strong>{} {}</strong> <code>{}</code> — \
         <a href=\"/demo/anpr?citizen={}\">previous</a> · <a href=\"/demo/anpr?citizen={}\">next</a></p><p>",
        escape(&given_name),
        escape(&surname),
        escape(&cf),
        n.saturating_sub(1),
        n + 1
    ));
    html.push_str(&button("lookup", n, "Look up (3002)"));
    html.push_str(&button("certificate", n, "Residence certificate (6001)"));
    html.push_str(&button("move", n, "Change of address (5005)"));
    if demo.link.simulator.is_some() {
        html.push_str(&button("notify", n, "ANPR simulator: send an N010"));
    }
    html.push_str("</p>");
    if let Some((_, body)) = demo.lookup.lock().clone().filter(|(who, _)| *who == n) {
        let r = &body["persons"][0]["residence"];
        html.push_str(&format!(
            "<h2>As ANPR has them</h2><p>Residence: {} {} {}, {} {} (since {}); household <code>{}</code></p>",
            escape(r["street_kind"].as_str().unwrap_or_default()),
            escape(r["street_name"].as_str().unwrap_or_default()),
            escape(r["house_number"].as_str().unwrap_or_default()),
            escape(r["postal_code"].as_str().unwrap_or_default()),
            escape(r["comune"]["name"].as_str().unwrap_or_default()),
            escape(r["since"].as_str().unwrap_or("?")),
            escape(
                body["persons"][0]["household"]["id_anpr"]
                    .as_str()
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(c) = demo.certificate.lock().as_ref() {
        html.push_str(&format!(
            "<h2>Certificate</h2><p>Protocol {} — <a href=\"/demo/anpr/certificate.pdf\">download the PDF</a> ({} bytes)</p>",
            escape(&c.protocol),
            c.pdf.len()
        ));
    }
    html.push_str(
        "<h2>Notifications from ANPR</h2><table><tr><th>time</th><th>kind</th><th>idOperazioneANPR</th></tr>",
    );
    let received: Vec<_> = backend
        .entries()
        .into_iter()
        .filter(|e| e.kind == "anpr.notification.received")
        .take(SHOWN_NOTIFICATIONS)
        .collect();
    for e in &received {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.at.format("%H:%M:%S%.3f"),
            escape(e.body["kind"].as_str().unwrap_or_default()),
            escape(e.body["notification_id"].as_str().unwrap_or_default()),
        ));
    }
    if received.is_empty() {
        html.push_str("<tr><td colspan=\"3\">None yet.</td></tr>");
    }
    html.push_str("</table>");
    page(html)
}

fn page(body: String) -> Html<String> {
    desk_page("registry office", "Registry office (ANPR)", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_are_living_people_of_the_population() {
        let (cf, surname, _) = resident(0).expect("the population has residents");
        assert_eq!(cf.len(), 16);
        assert!(!surname.is_empty());
        assert_ne!(resident(0), resident(1));
    }

    #[test]
    fn a_protocol_number_cannot_break_the_file_name() {
        assert_eq!(sanitize("2025/000\"123"), "2025000123");
    }

    #[test]
    fn failures_show_anpr_code_and_text() {
        let line = describe(
            "anpr.resident.lookup.failed",
            &json!({"code": "rejected", "platform_code": "EN122", "platform_message": "Nessun risultato"}),
        );
        assert_eq!(
            line,
            "anpr.resident.lookup.failed: rejected EN122 — Nessun risultato"
        );
    }
}

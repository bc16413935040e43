//! The demo backend's CIE appointment desk (`/demo/cie`): what a Comune's front office would do with
//! Snodo's booking connector — list the offices, show a week of free slots, book, confirm,
//! reschedule and cancel — and nothing more. Every action is a `cie_booking.*` command on the
//! commands exchange whose outcome event arrives in the backend's inbox like every other; the page
//! never calls the booking simulator. Appointments are shown as the events last described them,
//! including the Ministry's own changes (`cie_booking.appointment.changed`).
//!
//! Server-rendered HTML forms (no script, no build step). Citizens are synthetic: people of the
//! simulators' shared population, so the booking system recognises them.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Datelike, NaiveDate, Utc, Weekday};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};

use super::DemoBackend;
use super::desk::{desk_page, escape};

/// How long the page waits for a command's outcome event.
const OUTCOME_WAIT: Duration = Duration::from_secs(10);
/// Slots shown per search (a week of one office).
const SHOWN_SLOTS: usize = 40;

/// Where the demo tenant's booking commands go, as `snodo up` wires it.
#[derive(Debug, Clone)]
pub struct BookingLink {
    pub tenant: String,
    /// The exchange commands are published to (`snodo.commands`).
    pub commands_exchange: String,
}

/// The link, the offices once listed, and what the last action did.
pub struct BookingDemo {
    link: BookingLink,
    offices: Mutex<Option<Vec<Value>>>,
    last_outcome: Mutex<Option<String>>,
}

impl BookingDemo {
    pub fn new(link: BookingLink) -> BookingDemo {
        BookingDemo {
            link,
            offices: Mutex::new(None),
            last_outcome: Mutex::new(None),
        }
    }
}

/// The `/demo` section: a link to the desk.
pub(super) fn section(demo: Option<&BookingDemo>) -> String {
    match demo {
        Some(_) => "<h2>CIE appointments</h2><p><a href=\"/demo/cie\">Open the appointment desk</a> \
                    (offices, free slots, book, confirm, reschedule, cancel — each a <code>cie_booking.*</code> \
                    command through Snodo)</p>"
            .to_owned(),
        None => String::new(),
    }
}

pub(super) fn router(backend: DemoBackend) -> Router {
    Router::new()
        .route("/demo/cie", get(desk))
        .route("/demo/cie/{action}", post(act))
        .with_state(backend)
}

#[derive(Deserialize, Default)]
struct DeskQuery {
    office: Option<String>,
    from: Option<NaiveDate>,
    /// The citizen the desk serves: an index into the synthetic population.
    citizen: Option<u32>,
}

/// Sends one command for the demo tenant and waits for its outcome in the backend's inbox.
async fn command(
    backend: &DemoBackend,
    demo: &BookingDemo,
    kind: &str,
    body: Value,
) -> Result<(String, Value), String> {
    let link = &demo.link;
    backend
        .command_outcome(&link.tenant, &link.commands_exchange, kind, &body, OUTCOME_WAIT)
        .await
}

/// One line about an outcome: the event type and, when it failed, the code and message.
fn describe(kind: &str, body: &Value) -> String {
    if kind.ends_with(".failed") {
        let platform = body["platform_code"]
            .as_str()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        format!(
            "{kind}: {}{platform} — {}",
            body["code"].as_str().unwrap_or("?"),
            body["platform_message"]
                .as_str()
                .or(body["message"].as_str())
                .unwrap_or_default()
        )
    } else {
        match body["appointment"]["booking_code"].as_str() {
            Some(code) => format!(
                "{kind}: {code} is {}",
                body["appointment"]["state"].as_str().unwrap_or("?")
            ),
            None => kind.to_owned(),
        }
    }
}

/// The appointments the events described, latest description of each, newest booking first.
fn appointments(backend: &DemoBackend) -> Vec<Value> {
    let mut latest: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    for (n, e) in backend.log.lock().iter().enumerate() {
        if !e.kind.starts_with("cie_booking.appointment.") || e.kind.ends_with(".failed") {
            continue;
        }
        let found = e.body["appointments"].as_array().cloned().unwrap_or_default();
        for a in found.into_iter().chain(e.body.get("appointment").cloned()) {
            // A reschedule's answer describes the new appointment only; the one it replaced ended
            // cancelled by the citizen (the contract's rule).
            if let Some((_, old)) = a["replaces"].as_str().and_then(|old| latest.get_mut(old))
                && is_active(old["state"].as_str().unwrap_or_default())
            {
                old["state"] = json!("cancelled_by_citizen");
                old["confirm_by"] = Value::Null;
            }
            if let Some(code) = a["booking_code"].as_str() {
                let first_seen = latest.get(code).map_or(n, |(seen, _)| *seen);
                latest.insert(code.to_owned(), (first_seen, a));
            }
        }
    }
    let mut all: Vec<_> = latest.into_values().collect();
    all.sort_by_key(|(first_seen, _)| std::cmp::Reverse(*first_seen));
    all.into_iter().map(|(_, a)| a).collect()
}

fn is_active(state: &str) -> bool {
    matches!(state, "booked" | "awaiting_clearance" | "confirmed")
}

/// The synthetic citizen `n` (a resident of the shared population): codice fiscale and names.
fn citizen(n: u32) -> Option<(String, String, String)> {
    let population = crate::cie_booking::population();
    let person = population.iter().nth(n as usize)?;
    Some((
        person.codice_fiscale.as_str().to_owned(),
        person.surname.to_owned(),
        person.given_name.to_owned(),
    ))
}

async fn desk(State(backend): State<DemoBackend>, Query(query): Query<DeskQuery>) -> Html<String> {
    let Some(demo) = backend.cie_booking.clone() else {
        return page("<p>CIE booking is not configured for the demo tenant.</p>".into());
    };
    let mut html = String::new();
    if let Some(outcome) = demo.last_outcome.lock().take() {
        html.push_str(&format!("<p class=\"outcome\">{}</p>", escape(&outcome)));
    }
    let cached = demo.offices.lock().clone();
    let offices = match cached {
        Some(offices) => offices,
        None => match command(&backend, &demo, "cie_booking.offices.list", json!({"schema": 1})).await {
            Ok((kind, body)) if kind.ends_with(".completed") => {
                let offices = body["offices"].as_array().cloned().unwrap_or_default();
                *demo.offices.lock() = Some(offices.clone());
                offices
            }
            Ok((kind, body)) => return page(format!("<p>{}</p>", escape(&describe(&kind, &body)))),
            Err(why) => return page(format!("<p>{}</p>", escape(&why))),
        },
    };
    let n = query.citizen.unwrap_or(0);
    let Some((cf, surname, given_name)) = citizen(n) else {
        return page("<p>No such citizen in the synthetic population.</p>".into());
    };
    let office = query.office.clone().or_else(|| {
        offices
            .iter()
            .find(|o| o["open"] == true)
            .and_then(|o| o["office_id"].as_str().map(str::to_owned))
    });
    let today = Utc::now().date_naive();
    let from = query.from.unwrap_or_else(|| {
        (today + chrono::Duration::days(7))
            .iter_days()
            .find(|d| d.weekday() == Weekday::Mon)
            .expect("a week has a Monday")
    });

    html.push_str(&format!(
        "<p>Serving <strong>{} {}</strong> (<code>{}</code>, synthetic) — <a href=\"/demo/cie?citizen={}\">next citizen</a></p>",
        escape(given_name.as_str()),
        escape(surname.as_str()),
        escape(&cf),
        n + 1
    ));
    html.push_str("<h2>Offices</h2><form method=\"get\" action=\"/demo/cie\"><select name=\"office\">");
    for o in &offices {
        let id = o["office_id"].as_str().unwrap_or_default();
        html.push_str(&format!(
            "<option value=\"{id}\"{}>{} — {}{}</option>",
            if Some(id) == office.as_deref() {
                " selected"
            } else {
                ""
            },
            escape(o["name"].as_str().unwrap_or_default()),
            escape(o["address"].as_str().unwrap_or_default()),
            if o["open"] == true { "" } else { " (closed)" },
            id = escape(id),
        ));
    }
    html.push_str(&format!(
        "</select> week from <input type=\"date\" name=\"from\" value=\"{from}\">\
         <input type=\"hidden\" name=\"citizen\" value=\"{n}\"> <button>Show free slots</button></form>"
    ));

    let mine: Vec<Value> = appointments(&backend);
    let active = mine
        .iter()
        .find(|a| a["codice_fiscale"] == cf.as_str() && is_active(a["state"].as_str().unwrap_or_default()));
    if let Some(office) = &office {
        let search = json!({"schema": 1, "office_id": office, "from": from,
                            "to": from + chrono::Duration::days(6), "reason": "first_document"});
        match command(&backend, &demo, "cie_booking.availability.search", search).await {
            Ok((kind, body)) if kind.ends_with(".completed") => {
                let slots = body["slots"].as_array().cloned().unwrap_or_default();
                html.push_str(&format!(
                    "<h2>Free slots at {}</h2><p>First available: {}</p>",
                    escape(office),
                    escape(body["first_available"].as_str().unwrap_or("none"))
                ));
                html.push_str("<table><tr><th>starts</th><th>minutes</th><th>free places</th><th></th></tr>");
                for s in slots.iter().take(SHOWN_SLOTS) {
                    let slot = s["slot_id"].as_str().unwrap_or_default();
                    let mut buttons = form("book", n, &[("slot_id", slot), ("codice_fiscale", &cf)], "Book");
                    if let Some(a) = active {
                        let code = a["booking_code"].as_str().unwrap_or_default();
                        buttons.push_str(&form(
                            "reschedule",
                            n,
                            &[
                                ("booking_code", code),
                                ("codice_fiscale", &cf),
                                ("new_slot_id", slot),
                            ],
                            &format!("Move {code} here"),
                        ));
                    }
                    html.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{buttons}</td></tr>",
                        escape(s["starts_at"].as_str().unwrap_or_default()),
                        s["duration_minutes"],
                        s["free_places"],
                    ));
                }
                if slots.is_empty() {
                    html.push_str("<tr><td colspan=\"4\">No free slot that week.</td></tr>");
                }
                html.push_str("</table>");
            }
            Ok((kind, body)) => html.push_str(&format!("<p>{}</p>", escape(&describe(&kind, &body)))),
            Err(why) => html.push_str(&format!("<p>{}</p>", escape(&why))),
        }
    }

    html.push_str(
        "<h2>Appointments</h2><table><tr><th>code</th><th>state</th><th>codice fiscale</th>\
                   <th>office</th><th>starts</th><th>confirm by</th><th></th></tr>",
    );
    for a in &mine {
        let code = a["booking_code"].as_str().unwrap_or_default();
        let state = a["state"].as_str().unwrap_or_default();
        let holder = a["codice_fiscale"].as_str().unwrap_or_default();
        let mut buttons = String::new();
        if state == "booked" {
            buttons.push_str(&form(
                "confirm",
                n,
                &[("booking_code", code), ("codice_fiscale", holder)],
                "Confirm",
            ));
        }
        if is_active(state) {
            buttons.push_str(&form(
                "cancel",
                n,
                &[("booking_code", code), ("codice_fiscale", holder)],
                "Cancel",
            ));
        }
        html.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{buttons}</td></tr>",
            escape(code),
            escape(state),
            escape(holder),
            escape(a["office_id"].as_str().unwrap_or_default()),
            escape(a["starts_at"].as_str().unwrap_or_default()),
            escape(a["confirm_by"].as_str().unwrap_or_default()),
        ));
    }
    if mine.is_empty() {
        html.push_str("<tr><td colspan=\"7\">None yet.</td></tr>");
    }
    html.push_str("</table>");
    page(html)
}

/// A one-button form posting `fields` to `/demo/cie/{action}`.
fn form(action: &str, citizen: u32, fields: &[(&str, &str)], label: &str) -> String {
    let mut inputs = format!("<input type=\"hidden\" name=\"citizen\" value=\"{citizen}\">");
    for (name, value) in fields {
        inputs.push_str(&format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        ));
    }
    format!(
        "<form method=\"post\" action=\"/demo/cie/{action}\" style=\"display:inline\">{inputs}<button>{}</button></form> ",
        escape(label)
    )
}

/// A form's fields, decoded (`application/x-www-form-urlencoded`).
fn form_fields(body: &[u8]) -> BTreeMap<String, String> {
    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |b: u8| (b as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(high), Some(low)) => {
                            out.push((high * 16 + low) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((decode(name), decode(value)))
        })
        .collect()
}

/// `POST /demo/cie/{book,confirm,cancel,reschedule}`: the command, then back to the desk.
async fn act(
    State(backend): State<DemoBackend>,
    axum::extract::Path(action): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let Some(demo) = backend.cie_booking.clone() else {
        return page("<p>CIE booking is not configured for the demo tenant.</p>".into()).into_response();
    };
    let fields = form_fields(&body);
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let n: u32 = field("citizen").parse().unwrap_or(0);
    let (kind, command_body) = match action.as_str() {
        "book" => {
            let Some((cf, surname, given_name)) = citizen(n) else {
                return page("<p>No such citizen.</p>".into()).into_response();
            };
            (
                "cie_booking.appointment.book",
                json!({"schema": 1, "slot_id": field("slot_id"), "reason": "first_document",
                       "citizen": {"codice_fiscale": cf, "surname": surname, "given_name": given_name,
                                   "email": "cittadino@example.it"}}),
            )
        }
        "confirm" => (
            "cie_booking.appointment.confirm",
            json!({"schema": 1, "booking_code": field("booking_code"), "codice_fiscale": field("codice_fiscale")}),
        ),
        "cancel" => (
            "cie_booking.appointment.cancel",
            json!({"schema": 1, "booking_code": field("booking_code"), "codice_fiscale": field("codice_fiscale"),
                   "cancelled_by": "citizen"}),
        ),
        "reschedule" => (
            "cie_booking.appointment.reschedule",
            json!({"schema": 1, "booking_code": field("booking_code"), "codice_fiscale": field("codice_fiscale"),
                   "new_slot_id": field("new_slot_id")}),
        ),
        _ => return page("<p>Unknown action.</p>".into()).into_response(),
    };
    let outcome = match command(&backend, &demo, kind, command_body).await {
        Ok((kind, body)) => describe(&kind, &body),
        Err(why) => why,
    };
    *demo.last_outcome.lock() = Some(outcome);
    (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/demo/cie?citizen={n}"))],
    )
        .into_response()
}

fn page(body: String) -> Html<String> {
    desk_page("CIE appointments", "CIE appointment desk", body)
}

#[cfg(test)]
mod tests {
    use super::form_fields;

    #[test]
    fn form_fields_are_decoded() {
        let fields = form_fields(b"slot_id=MI-OPENDAY-20250412-0900&name=Maria+Rossi&x=%3C%26%3E&bad=%ZZ");
        assert_eq!(fields["slot_id"], "MI-OPENDAY-20250412-0900");
        assert_eq!(fields["name"], "Maria Rossi");
        assert_eq!(fields["x"], "<&>");
        assert_eq!(fields["bad"], "%ZZ");
    }
}

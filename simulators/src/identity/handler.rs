//! The IdP's HTTP endpoints per federation: metadata, SSO (both bindings), the login page, the consent
//! page and their answers, SP registration and the JSON listings. Single Logout is in [`super::slo`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use snodo_security::saml::redirect::url_decode;
use snodo_security::saml::{SpidLevel, new_message_id};

use super::catalogue::{self, Expected, Keys};
use super::request::{self, Binding, Context};
use super::response::{self, Login, Signing};
use super::{
    AwaitingConsent, IdentityProvider, PendingLogin, Profile, ServiceProvider, Session, metadata, page, slo,
    users,
};
use crate::framework::PlatformError;

type Idp = State<(IdentityProvider, Profile)>;

pub(super) fn routes(idp: IdentityProvider, profile: Profile) -> Router {
    Router::new()
        .route("/metadata", get(metadata_document))
        .route("/sso", get(sso_redirect).post(sso_post))
        .route("/login", get(login_page).post(login))
        .route("/consent", post(consent))
        .route("/slo", get(slo::redirect).post(slo::post))
        .route("/logout", post(slo::initiate))
        .route("/sp-metadata", post(register))
        .route("/cases", get(cases))
        .route("/people", get(people))
        .with_state((idp, profile))
}

/// Whether the client asked for JSON rather than pages.
pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

fn is_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"))
}

/// The step of a login a post belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// `POST /{p}/login`: the credentials.
    Credentials,
    /// `POST /{p}/consent`: the consent page's answer.
    Consent,
}

/// A login post being answered, noted for a `platform_error` fault (see `LOGIN_IN_FLIGHT`).
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pub step: Step,
    pub ticket: String,
    pub json: bool,
}

/// The `ticket` of a login or consent post, form or JSON.
pub(super) fn ticket_field(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if is_json_body(headers) {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        return value.get("ticket")?.as_str().map(str::to_owned);
    }
    field(&form_fields(body), "ticket")
}

/// `application/x-www-form-urlencoded` fields in order (a repeated name appears twice).
pub(super) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((
                url_decode(k, "form field").ok()?,
                url_decode(v, "form field").ok()?,
            ))
        })
        .collect()
}

pub(super) fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    // The last one: a clicked submit button (`outcome=error:25`) comes after the select.
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn error_reply(json: bool, status: StatusCode, title: &str, text: &str) -> Response {
    if json {
        (status, axum::Json(json!({ "error": text }))).into_response()
    } else {
        (status, Html(page::message(title, text))).into_response()
    }
}

async fn metadata_document(State((idp, profile)): Idp, headers: HeaderMap) -> Response {
    let base = idp.base_url(&headers);
    let entity_id = idp.entity_id(profile, &headers);
    let sso = format!("{base}/{}/sso", profile.path());
    let slo = format!("{base}/{}/slo", profile.path());
    let endpoints = metadata::Endpoints {
        entity_id: &entity_id,
        sso: &sso,
        slo: &slo,
    };
    match metadata::render(profile, &endpoints, &idp.inner.credentials.idp) {
        Ok(xml) => ([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response(),
        Err(e) => error_reply(
            true,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Metadata",
            &e.to_string(),
        ),
    }
}

async fn sso_redirect(State((idp, profile)): Idp, headers: HeaderMap, uri: Uri) -> Response {
    sso(
        &idp,
        profile,
        &headers,
        Binding::Redirect,
        Some(uri.query().unwrap_or_default()),
        None,
    )
}

async fn sso_post(State((idp, profile)): Idp, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form_fields(&body);
    let saml_request = field(&fields, "SAMLRequest").unwrap_or_default();
    let relay_state = field(&fields, "RelayState");
    sso(
        &idp,
        profile,
        &headers,
        Binding::Post,
        None,
        Some((&saml_request, relay_state.as_deref())),
    )
}

fn sso(
    idp: &IdentityProvider,
    profile: Profile,
    headers: &HeaderMap,
    binding: Binding,
    query: Option<&str>,
    form: Option<(&str, Option<&str>)>,
) -> Response {
    let json = wants_json(headers);
    let entity_id = idp.entity_id(profile, headers);
    let sso_url = format!("{}/{}/sso", idp.base_url(headers), profile.path());
    let find = |entity: &str| idp.find_sp(profile, entity);
    let context = Context {
        profile,
        binding,
        idp_entity_id: &entity_id,
        sso_url: &sso_url,
        now: idp.inner.clock.now(),
        find_sp: &find,
        schema: &idp.inner.schema.read().clone(),
    };
    let accepted = match request::judge(&context, query, form) {
        Ok(accepted) => accepted,
        Err(problems) if json => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": "AuthnRequest refused", "problems": problems })),
            )
                .into_response();
        }
        Err(problems) => {
            return (
                StatusCode::BAD_REQUEST,
                Html(page::diagnostics(profile, &problems)),
            )
                .into_response();
        }
    };
    let sp_name = idp
        .find_sp(profile, &accepted.sp_entity_id)
        .map(|sp: ServiceProvider| sp.display_name)
        .unwrap_or_default();
    let ticket = new_message_id();
    let pending = PendingLogin {
        profile,
        request: accepted,
        sp_name,
    };
    let answer = login_answer(idp, profile, &ticket, &pending, json);
    idp.inner.logins.lock().insert(ticket, pending);
    answer
}

fn login_answer(
    idp: &IdentityProvider,
    profile: Profile,
    ticket: &str,
    pending: &PendingLogin,
    json: bool,
) -> Response {
    let request = &pending.request;
    if json {
        return axum::Json(json!({
            "ticket": ticket,
            "login_url": format!("/{}/login", profile.path()),
            "sp_entity_id": request.sp_entity_id,
            "acs_url": request.acs_url,
            "level": request.level.to_string(),
            "comparison": request.comparison.as_str(),
            "attributes": request.attributes,
        }))
        .into_response();
    }
    let people = users::sample(&idp.population(), idp.today(), 0, 12);
    Html(page::login(profile, ticket, &pending.sp_name, request, &people)).into_response()
}

#[derive(Deserialize)]
struct TicketQuery {
    ticket: String,
}

async fn login_page(
    State((idp, profile)): Idp,
    headers: HeaderMap,
    Query(q): Query<TicketQuery>,
) -> Response {
    let pending = idp.inner.logins.lock().get(&q.ticket).cloned();
    match pending.filter(|p| p.profile == profile) {
        Some(pending) => login_answer(&idp, profile, &q.ticket, &pending, wants_json(&headers)),
        None => error_reply(
            wants_json(&headers),
            StatusCode::NOT_FOUND,
            "Accesso scaduto",
            UNKNOWN_TICKET,
        ),
    }
}

const UNKNOWN_TICKET: &str = "this login is unknown or already used: start again from the service provider";

/// The login form's fields, from a form post or JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginFields {
    pub ticket: Option<String>,
    pub fiscal_code: Option<String>,
    pub other_fiscal_code: Option<String>,
    pub level: Option<String>,
    pub outcome: Option<String>,
    /// JSON logins only (they skip the consent page): `given` (default) or `refused`.
    pub consent: Option<String>,
}

fn login_fields(headers: &HeaderMap, body: &[u8]) -> LoginFields {
    if is_json_body(headers) {
        return serde_json::from_slice(body).unwrap_or_default();
    }
    let fields = form_fields(body);
    LoginFields {
        ticket: field(&fields, "ticket"),
        fiscal_code: field(&fields, "fiscal_code"),
        other_fiscal_code: field(&fields, "other_fiscal_code"),
        level: field(&fields, "level"),
        outcome: field(&fields, "outcome"),
        consent: None,
    }
}

/// What the tester asked the IdP to answer.
enum Outcome {
    Case(&'static catalogue::Case),
    Error(u8),
}

fn parse_outcome(text: Option<&str>) -> Result<Outcome, String> {
    match text.unwrap_or("success") {
        "success" => Ok(Outcome::Case(
            catalogue::find(catalogue::VALID).expect("the valid case exists"),
        )),
        other => {
            if let Some(code) = other.strip_prefix("error:") {
                return error_code(code).map(Outcome::Error);
            }
            if let Some(id) = other.strip_prefix("case:") {
                return catalogue::find(id)
                    .map(Outcome::Case)
                    .ok_or_else(|| format!("no catalogue case {id:?}: see /{{spid,cie}}/cases"));
            }
            Err(format!("outcome {other:?} is not success, error:NN or case:<id>"))
        }
    }
}

/// `nr22`, `22` or `ErrorCode nr22`: a SPID user error code, 19 to 30.
fn error_code(text: &str) -> Result<u8, String> {
    let digits = text
        .trim()
        .trim_start_matches("ErrorCode")
        .trim()
        .trim_start_matches("nr");
    match digits.parse::<u8>() {
        Ok(code) if (19..=30).contains(&code) => Ok(code),
        _ => Err(format!("{text:?} is not a SPID error code nr19 to nr30")),
    }
}

async fn login(State((idp, profile)): Idp, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&headers);
    let fields = login_fields(&headers, &body);
    let Some(ticket) = fields.ticket.clone() else {
        return error_reply(
            json,
            StatusCode::BAD_REQUEST,
            "Accesso",
            "the ticket field is missing",
        );
    };
    let Some(pending) = take_login(&idp, profile, &ticket) else {
        return error_reply(json, StatusCode::NOT_FOUND, "Accesso scaduto", UNKNOWN_TICKET);
    };
    let code = fields
        .other_fiscal_code
        .filter(|c| !c.trim().is_empty())
        .or(fields.fiscal_code)
        .map(|c| c.trim().to_uppercase())
        .unwrap_or_default();
    let outcome = parse_outcome(fields.outcome.as_deref());
    // The level asked, for CIE ID as for SPID (CIE ID has SpidL1–L3 too), unless the tester picks one.
    let level = match fields.level.as_deref().map(str::trim) {
        None | Some("") => Ok(pending.request.level),
        Some("1") => Ok(SpidLevel::L1),
        Some("2") => Ok(SpidLevel::L2),
        Some("3") => Ok(SpidLevel::L3),
        Some(other) => Err(format!("level {other:?} is not 1, 2 or 3")),
    };
    let person = idp.population().find(&code);
    let consent = match fields.consent.as_deref().map(str::trim) {
        None | Some("" | "given") => Ok(true),
        Some("refused") => Ok(false),
        Some(other) => Err(format!("consent {other:?} is not given or refused")),
    };
    let (outcome, level, person, consent) = match (outcome, level, person, consent) {
        (Ok(o), Ok(l), Some(p), Ok(c)) => (o, l, p, c),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, _, Err(e)) => {
            return retry(&idp, ticket, pending, json, &e);
        }
        (_, _, None, _) => {
            return retry(
                &idp,
                ticket,
                pending,
                json,
                "no person of the population has this codice fiscale",
            );
        }
    };
    // The deceased and the not yet born have no credentials: identity revoked.
    let outcome = if users::can_log_in(&person, idp.today()) {
        outcome
    } else {
        Outcome::Error(23)
    };
    let now = idp.inner.clock.now();
    let session_index = (level == SpidLevel::L1 || profile == Profile::Cie).then(new_message_id);
    let login = Login {
        profile,
        idp_entity_id: idp.entity_id(profile, &headers),
        level,
        attributes: users::release(&person, &pending.request.attributes, profile),
        name_id: new_message_id(),
        session_index,
        now,
    };
    // A successful login releases the person's data: the person first sees what goes to whom and
    // consents or refuses (a JSON login brings its answer along).
    if matches!(&outcome, Outcome::Case(case) if case.id == catalogue::VALID) {
        if json {
            let outcome = if consent {
                outcome
            } else {
                Outcome::Error(CONSENT_REFUSED)
            };
            return answer(&idp, &pending, &login, outcome, json);
        }
        let page = page::consent(
            profile,
            &ticket,
            &pending.sp_name,
            &pending.request.sp_entity_id,
            login.level,
            &login.attributes,
        );
        idp.inner
            .consents
            .lock()
            .insert(ticket, AwaitingConsent { pending, login });
        return Html(page).into_response();
    }
    answer(&idp, &pending, &login, outcome, json)
}

/// `ErrorCode nr22`: the user denied consent to send the data to the SP (messaggi-errore.rst; the
/// same code in CIE ID's codici-errori-anomalie-utente.csv).
const CONSENT_REFUSED: u8 = 22;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentFields {
    ticket: Option<String>,
    decision: Option<String>,
}

/// The consent page's answer: the signed Response, or the nr22 Response when the person refuses.
async fn consent(State((idp, profile)): Idp, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&headers);
    let fields: ConsentFields = if is_json_body(&headers) {
        serde_json::from_slice(&body).unwrap_or_default()
    } else {
        let form = form_fields(&body);
        ConsentFields {
            ticket: field(&form, "ticket"),
            decision: field(&form, "decision"),
        }
    };
    let Some(ticket) = fields.ticket else {
        return error_reply(
            json,
            StatusCode::BAD_REQUEST,
            "Consenso",
            "the ticket field is missing",
        );
    };
    let outcome = match fields.decision.as_deref() {
        Some("consent") => Outcome::Case(catalogue::find(catalogue::VALID).expect("the valid case exists")),
        Some("refuse") => Outcome::Error(CONSENT_REFUSED),
        _ => {
            return error_reply(
                json,
                StatusCode::BAD_REQUEST,
                "Consenso",
                "decision must be consent or refuse",
            );
        }
    };
    let Some(AwaitingConsent { pending, mut login }) = take_consent(&idp, profile, &ticket) else {
        return error_reply(json, StatusCode::NOT_FOUND, "Accesso scaduto", UNKNOWN_TICKET);
    };
    // The Response is issued now, however long the person read the page.
    login.now = idp.inner.clock.now();
    answer(&idp, &pending, &login, outcome, json)
}

fn take_consent(idp: &IdentityProvider, profile: Profile, ticket: &str) -> Option<AwaitingConsent> {
    let mut consents = idp.inner.consents.lock();
    match consents.get(ticket) {
        Some(a) if a.pending.profile == profile => consents.remove(ticket),
        _ => None,
    }
}

fn take_login(idp: &IdentityProvider, profile: Profile, ticket: &str) -> Option<PendingLogin> {
    let mut logins = idp.inner.logins.lock();
    match logins.get(ticket) {
        Some(p) if p.profile == profile => logins.remove(ticket),
        _ => None,
    }
}

/// A mistake on the form: the login stays pending, so the tester can correct it.
fn retry(
    idp: &IdentityProvider,
    ticket: String,
    pending: PendingLogin,
    json: bool,
    reason: &str,
) -> Response {
    idp.inner.logins.lock().insert(ticket, pending);
    error_reply(json, StatusCode::BAD_REQUEST, "Dati non validi", reason)
}

/// Builds the chosen Response and the page (or JSON) that carries it to the ACS.
fn answer(
    idp: &IdentityProvider,
    pending: &PendingLogin,
    login: &Login,
    outcome: Outcome,
    json: bool,
) -> Response {
    let credentials = &idp.inner.credentials;
    let request = &pending.request;
    let built = match &outcome {
        Outcome::Case(case) => case
            .build(
                request,
                login,
                &Keys {
                    idp: &credentials.idp,
                    other_bare: &credentials.other_bare,
                    other: &credentials.other,
                },
            )
            .map(|xml| {
                (
                    xml,
                    case.expected(login.profile, request.level, request.comparison, login.level),
                    case.id.to_owned(),
                )
            }),
        Outcome::Error(code) => {
            let (tree, _) = response::error(request, login, *code);
            let signing = Signing {
                assertion: None,
                response: Some(&credentials.idp),
            };
            response::sign(&tree, &signing).map(|xml| (xml, Expected::Reject, format!("nr{code}")))
        }
    };
    let (xml, expected, case) = match built {
        Ok(built) => built,
        Err(e) => return error_reply(json, StatusCode::INTERNAL_SERVER_ERROR, "Errore", &e.to_string()),
    };
    if case == catalogue::VALID
        && let Some(session) = &login.session_index
    {
        idp.inner.sessions.lock().insert(
            session.clone(),
            Session {
                profile: login.profile,
                sp_entity_id: request.sp_entity_id.clone(),
                name_id: login.name_id.clone(),
            },
        );
    }
    if json {
        return axum::Json(json!({
            "acs_url": request.acs_url,
            "SAMLResponse": openssl::base64::encode_block(xml.as_bytes()),
            "RelayState": request.relay_state,
            "case": case,
            "level": login.level.to_string(),
            "expected": expected,
            "session_index": login.session_index,
        }))
        .into_response();
    }
    Html(response::post_form(
        &request.acs_url,
        "SAMLResponse",
        &xml,
        request.relay_state.as_deref(),
        "Ritorno al servizio",
    ))
    .into_response()
}

/// A `platform_error` fault: the SPID error Response `error.code` names, to the login in flight.
pub(super) fn platform_error(
    idp: &IdentityProvider,
    operation: Option<&str>,
    error: &PlatformError,
    in_flight: Option<InFlight>,
) -> Response {
    let profile = match operation {
        Some("spid.login" | "spid.consent") => Profile::Spid,
        Some("cie.login" | "cie.consent") => Profile::Cie,
        _ => {
            return error_reply(
                true,
                StatusCode::CONFLICT,
                "Errore",
                "platform_error applies to the {spid,cie}.login and {spid,cie}.consent operations: it answers the SPID error Response of the login being posted",
            );
        }
    };
    let Some(InFlight { step, ticket, json }) = in_flight else {
        return error_reply(
            true,
            StatusCode::BAD_REQUEST,
            "Errore",
            "the login post names no ticket",
        );
    };
    let code = match error_code(&error.code) {
        Ok(code) => code,
        Err(e) => return error_reply(json, StatusCode::BAD_REQUEST, "Errore", &e),
    };
    let pending = match step {
        Step::Credentials => take_login(idp, profile, &ticket),
        Step::Consent => take_consent(idp, profile, &ticket).map(|a| a.pending),
    };
    let Some(pending) = pending else {
        return error_reply(json, StatusCode::NOT_FOUND, "Accesso scaduto", UNKNOWN_TICKET);
    };
    let login = Login {
        profile,
        idp_entity_id: idp.entity_id(profile, &HeaderMap::new()),
        level: pending.request.level,
        attributes: Vec::new(),
        name_id: String::new(),
        session_index: None,
        now: idp.inner.clock.now(),
    };
    answer(idp, &pending, &login, Outcome::Error(code), json)
}

async fn register(State((idp, profile)): Idp, body: Bytes) -> Response {
    match ServiceProvider::from_metadata(&body) {
        Ok(sp) => {
            let entity_id = sp.entity_id.clone();
            idp.register(profile, sp);
            (
                StatusCode::CREATED,
                axum::Json(json!({ "entity_id": entity_id, "federation": profile })),
            )
                .into_response()
        }
        Err(e) => error_reply(true, StatusCode::BAD_REQUEST, "Metadata", &e.to_string()),
    }
}

async fn cases(State((_, profile)): Idp) -> Response {
    let list: Vec<_> = catalogue::CASES
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "description": c.description,
                "expected_for_spid_l2_minimum": c.expected(profile, SpidLevel::L2, snodo_security::saml::Comparison::Minimum, SpidLevel::L2),
            })
        })
        .collect();
    axum::Json(json!({ "cases": list })).into_response()
}

#[derive(Deserialize)]
struct PeopleQuery {
    #[serde(default)]
    offset: u32,
    limit: Option<usize>,
}

async fn people(State((idp, _)): Idp, Query(q): Query<PeopleQuery>) -> Response {
    let limit = q.limit.unwrap_or(20).min(200);
    let list: Vec<_> = users::sample(&idp.population(), idp.today(), q.offset, limit)
        .into_iter()
        .map(|p| {
            json!({
                "fiscal_code": p.codice_fiscale.as_str(),
                "name": p.given_name,
                "family_name": p.surname,
                "date_of_birth": p.birth_date.format("%Y-%m-%d").to_string(),
                "resident": p.is_resident(),
            })
        })
        .collect();
    axum::Json(json!({ "people": list })).into_response()
}

//! The Assertion Consumer Service: `POST /identity/{tenant}/acs` with `SAMLResponse` and `RelayState`.
//!
//! Order, and why:
//! 1. The Response's `InResponseTo` is read (unverified, only as a lookup key) and the pending request
//!    is *taken* from the store: a request is answered once, so a replayed second post of the same
//!    Response finds nothing (unsolicited), and an IdP-initiated Response is refused. Only while a
//!    request's answer is on its way (`outcome`: the instance giving it may die before the browser
//!    gets it) does a post of the byte-identical Response and RelayState get that answer.
//! 2. `saml::verify_response_xml` applies every check of the checklist against that request, from
//!    the one parsed document, reading only the signed Assertion; then the level must reach the
//!    tenant's `minimum_level`.
//! 3. The Assertion ID goes into the store's replay cache (`remember_once`, shared by every instance)
//!    until it expires.
//! 4. A ticket is stored, then `identity.login.succeeded` (carrying it) is published and confirmed;
//!    only then is the browser sent back (303) to the return URL with the ticket (DESIGN §4).
//!
//! When the store or the broker fails after the request was taken (503, "try again"), the request
//! is given back, marked with the Assertion it was verified with: the browser re-submitting the same
//! form (DESIGN §4: the platform's retry) then succeeds, with the same event `message_id`, while any
//! other Response for it still has to pass the replay cache.
//!
//! Every refusal answers a non-200 status (spid-sp-test counts any final 200 as acceptance) with an
//! Italian courtesy page. When the post belonged to a real login attempt, the refusal is an outcome
//! like a success: the page is shown only once `identity.login.failed` is confirmed, and if it cannot
//! be, the request is given back and the browser told to try again (no bad outcome without its
//! event). Unsolicited posts publish nothing: they could come from anyone, and the backend should
//! not be flooded with events an attacker can mint.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use snodo_security::saml::redirect::url_decode;
use snodo_security::saml::{
    Comparison, Federation, PendingRequest, ReplayCache, ReplayCacheError, ResponseError,
    ResponseExpectations, Seen, SpidLevel, verify_response_xml,
};
use snodo_security::xml::{Limits, parse};

use super::contract::{
    LOGIN_FAILED, LOGIN_SUCCEEDED, Login, LoginFailed, level_number, normalise_attributes,
};
use super::outcome::{Answer, Recalled, conclude, recall, response_digest};
use super::pages::{Problem, problem_html, problem_page};
use super::registry::federation_name;
use super::ticket::StoredTicket;
use super::{ASSERTION_REPLAY_KIND, IdentityService, REQUEST_TOKEN_KIND, TICKET_TOKEN_KIND, random_token};
use crate::inbound::InboundEvent;
use crate::state::{SharedStore, StateError};

/// What the SP keeps of an AuthnRequest it sent (in the store under the request ID).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingLogin {
    pub tenant: String,
    /// `spid` or `cie`.
    pub federation: String,
    pub idp: String,
    pub request_id: String,
    pub issue_instant: DateTime<Utc>,
    pub level: u8,
    /// `minimum` or `exact`.
    pub comparison: String,
    pub return_url: String,
    pub relay_state: String,
    /// The Assertion this request was verified with by an attempt that then could not store the
    /// login (503): already in the replay cache, and allowed once more for this request only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
}

impl PendingLogin {
    /// Stores it until `ttl` passes (also how tests seed the fixtures' request).
    pub async fn store(&self, store: &SharedStore, ttl: std::time::Duration) -> Result<(), StateError> {
        let value = serde_json::to_vec(self).expect("a PendingLogin serializes");
        store
            .put_token(REQUEST_TOKEN_KIND, &self.request_id, value.into(), ttl)
            .await
    }

    pub(crate) fn federation(&self) -> Option<Federation> {
        match self.federation.as_str() {
            "spid" => Some(Federation::Spid),
            "cie" => Some(Federation::CieId),
            _ => None,
        }
    }

    fn pending_request(&self) -> Option<PendingRequest> {
        Some(PendingRequest {
            id: self.request_id.clone(),
            issue_instant: self.issue_instant,
            level: match self.level {
                1 => SpidLevel::L1,
                2 => SpidLevel::L2,
                3 => SpidLevel::L3,
                _ => return None,
            },
            comparison: match self.comparison.as_str() {
                "minimum" => Comparison::Minimum,
                "exact" => Comparison::Exact,
                "better" => Comparison::Better,
                "maximum" => Comparison::Maximum,
                _ => return None,
            },
        })
    }
}

/// The verifier's replay hook, left open: the replay cache is the coordination store, which is
/// asynchronous, so the ACS consults it right after verification (the verifier calls this last,
/// so the order of the checks is the same).
struct CheckedAfterwards;

impl ReplayCache for CheckedAfterwards {
    fn check_and_remember(
        &self,
        _id: &str,
        _until: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> Result<Seen, ReplayCacheError> {
        Ok(Seen::First)
    }
}

/// Splits an `application/x-www-form-urlencoded` body; a repeated field is refused (which copy the
/// SP reads would otherwise be a choice an attacker makes).
pub(crate) fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
    let text = std::str::from_utf8(body).map_err(|_| "the form is not UTF-8")?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = url_decode(name, "form field").map_err(|_| "a form field name is badly encoded")?;
        let value = url_decode(value, "form field").map_err(|_| "a form field is badly encoded")?;
        if fields.iter().any(|(n, _)| *n == name) {
            return Err("a form field appears twice");
        }
        fields.push((name, value));
    }
    Ok(fields)
}

pub(crate) fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Puts a taken request back after a failure that was not the Response's fault, for what remains of
/// its life, so that the citizen's retry finds it.
pub(super) async fn give_back(service: &IdentityService, pending: &PendingLogin, assertion_id: Option<&str>) {
    let ttl = pending.issue_instant + service.settings.request_ttl - (service.clock)();
    let Ok(ttl) = ttl.to_std() else {
        return;
    };
    let retry = PendingLogin {
        retry_of: assertion_id
            .map(str::to_owned)
            .or_else(|| pending.retry_of.clone()),
        ..pending.clone()
    };
    if let Err(e) = retry
        .store(&service.store, ttl.max(std::time::Duration::from_millis(1)))
        .await
    {
        tracing::warn!(error = %e, "a login request could not be given back after a failure");
    }
}

pub(super) async fn acs(
    State(service): State<Arc<IdentityService>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    match consume(&service, &tenant, &body).await {
        Ok(answer) => answer.into_response(),
        Err(refusal) => refused(&service, &tenant, refusal).await,
    }
}

/// Answers a refusal; one of a real login attempt only once its `identity.login.failed` is
/// confirmed.
async fn refused(service: &IdentityService, tenant: &str, refusal: Refusal) -> Response {
    tracing::info!(tenant = %tenant, reason = refusal.reason, problem = %refusal.problem.detail(), "SAML Response refused");
    let Some(attempt) = refusal.attempt else {
        return problem_page(refusal.status, &refusal.problem, None);
    };
    let pending = &attempt.pending;
    let failed = LoginFailed {
        federation: Some(pending.federation.clone()),
        idp: Some(pending.idp.clone()),
        reason: refusal.reason.to_owned(),
        message: refusal.problem.detail(),
        spid_error_code: refusal.problem.spid_error_code(),
        request_id: Some(pending.request_id.clone()),
        return_url: Some(pending.return_url.clone()),
    };
    let event = InboundEvent {
        kind: LOGIN_FAILED.parse().expect("a valid type"),
        tenant: Some(pending.tenant.clone()),
        // One failure per request: the request was taken, it cannot fail twice.
        platform_id: pending.request_id.clone(),
        body: serde_json::to_value(&failed).expect("serializes"),
    };
    let answer = Answer::Refusal {
        status: refusal.status.as_u16(),
        page: problem_html(&refusal.problem, Some(&pending.return_url)),
    };
    match conclude(
        service,
        tenant,
        pending,
        &attempt.digest,
        &answer,
        &event,
        attempt.verified_assertion.as_deref(),
    )
    .await
    {
        Ok(()) => answer.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "identity.login.failed not stored; the request is given back for the re-post");
            problem_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &Problem::Unavailable("the outcome could not be stored".into()),
                None,
            )
        }
    }
}

struct Refusal {
    status: StatusCode,
    reason: &'static str,
    problem: Problem,
    /// The login attempt refused, when the post answered a pending request of ours.
    attempt: Option<RefusedAttempt>,
}

struct RefusedAttempt {
    pending: PendingLogin,
    /// Of the refused Response and RelayState, for the answer a re-post of them gets.
    digest: String,
    /// The Assertion already put into the replay cache by this attempt, if the refusal came after
    /// that: allowed once more if the request has to be given back, so the re-post is refused for
    /// the same reason and not as a replay.
    verified_assertion: Option<String>,
}

/// "Try again": nothing is published (the store or the broker is what failed, and the request is
/// given back for the retry, so it has not failed yet).
fn unavailable(why: String) -> Refusal {
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        Problem::Unavailable(why),
    )
}

fn refuse(status: StatusCode, reason: &'static str, problem: Problem) -> Refusal {
    Refusal {
        status,
        reason,
        problem,
        attempt: None,
    }
}

/// Everything up to the confirmed event; `Ok` is what the browser is answered.
async fn consume(service: &IdentityService, tenant: &str, body: &[u8]) -> Result<Answer, Refusal> {
    let sp = service
        .tenant(tenant)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "unknown_tenant", Problem::UnknownTenant))?;
    let fields = form_fields(body)
        .map_err(|why| refuse(StatusCode::BAD_REQUEST, "invalid_response", Problem::BadForm(why)))?;
    let saml_response = field(&fields, "SAMLResponse").ok_or_else(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_response",
            Problem::BadForm("SAMLResponse is missing"),
        )
    })?;
    let compact: String = saml_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let xml = openssl::base64::decode_block(&compact).map_err(|_| {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_response",
            Problem::BadForm("SAMLResponse is not base64"),
        )
    })?;
    // Only the lookup key is read here; verification below parses and judges everything again.
    let in_response_to = parse(&xml, &Limits::default())
        .ok()
        .and_then(|doc| {
            let root = doc.document_element();
            doc.element(root)
                .and_then(|e| e.attribute(None, "InResponseTo"))
                .map(str::to_owned)
        })
        .filter(|id| !id.is_empty() && id.len() <= crate::state::MAX_ID_LEN)
        .ok_or_else(|| refuse(StatusCode::FORBIDDEN, "unsolicited", Problem::Unsolicited))?;
    let digest = response_digest(&xml, field(&fields, "RelayState"));
    let stored = service
        .store
        .take_token(REQUEST_TOKEN_KIND, &in_response_to)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let Some(stored) = stored else {
        return match recall(service, &sp.tenant, &in_response_to, &digest).await {
            Recalled::Answer(answer) => {
                tracing::info!(tenant = %sp.tenant, "a login's Response posted again before its answer was given: answered now");
                Ok(answer)
            }
            Recalled::Other => Err(refuse(StatusCode::FORBIDDEN, "replayed", Problem::Unsolicited)),
            Recalled::Nothing => Err(refuse(StatusCode::FORBIDDEN, "unsolicited", Problem::Unsolicited)),
            Recalled::Unavailable(why) => Err(unavailable(why)),
        };
    };
    let pending: PendingLogin = serde_json::from_slice(&stored)
        .map_err(|_| refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal", Problem::Internal))?;
    let refused_after = |verified_assertion: Option<&str>, status, reason, problem| Refusal {
        status,
        reason,
        problem,
        attempt: Some(RefusedAttempt {
            pending: pending.clone(),
            digest: digest.clone(),
            verified_assertion: verified_assertion.map(str::to_owned),
        }),
    };
    let with_pending = |status, reason, problem| refused_after(None, status, reason, problem);
    if pending.tenant != sp.tenant {
        return Err(with_pending(
            StatusCode::FORBIDDEN,
            "unsolicited",
            Problem::Unsolicited,
        ));
    }
    if field(&fields, "RelayState") != Some(pending.relay_state.as_str()) {
        return Err(with_pending(
            StatusCode::FORBIDDEN,
            "invalid_response",
            Problem::RelayState,
        ));
    }
    let (Some(federation), Some(request)) = (pending.federation(), pending.pending_request()) else {
        return Err(with_pending(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            Problem::Internal,
        ));
    };
    let federation_sp = sp
        .federation(federation)
        .ok_or_else(|| with_pending(StatusCode::FORBIDDEN, "invalid_response", Problem::Unsolicited))?;
    let idp = sp
        .registry
        .find(federation, &pending.idp)
        .ok_or_else(|| with_pending(StatusCode::FORBIDDEN, "invalid_response", Problem::UnknownIdp))?;
    let now = (service.clock)();
    let expectations = ResponseExpectations {
        federation,
        clock_skew: service.settings.clock_skew,
        ..ResponseExpectations::spid(
            &federation_sp.entity_id,
            &sp.acs_url,
            &request,
            &idp.entity_id,
            &idp.keys,
            now,
        )
    };
    let assertion = verify_response_xml(&xml, &expectations, &CheckedAfterwards).map_err(|e| {
        let reason = match e {
            ResponseError::Status(_) => "idp_error",
            _ => "invalid_response",
        };
        with_pending(StatusCode::FORBIDDEN, reason, Problem::Response(e))
    })?;
    // The tenant's floor, whatever the request asked (a pending request from before a configuration
    // change, or a Comparison that allows less, must not let a weaker login through).
    if assertion.level < sp.minimum_level {
        return Err(with_pending(
            StatusCode::FORBIDDEN,
            "insufficient_level",
            Problem::BelowMinimumLevel {
                returned: level_number(assertion.level),
                minimum: level_number(sp.minimum_level),
            },
        ));
    }
    let until = assertion.not_on_or_after + service.settings.clock_skew;
    // A retry of this very request with the Assertion its failed attempt remembered is not a replay.
    let retried = pending.retry_of.as_deref() == Some(assertion.assertion_id.as_str());
    let first = if retried {
        true
    } else {
        match service
            .store
            .remember_once(ASSERTION_REPLAY_KIND, &assertion.assertion_id, until)
            .await
        {
            Ok(first) => first,
            Err(e) => {
                give_back(service, &pending, None).await;
                return Err(unavailable(e.to_string()));
            }
        }
    };
    if !first {
        return Err(with_pending(StatusCode::FORBIDDEN, "replayed", Problem::Replayed));
    }
    let attributes = normalise_attributes(&assertion).map_err(|e| {
        refused_after(
            Some(&assertion.assertion_id),
            StatusCode::FORBIDDEN,
            "invalid_response",
            Problem::BadAttribute(e.name),
        )
    })?;
    let login = Login {
        federation: federation_name(federation).to_owned(),
        idp: idp.entity_id.clone(),
        level: level_number(assertion.level),
        name_id: assertion.name_id.value.clone(),
        name_qualifier: assertion.name_id.name_qualifier.clone(),
        session_index: assertion.session_index.clone(),
        attributes,
        authenticated_at: assertion.issue_instant,
        assertion_id: assertion.assertion_id.clone(),
        request_id: pending.request_id.clone(),
        return_url: pending.return_url.clone(),
        ticket: None,
    };
    let ticket = random_token();
    let ticket_stored = service
        .store
        .put_token(
            TICKET_TOKEN_KIND,
            &ticket,
            serde_json::to_vec(&StoredTicket {
                tenant: sp.tenant.clone(),
                login: login.clone(),
            })
            .expect("a ticket serializes")
            .into(),
            service.settings.ticket_ttl,
        )
        .await;
    if let Err(e) = ticket_stored {
        give_back(service, &pending, Some(&assertion.assertion_id)).await;
        return Err(unavailable(e.to_string()));
    }
    let event = InboundEvent {
        kind: LOGIN_SUCCEEDED.parse().expect("a valid type"),
        tenant: Some(sp.tenant.clone()),
        platform_id: assertion.assertion_id.clone(),
        body: serde_json::to_value(Login {
            ticket: Some(ticket.clone()),
            ..login
        })
        .expect("a Login serializes"),
    };
    let separator = if pending.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let answer = Answer::Redirect {
        location: format!("{}{separator}ticket={ticket}", pending.return_url),
    };
    // The citizen is not sent back with a ticket whose event the backend may never see; on failure
    // the ticket expires unused. (No failed event either: the broker is what failed.)
    conclude(
        service,
        &sp.tenant,
        &pending,
        &digest,
        &answer,
        &event,
        Some(&assertion.assertion_id),
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "identity.login.succeeded not stored; the request is given back for the re-post");
        unavailable("the event could not be stored".into())
    })?;
    Ok(answer)
}

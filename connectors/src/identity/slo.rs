//! Single Logout (SPID `single-logout.rst`, spid-and-cie-id.md §1.6).
//!
//! - IdP-initiated: a LogoutRequest arrives at `/identity/{tenant}/slo` (Redirect or POST); it is
//!   verified with the keys of the IdP its Issuer names, `identity.logout` is published, and a signed
//!   LogoutResponse goes back by Redirect — always, even without a session here (SPID requires it).
//! - SP-initiated: the backend sends the browser to
//!   `/identity/{tenant}/logout?federation&idp&name_id&name_qualifier&return[&session_index]`; SPID
//!   gets a signed LogoutRequest (kept in the store under its ID); its LogoutResponse at `/slo`
//!   publishes `identity.logout` and sends the browser to the return URL. CIE ID answers no logout
//!   (spid-and-cie-id.md §4.1): the SP ends its own session at once.
//!
//! Which IdP signed is decided by the Issuer read *before* verification, and then only that IdP's
//! keys are tried: an Issuer naming another IdP makes the signature fail, never pass.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use snodo_security::dsig::{
    SignatureMethod, SignaturePolicy, signature_children, verify_enveloped_signature,
};
use snodo_security::saml::logout::{LogoutRequest, LogoutResponse, ReceivedLogout, read_logout};
use snodo_security::saml::redirect::{
    MessageParameter, RedirectLimits, encode, inflate, spid_sig_algs, verify,
};
use snodo_security::saml::{ASSERTION_NAMESPACE, Federation, STATUS_SUCCESS};
use snodo_security::xml::{Document, Limits, parse};

use super::acs::{field, form_fields};
use super::contract::{LOGOUT, Logout};
use super::login::{parse_federation, return_url_allowed};
use super::pages::{Problem, problem_page};
use super::registry::{IdentityProvider, federation_name};
use super::{IdentityService, LOGOUT_TOKEN_KIND, TenantSp};
use crate::inbound::InboundEvent;

/// A LogoutRequest we sent, kept until the IdP answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingLogout {
    federation: String,
    idp: String,
    name_id: String,
    return_url: String,
}

fn bad(why: impl Into<String>) -> Response {
    problem_page(StatusCode::BAD_REQUEST, &Problem::BadRequest(why.into()), None)
}

/// The IdP a message names as its Issuer, in either federation of the tenant.
fn issuer_idp(sp: &TenantSp, doc: &Document) -> Option<(Federation, IdentityProvider)> {
    let root = doc.document_element();
    let issuer = doc.child_elements(root).find(|n| {
        doc.element(*n)
            .is_some_and(|e| e.name().is(Some(ASSERTION_NAMESPACE), "Issuer"))
    })?;
    let entity = doc.text_content(issuer);
    let entity = entity.trim();
    [Federation::Spid, Federation::CieId]
        .into_iter()
        .filter(|f| sp.federation(*f).is_some())
        .find_map(|f| sp.registry.find(f, entity).map(|idp| (f, idp)))
}

pub(super) async fn slo_redirect(
    State(service): State<Arc<IdentityService>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(sp) = service.tenant(&tenant) else {
        return problem_page(StatusCode::NOT_FOUND, &Problem::UnknownTenant, None);
    };
    let query = query.unwrap_or_default();
    let limits = RedirectLimits::default();
    let Ok(fields) = form_fields(query.as_bytes()) else {
        return bad("the query string is malformed");
    };
    let message = field(&fields, "SAMLRequest").or_else(|| field(&fields, "SAMLResponse"));
    // Unverified, only to learn whose keys to verify with.
    let peeked = message
        .and_then(|m| openssl::base64::decode_block(m).ok())
        .and_then(|d| inflate(&d, limits.max_inflated_bytes, "message").ok())
        .and_then(|xml| parse(&xml, &limits.xml).ok());
    let Some((federation, idp)) = peeked.as_ref().and_then(|doc| issuer_idp(sp, doc)) else {
        return problem_page(StatusCode::FORBIDDEN, &Problem::UnknownIdp, None);
    };
    match verify(&query, &spid_sig_algs(), &idp.keys, &limits) {
        Ok(verified) => handle(&service, sp, federation, &idp, &verified.document).await,
        Err(e) => problem_page(StatusCode::FORBIDDEN, &Problem::BadRequest(e.to_string()), None),
    }
}

pub(super) async fn slo_post(
    State(service): State<Arc<IdentityService>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let Some(sp) = service.tenant(&tenant) else {
        return problem_page(StatusCode::NOT_FOUND, &Problem::UnknownTenant, None);
    };
    let Ok(fields) = form_fields(&body) else {
        return bad("the form is malformed");
    };
    let Some(message) = field(&fields, "SAMLRequest").or_else(|| field(&fields, "SAMLResponse")) else {
        return bad("SAMLRequest or SAMLResponse is missing");
    };
    let compact: String = message.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let Some(doc) = openssl::base64::decode_block(&compact)
        .ok()
        .and_then(|xml| parse(&xml, &Limits::default()).ok())
    else {
        return bad("the message is not base64 XML");
    };
    let Some((federation, idp)) = issuer_idp(sp, &doc) else {
        return problem_page(StatusCode::FORBIDDEN, &Problem::UnknownIdp, None);
    };
    let root = doc.document_element();
    let [signature] = signature_children(&doc, root)[..] else {
        return bad("the logout message must carry exactly one enveloped signature");
    };
    if let Err(e) = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &idp.keys) {
        return problem_page(StatusCode::FORBIDDEN, &Problem::BadRequest(e.to_string()), None);
    }
    handle(&service, sp, federation, &idp, &doc).await
}

async fn handle(
    service: &IdentityService,
    sp: &TenantSp,
    federation: Federation,
    idp: &IdentityProvider,
    doc: &Document,
) -> Response {
    let Some(us) = sp.federation(federation) else {
        return problem_page(StatusCode::NOT_FOUND, &Problem::UnknownIdp, None);
    };
    match read_logout(doc) {
        Ok(ReceivedLogout::Request {
            id, issuer, name_id, ..
        }) => {
            let event = InboundEvent {
                kind: LOGOUT.parse().expect("a valid type"),
                tenant: Some(sp.tenant.clone()),
                platform_id: format!("{issuer} {id}"),
                body: serde_json::to_value(Logout {
                    federation: federation_name(federation).into(),
                    idp: issuer,
                    name_id,
                    initiated_by: "idp".into(),
                })
                .expect("serializes"),
            };
            if let Err(e) = service
                .publisher
                .store(&event, service.settings.store_budget)
                .await
            {
                tracing::warn!(error = %e, "identity.logout not stored");
                return problem_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &Problem::Unavailable("the event could not be stored".into()),
                    None,
                );
            }
            let Some(destination) = idp.slo_redirect.clone() else {
                return bad("the identity provider has no HTTP-Redirect SingleLogoutService");
            };
            let answer = LogoutResponse::success(&us.entity_id, &destination, &id, (service.clock)());
            redirect_message(
                MessageParameter::Response,
                answer.to_xml().map_err(|e| e.to_string()),
                &destination,
                None,
                us,
            )
        }
        Ok(ReceivedLogout::Response {
            in_response_to,
            status,
            ..
        }) => {
            let pending = match service.store.take_token(LOGOUT_TOKEN_KIND, &in_response_to).await {
                Ok(Some(v)) => serde_json::from_slice::<PendingLogout>(&v).ok(),
                Ok(None) => None,
                Err(e) => {
                    return problem_page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &Problem::Unavailable(e.to_string()),
                        None,
                    );
                }
            };
            let Some(pending) = pending.filter(|p| p.idp == idp.entity_id) else {
                return problem_page(StatusCode::FORBIDDEN, &Problem::Unsolicited, None);
            };
            if status != STATUS_SUCCESS {
                return problem_page(
                    StatusCode::BAD_GATEWAY,
                    &Problem::BadRequest("the identity provider did not complete the logout".into()),
                    Some(&pending.return_url),
                );
            }
            finish_sp_logout(service, sp, pending, &in_response_to).await
        }
        Err(e) => bad(e.to_string()),
    }
}

async fn finish_sp_logout(
    service: &IdentityService,
    sp: &TenantSp,
    pending: PendingLogout,
    request_id: &str,
) -> Response {
    let event = InboundEvent {
        kind: LOGOUT.parse().expect("a valid type"),
        tenant: Some(sp.tenant.clone()),
        platform_id: format!("{} {request_id}", pending.idp),
        body: serde_json::to_value(Logout {
            federation: pending.federation.clone(),
            idp: pending.idp.clone(),
            name_id: pending.name_id.clone(),
            initiated_by: "sp".into(),
        })
        .expect("serializes"),
    };
    if let Err(e) = service
        .publisher
        .store(&event, service.settings.store_budget)
        .await
    {
        tracing::warn!(error = %e, "identity.logout not stored");
        return problem_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &Problem::Unavailable("the event could not be stored".into()),
            None,
        );
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, pending.return_url)]).into_response()
}

fn redirect_message(
    parameter: MessageParameter,
    xml: Result<String, String>,
    destination: &str,
    relay_state: Option<&str>,
    us: &super::FederationSp,
) -> Response {
    let query = xml.and_then(|xml| {
        encode(
            parameter,
            &xml,
            relay_state,
            Some((SignatureMethod::RsaSha256, &us.key)),
        )
        .map_err(|e| e.to_string())
    });
    match query {
        Ok(query) => {
            let separator = if destination.contains('?') { '&' } else { '?' };
            (
                StatusCode::FOUND,
                [(header::LOCATION, format!("{destination}{separator}{query}"))],
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "building a logout message failed");
            problem_page(StatusCode::INTERNAL_SERVER_ERROR, &Problem::Internal, None)
        }
    }
}

/// SP-initiated logout, started by the backend.
pub(super) async fn logout(
    State(service): State<Arc<IdentityService>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(sp) = service.tenant(&tenant) else {
        return problem_page(StatusCode::NOT_FOUND, &Problem::UnknownTenant, None);
    };
    let Ok(fields) = form_fields(query.unwrap_or_default().as_bytes()) else {
        return bad("the query string is malformed");
    };
    let Some(federation) = field(&fields, "federation").and_then(parse_federation) else {
        return bad("federation must be spid or cie");
    };
    let Some(us) = sp.federation(federation) else {
        return bad("this tenant is not a Service Provider of that federation");
    };
    let (Some(return_url), Some(name_id)) = (field(&fields, "return"), field(&fields, "name_id")) else {
        return bad("return and name_id are required");
    };
    if !return_url_allowed(return_url, &sp.return_urls) {
        return bad("return is not among this tenant's identity.return_urls");
    }
    let Some(idp) = field(&fields, "idp").and_then(|i| sp.registry.find(federation, i)) else {
        return problem_page(StatusCode::BAD_REQUEST, &Problem::UnknownIdp, None);
    };
    let pending = PendingLogout {
        federation: federation_name(federation).into(),
        idp: idp.entity_id.clone(),
        name_id: name_id.to_owned(),
        return_url: return_url.to_owned(),
    };
    let destination = match (federation, &idp.slo_redirect) {
        (Federation::Spid, Some(d)) => d.clone(),
        // CIE ID sends no LogoutResponse: the SP's session ends here.
        _ => {
            let id = super::random_token();
            return finish_sp_logout(&service, sp, pending, &id).await;
        }
    };
    let qualifier = field(&fields, "name_qualifier").unwrap_or(&idp.entity_id);
    let request = LogoutRequest::new(
        &us.entity_id,
        &destination,
        name_id,
        qualifier,
        field(&fields, "session_index"),
        (service.clock)(),
    );
    let value = serde_json::to_vec(&pending).expect("serializes");
    if let Err(e) = service
        .store
        .put_token(
            LOGOUT_TOKEN_KIND,
            &request.id,
            value.into(),
            service.settings.request_ttl,
        )
        .await
    {
        return problem_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &Problem::Unavailable(e.to_string()),
            None,
        );
    }
    let relay_state = super::random_token();
    redirect_message(
        MessageParameter::Request,
        request.to_xml().map_err(|e| e.to_string()),
        &destination,
        Some(&relay_state),
        us,
    )
}

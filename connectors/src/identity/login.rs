//! The start of a login and what the federations and the backend read before one: the signed SP
//! metadata per federation, the JSON list of trusted IdPs, and
//! `GET /identity/{tenant}/login?federation=spid|cie&idp=…&level=1|2|3&return=…[&binding=post]`
//! (`level` defaults to 2, or the tenant's `minimum_level` when higher; a level below that minimum is
//! refused, since the ACS would refuse its Assertion anyway).
//!
//! The login builds the AuthnRequest with the security crate (ID as NCName, Issuer with
//! NameQualifier, ACS and attribute set by index, transient NameIDPolicy, ForceAuthn for L2/L3 and
//! always for CIE ID, Comparison minimum), keeps it in the store under its ID, and sends it: a signed
//! query (HTTP-Redirect, the default) or an auto-submitting form (HTTP-POST). The return URL must
//! start with one of the tenant's allowlisted prefixes at a path boundary: no open redirect.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use snodo_security::dsig::SignatureMethod;
use snodo_security::saml::redirect::{MessageParameter, encode};
use snodo_security::saml::{AssertionConsumerService, AuthnRequest, Federation, SpidLevel};

use super::acs::{PendingLogin, field, form_fields};
use super::contract::level_number;
use super::pages::{Problem, autopost_page, problem_page};
use super::registry::federation_name;
use super::{IdentityService, random_token};

pub(super) async fn metadata(
    State(service): State<Arc<IdentityService>>,
    Path((tenant, federation)): Path<(String, String)>,
) -> Response {
    let document = service.tenant(&tenant).and_then(|sp| {
        parse_federation(&federation)
            .and_then(|f| sp.federation(f))
            .map(|f| f.metadata.clone())
    });
    match document {
        Some(xml) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml.as_ref().clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn idps(
    State(service): State<Arc<IdentityService>>,
    Path(tenant): Path<String>,
) -> Response {
    match service.tenant(&tenant) {
        Some(sp) => Json(sp.registry.listing()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(crate) fn parse_federation(name: &str) -> Option<Federation> {
    match name {
        "spid" => Some(Federation::Spid),
        "cie" => Some(Federation::CieId),
        _ => None,
    }
}

/// Whether `url` is under one of `allowed` (prefixes): equal, or continuing at a boundary, so that
/// `https://a.it/x` does not allow `https://a.it/xy` or `https://a.it.evil/`, nor `https://a.it@evil/`.
pub fn return_url_allowed(url: &str, allowed: &[String]) -> bool {
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return false;
    }
    allowed.iter().any(|prefix| {
        url.strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || prefix.ends_with('/') || rest.starts_with(['/', '?', '#']))
    })
}

pub(super) async fn login(
    State(service): State<Arc<IdentityService>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let bad = |why: String| problem_page(StatusCode::BAD_REQUEST, &Problem::BadRequest(why), None);
    let Some(sp) = service.tenant(&tenant) else {
        return problem_page(StatusCode::NOT_FOUND, &Problem::UnknownTenant, None);
    };
    let fields = match form_fields(query.as_deref().unwrap_or("").as_bytes()) {
        Ok(f) => f,
        Err(why) => return bad(why.into()),
    };
    let Some(federation) = field(&fields, "federation").and_then(parse_federation) else {
        return bad("federation must be spid or cie".into());
    };
    let Some(federation_sp) = sp.federation(federation) else {
        return bad(format!(
            "this tenant is not a {} Service Provider",
            federation_name(federation)
        ));
    };
    let level = match field(&fields, "level") {
        None => SpidLevel::L2.max(sp.minimum_level),
        Some("1") => SpidLevel::L1,
        Some("2") => SpidLevel::L2,
        Some("3") => SpidLevel::L3,
        Some(_) => return bad("level must be 1, 2 or 3".into()),
    };
    if level < sp.minimum_level {
        return bad(format!(
            "level {} is below this tenant's identity.minimum_level {}",
            level_number(level),
            level_number(sp.minimum_level)
        ));
    }
    let Some(return_url) = field(&fields, "return") else {
        return bad("return (where to send the citizen back) is missing".into());
    };
    if !return_url_allowed(return_url, &sp.return_urls) {
        return bad("return is not among this tenant's identity.return_urls".into());
    }
    let Some(idp) = field(&fields, "idp").and_then(|id| sp.registry.find(federation, id)) else {
        return problem_page(StatusCode::BAD_REQUEST, &Problem::UnknownIdp, None);
    };
    let post = match field(&fields, "binding").unwrap_or("redirect") {
        "redirect" => false,
        "post" => true,
        _ => return bad("binding must be redirect or post".into()),
    };
    let destination = if post { &idp.sso_post } else { &idp.sso_redirect };
    let Some(destination) = destination.clone() else {
        return bad(format!(
            "the identity provider has no SingleSignOnService for HTTP-{}",
            if post { "POST" } else { "Redirect" }
        ));
    };
    let now = (service.clock)();
    let mut request = AuthnRequest::new(
        &federation_sp.entity_id,
        &destination,
        AssertionConsumerService::Index(0),
        0,
        level,
        now,
    );
    // CIE ID: ForceAuthn always (protocolli.rst); Comparison stays minimum, which CIE allows.
    if federation == Federation::CieId {
        request.force_authn = true;
    }
    let relay_state = random_token();
    let pending = PendingLogin {
        tenant: sp.tenant.clone(),
        federation: federation_name(federation).to_owned(),
        idp: idp.entity_id.clone(),
        request_id: request.id.clone(),
        issue_instant: request.issue_instant,
        level: level_number(level),
        comparison: request.comparison.as_str().to_owned(),
        return_url: return_url.to_owned(),
        relay_state: relay_state.clone(),
        retry_of: None,
    };
    if let Err(e) = pending.store(&service.store, service.settings.request_ttl).await {
        return problem_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &Problem::Unavailable(e.to_string()),
            None,
        );
    }
    let internal = |what: &str, e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "{what}");
        problem_page(StatusCode::INTERNAL_SERVER_ERROR, &Problem::Internal, None)
    };
    if post {
        match request.sign(&federation_sp.key) {
            Ok(xml) => autopost_page(
                &destination,
                "SAMLRequest",
                &openssl::base64::encode_block(xml.as_bytes()),
                &relay_state,
            ),
            Err(e) => internal("signing the AuthnRequest failed", &e),
        }
    } else {
        let query = request.to_xml().map_err(|e| e.to_string()).and_then(|xml| {
            encode(
                MessageParameter::Request,
                &xml,
                Some(&relay_state),
                Some((SignatureMethod::RsaSha256, &federation_sp.key)),
            )
            .map_err(|e| e.to_string())
        });
        match query {
            Ok(query) => {
                let separator = if destination.contains('?') { '&' } else { '?' };
                (
                    StatusCode::FOUND,
                    [
                        (header::LOCATION, format!("{destination}{separator}{query}")),
                        (header::CACHE_CONTROL, "no-store".to_owned()),
                    ],
                )
                    .into_response()
            }
            Err(e) => internal("encoding the AuthnRequest failed", &e),
        }
    }
}

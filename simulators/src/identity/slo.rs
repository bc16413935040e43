//! Single Logout (spid-and-cie-id.md §1.6, §4.1).
//!
//! SPID: an SP's LogoutRequest (HTTP-Redirect with a signed query, or HTTP-POST with an enveloped
//! signature, by the SP metadata's key) ends the IdP session it names and is answered with a signed
//! LogoutResponse to the SP's SingleLogoutService — even when no session is known, as the SAML SLO
//! profile requires. `POST /spid/logout` starts an IdP-initiated logout of a session: a signed
//! LogoutRequest posted to the SP. CIE ID has no SAML logout response: its IdP ends the session and
//! shows "Logout effettuato con successo".

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use snodo_security::dsig::{
    SignatureMethod, SignaturePolicy, signature_children, verify_enveloped_signature,
};
use snodo_security::saml::redirect::{self, MessageParameter, RedirectLimits};
use snodo_security::saml::{
    ASSERTION_NAMESPACE, ENTITY_FORMAT, PROTOCOL_NAMESPACE, STATUS_SUCCESS, TRANSIENT_FORMAT, format_instant,
    new_message_id,
};
use snodo_security::xml::{Document, Limits, NodeId, parse};

use super::handler::{field, form_fields, wants_json};
use super::request::{Binding, decode_base64};
use super::response::{self, Signing};
use super::tree::El;
use super::{IdentityProvider, Profile, ServiceProvider, page};

type Idp = State<(IdentityProvider, Profile)>;

pub(super) async fn redirect(State((idp, profile)): Idp, headers: HeaderMap, uri: Uri) -> Response {
    let query = uri.query().unwrap_or_default();
    let json = wants_json(&headers);
    let received = read_redirect(&idp, profile, query);
    handle(&idp, profile, &headers, json, received)
}

pub(super) async fn post(State((idp, profile)): Idp, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&headers);
    let fields = form_fields(&body);
    let relay_state = field(&fields, "RelayState");
    let message = field(&fields, "SAMLRequest").or_else(|| field(&fields, "SAMLResponse"));
    let received = match message {
        None => Err("the form carries neither SAMLRequest nor SAMLResponse".to_owned()),
        Some(message) => read_post(&idp, profile, &message).map(|(doc, sp)| (doc, sp, relay_state)),
    };
    handle(&idp, profile, &headers, json, received)
}

type Received = Result<(Document, ServiceProvider, Option<String>), String>;

fn handle(
    idp: &IdentityProvider,
    profile: Profile,
    headers: &HeaderMap,
    json: bool,
    received: Received,
) -> Response {
    let (doc, sp, relay_state) = match received {
        Ok(r) => r,
        Err(reason) => return refuse(json, &reason),
    };
    let root = doc.document_element();
    let name = doc.element(root).expect("an element").name();
    if name.is(Some(PROTOCOL_NAMESPACE), "LogoutResponse") {
        // The answer to an IdP-initiated logout.
        return if json {
            axum::Json(json!({ "logout": "completed", "sp_entity_id": sp.entity_id })).into_response()
        } else {
            Html(page::message(
                "Logout completato",
                "Il service provider ha confermato l'uscita.",
            ))
            .into_response()
        };
    }
    if !name.is(Some(PROTOCOL_NAMESPACE), "LogoutRequest") {
        return refuse(
            json,
            "the message is neither a LogoutRequest nor a LogoutResponse",
        );
    }
    let request_id = doc
        .element(root)
        .and_then(|e| e.attribute(None, "ID"))
        .unwrap_or_default()
        .to_owned();
    let sessions: Vec<String> = children(&doc, root, PROTOCOL_NAMESPACE, "SessionIndex")
        .map(|s| doc.text_content(s).trim().to_owned())
        .collect();
    let name_id = children(&doc, root, ASSERTION_NAMESPACE, "NameID")
        .next()
        .map(|n| doc.text_content(n).trim().to_owned());
    let ended = {
        let mut all = idp.inner.sessions.lock();
        let before = all.len();
        all.retain(|index, s| {
            !(s.profile == profile
                && s.sp_entity_id == sp.entity_id
                && (sessions.contains(index) || name_id.as_deref() == Some(s.name_id.as_str())))
        });
        before - all.len()
    };
    if profile == Profile::Cie {
        return if json {
            axum::Json(json!({ "logout": "done", "sessions_ended": ended })).into_response()
        } else {
            Html(page::message(
                "Logout effettuato con successo",
                "La sessione CIE ID è terminata.",
            ))
            .into_response()
        };
    }
    let Some(service) = sp.logout_service() else {
        return refuse(json, "the SP metadata has no SingleLogoutService to answer on");
    };
    let entity_id = idp.entity_id(profile, headers);
    let tree = El::new("samlp:LogoutResponse")
        .attr("xmlns:samlp", PROTOCOL_NAMESPACE)
        .attr("xmlns:saml", ASSERTION_NAMESPACE)
        .attr("ID", new_message_id())
        .attr("Version", "2.0")
        .attr("IssueInstant", format_instant(idp.inner.clock.now()))
        .attr("InResponseTo", request_id)
        .attr("Destination", &service.location)
        .child(
            El::new("saml:Issuer")
                .attr("Format", ENTITY_FORMAT)
                .attr("NameQualifier", &entity_id)
                .text(&entity_id),
        )
        .child(El::new("samlp:Status").child(El::new("samlp:StatusCode").attr("Value", STATUS_SUCCESS)));
    send(
        idp,
        json,
        &service.binding,
        &service.location,
        MessageParameter::Response,
        &tree,
        relay_state.as_deref(),
    )
}

/// Sends `tree` to an SP endpoint: a signed form for HTTP-POST, a signed query (302) for HTTP-Redirect.
fn send(
    idp: &IdentityProvider,
    json: bool,
    binding: &str,
    location: &str,
    parameter: MessageParameter,
    tree: &El,
    relay_state: Option<&str>,
) -> Response {
    let key = &idp.inner.credentials.idp;
    if binding == Binding::Redirect.uri() {
        let query = redirect::encode(
            parameter,
            &tree.render(),
            relay_state,
            Some((SignatureMethod::RsaSha256, key)),
        );
        return match query {
            Ok(query) => {
                let url = format!(
                    "{location}{}{query}",
                    if location.contains('?') { '&' } else { '?' }
                );
                if json {
                    axum::Json(json!({ "redirect": url })).into_response()
                } else {
                    (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
                }
            }
            Err(e) => refuse(json, &e.to_string()),
        };
    }
    let signed = match response::sign(
        tree,
        &Signing {
            assertion: None,
            response: Some(key),
        },
    ) {
        Ok(signed) => signed,
        Err(e) => return refuse(json, &e.to_string()),
    };
    if json {
        let mut reply = json!({ "url": location, "RelayState": relay_state });
        reply[parameter.name()] = json!(openssl::base64::encode_block(signed.as_bytes()));
        return axum::Json(reply).into_response();
    }
    Html(response::post_form(
        location,
        parameter.name(),
        &signed,
        relay_state,
        "Logout",
    ))
    .into_response()
}

/// `POST /{p}/logout` with `session_index` (form or JSON): IdP-initiated logout.
pub(super) async fn initiate(State((idp, profile)): Idp, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&headers);
    let session_index = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("session_index")?.as_str().map(str::to_owned))
        .or_else(|| field(&form_fields(&body), "session_index"));
    let Some(session_index) = session_index else {
        return refuse(json, "session_index is missing");
    };
    let session = idp.inner.sessions.lock().remove(&session_index);
    let Some(session) = session.filter(|s| s.profile == profile) else {
        return refuse(
            json,
            "no IdP session has this session_index (L2/L3 logins keep none)",
        );
    };
    let Some(sp) = idp.find_sp(profile, &session.sp_entity_id) else {
        return refuse(json, "the session's SP is no longer registered");
    };
    let Some(service) = sp.logout_service() else {
        return refuse(json, "the SP metadata has no SingleLogoutService");
    };
    let entity_id = idp.entity_id(profile, &headers);
    let tree = El::new("samlp:LogoutRequest")
        .attr("xmlns:samlp", PROTOCOL_NAMESPACE)
        .attr("xmlns:saml", ASSERTION_NAMESPACE)
        .attr("ID", new_message_id())
        .attr("Version", "2.0")
        .attr("IssueInstant", format_instant(idp.inner.clock.now()))
        .attr("Destination", &service.location)
        .child(
            El::new("saml:Issuer")
                .attr("Format", ENTITY_FORMAT)
                .attr("NameQualifier", &entity_id)
                .text(&entity_id),
        )
        .child(
            El::new("saml:NameID")
                .attr("Format", TRANSIENT_FORMAT)
                .attr("NameQualifier", &entity_id)
                .text(&session.name_id),
        )
        .child(El::new("samlp:SessionIndex").text(&session_index));
    let relay = new_message_id();
    send(
        &idp,
        json,
        &service.binding,
        &service.location,
        MessageParameter::Request,
        &tree,
        Some(&relay),
    )
}

fn refuse(json: bool, reason: &str) -> Response {
    if json {
        (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": reason }))).into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            Html(page::message("Logout rifiutato", reason)),
        )
            .into_response()
    }
}

/// The SP named by a message's Issuer.
fn sender(idp: &IdentityProvider, profile: Profile, doc: &Document) -> Result<ServiceProvider, String> {
    let root = doc.document_element();
    let issuer = children(doc, root, ASSERTION_NAMESPACE, "Issuer")
        .next()
        .map(|i| doc.text_content(i).trim().to_owned())
        .ok_or("the message has no Issuer")?;
    idp.find_sp(profile, &issuer).ok_or_else(|| {
        format!(
            "no SP with entity ID {issuer:?} is registered for {}",
            profile.label()
        )
    })
}

fn read_redirect(idp: &IdentityProvider, profile: Profile, query: &str) -> Received {
    let limits = RedirectLimits::default();
    let raw = query
        .split('&')
        .find_map(|p| {
            p.strip_prefix("SAMLRequest=")
                .or_else(|| p.strip_prefix("SAMLResponse="))
        })
        .ok_or("the query carries neither SAMLRequest nor SAMLResponse")?;
    // Read once, unverified, only to learn whose keys verify it (see request.rs).
    let deflated = redirect::url_decode(raw, "SAMLRequest")
        .ok()
        .and_then(|b| decode_base64(&b))
        .ok_or("the message is not URL-encoded base64")?;
    let xml =
        redirect::inflate(&deflated, limits.max_inflated_bytes, "SAMLRequest").map_err(|e| e.to_string())?;
    let peek = parse(&xml, &limits.xml).map_err(|e| e.to_string())?;
    let sp = sender(idp, profile, &peek)?;
    let message = redirect::verify(query, &redirect::spid_sig_algs(), &sp.keys, &limits)
        .map_err(|e| format!("the query signature was refused with the SP metadata's key: {e}"))?;
    Ok((message.document, sp, message.relay_state))
}

fn read_post(
    idp: &IdentityProvider,
    profile: Profile,
    message: &str,
) -> Result<(Document, ServiceProvider), String> {
    let xml = decode_base64(message).ok_or("the message is not base64")?;
    let doc = parse(&xml, &Limits::default()).map_err(|e| e.to_string())?;
    let sp = sender(idp, profile, &doc)?;
    let root = doc.document_element();
    let [signature] = signature_children(&doc, root)[..] else {
        return Err("an HTTP-POST logout message must carry exactly one enveloped signature".to_owned());
    };
    let verified = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &sp.keys)
        .map_err(|e| format!("the signature was refused with the SP metadata's key: {e}"))?;
    if verified.signed_element() != root {
        return Err("the signature does not cover the message".to_owned());
    }
    Ok((doc, sp))
}

fn children<'d>(
    doc: &'d Document,
    parent: NodeId,
    namespace: &'d str,
    local: &'d str,
) -> impl Iterator<Item = NodeId> + 'd {
    doc.child_elements(parent).filter(move |&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(namespace), local))
    })
}

//! The login endpoint (`GET /identity/{tenant}/login`) judged from outside: the AuthnRequest it
//! sends on each binding is signed as the rules say (the Redirect query verified by `openssl dgst`
//! over the bytes sent, the POST form's enveloped signature by `xmlsec1 --verify` with the SP
//! metadata's certificate, as spid-sp-test does), valid against the SAML protocol XSD (`xmllint`),
//! carries the SPID/CIE fields the conformance tool checks, and is accepted by the IdP simulator;
//! the pending request is kept in the coordination store under its ID until it expires; the return
//! URL must be under an allowlisted prefix at a path boundary (no open redirect).

mod identity_common;

use std::time::Duration;

use identity_common::*;
use snodo_connectors::identity::{IdentitySettings, PendingLogin};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_security::saml::Federation;
use snodo_security::xml::{Limits, parse_str};

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

async fn sp() -> Sp {
    Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions::default(),
    )
    .await
}

fn protocol_xsd() -> std::path::PathBuf {
    specs().join("xsd/spid/saml-schema-protocol-2.0.xsd")
}

/// The fields spid-sp-test checks on every AuthnRequest, and CIE's own.
fn assert_spid_fields(xml: &str, sp: &Sp, federation: Federation, destination: &str) {
    let doc = parse_str(xml, &Limits::default()).expect("the AuthnRequest parses");
    let root = doc.document_element();
    let request = doc.element(root).unwrap();
    assert!(request.name().is(Some(PROTOCOL), "AuthnRequest"));
    let id = request.attribute(None, "ID").expect("ID");
    assert!(
        id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'),
        "ID {id} is not an NCName"
    );
    assert_eq!(request.attribute(None, "Version"), Some("2.0"));
    assert_eq!(request.attribute(None, "Destination"), Some(destination));
    // Level 2 requested: ForceAuthn is required; for CIE it is always there.
    assert_eq!(request.attribute(None, "ForceAuthn"), Some("true"));
    assert_eq!(request.attribute(None, "IsPassive"), None);
    assert_eq!(
        request.attribute(None, "AssertionConsumerServiceIndex"),
        Some("0")
    );
    assert_eq!(
        request.attribute(None, "AttributeConsumingServiceIndex"),
        Some("0")
    );
    let child = |ns: &str, local: &str| {
        doc.child_elements(root)
            .find(|n| doc.element(*n).unwrap().name().is(Some(ns), local))
            .unwrap_or_else(|| panic!("{local} is missing"))
    };
    let issuer = child(ASSERTION, "Issuer");
    let entity = entity_id(&sp.base, federation);
    assert_eq!(doc.text_content(issuer).trim(), entity);
    let issuer_element = doc.element(issuer).unwrap();
    assert_eq!(
        issuer_element.attribute(None, "NameQualifier"),
        Some(entity.as_str())
    );
    assert_eq!(
        issuer_element.attribute(None, "Format"),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:entity")
    );
    let policy = doc.element(child(PROTOCOL, "NameIDPolicy")).unwrap();
    assert_eq!(
        policy.attribute(None, "Format"),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient")
    );
    assert_eq!(
        policy.attribute(None, "AllowCreate"),
        None,
        "Avviso 5: no AllowCreate"
    );
    let context = child(PROTOCOL, "RequestedAuthnContext");
    assert!(
        matches!(
            doc.element(context).unwrap().attribute(None, "Comparison"),
            Some("minimum") | Some("exact")
        ),
        "Comparison must be minimum or exact for CIE, one of the four for SPID"
    );
    assert!(xml.contains("https://www.spid.gov.it/SpidL2"));
}

fn request_id(xml: &str) -> String {
    let doc = parse_str(xml, &Limits::default()).unwrap();
    doc.element(doc.document_element())
        .unwrap()
        .attribute(None, "ID")
        .unwrap()
        .to_owned()
}

async fn pending(sp: &Sp, id: &str) -> Option<PendingLogin> {
    sp.store
        .take_token("identity-request", id)
        .await
        .expect("the store answers")
        .map(|v| serde_json::from_slice(&v).expect("a pending login"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_binding_sends_a_signed_query_and_a_schema_valid_request() {
    let sp = sp().await;
    for federation in [Federation::Spid, Federation::CieId] {
        let answer = sp.start_login(federation, "redirect").await;
        assert_eq!(answer.status(), 302);
        assert_eq!(answer.headers()["cache-control"], "no-store");
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let sso = sp.sim.url(profile(federation), "sso");
        assert!(location.starts_with(&format!("{sso}?")), "{location}");
        let pairs = raw_query(&location);
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["SAMLRequest", "RelayState", "SigAlg", "Signature"]);
        // What the IdP verifies: the query as sent, up to SigAlg (SAML Bindings §3.4.4.1).
        let signed = location[sso.len() + 1..location.find("&Signature=").unwrap()].to_owned();
        openssl_verify_query(
            &signed,
            &decoded(&pairs, "Signature").unwrap(),
            &sp_certificate_pem(),
        )
        .expect("openssl verifies the Redirect signature with the SP certificate");
        let mut tampered = signed.clone();
        tampered.push('x');
        assert!(
            openssl_verify_query(
                &tampered,
                &decoded(&pairs, "Signature").unwrap(),
                &sp_certificate_pem()
            )
            .is_err(),
            "the judge refuses a query that differs by one byte"
        );
        assert_eq!(
            decoded(&pairs, "SigAlg").unwrap(),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        );
        let relay = decoded(&pairs, "RelayState").unwrap();
        assert!(
            relay.chars().all(|c| c.is_ascii_alphanumeric()) && !relay.contains("http"),
            "RelayState is opaque: {relay}"
        );
        let xml = inflate_message(&decoded(&pairs, "SAMLRequest").unwrap());
        xmllint_schema(&xml, &protocol_xsd())
            .expect("the AuthnRequest is valid against the SAML protocol XSD");
        assert!(
            !xml.contains("<ds:Signature"),
            "Redirect: the signature is in the query only"
        );
        assert_spid_fields(&xml, &sp, federation, &sso);

        let stored = pending(&sp, &request_id(&xml))
            .await
            .expect("the pending request is stored");
        assert_eq!(stored.return_url, RETURN);
        assert_eq!(stored.relay_state, relay);
        assert_eq!(stored.idp, sp.sim.entity_id(federation));
        assert_eq!(stored.level, 2);
        assert!(pending(&sp, &request_id(&xml)).await.is_none(), "taken once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_binding_sends_an_escaped_form_with_an_enveloped_signature_xmlsec1_verifies() {
    let sp = sp().await;
    for federation in [Federation::Spid, Federation::CieId] {
        let answer = sp.start_login(federation, "post").await;
        assert_eq!(answer.status(), 200);
        let page = answer.text().await.unwrap();
        let form = AutoPost::read(&page);
        let sso = sp.sim.url(profile(federation), "sso");
        assert_eq!(form.action, sso);
        assert!(page.contains("method=\"post\""));
        let xml =
            String::from_utf8(openssl::base64::decode_block(form.field("SAMLRequest").unwrap()).unwrap())
                .unwrap();
        xmlsec1_verify(
            &xml,
            &sp_certificate_pem(),
            "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
        )
        .expect("xmlsec1 verifies the AuthnRequest with the SP metadata certificate");
        let altered = xml.replacen("ForceAuthn=\"true\"", "ForceAuthn=\"false\"", 1);
        assert_ne!(altered, xml);
        assert!(
            xmlsec1_verify(
                &altered,
                &sp_certificate_pem(),
                "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"
            )
            .is_err(),
            "xmlsec1 refuses an altered request"
        );
        xmllint_schema(&xml, &protocol_xsd()).expect("schema-valid");
        assert_spid_fields(&xml, &sp, federation, &sso);
        // Schema order: Issuer, then the Signature.
        assert!(xml.find("<ds:Signature").unwrap() > xml.find("Issuer").unwrap());
        let stored = pending(&sp, &request_id(&xml)).await.expect("stored");
        assert_eq!(Some(stored.relay_state.as_str()), form.field("RelayState"));
    }
}

/// A `return` under the allowlisted prefix may still carry markup (quotes and angle brackets are not
/// refused by the prefix rule); nothing of it reaches the auto-submitting page unescaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_form_escapes_what_it_writes() {
    let sp = sp().await;
    let mut fields = sp.login_fields(Federation::Spid, "post");
    fields[3].1 = format!("{RETURN}/\"><script>alert(1)</script>");
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = sp.login(&borrowed).await;
    let page = answer.text().await.unwrap();
    assert!(!page.contains("<script>"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_idp_accepts_the_requests_and_the_login_lands_back_with_a_ticket() {
    let sp = sp().await;
    for (federation, binding) in [
        (Federation::Spid, "redirect"),
        (Federation::Spid, "post"),
        (Federation::CieId, "redirect"),
        (Federation::CieId, "post"),
    ] {
        let answer = sp.full_login(federation, binding).await;
        assert_eq!(
            answer.status(),
            303,
            "{federation:?} {binding}: {}",
            answer.text().await.unwrap()
        );
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let events = sp.events().await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "identity.login.succeeded");
        let body = &events[0].2;
        let ticket = body["ticket"].as_str().unwrap();
        assert_eq!(location, format!("{RETURN}?ticket={ticket}"));
        assert_eq!(body["federation"], federation_path(federation));
        assert_eq!(body["idp"], sp.sim.entity_id(federation));
        let fiscal = body["attributes"]["fiscalNumber"].as_str().unwrap();
        assert_eq!(fiscal.len(), 16, "TINIT- removed");
    }
}

/// Tokens expire on tokio's clock in the in-process store: pausing it makes the expiry testable
/// without sleeping.
#[tokio::test]
async fn the_pending_request_expires_after_its_ttl() {
    let settings = IdentitySettings {
        request_ttl: Duration::from_secs(300),
        ..IdentitySettings::default()
    };
    let sp = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        None,
        SpOptions {
            settings,
            ..SpOptions::default()
        },
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let answer = sp.start_login(Federation::Spid, "post").await;
        let form = AutoPost::read(&answer.text().await.unwrap());
        let xml =
            String::from_utf8(openssl::base64::decode_block(form.field("SAMLRequest").unwrap()).unwrap())
                .unwrap();
        ids.push(request_id(&xml));
    }
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(299)).await;
    assert!(
        pending(&sp, &ids[0]).await.is_some(),
        "still pending just before its TTL"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(pending(&sp, &ids[1]).await.is_none(), "expired after its TTL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_urls_are_allowed_only_under_a_prefix_at_a_path_boundary() {
    let sp = sp().await;
    let allowed = [
        ALLOWED.to_owned(),
        format!("{ALLOWED}/pratiche/42"),
        format!("{ALLOWED}?servizio=tari"),
        format!("{ALLOWED}#inizio"),
    ];
    let refused = [
        format!("{ALLOWED}x"),
        format!("{ALLOWED}-evil"),
        format!("{ALLOWED}@evil.example"),
        format!("{ALLOWED}\\@evil.example"),
        format!("{ALLOWED} /x"),
        "https://servizi.comune.example.it.evil.example/area-personale".to_owned(),
        "https://evil.example/?u=https://servizi.comune.example.it/area-personale".to_owned(),
        "//evil.example/area-personale".to_owned(),
        "javascript:alert(1)".to_owned(),
        "https://servizi.comune.example.it/".to_owned(),
        String::new(),
    ];
    for url in &allowed {
        let mut fields = sp.login_fields(Federation::Spid, "redirect");
        fields[3].1 = url.clone();
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(sp.login(&borrowed).await.status(), 302, "{url} is allowed");
    }
    for url in &refused {
        let mut fields = sp.login_fields(Federation::Spid, "redirect");
        fields[3].1 = url.clone();
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = sp.login(&borrowed).await;
        assert_eq!(answer.status(), 400, "{url:?} must be refused");
        assert!(answer.headers().get("location").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_login_parameters_are_refused_with_a_reason() {
    let sp = sp().await;
    let cases: [(&str, &str, u16, &str); 5] = [
        ("federation", "eidas", 400, "federation"),
        ("level", "4", 400, "level"),
        ("idp", "https://idp.evil.example", 400, ""),
        ("binding", "soap", 400, "binding"),
        ("return", "", 400, "return"),
    ];
    for (name, value, status, mention) in cases {
        let mut fields = sp.login_fields(Federation::Spid, "redirect");
        if value.is_empty() {
            fields.retain(|(k, _)| *k != name);
        } else {
            fields.iter_mut().find(|(k, _)| *k == name).unwrap().1 = value.to_owned();
        }
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = sp.login(&borrowed).await;
        assert_eq!(answer.status().as_u16(), status, "{name}={value}");
        let page = answer.text().await.unwrap();
        assert!(page.contains(mention), "{name}: {page}");
    }
    let other_tenant = sp
        .http
        .get(format!("{}/identity/058091/login?federation=spid", sp.base))
        .send()
        .await
        .unwrap();
    assert_eq!(other_tenant.status(), 404);
}

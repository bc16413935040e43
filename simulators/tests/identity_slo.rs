//! Single Logout on the IdP simulator: SP-initiated (HTTP-Redirect, signed query) answered with a
//! signed LogoutResponse that xmlsec1 verifies, also without a session; IdP-initiated logout of an
//! L1 session; CIE ID's logout without a SAML answer.

mod identity_common;

use chrono::Utc;
use identity_common::*;
use serde_json::{Value, json};
use snodo_security::saml::redirect::MessageParameter;
use snodo_security::saml::{SpidLevel, format_instant, new_message_id};
use snodo_simulators::identity::Profile;

fn logout_request(idp: &Idp, profile: Profile, session_index: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{slo}"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity" NameQualifier="{SP_ENTITY_ID}">{SP_ENTITY_ID}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="{entity}">_someone</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        id = new_message_id(),
        now = format_instant(Utc::now()),
        slo = idp.url(profile, "slo"),
        entity = idp.entity_id(profile),
    )
}

async fn get_json(idp: &Idp, url: String) -> (u16, Value) {
    let reply = idp
        .http
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("answered");
    let status = reply.status().as_u16();
    (status, reply.json().await.expect("JSON"))
}

#[tokio::test]
async fn sp_initiated_logout_is_answered_with_a_signed_logout_response_even_without_a_session() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let (_, login) = idp.log_in(Profile::Spid, SpidLevel::L1, &cf, "success").await;
    let session = login["session_index"].as_str().expect("an L1 session").to_owned();
    for index in [session.as_str(), "_no-such-session"] {
        let query = redirect_query(
            MessageParameter::Request,
            &logout_request(&idp, Profile::Spid, index),
            Some(RELAY_STATE),
        );
        let (status, answer) = get_json(&idp, format!("{}?{query}", idp.url(Profile::Spid, "slo"))).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["url"], SLO_URL);
        assert_eq!(answer["RelayState"], RELAY_STATE);
        let xml = decode(&answer["SAMLResponse"]);
        assert!(
            xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"),
            "{xml}"
        );
        let (ok, err) = xmlsec1_verifies(
            &xml,
            &idp.idp.certificate_pem(),
            "/*[local-name()='LogoutResponse']/*[local-name()='Signature']",
        );
        assert!(ok, "xmlsec1: {err}");
    }
    // The session is gone: an IdP-initiated logout of it finds nothing.
    let reply = idp
        .http
        .post(idp.url(Profile::Spid, "logout"))
        .header("Accept", "application/json")
        .json(&json!({ "session_index": session }))
        .send()
        .await
        .expect("answered");
    assert_eq!(reply.status(), 400);
}

#[tokio::test]
async fn a_logout_request_signed_by_another_key_is_refused() {
    let idp = Idp::start().await;
    let other = &snodo_security::devpki::shared_for_tests().idp_signing().identity;
    let query = snodo_security::saml::redirect::encode(
        MessageParameter::Request,
        &logout_request(&idp, Profile::Spid, "_x"),
        Some(RELAY_STATE),
        Some((
            snodo_security::dsig::SignatureMethod::RsaSha256,
            &snodo_security::dsig::SigningKey::new(other.key().clone(), None),
        )),
    )
    .expect("encodes");
    let (status, answer) = get_json(&idp, format!("{}?{query}", idp.url(Profile::Spid, "slo"))).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().expect("error").contains("signature"),
        "{answer}"
    );
}

#[tokio::test]
async fn idp_initiated_logout_posts_a_signed_logout_request_to_the_sp() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let (_, login) = idp.log_in(Profile::Spid, SpidLevel::L1, &cf, "success").await;
    let reply: Value = idp
        .http
        .post(idp.url(Profile::Spid, "logout"))
        .header("Accept", "application/json")
        .json(&json!({ "session_index": login["session_index"] }))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(reply["url"], SLO_URL);
    let xml = decode(&reply["SAMLRequest"]);
    assert!(xml.contains(login["session_index"].as_str().expect("index")));
    let (ok, err) = xmlsec1_verifies(
        &xml,
        &idp.idp.certificate_pem(),
        "/*[local-name()='LogoutRequest']/*[local-name()='Signature']",
    );
    assert!(ok, "xmlsec1: {err}");
}

#[tokio::test]
async fn cie_logout_ends_the_session_without_a_saml_answer() {
    let idp = Idp::start().await;
    let query = redirect_query(
        MessageParameter::Request,
        &logout_request(&idp, Profile::Cie, "_x"),
        Some(RELAY_STATE),
    );
    let reply = idp
        .http
        .get(format!("{}?{query}", idp.url(Profile::Cie, "slo")))
        .send()
        .await
        .expect("answered");
    assert_eq!(reply.status(), 200);
    let page = reply.text().await.expect("text");
    assert!(page.contains("Logout effettuato con successo"));
    assert!(!page.contains("SAMLResponse"));
}

//! The IdP simulator validates AuthnRequests against the SAML 2.0 protocol schema, as the national
//! validators do, beside the SPID rules: a request that breaks only the schema is refused with the
//! schema's own diagnostic, on the JSON answer and on the 400 page a person sees.

mod identity_common;

use identity_common::*;
use snodo_security::saml::SpidLevel;
use snodo_security::saml::redirect::url_encode;
use snodo_simulators::identity::Profile;
use snodo_simulators::identity::xsd::XSD_RULE;

/// The test SP's well-formed request with `extra` added to the AuthnRequest's start tag, signed.
fn request_with(idp: &Idp, extra: &str) -> String {
    let xml = authn_request(idp, Profile::Spid, SpidLevel::L2)
        .to_xml()
        .expect("the request serializes");
    let start = xml.find("AuthnRequest ").expect("a start tag") + "AuthnRequest ".len();
    let xml = format!("{}{extra} {}", &xml[..start], &xml[start..]);
    sign_after_issuer(&xml, &sp_key())
}

#[tokio::test]
async fn a_request_valid_for_the_schema_and_the_rules_is_accepted() {
    let idp = Idp::start().await;
    let (status, answer) = idp
        .sso_post(Profile::Spid, &request_with(&idp, ""), Some(RELAY_STATE))
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn an_attribute_the_protocol_schema_does_not_allow_is_reported_by_the_xsd() {
    let idp = Idp::start().await;
    let signed = request_with(&idp, r#"Colour="blue""#);
    let (status, answer) = idp.sso_post(Profile::Spid, &signed, Some(RELAY_STATE)).await;
    assert_eq!(status, 400, "{answer}");
    let problems = answer["problems"].as_array().expect("problems");
    // Only the schema objects: every SPID rule holds for this request.
    assert!(problems.iter().all(|p| p["rule"] == XSD_RULE), "{answer}");
    assert!(
        problems
            .iter()
            .any(|p| p["detail"].as_str().is_some_and(|d| d.contains("Colour"))),
        "{answer}"
    );

    // The same diagnostic on the page a person sees.
    let body = format!(
        "SAMLRequest={}&RelayState={RELAY_STATE}",
        url_encode(&openssl::base64::encode_block(signed.as_bytes()))
    );
    let page = idp
        .http
        .post(idp.url(Profile::Spid, "sso"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("SSO answered");
    assert_eq!(page.status(), 400);
    let html = page.text().await.expect("a page");
    assert!(html.contains(XSD_RULE) && html.contains("Colour"), "{html}");
}

#[tokio::test]
async fn the_schema_and_the_rules_are_reported_together() {
    let idp = Idp::start().await;
    // IsPassive breaks a SPID rule; Colour only the schema.
    let signed = request_with(&idp, r#"Colour="blue" IsPassive="true""#);
    let (status, answer) = idp.sso_post(Profile::Spid, &signed, Some(RELAY_STATE)).await;
    assert_eq!(status, 400, "{answer}");
    let rules: Vec<&str> = answer["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["rule"].as_str())
        .collect();
    assert!(rules.contains(&XSD_RULE), "{rules:?}");
    assert!(rules.contains(&"AuthnRequest/@IsPassive"), "{rules:?}");
}

#[tokio::test]
async fn a_specs_directory_without_the_schema_is_named_in_the_diagnostic() {
    let idp = Idp::start().await;
    let missing = std::env::temp_dir().join("snodo-no-spid-specs-here");
    idp.idp.set_specs_dir(&missing);
    let (status, answer) = idp
        .sso_post(Profile::Spid, &request_with(&idp, ""), Some(RELAY_STATE))
        .await;
    assert_eq!(status, 400, "{answer}");
    let detail = answer["problems"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("snodo-no-spid-specs-here") && detail.contains("SNODO_IDP_SPECS"),
        "{answer}"
    );
}

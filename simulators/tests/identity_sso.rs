//! The IdP simulator end to end over HTTP: metadata, AuthnRequests on both bindings judged by the
//! SPID rules, logins of people of the shared population, and the signed Responses judged by
//! `saml::verify_response` and by `xmlsec1`.

mod identity_common;

use chrono::Utc;
use identity_common::*;
use serde_json::{Value, json};
use snodo_security::dsig::{SignaturePolicy, TrustedKeys, signature_children, verify_enveloped_signature};
use snodo_security::saml::redirect::MessageParameter;
use snodo_security::saml::{
    Federation, InMemoryReplayCache, ResponseError, ResponseExpectations, SpidAttribute, SpidErrorCode,
    SpidLevel, verify_response,
};
use snodo_security::xml::{Limits, parse_str};
use snodo_simulators::identity::Profile;

fn expectations<'a>(
    idp: &'a Idp,
    profile: Profile,
    pending: &'a snodo_security::saml::PendingRequest,
    entity: &'a str,
    keys: &'a TrustedKeys,
) -> ResponseExpectations<'a> {
    let mut e = ResponseExpectations::spid(SP_ENTITY_ID, ACS_URL, pending, entity, keys, Utc::now());
    if profile == Profile::Cie {
        e.federation = Federation::CieId;
    }
    let _ = idp;
    e
}

#[tokio::test]
async fn spid_metadata_is_signed_and_names_the_endpoints() {
    let idp = Idp::start().await;
    let xml = idp
        .http
        .get(idp.url(Profile::Spid, "metadata"))
        .send()
        .await
        .expect("metadata")
        .text()
        .await
        .expect("text");
    let doc = parse_str(&xml, &Limits::default()).expect("parses");
    let root = doc.document_element();
    assert_eq!(
        doc.element(root).expect("root").attribute(None, "entityID"),
        Some(idp.entity_id(Profile::Spid).as_str())
    );
    let [signature] = signature_children(&doc, root)[..] else {
        panic!("one signature")
    };
    let verified = verify_enveloped_signature(&doc, signature, &SignaturePolicy::spid(), &idp.idp_keys())
        .expect("verifies");
    assert_eq!(verified.signed_element(), root);
    let (ok, err) = xmlsec1_verifies(
        &xml,
        &idp.idp.certificate_pem(),
        "/*[local-name()='EntityDescriptor']/*[local-name()='Signature']",
    );
    assert!(ok, "xmlsec1: {err}");
    assert!(xml.contains(&format!("Location=\"{}\"", idp.url(Profile::Spid, "sso"))));
    assert!(xml.contains("WantAuthnRequestsSigned=\"true\""));
    assert!(xml.contains("Name=\"fiscalNumber\""));
}

#[tokio::test]
async fn spid_post_login_yields_a_response_verify_response_and_xmlsec1_accept() {
    let idp = Idp::start().await;
    let person = idp.first_person().await;
    let cf = person["fiscal_code"].as_str().expect("a code");
    let (pending, answer) = idp.log_in(Profile::Spid, SpidLevel::L2, cf, "success").await;
    assert_eq!(answer["acs_url"], ACS_URL);
    assert_eq!(answer["RelayState"], RELAY_STATE);
    assert_eq!(answer["expected"], "accept");
    assert_eq!(answer["session_index"], Value::Null, "no IdP session for SpidL2");
    let keys = idp.idp_keys();
    let entity = idp.entity_id(Profile::Spid);
    let user = verify_response(
        answer["SAMLResponse"].as_str().expect("a Response"),
        &expectations(&idp, Profile::Spid, &pending, &entity, &keys),
        &InMemoryReplayCache::default(),
    )
    .expect("our own SP layer accepts the Response");
    assert_eq!(user.level, SpidLevel::L2);
    assert_eq!(
        user.attributes.get(SpidAttribute::FiscalNumber),
        Some(format!("TINIT-{cf}").as_str())
    );
    assert_eq!(user.attributes.get(SpidAttribute::Name), person["name"].as_str());
    assert_eq!(
        user.attributes.get(SpidAttribute::FamilyName),
        person["family_name"].as_str()
    );
    assert_eq!(
        user.attributes.get(SpidAttribute::DateOfBirth),
        person["date_of_birth"].as_str()
    );
    assert_eq!(user.session_index, None);

    let xml = decode(&answer["SAMLResponse"]);
    for xpath in [RESPONSE_SIGNATURE, ASSERTION_SIGNATURE] {
        let (ok, err) = xmlsec1_verifies(&xml, &idp.idp.certificate_pem(), xpath);
        assert!(ok, "xmlsec1 refused {xpath}: {err}");
    }
    let tampered = xml.replacen(&format!("TINIT-{cf}"), "TINIT-RSSMRA80A01F205X", 1);
    let (ok, _) = xmlsec1_verifies(&tampered, &idp.idp.certificate_pem(), ASSERTION_SIGNATURE);
    assert!(!ok, "xmlsec1 accepted a tampered Assertion");
}

#[tokio::test]
async fn spid_redirect_login_at_l1_keeps_a_session() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let request = authn_request(&idp, Profile::Spid, SpidLevel::L1);
    let query = redirect_query(
        MessageParameter::Request,
        &request.to_xml().expect("xml"),
        Some(RELAY_STATE),
    );
    let answer: Value = idp
        .http
        .get(format!("{}?{query}", idp.url(Profile::Spid, "sso")))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("SSO")
        .json()
        .await
        .expect("JSON");
    let ticket = answer["ticket"].as_str().unwrap_or_else(|| panic!("{answer}"));
    let (status, answer) = idp
        .login(
            Profile::Spid,
            json!({ "ticket": ticket, "fiscal_code": cf, "level": "1" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["RelayState"], RELAY_STATE);
    let keys = idp.idp_keys();
    let entity = idp.entity_id(Profile::Spid);
    let pending = request.pending();
    let user = verify_response(
        answer["SAMLResponse"].as_str().expect("a Response"),
        &expectations(&idp, Profile::Spid, &pending, &entity, &keys),
        &InMemoryReplayCache::default(),
    )
    .expect("accepted");
    assert_eq!(user.level, SpidLevel::L1);
    assert_eq!(user.session_index.as_deref(), answer["session_index"].as_str());
    // The ticket was used: a second post finds nothing.
    let (status, _) = idp
        .login(Profile::Spid, json!({ "ticket": ticket, "fiscal_code": cf }))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn cie_response_has_no_response_issuer_format_and_only_the_minimum_dataset() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let (pending, answer) = idp.log_in(Profile::Cie, SpidLevel::L2, &cf, "success").await;
    let keys = idp.idp_keys();
    let entity = idp.entity_id(Profile::Cie);
    let user = verify_response(
        answer["SAMLResponse"].as_str().expect("a Response"),
        &expectations(&idp, Profile::Cie, &pending, &entity, &keys),
        &InMemoryReplayCache::default(),
    )
    .expect("accepted");
    assert_eq!(user.level, SpidLevel::L2, "CIE ID answers the level asked");
    let names: Vec<&str> = user.attributes.iter().map(|(a, _)| a.name()).collect();
    assert_eq!(names, ["name", "familyName", "dateOfBirth", "fiscalNumber"]);
    let xml = decode(&answer["SAMLResponse"]);
    let issuer = format!("<saml:Issuer>{entity}</saml:Issuer>");
    assert!(
        xml.contains(&issuer),
        "the Response Issuer carries no Format: {xml}"
    );
}

/// CIE ID has SpidL1–L3 (username and password, OTP or the app, the card): it answers the level asked,
/// or the one the tester picks, and the verdict it announces follows the request.
#[tokio::test]
async fn cie_answers_each_level_asked_or_the_one_picked() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let keys = idp.idp_keys();
    let entity = idp.entity_id(Profile::Cie);
    for level in [SpidLevel::L1, SpidLevel::L2, SpidLevel::L3] {
        let (pending, answer) = idp.log_in(Profile::Cie, level, &cf, "success").await;
        assert_eq!(answer["level"], level.to_string(), "{answer}");
        assert_eq!(answer["expected"], "accept");
        let user = verify_response(
            answer["SAMLResponse"].as_str().expect("a Response"),
            &expectations(&idp, Profile::Cie, &pending, &entity, &keys),
            &InMemoryReplayCache::default(),
        )
        .expect("accepted");
        assert_eq!(user.level, level);
    }
    // The tester picks the level: L3 for an L1 request is accepted, L1 for an L2 request refused.
    for (asked, picked, verdict) in [(SpidLevel::L1, "3", "accept"), (SpidLevel::L2, "1", "reject")] {
        let request = authn_request(&idp, Profile::Cie, asked);
        let (status, sso) = idp
            .sso_post(
                Profile::Cie,
                &request.sign(&sp_key()).expect("signs"),
                Some(RELAY_STATE),
            )
            .await;
        assert_eq!(status, 200, "{sso}");
        let (status, answer) = idp
            .login(
                Profile::Cie,
                json!({ "ticket": sso["ticket"], "fiscal_code": cf, "level": picked }),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["level"], format!("SpidL{picked}"));
        assert_eq!(answer["expected"], verdict, "{asked} asked, L{picked} given");
        let judged = verify_response(
            answer["SAMLResponse"].as_str().expect("a Response"),
            &expectations(&idp, Profile::Cie, &request.pending(), &entity, &keys),
            &InMemoryReplayCache::default(),
        );
        match verdict {
            "accept" => assert_eq!(judged.expect("accepted").level, SpidLevel::L3),
            _ => assert!(
                matches!(judged, Err(ResponseError::LevelTooLow { .. })),
                "{judged:?}"
            ),
        }
    }
    // CIE ID asks SpidL1 and SpidL2 only as a minimum (exact is for SpidL3).
    for (level, refused) in [(SpidLevel::L2, true), (SpidLevel::L3, false)] {
        let mut request = authn_request(&idp, Profile::Cie, level);
        request.comparison = snodo_security::saml::Comparison::Exact;
        let (status, answer) = idp
            .sso_post(
                Profile::Cie,
                &request.sign(&sp_key()).expect("signs"),
                Some(RELAY_STATE),
            )
            .await;
        if refused {
            assert_eq!(status, 400, "{answer}");
            assert_eq!(
                answer["problems"][0]["rule"], "AuthnRequest/RequestedAuthnContext/@Comparison",
                "{answer}"
            );
        } else {
            assert_eq!(status, 200, "{answer}");
        }
    }
}

#[tokio::test]
async fn spid_error_codes_come_back_typed() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    for (code, expected) in [
        (19, SpidErrorCode::RepeatedWrongCredentials),
        (22, SpidErrorCode::ConsentDenied),
        (25, SpidErrorCode::Cancelled),
        (30, SpidErrorCode::WrongIdentityType),
    ] {
        let (pending, answer) = idp
            .log_in(Profile::Spid, SpidLevel::L2, &cf, &format!("error:{code}"))
            .await;
        let keys = idp.idp_keys();
        let entity = idp.entity_id(Profile::Spid);
        let error = verify_response(
            answer["SAMLResponse"].as_str().expect("a Response"),
            &expectations(&idp, Profile::Spid, &pending, &entity, &keys),
            &InMemoryReplayCache::default(),
        )
        .expect_err("an error Response is no login");
        match error {
            ResponseError::Status(failure) => assert_eq!(failure.spid_error, Some(expected), "nr{code}"),
            other => panic!("nr{code}: {other}"),
        }
    }
}

#[tokio::test]
async fn a_platform_error_fault_answers_the_spid_error_to_the_login_in_flight() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let rule = json!({"operation": "spid.login", "times": 1, "fault": {"kind": "platform_error", "code": "nr23", "message": "revoked"}});
    let added = idp
        .http
        .post(format!("{}/faults", idp.running.admin_url()))
        .json(&rule)
        .send()
        .await
        .expect("admin");
    assert_eq!(added.status(), 201);
    let (pending, answer) = idp.log_in(Profile::Spid, SpidLevel::L2, &cf, "success").await;
    assert_eq!(answer["case"], "nr23");
    let keys = idp.idp_keys();
    let entity = idp.entity_id(Profile::Spid);
    let error = verify_response(
        answer["SAMLResponse"].as_str().expect("a Response"),
        &expectations(&idp, Profile::Spid, &pending, &entity, &keys),
        &InMemoryReplayCache::default(),
    )
    .expect_err("refused");
    assert!(
        matches!(error, ResponseError::Status(f) if f.spid_error == Some(SpidErrorCode::IdentitySuspendedOrRevoked))
    );
    let exchanges: Value = idp
        .http
        .get(format!(
            "{}/exchanges?operation=spid.login",
            idp.running.admin_url()
        ))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("JSON");
    assert_eq!(exchanges["exchanges"][0]["fault"]["code"], "nr23", "{exchanges}");
}

/// A request breaking several SPID rules at once: each is reported with its element.
#[tokio::test]
async fn spid_rules_are_each_reported() {
    let idp = Idp::start().await;
    let sso = idp.url(Profile::Spid, "sso");
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_rules" Version="2.0" IssueInstant="{now}" Destination="{sso}" IsPassive="false" AssertionConsumerServiceIndex="7"><saml:Issuer>{SP_ENTITY_ID}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/><samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>https://www.spid.gov.it/SpidL2</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#,
        now = snodo_security::saml::format_instant(Utc::now()),
    );
    let signed = sign_after_issuer(&xml, &sp_key());
    let (status, answer) = idp
        .sso_post(Profile::Spid, &signed, Some("http://evident.example/page"))
        .await;
    assert_eq!(status, 400);
    let rules: Vec<&str> = answer["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["rule"].as_str())
        .collect();
    for rule in [
        "AuthnRequest/@IsPassive",
        "AuthnRequest/Issuer/@Format",
        "AuthnRequest/Issuer/@NameQualifier",
        "AuthnRequest/@AssertionConsumerServiceIndex",
        "AuthnRequest/@AttributeConsumingServiceIndex",
        "AuthnRequest/NameIDPolicy/@AllowCreate",
        "AuthnRequest/@ForceAuthn",
        "RelayState",
    ] {
        assert!(rules.contains(&rule), "{rule} not reported: {rules:?}");
    }
}

#[tokio::test]
async fn requests_signed_by_another_key_or_from_unknown_sps_are_refused() {
    let idp = Idp::start().await;
    let request = authn_request(&idp, Profile::Spid, SpidLevel::L2);
    let other = &snodo_security::devpki::shared_for_tests().idp_signing().identity;
    let foreign =
        snodo_security::dsig::SigningKey::new(other.key().clone(), Some(other.certificate().clone()));
    let (status, answer) = idp
        .sso_post(
            Profile::Spid,
            &request.sign(&foreign).expect("signs"),
            Some(RELAY_STATE),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["problems"][0]["rule"], "AuthnRequest/Signature",
        "{answer}"
    );

    let mut unknown = authn_request(&idp, Profile::Spid, SpidLevel::L2);
    unknown.sp_entity_id = "https://unknown.example.it/spid".to_owned();
    let (status, answer) = idp
        .sso_post(
            Profile::Spid,
            &unknown.sign(&sp_key()).expect("signs"),
            Some(RELAY_STATE),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(answer["problems"][0]["rule"], "AuthnRequest/Issuer", "{answer}");

    // CIE ID: Destination must be the SSO Location; the entity ID is not enough.
    let mut cie = authn_request(&idp, Profile::Cie, SpidLevel::L2);
    cie.destination = idp.entity_id(Profile::Cie);
    let (status, answer) = idp
        .sso_post(
            Profile::Cie,
            &cie.sign(&sp_key()).expect("signs"),
            Some(RELAY_STATE),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["problems"][0]["rule"], "AuthnRequest/@Destination",
        "{answer}"
    );
}

#[tokio::test]
async fn the_login_page_is_html_with_people_of_the_population() {
    let idp = Idp::start().await;
    let request = authn_request(&idp, Profile::Spid, SpidLevel::L2);
    let body = format!(
        "SAMLRequest={}&RelayState={RELAY_STATE}",
        snodo_security::saml::redirect::url_encode(&openssl::base64::encode_block(
            request.sign(&sp_key()).expect("signs").as_bytes()
        ))
    );
    let reply = idp
        .http
        .post(idp.url(Profile::Spid, "sso"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("SSO");
    assert_eq!(reply.status(), 200);
    let page = reply.text().await.expect("text");
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    assert!(
        page.contains(&format!("value=\"{cf}\"")),
        "the first person is offered"
    );
    assert!(page.contains("name=\"ticket\""));
    assert!(page.contains("value=\"error:22\""));
    assert!(page.contains("value=\"case:59\""));
    let ticket = page
        .split("name=\"ticket\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("ticket");
    // The credentials answer the consent page; consenting, the auto-submitting form to the ACS,
    // values escaped.
    let reply = idp
        .http
        .post(idp.url(Profile::Spid, "login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "ticket={ticket}&fiscal_code={cf}&level=2&outcome=success"
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(reply.status(), 200);
    let consent = reply.text().await.expect("text");
    assert!(consent.contains("action=\"/spid/consent\""), "{consent}");
    let form = idp.decide(Profile::Spid, ticket, "consent").await;
    assert!(form.contains(&format!("action=\"{ACS_URL}\"")), "{form}");
    assert!(form.contains("name=\"SAMLResponse\""));
    assert!(form.contains(&format!("name=\"RelayState\" value=\"{RELAY_STATE}\"")));
}

/// After the credentials a person sees which data goes to which SP; consenting sends the signed
/// Response with those data, refusing sends `ErrorCode nr22` (user denied consent) and no data.
#[tokio::test]
async fn the_consent_page_shows_what_goes_to_whom_and_a_refusal_answers_nr22() {
    let idp = Idp::start().await;
    let person = idp.first_person().await;
    let cf = person["fiscal_code"].as_str().expect("code").to_owned();
    let keys = idp.idp_keys();
    for profile in Profile::ALL {
        let entity = idp.entity_id(profile);
        for decision in ["consent", "refuse"] {
            let request = authn_request(&idp, profile, SpidLevel::L2);
            let (status, sso) = idp
                .sso_post(
                    profile,
                    &request.sign(&sp_key()).expect("signs"),
                    Some(RELAY_STATE),
                )
                .await;
            assert_eq!(status, 200, "{sso}");
            let ticket = sso["ticket"].as_str().expect("ticket");
            let reply = idp
                .http
                .post(idp.url(profile, "login"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("ticket={ticket}&fiscal_code={cf}&outcome=success"))
                .send()
                .await
                .expect("login");
            assert_eq!(reply.status(), 200);
            let page = reply.text().await.expect("text");
            assert!(page.contains("Comune di Milano"), "the SP is named: {page}");
            assert!(page.contains(SP_ENTITY_ID), "{page}");
            assert!(page.contains("SpidL2"), "{page}");
            assert!(
                page.contains("<td title=\"fiscalNumber\">Codice fiscale</td>"),
                "{page}"
            );
            assert!(
                page.contains(&format!("TINIT-{cf}")),
                "the values are shown: {page}"
            );
            assert!(
                page.contains(person["family_name"].as_str().expect("surname")),
                "{page}"
            );
            if profile == Profile::Cie {
                assert!(
                    !page.contains("title=\"email\""),
                    "CIE ID: the minimum dataset only"
                );
            }
            let form = idp.decide(profile, ticket, decision).await;
            let saml_response = AutoPostField::read(&form, "SAMLResponse");
            let judged = verify_response(
                &saml_response,
                &expectations(&idp, profile, &request.pending(), &entity, &keys),
                &InMemoryReplayCache::default(),
            );
            match (decision, judged) {
                ("consent", Ok(user)) => assert!(
                    user.attributes
                        .iter()
                        .any(|(a, _)| a == SpidAttribute::FiscalNumber)
                ),
                ("refuse", Err(ResponseError::Status(failure))) => {
                    assert_eq!(failure.spid_error, Some(SpidErrorCode::ConsentDenied));
                    let xml =
                        String::from_utf8(openssl::base64::decode_block(&saml_response).expect("base64"))
                            .expect("UTF-8");
                    assert!(!xml.contains(&cf), "a refusal releases nothing");
                }
                (decision, other) => panic!("{profile:?} {decision}: {other:?}"),
            }
            // The decision was taken: the ticket is spent.
            let again = idp
                .http
                .post(idp.url(profile, "consent"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("ticket={ticket}&decision=consent"))
                .send()
                .await
                .expect("consent");
            assert_eq!(again.status(), 404);
        }
    }
    // A JSON login brings the person's answer along.
    let (pending, answer) = idp
        .log_in_json(Profile::Spid, &cf, json!({ "consent": "refused" }))
        .await;
    assert_eq!(answer["case"], "nr22", "{answer}");
    let entity = idp.entity_id(Profile::Spid);
    let error = verify_response(
        answer["SAMLResponse"].as_str().expect("a Response"),
        &expectations(&idp, Profile::Spid, &pending, &entity, &keys),
        &InMemoryReplayCache::default(),
    )
    .expect_err("a refusal is no login");
    assert!(matches!(error, ResponseError::Status(f) if f.spid_error == Some(SpidErrorCode::ConsentDenied)));
    let (_, answer) = idp
        .log_in_json(Profile::Spid, &cf, json!({ "consent": "maybe" }))
        .await;
    assert!(
        answer["error"].as_str().is_some_and(|e| e.contains("consent")),
        "{answer}"
    );
}

/// A `platform_error` rule on `{p}.consent` answers its SPID error to the consent being posted.
#[tokio::test]
async fn a_platform_error_fault_on_consent_answers_the_spid_error_to_that_login() {
    let idp = Idp::start().await;
    let cf = idp.first_person().await["fiscal_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let rule = json!({"operation": "cie.consent", "times": 1, "fault": {"kind": "platform_error", "code": "nr21", "message": "timeout"}});
    let added = idp
        .http
        .post(format!("{}/faults", idp.running.admin_url()))
        .json(&rule)
        .send()
        .await
        .expect("admin");
    assert_eq!(added.status(), 201);
    let request = authn_request(&idp, Profile::Cie, SpidLevel::L2);
    let (_, sso) = idp
        .sso_post(
            Profile::Cie,
            &request.sign(&sp_key()).expect("signs"),
            Some(RELAY_STATE),
        )
        .await;
    let ticket = sso["ticket"].as_str().expect("ticket");
    let reply = idp
        .http
        .post(idp.url(Profile::Cie, "login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("ticket={ticket}&fiscal_code={cf}&outcome=success"))
        .send()
        .await
        .expect("login");
    assert!(reply.text().await.expect("page").contains("/cie/consent"));
    let form = idp.decide(Profile::Cie, ticket, "consent").await;
    let entity = idp.entity_id(Profile::Cie);
    let keys = idp.idp_keys();
    let error = verify_response(
        &AutoPostField::read(&form, "SAMLResponse"),
        &expectations(&idp, Profile::Cie, &request.pending(), &entity, &keys),
        &InMemoryReplayCache::default(),
    )
    .expect_err("the fault's error");
    assert!(matches!(error, ResponseError::Status(f) if f.spid_error == Some(SpidErrorCode::Timeout)));
    // CIE ID's operations are named and recorded like SPID's.
    let exchanges: Value = idp
        .http
        .get(format!(
            "{}/exchanges?operation=cie.consent",
            idp.running.admin_url()
        ))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("JSON");
    assert_eq!(exchanges["exchanges"][0]["fault"]["code"], "nr21", "{exchanges}");
}

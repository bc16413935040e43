//! Single Logout, both ways, against the IdP simulator: the messages the SP sends are signed (the
//! Redirect query verified by `openssl dgst` with the SP certificate) and valid against the SAML
//! protocol XSD (`xmllint`); the IdP's messages are verified with its metadata keys only; every
//! logout publishes `identity.logout`; a LogoutRequest is answered even when the SP has no session
//! (SPID requires it, and Snodo keeps none), and CIE ID's logout ends at the SP.

mod identity_common;

use identity_common::*;
use serde_json::Value;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_security::saml::Federation;
use snodo_security::saml::redirect::url_encode;

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

/// A login at level 1 (the only level with an IdP session); the login event's body.
async fn logged_in(sp: &Sp, federation: Federation) -> Value {
    let mut fields = sp.login_fields(federation, "redirect");
    fields[2].1 = "1".into();
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = sp.login(&borrowed).await;
    let idp = sp.through_idp_at(federation, answer, "success", "1").await;
    assert_eq!(sp.post_to_acs(&idp).await.status(), 303);
    let mut events = sp.events().await;
    assert_eq!(events.len(), 1);
    events.remove(0).2
}

/// Checks a Redirect-binding message the SP sent to `endpoint`: signature and schema.
fn judge_redirect(location: &str, endpoint: &str, parameter: &str) -> String {
    assert!(location.starts_with(&format!("{endpoint}?")), "{location}");
    let pairs = raw_query(location);
    let signed = location[endpoint.len() + 1..location.find("&Signature=").expect("signed")].to_owned();
    openssl_verify_query(
        &signed,
        &decoded(&pairs, "Signature").unwrap(),
        &sp_certificate_pem(),
    )
    .expect("openssl verifies the SP's Redirect signature");
    let xml = inflate_message(&decoded(&pairs, parameter).expect("the message"));
    xmllint_schema(&xml, &protocol_xsd()).expect("valid against the SAML protocol XSD");
    xml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_initiated_logout_is_answered_signed_and_published_even_twice() {
    let sp = sp().await;
    let login = logged_in(&sp, Federation::Spid).await;
    let session_index = login["session_index"]
        .as_str()
        .expect("L1 has a SessionIndex")
        .to_owned();
    let initiated: Value = sp
        .http
        .post(sp.sim.url(profile(Federation::Spid), "logout"))
        .header("accept", "application/json")
        .json(&serde_json::json!({ "session_index": session_index }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sim_slo = sp.sim.url(profile(Federation::Spid), "slo");
    let mut message_ids = Vec::new();
    for delivery in 0..2 {
        // The second delivery is the same LogoutRequest again: Snodo keeps no session, so it is
        // answered the same way (and published with the same message_id, which consumers dedupe).
        let answer = sp.deliver(&initiated).await;
        assert_eq!(
            answer.status(),
            302,
            "delivery {delivery}: {}",
            answer.text().await.unwrap()
        );
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let xml = judge_redirect(&location, &sim_slo, "SAMLResponse");
        assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"));
        assert!(xml.contains(&format!("Destination=\"{sim_slo}\"")));
        let confirmed: Value = sp
            .http
            .get(&location)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            confirmed["logout"], "completed",
            "the IdP accepts the LogoutResponse"
        );
        let events = sp.events().await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "identity.logout");
        assert_eq!(events[0].2["initiated_by"], "idp");
        assert_eq!(events[0].2["name_id"], login["name_id"]);
        assert_eq!(events[0].2["idp"], sp.sim.entity_id(Federation::Spid));
        message_ids.push(events[0].1);
    }
    assert_eq!(message_ids[0], message_ids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_request_with_a_broken_signature_is_refused_and_not_published() {
    let sp = sp().await;
    let login = logged_in(&sp, Federation::Spid).await;
    let initiated: Value = sp
        .http
        .post(sp.sim.url(profile(Federation::Spid), "logout"))
        .header("accept", "application/json")
        .json(&serde_json::json!({ "session_index": login["session_index"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut forged = initiated.clone();
    if let Some(url) = initiated["redirect"].as_str() {
        // One character of the signature changed.
        let at = url.find("&Signature=").unwrap() + 11;
        let mut bytes = url.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        forged["redirect"] = Value::String(String::from_utf8(bytes).unwrap());
    } else {
        let xml = String::from_utf8(
            openssl::base64::decode_block(initiated["SAMLRequest"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let altered = xml.replacen("<saml:NameID", "<saml:NameID SPNameQualifier=\"x\"", 1);
        forged["SAMLRequest"] = Value::String(openssl::base64::encode_block(altered.as_bytes()));
    }
    let answer = sp.deliver(&forged).await;
    assert_eq!(answer.status(), 403);
    assert!(
        sp.events().await.is_empty(),
        "nothing published for a forged request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_initiated_spid_logout_round_trips_through_the_idp() {
    let sp = sp().await;
    let login = logged_in(&sp, Federation::Spid).await;
    let query = [
        ("federation", "spid".to_owned()),
        ("idp", sp.sim.entity_id(Federation::Spid)),
        ("name_id", login["name_id"].as_str().unwrap().to_owned()),
        (
            "name_qualifier",
            login["name_qualifier"].as_str().unwrap().to_owned(),
        ),
        (
            "session_index",
            login["session_index"].as_str().unwrap().to_owned(),
        ),
        ("return", format!("{RETURN}/uscita")),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", url_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let answer = sp
        .http
        .get(format!("{}?{query}", sp.url("logout")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let sim_slo = sp.sim.url(profile(Federation::Spid), "slo");
    let xml = judge_redirect(&location, &sim_slo, "SAMLRequest");
    assert!(xml.contains("LogoutRequest"));
    assert!(xml.contains(login["name_id"].as_str().unwrap().trim()));
    assert!(
        sp.events().await.is_empty(),
        "published only when the IdP confirms"
    );

    let idp_answer: Value = sp
        .http
        .get(&location)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = sp.deliver(&idp_answer).await;
    assert_eq!(back.status(), 303);
    assert_eq!(back.headers()["location"], format!("{RETURN}/uscita").as_str());
    let events = sp.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "identity.logout");
    assert_eq!(events[0].2["initiated_by"], "sp");
    // The same LogoutResponse again answers no pending logout.
    assert_eq!(sp.deliver(&idp_answer).await.status(), 403);
    assert!(sp.events().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cie_logout_ends_at_the_sp_and_bad_return_urls_are_refused() {
    let sp = sp().await;
    let login = logged_in(&sp, Federation::CieId).await;
    let query = |ret: &str| {
        [
            ("federation", "cie".to_owned()),
            ("idp", sp.sim.entity_id(Federation::CieId)),
            ("name_id", login["name_id"].as_str().unwrap().to_owned()),
            ("return", ret.to_owned()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    };
    let refused = sp
        .http
        .get(format!("{}?{}", sp.url("logout"), query("https://evil.example/")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let answer = sp
        .http
        .get(format!("{}?{}", sp.url("logout"), query(RETURN)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        303,
        "CIE ID sends no LogoutResponse: the SP ends its session at once"
    );
    assert_eq!(answer.headers()["location"], RETURN);
    let events = sp.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2["federation"], "cie");
    assert_eq!(events[0].2["initiated_by"], "sp");
}

//! The PDND side of the ANPR simulator, called the way ModI requires (platform notes §2.4): a voucher
//! per call bound to the audit token by its digest, `Digest`, `Agid-JWT-Signature` with
//! `signed_headers` as an array, `Agid-JWT-TrackingEvidence`; each missing or wrong piece refused the
//! way GovWay or ANPR does.

mod anpr_common;

use anpr_common::*;
use openssl::base64::encode_block;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{Value, json};
use snodo_simulators::anpr::population;
use snodo_simulators::anpr::registry::id_anpr;

const CLIENT: &str = "snodo-015146";
const KID: &str = "anpr-015146";

fn b64url(bytes: &[u8]) -> String {
    encode_block(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn sign(claims: &Value, key: &PKey<Private>, kid: &str) -> String {
    let header = b64url(
        json!({"alg": "RS256", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes(),
    );
    let claims = b64url(claims.to_string().as_bytes());
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    signer.update(format!("{header}.{claims}").as_bytes()).unwrap();
    format!("{header}.{claims}.{}", b64url(&signer.sign_to_vec().unwrap()))
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    hash(MessageDigest::sha256(), bytes).unwrap().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key() -> PKey<Private> {
    pki().anpr_client().identity.key().clone()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn name(code: &str) -> &'static str {
    match code {
        "C030" => "C030-servizioAccertamentoIdUnicoNazionale",
        "C020" => "C020-servizioAccertamentoResidenza",
        "C021" => "C021-servizioAccertamentoStatoFamiglia",
        _ => "C001-servizioNotifica",
    }
}

/// One call's pieces, each of which a test may spoil before sending.
struct Call {
    url: String,
    body: Vec<u8>,
    evidence: String,
    assertion: String,
    signature_claims: Value,
    digest: String,
}

fn call(h: &Harness, code: &str, body: Value) -> Call {
    let base = h.running.url();
    let audience = format!("{base}/govway/rest/in/MinInternoPortaANPR/{}/v1", name(code));
    let body = serde_json::to_vec(&body).unwrap();
    let evidence = sign(
        &json!({"iss": CLIENT, "aud": audience, "purposeId": format!("purpose-{code}"), "dnonce": 1234567890,
                "userID": "operatore", "userLocation": "postazione", "LoA": "LoA2",
                "iat": now(), "nbf": now(), "exp": now() + 300, "jti": uuid::Uuid::new_v4().to_string()}),
        &key(),
        KID,
    );
    let assertion = sign(
        &json!({"iss": CLIENT, "sub": CLIENT, "aud": format!("{base}/pdnd/client-assertion"),
                "purposeId": format!("purpose-{code}"), "jti": uuid::Uuid::new_v4().to_string(),
                "iat": now(), "exp": now() + 300,
                "digest": {"alg": "SHA256", "value": hex(&sha256(evidence.as_bytes()))}}),
        &key(),
        KID,
    );
    let digest = format!("SHA-256={}", encode_block(&sha256(&body)));
    Call {
        url: format!(
            "{base}/govway/rest/in/MinInternoPortaANPR-PDND/{}/v1/anpr-service-e002",
            name(code)
        ),
        signature_claims: json!({"iss": CLIENT, "sub": CLIENT, "aud": audience, "iat": now(), "exp": now() + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
            "signed_headers": [{"digest": digest}, {"content-type": "application/json"}]}),
        body,
        evidence,
        assertion,
        digest,
    }
}

fn request(code: &str, by: Value, case: &str) -> Value {
    json!({"idOperazioneClient": uuid::Uuid::new_v4().simple().to_string(), "criteriRicerca": by,
           "datiRichiesta": {"dataRiferimentoRichiesta": chrono::Utc::now().date_naive().to_string(),
                             "motivoRichiesta": format!("Prot. 1/{code}"), "casoUso": case}})
}

async fn voucher(h: &Harness, assertion: &str) -> (u16, Value) {
    let body = format!(
        "client_id={CLIENT}&grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    );
    let r = h
        .client
        .post(format!("{}/pdnd/token.oauth2", h.running.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn send(h: &Harness, c: &Call) -> (u16, String, Value) {
    let (status, v) = voucher(h, &c.assertion).await;
    assert_eq!(status, 200, "voucher: {v}");
    send_with(h, c, v["access_token"].as_str().unwrap()).await
}

async fn send_with(h: &Harness, c: &Call, voucher: &str) -> (u16, String, Value) {
    let r = h
        .client
        .post(&c.url)
        .header("authorization", format!("Bearer {voucher}"))
        .header("agid-jwt-trackingevidence", &c.evidence)
        .header("agid-jwt-signature", sign(&c.signature_claims, &key(), KID))
        .header("digest", &c.digest)
        .header("content-type", "application/json")
        .body(c.body.clone())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, r.json().await.unwrap())
}

fn resident(n: usize) -> snodo_simulators::population::person::Person {
    population()
        .iter()
        .filter(|p| p.is_resident() && p.death_date.is_none())
        .nth(n)
        .unwrap()
}

#[tokio::test]
async fn c030_gives_the_id_anpr_of_a_codice_fiscale() {
    let h = start().await;
    let p = resident(2);
    let c = call(
        &h,
        "C030",
        request(
            "C030",
            json!({"codiceFiscale": p.codice_fiscale.to_string()}),
            "C030",
        ),
    );
    let (status, _, body) = send(&h, &c).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["listaSoggetti"]["datiSoggetto"][0]["identificativi"]["idANPR"],
        id_anpr(p.id.0).as_str()
    );
}

#[tokio::test]
async fn c020_c021_and_c001_by_id_anpr() {
    let h = start().await;
    let p = population()
        .iter()
        .find(|p| {
            p.is_resident()
                && p.death_date.is_none()
                && p.household()
                    .is_some_and(|hh| population().household(hh).is_some_and(|x| x.members.len() > 1))
        })
        .unwrap();
    let by = json!({"idANPR": id_anpr(p.id.0)});
    let (status, _, residence) = send(&h, &call(&h, "C020", request("C020", by.clone(), "C020"))).await;
    assert_eq!(status, 200, "{residence}");
    let subject = &residence["listaSoggetti"]["datiSoggetto"][0];
    assert_eq!(
        subject["generalita"]["codiceFiscale"]["codFiscale"],
        p.codice_fiscale.as_str()
    );
    assert_eq!(
        subject["residenza"][0]["indirizzo"]["comune"]["codiceIstat"],
        ISTAT
    );

    let (status, _, family) = send(&h, &call(&h, "C021", request("C021", by.clone(), "C021"))).await;
    assert_eq!(status, 200, "{family}");
    assert!(
        family["listaSoggetti"]["datiSoggetto"].as_array().unwrap().len() > 1,
        "the household: {family}"
    );

    let (status, _, notice) = send(&h, &call(&h, "C001", request("C001", by, "C001"))).await;
    assert_eq!(status, 200, "{notice}");
    assert_eq!(
        notice["listaSoggetti"]["datiSoggetto"][0]["infoSoggettoEnte"][0]["valore"],
        "S"
    );
}

#[tokio::test]
async fn nobody_is_en122_with_404_and_a_wrong_caso_uso_is_en148() {
    let h = start().await;
    let (status, _, body) = send(
        &h,
        &call(
            &h,
            "C020",
            request("C020", json!({"codiceFiscale": "RSSMRA80A01F205X"}), "C020"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["listaErrori"][0]["codiceErroreAnomalia"].as_str()),
        (404, Some("EN122"))
    );
    let code = resident(0).codice_fiscale.to_string();
    let (status, _, body) = send(
        &h,
        &call(
            &h,
            "C020",
            request("C020", json!({"codiceFiscale": code}), "CO20"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["listaErrori"][0]["codiceErroreAnomalia"].as_str()),
        (400, Some("EN148"))
    );
}

#[tokio::test]
async fn a_voucher_for_another_e_service_is_en148() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let c020 = call(
        &h,
        "C020",
        request("C020", json!({"codiceFiscale": code.clone()}), "C020"),
    );
    let (_, v) = voucher(&h, &c020.assertion).await;
    let mut c030 = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code}), "C030"),
    );
    c030.evidence = c020.evidence.clone();
    let (status, _, body) = send_with(&h, &c030, v["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["listaErrori"][0]["codiceErroreAnomalia"].as_str()),
        (400, Some("EN148"))
    );
}

async fn assert_modi_refusal(h: &Harness, c: &Call, detail: &str) {
    let (status, content_type, body) = send(h, c).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["title"], "InteroperabilityInvalidRequest");
    assert!(body["detail"].as_str().unwrap().contains(detail), "{body}");
    assert!(body["govway_id"].is_string());
}

#[tokio::test]
async fn a_body_changed_after_signing_fails_the_digest() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let mut c = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code}), "C030"),
    );
    c.body = serde_json::to_vec(&request(
        "C030",
        json!({"codiceFiscale": "RSSMRA80A01F205X"}),
        "C030",
    ))
    .unwrap();
    assert_modi_refusal(&h, &c, "Digest does not match").await;
}

#[tokio::test]
async fn signed_headers_as_a_string_is_refused() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let mut c = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code}), "C030"),
    );
    c.signature_claims["signed_headers"] = json!(format!("digest: {}", c.digest));
    assert_modi_refusal(&h, &c, "signed_headers must be an array").await;
}

#[tokio::test]
async fn a_signature_without_iat_is_refused() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let mut c = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code}), "C030"),
    );
    c.signature_claims.as_object_mut().unwrap().remove("iat");
    assert_modi_refusal(&h, &c, "iat is missing").await;
}

#[tokio::test]
async fn an_audit_token_other_than_the_vouchers_is_refused() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let mut c = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code.clone()}), "C030"),
    );
    c.evidence = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code}), "C030"),
    )
    .evidence;
    assert_modi_refusal(&h, &c, "not the audit token the voucher was issued for").await;
}

#[tokio::test]
async fn no_voucher_is_401_and_a_forged_one_too() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let c = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code}), "C030"),
    );
    let forged = sign(
        &json!({"client_id": CLIENT, "iat": now(), "exp": now() + 60}),
        &key(),
        "snodo-pdnd-simulator",
    );
    let (status, content_type, body) = send_with(&h, &c, &forged).await;
    assert_eq!(
        (status, content_type.as_str()),
        (401, "application/problem+json"),
        "{body}"
    );
    let r = h.client.post(&c.url).body(c.body.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn the_voucher_endpoint_refuses_replayed_assertions_and_unregistered_keys() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let c = call(
        &h,
        "C030",
        request("C030", json!({"codiceFiscale": code}), "C030"),
    );
    assert_eq!(voucher(&h, &c.assertion).await.0, 200);
    let (status, body) = voucher(&h, &c.assertion).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["code"], "015-0008");
    let other = sign(
        &json!({"iss": CLIENT, "sub": CLIENT, "aud": "x/client-assertion", "purposeId": "purpose-C030",
                "jti": "j", "iat": now(), "exp": now() + 60, "digest": {"alg": "SHA256", "value": "0".repeat(64)}}),
        &snodo_security::devpki::cached_key("anpr-pdnd-test-other-client", 2048).unwrap(),
        KID,
    );
    assert_eq!(
        voucher(&h, &other).await.0,
        401,
        "signed with a key the client did not register"
    );
}

#[tokio::test]
async fn the_same_id_operazione_client_gets_the_same_answer() {
    let h = start().await;
    let code = resident(0).codice_fiscale.to_string();
    let body = request("C030", json!({"codiceFiscale": code}), "C030");
    let (_, _, first) = send(&h, &call(&h, "C030", body.clone())).await;
    let (_, _, again) = send(&h, &call(&h, "C030", body)).await;
    assert_eq!(first["idOperazioneANPR"], again["idOperazioneANPR"]);
}

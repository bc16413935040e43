//! The PDND side of the simulator (platform notes §2): the voucher endpoint `/pdnd/token.oauth2`
//! (client_credentials with a signed client assertion carrying the audit token's digest) and the ANPR
//! e-services C030, C020, C021, C001 behind a GovWay-like gateway at
//! `/govway/rest/in/MinInternoPortaANPR-PDND/<Cxxx-name>/v1/anpr-service-e002`, which checks what
//! GovWay checks — the voucher, `Digest`, `Agid-JWT-Signature` (INTEGRITY_REST_02, `signed_headers`
//! an array of objects) and `Agid-JWT-TrackingEvidence` (AUDIT_REST_02, bound to the voucher by its
//! digest) — and refuses with `application/problem+json` the way GovWay does; ANPR's own refusals
//! are `RispostaKO` (EN122 with 404, EN148 with 400).
//!
//! Token times are judged on real time (the client stamps them with its clock), like WS-Security.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openssl::base64::encode_block;
use openssl::pkey::{PKey, Private, Public};
use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_mappings::anpr::contract::{Address, Place};
use snodo_mappings::anpr::pdnd::{
    EService, ErroreAnomalia, GovWayProblem, Identificativi, ListaSoggetti, RichiestaE002, RispostaE002Ok,
    RispostaKo, SoggettoEnte,
};

use super::Shared;
use super::jwt::{self, JwtError, hex, sha256};
use super::registry::Record;

/// A client registered on PDND: its key (by `kid`) and its purposes, one per e-service.
#[derive(Clone)]
pub struct PdndClient {
    pub client_id: String,
    pub kid: String,
    pub key: PKey<Public>,
    /// `purposeId` → the e-service it was approved for.
    pub purposes: HashMap<String, EService>,
}

impl PdndClient {
    /// The development client the connector uses (`connectors/src/anpr/pdnd.rs`): `snodo-<istat>`,
    /// key id `anpr-<istat>`, the comune's ANPR key, purposes `purpose-C030`, ….
    pub fn development(istat: &str, key: PKey<Public>) -> PdndClient {
        PdndClient {
            client_id: format!("snodo-{istat}"),
            kid: format!("anpr-{istat}"),
            key,
            purposes: [EService::C030, EService::C020, EService::C021, EService::C001]
                .into_iter()
                .map(|s| (format!("purpose-{}", s.case_code()), s))
                .collect(),
        }
    }
}

/// How long a voucher lasts (PDND's default is 10 minutes).
const VOUCHER_SECONDS: i64 = 600;
/// Clock skew tolerated on `iat`/`exp`.
const SKEW_SECONDS: i64 = 60;
const VOUCHER_KID: &str = "snodo-pdnd-simulator";

/// The PDND state: clients, the voucher key, seen `jti`s and remembered answers.
pub struct Pdnd {
    pub clients: Vec<PdndClient>,
    pub voucher_key: PKey<Private>,
    seen: Mutex<HashSet<String>>,
    answers: Mutex<HashMap<(String, String), (u16, String)>>,
}

impl Pdnd {
    pub fn new(clients: Vec<PdndClient>, voucher_key: PKey<Private>) -> Pdnd {
        Pdnd {
            clients,
            voucher_key,
            seen: Mutex::new(HashSet::new()),
            answers: Mutex::new(HashMap::new()),
        }
    }

    pub fn reset(&self) {
        self.seen.lock().clear();
        self.answers.lock().clear();
    }

    fn client(&self, client_id: &str) -> Option<&PdndClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `iat` present and not in the future, `exp` present and not past.
fn fresh(claims: &Value) -> Result<(), &'static str> {
    let iat = claims["iat"].as_i64().ok_or("iat is missing")?;
    let exp = claims["exp"].as_i64().ok_or("exp is missing")?;
    if iat > now() + SKEW_SECONDS {
        return Err("iat is in the future");
    }
    if exp < now() - SKEW_SECONDS {
        return Err("the token expired");
    }
    if exp <= iat {
        return Err("exp is not after iat");
    }
    Ok(())
}

/// PDND's voucher refusal (`{"errors":[{"code","detail"}]}`, issues #4475, #5286).
fn voucher_error(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"code": "015-0008", "detail": format!("Unable to generate a token for the given request: {detail}")}]})),
    )
        .into_response()
}

/// `application/x-www-form-urlencoded` fields.
fn form(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| -> String {
        let hex = |b: u8| (b as char).to_digit(16);
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
                .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
                .flatten();
            match (bytes[i], escaped) {
                (_, Some(b)) => {
                    out.push(b as u8);
                    i += 2;
                }
                (b'+', None) => out.push(b' '),
                (b, None) => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// `POST /pdnd/token.oauth2`.
pub(crate) async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let pdnd = &shared.pdnd;
    let f = form(&body);
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "client_credentials" {
        return voucher_error(StatusCode::BAD_REQUEST, "grant_type must be client_credentials");
    }
    if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return voucher_error(
            StatusCode::BAD_REQUEST,
            "client_assertion_type must be jwt-bearer",
        );
    }
    let Some(client) = pdnd.client(field("client_id")) else {
        return voucher_error(StatusCode::UNAUTHORIZED, "unknown client_id");
    };
    let assertion = field("client_assertion");
    match jwt::kid(assertion) {
        Ok(kid) if kid == client.kid => {}
        Ok(_) => {
            return voucher_error(
                StatusCode::UNAUTHORIZED,
                "the assertion's kid is not a key of this client",
            );
        }
        Err(e) => return voucher_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
    let claims = match jwt::verify(assertion, &client.key) {
        Ok(c) => c,
        Err(e) => return voucher_error(StatusCode::UNAUTHORIZED, &e.to_string()),
    };
    if claims["iss"] != client.client_id.as_str() || claims["sub"] != client.client_id.as_str() {
        return voucher_error(StatusCode::BAD_REQUEST, "iss and sub must be the client_id");
    }
    if !claims["aud"]
        .as_str()
        .is_some_and(|a| a.ends_with("/client-assertion"))
    {
        return voucher_error(
            StatusCode::BAD_REQUEST,
            "aud is not the client-assertion audience",
        );
    }
    if let Err(reason) = fresh(&claims) {
        return voucher_error(StatusCode::BAD_REQUEST, reason);
    }
    let Some(jti) = claims["jti"].as_str() else {
        return voucher_error(StatusCode::BAD_REQUEST, "jti is missing");
    };
    if !pdnd.seen.lock().insert(format!("assertion:{jti}")) {
        return voucher_error(
            StatusCode::BAD_REQUEST,
            "the client assertion was already used (jti)",
        );
    }
    let purpose = claims["purposeId"].as_str().unwrap_or("");
    let Some(service) = client.purposes.get(purpose) else {
        return voucher_error(
            StatusCode::BAD_REQUEST,
            "purposeId is not a purpose of this client",
        );
    };
    let digest = &claims["digest"];
    let value = digest["value"].as_str().unwrap_or("");
    if digest["alg"] != "SHA256" || value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return voucher_error(
            StatusCode::BAD_REQUEST,
            "digest must be {alg: SHA256, value: hex SHA-256 of the audit token}",
        );
    }
    let issued = now();
    let voucher = json!({
        "iss": "snodo-pdnd-simulator", "sub": client.client_id, "client_id": client.client_id,
        "aud": format!("MinInternoPortaANPR/{}/v1", service.name()), "purposeId": purpose,
        "jti": uuid::Uuid::new_v4().to_string(), "iat": issued, "nbf": issued,
        "exp": issued + VOUCHER_SECONDS, "digest": digest,
    });
    match jwt::sign(&voucher, &pdnd.voucher_key, VOUCHER_KID) {
        Ok(token) => {
            Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": VOUCHER_SECONDS}))
                .into_response()
        }
        Err(e) => voucher_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// GovWay's refusal.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = GovWayProblem {
        kind: Some(format!(
            "https://govway.org/handling-errors/{}/{title}.html",
            status.as_u16()
        )),
        title: Some(title.to_owned()),
        status: Some(status.as_u16()),
        detail: Some(detail.to_owned()),
        govway_id: Some(uuid::Uuid::new_v4().to_string()),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response()
}

fn modi(detail: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, "InteroperabilityInvalidRequest", detail)
}

fn ko(status: StatusCode, id: &str, code: &str, text: &str) -> (u16, String) {
    let body = RispostaKo {
        id_operazione_anpr: Some(id.to_owned()),
        lista_errori: vec![ErroreAnomalia {
            codice_errore_anomalia: code.into(),
            tipo_errore_anomalia: "E".into(),
            testo_errore_anomalia: text.into(),
            oggetto_errore_anomalia: None,
            campo_errore_anomalia: None,
            valore_errore_anomalia: None,
        }],
    };
    (status.as_u16(), serde_json::to_string(&body).unwrap_or_default())
}

fn service_of(name: &str) -> Option<EService> {
    [EService::C030, EService::C020, EService::C021, EService::C001]
        .into_iter()
        .find(|s| s.name() == name)
}

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /govway/rest/in/MinInternoPortaANPR-PDND/{eservice}/v1/anpr-service-e002`.
pub(crate) async fn eservice(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pdnd = &shared.pdnd;
    let Some(service) = service_of(&name) else {
        return problem(StatusCode::NOT_FOUND, "UnknownAPIRequest", "Unknown API Request");
    };
    // The voucher: ours, fresh, for this e-service.
    let Some(voucher) = text(&headers, "authorization").and_then(|a| a.strip_prefix("Bearer ")) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "a Bearer voucher is required",
        );
    };
    let voucher_public = match pdnd
        .voucher_key
        .public_key_to_der()
        .and_then(|der| PKey::public_key_from_der(&der))
    {
        Ok(k) => k,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    };
    let voucher = match jwt::verify(voucher, &voucher_public) {
        Ok(v) => v,
        Err(e) => {
            return problem(
                StatusCode::UNAUTHORIZED,
                "TokenAuthenticationFailed",
                &e.to_string(),
            );
        }
    };
    if let Err(reason) = fresh(&voucher) {
        return problem(StatusCode::UNAUTHORIZED, "TokenAuthenticationFailed", reason);
    }
    let Some(client) = voucher["client_id"].as_str().and_then(|c| pdnd.client(c)) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "TokenAuthenticationFailed",
            "the voucher's client is unknown",
        );
    };
    let id_anpr_operation = shared.registry.next_operation_id();
    if voucher["aud"] != format!("MinInternoPortaANPR/{name}/v1").as_str() {
        // A purposeId of another e-service (notes §2.2: EN148).
        let (status, body) = ko(
            StatusCode::BAD_REQUEST,
            &id_anpr_operation,
            "EN148",
            "Ente non abilitato o caso uso inesistente",
        );
        return json_answer(status, body);
    }
    // AUDIT_REST_02: the audit token, signed by the client, is the one the voucher was issued for.
    let Some(evidence) = text(&headers, "agid-jwt-trackingevidence") else {
        return modi("Agid-JWT-TrackingEvidence is missing");
    };
    if let Err(e) = client_token(client, evidence) {
        return modi(&format!("Agid-JWT-TrackingEvidence: {e}"));
    }
    if voucher["digest"]["value"] != hex(&sha256(evidence.as_bytes())).as_str() {
        return modi("Agid-JWT-TrackingEvidence is not the audit token the voucher was issued for");
    }
    // INTEGRITY_REST_02: Digest of the exact body, and a signature over the headers.
    let digest = format!("SHA-256={}", encode_block(&sha256(&body)));
    match text(&headers, "digest") {
        None => return modi("the Digest header is missing"),
        Some(d) if d != digest => return modi("Digest does not match the body"),
        Some(_) => {}
    }
    let Some(signature) = text(&headers, "agid-jwt-signature") else {
        return modi("Agid-JWT-Signature is missing");
    };
    let claims = match client_token(client, signature) {
        Ok(c) => c,
        Err(e) => return modi(&format!("Agid-JWT-Signature: {e}")),
    };
    if !claims["aud"]
        .as_str()
        .is_some_and(|a| a.ends_with(&format!("/MinInternoPortaANPR/{name}/v1")))
    {
        return modi("Agid-JWT-Signature: aud is not this e-service's audience");
    }
    let Some(signed) = claims["signed_headers"].as_array() else {
        return modi("Agid-JWT-Signature: signed_headers must be an array of objects");
    };
    let signed_value = |name: &str| signed.iter().find_map(|o| o.get(name).and_then(Value::as_str));
    if signed_value("digest") != Some(digest.as_str()) {
        return modi("Agid-JWT-Signature: signed_headers does not carry the request's Digest");
    }
    let content_type = text(&headers, "content-type").unwrap_or("");
    if signed_value("content-type") != Some(content_type) {
        return modi("Agid-JWT-Signature: signed_headers does not carry the request's Content-Type");
    }
    let request: RichiestaE002 = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                &format!("Request content not conform to API specification: {e}"),
            );
        }
    };
    let key = (client.client_id.clone(), request.id_operazione_client.clone());
    if let Some((status, body)) = pdnd.answers.lock().get(&key).cloned() {
        return json_answer(status, body);
    }
    let (status, body) = answer(&shared, service, &request, &id_anpr_operation);
    pdnd.answers.lock().insert(key, (status, body.clone()));
    json_answer(status, body)
}

fn client_token(client: &PdndClient, token: &str) -> Result<Value, String> {
    match jwt::kid(token) {
        Ok(kid) if kid == client.kid => {}
        Ok(_) => return Err("kid is not the voucher client's key".into()),
        Err(e) => return Err(e.to_string()),
    }
    let claims = jwt::verify(token, &client.key).map_err(|e: JwtError| e.to_string())?;
    fresh(&claims).map_err(str::to_owned)?;
    Ok(claims)
}

fn json_answer(status: u16, body: String) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// ANPR's answer to a well-formed, authorised request.
fn answer(shared: &Shared, service: EService, r: &RichiestaE002, id: &str) -> (u16, String) {
    if r.dati_richiesta.caso_uso != service.case_code() {
        return ko(
            StatusCode::BAD_REQUEST,
            id,
            "EN148",
            "Ente non abilitato o caso uso inesistente",
        );
    }
    let date = chrono::NaiveDate::parse_from_str(&r.dati_richiesta.data_riferimento_richiesta, "%Y-%m-%d")
        .unwrap_or_else(|_| shared.clock.now().date_naive());
    let registry = &shared.registry;
    let found = match (&r.criteri_ricerca.codice_fiscale, &r.criteri_ricerca.id_anpr) {
        (Some(cf), _) => registry.by_code(cf, date),
        (None, Some(id)) => registry.by_id_anpr(id, date),
        (None, None) => None,
    }
    .filter(|p| !p.not_yet_born);
    let Some(person) = found else {
        return ko(
            StatusCode::NOT_FOUND,
            id,
            "EN122",
            "La richiesta effettuata non produce alcun risultato",
        );
    };
    let mut subjects = vec![subject(service, &person)];
    if service == EService::C021
        && let Some((household, _)) = &person.household
    {
        for (_, member) in registry.household_members(household, date).unwrap_or_default() {
            if member.id_anpr != person.id_anpr && member.death_date.is_none() {
                subjects.push(subject(service, &member));
            }
        }
    }
    let body = RispostaE002Ok {
        id_operazione_anpr: Some(id.to_owned()),
        lista_soggetti: Some(ListaSoggetti {
            dati_soggetto: subjects,
        }),
        lista_anomalie: Vec::new(),
    };
    (200, serde_json::to_string(&body).unwrap_or_default())
}

/// `TipoDatiSoggettiEnte` with the sections `service` fills (E000Vocabolario.xsd names).
fn subject(service: EService, p: &Record) -> SoggettoEnte {
    let mut s = SoggettoEnte {
        identificativi: Some(Identificativi {
            id_anpr: Some(p.id_anpr.clone()),
        }),
        ..SoggettoEnte::default()
    };
    if service == EService::C030 {
        return s;
    }
    s.generalita = Some(generalita(p));
    if matches!(service, EService::C020 | EService::C001) {
        s.residenza = p.residence.as_ref().map(|a| json!([residenza(a)]));
    }
    if service == EService::C021 {
        s.legame_soggetto = p
            .household
            .as_ref()
            .map(|(_, code)| json!({"codiceLegame": code.to_string()}));
    }
    if service == EService::C001 {
        s.info_soggetto_ente = Some(json!([{
            "id": "1003", "chiave": "Verifica esistenza in vita",
            "valore": if p.death_date.is_some() { "N" } else { "S" }
        }]));
    }
    if let Some(d) = p.death_date {
        s.dati_decesso = Some(json!({"dataEvento": d.to_string()}));
    }
    s
}

fn generalita(p: &Record) -> Value {
    let person = &p.person;
    let place = match &person.birth_place {
        Some(Place::Comune(c)) => json!({"comune": {
            "nomeComune": c.name, "codiceIstat": c.istat_code, "siglaProvinciaIstat": c.province}}),
        Some(Place::Abroad(f)) => json!({"localita": {
            "descrizioneStato": f.country_name, "codiceStato": f.country_code}}),
        None => Value::Null,
    };
    json!({
        "codiceFiscale": {"codFiscale": person.codice_fiscale, "validitaCF": "1"},
        "cognome": person.surname, "nome": person.given_name,
        "sesso": person.sex.map(|s| format!("{s:?}")),
        "dataNascita": person.birth_date.map(|d| d.to_string()),
        "luogoNascita": place,
    })
}

fn residenza(a: &Address) -> Value {
    json!({
        "tipoIndirizzo": a.kind.to_string(),
        "indirizzo": {
            "cap": a.postal_code,
            "comune": {"nomeComune": a.comune.name, "codiceIstat": a.comune.istat_code,
                       "siglaProvinciaIstat": a.comune.province},
            "toponimo": {"specie": a.street_kind, "denominazioneToponimo": a.street_name},
            "numeroCivico": {"numero": a.house_number},
        },
        "dataDecorrenzaResidenza": a.since.map(|d| d.to_string()),
    })
}

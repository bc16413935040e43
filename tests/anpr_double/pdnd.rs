//! The PDND side of the ANPR test double: the voucher endpoint and the e-service, judging the
//! client assertion, the audit token's binding, `Digest`, `Agid-JWT-Signature` (with
//! `signed_headers` as an array) and its audience as GovWay does, with the development ANPR key.

use snodo_security::devpki::shared_for_tests;

use super::{FakeAnpr, PdndCall};

/// The claims of a JWS signed by the development ANPR key, or why not.
fn verified_claims(jwt: &str) -> Result<serde_json::Value, String> {
    use openssl::hash::MessageDigest;
    use openssl::sign::Verifier;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("not a compact JWS".into());
    };
    let decode = |part: &str| -> Result<Vec<u8>, String> {
        let mut s = part.replace('-', "+").replace('_', "/");
        while !s.len().is_multiple_of(4) {
            s.push('=');
        }
        openssl::base64::decode_block(&s).map_err(|e| e.to_string())
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || header["kid"] != "anpr-015146" {
        return Err(format!("unexpected JWS header {header}"));
    }
    let key = shared_for_tests()
        .anpr_client()
        .identity
        .certificate()
        .public_key()
        .unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
    verifier
        .update(format!("{}.{}", parts[0], parts[1]).as_bytes())
        .unwrap();
    if !verifier.verify(&decode(signature)?).unwrap_or(false) {
        return Err("the JWS signature does not verify".into());
    }
    serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    openssl::hash::hash(openssl::hash::MessageDigest::sha256(), bytes)
        .unwrap()
        .to_vec()
}

fn problem(status: u16, title: &str, detail: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        serde_json::json!({"type": "about:blank", "title": title, "status": status, "detail": detail})
            .to_string(),
    )
        .into_response()
}

impl FakeAnpr {
    pub(super) fn voucher(&self, form: &str) -> axum::response::Response {
        use axum::response::IntoResponse;
        let field = |name: &str| {
            form.split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .map(|v| v.replace("%2B", "+").replace("%2F", "/").replace("%3D", "="))
        };
        let checked = (|| {
            if field("grant_type").as_deref() != Some("client_credentials") {
                return Err("grant_type".to_owned());
            }
            let claims = verified_claims(&field("client_assertion").ok_or("no client_assertion")?)?;
            if claims["iss"] != "snodo-015146" || claims["sub"] != claims["iss"] {
                return Err("iss/sub".into());
            }
            if claims["digest"]["alg"] != "SHA256" {
                return Err("digest".into());
            }
            Ok((
                claims["digest"]["value"].as_str().unwrap_or_default().to_owned(),
                claims["purposeId"].as_str().unwrap_or_default().to_owned(),
            ))
        })();
        match checked {
            Ok(bound) => {
                let mut s = self.state.lock();
                let token = format!("voucher-{}", s.vouchers.len() + 1);
                s.vouchers.insert(token.clone(), bound);
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 600})
                        .to_string(),
                )
                    .into_response()
            }
            Err(why) => problem(400, "invalid_client", &why),
        }
    }

    pub(super) fn eservice(
        &self,
        name: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let judged = (|| {
            let token = header("authorization");
            let token = token.strip_prefix("Bearer ").ok_or("no voucher")?;
            let (bound_digest, purpose) = self
                .state
                .lock()
                .vouchers
                .get(token)
                .cloned()
                .ok_or("unknown voucher")?;
            let evidence = header("agid-jwt-trackingevidence");
            verified_claims(&evidence)?;
            let hex: String = sha256(evidence.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if hex != bound_digest {
                return Err("the voucher is bound to another audit token".to_owned());
            }
            let digest = format!("SHA-256={}", openssl::base64::encode_block(&sha256(body)));
            if header("digest") != digest {
                return Err("Digest does not match the body".into());
            }
            let signature = verified_claims(&header("agid-jwt-signature"))?;
            let signed = signature["signed_headers"]
                .as_array()
                .ok_or("signed_headers is not an array")?;
            if !signed.iter().any(|h| h["digest"] == digest.as_str()) {
                return Err("signed_headers lacks the digest".into());
            }
            let audience = format!("{}/govway/rest/in/MinInternoPortaANPR/{name}/v1", self.url);
            if signature["aud"] != audience.as_str() {
                return Err(format!("wrong aud {}", signature["aud"]));
            }
            if signature["iat"].as_i64().is_none() {
                return Err("missing iat".into());
            }
            Ok(purpose)
        })();
        let (refused, purpose) = match judged {
            Ok(p) => (None, p),
            Err(e) => (Some(e), String::new()),
        };
        let reject = self.state.lock().pdnd_reject_next.take();
        self.state.lock().pub_pdnd_calls.push(PdndCall {
            path: name.to_owned(),
            refused: refused.clone(),
            id_operazione_client: request["idOperazioneClient"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            purpose_id: purpose,
        });
        if let Some(why) = refused {
            return problem(400, "InteroperabilityInvalidRequest", &why);
        }
        let (status, answer) = match reject {
            Some(code) => (
                404,
                serde_json::json!({"idOperazioneANPR": "55", "listaErrori": [{"codiceErroreAnomalia": code,
                    "tipoErroreAnomalia": "E", "testoErroreAnomalia": "La richiesta effettuata non produce alcun risultato"}]}),
            ),
            None => (
                200,
                serde_json::json!({"idOperazioneANPR": "54", "listaSoggetti": {"datiSoggetto": [{
                    "identificativi": {"idANPR": "AF41450AS"},
                    "generalita": {"codiceFiscale": {"codFiscale": request["criteriRicerca"]["codiceFiscale"]}}}]}}),
            ),
        };
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            answer.to_string(),
        )
            .into_response()
    }
}

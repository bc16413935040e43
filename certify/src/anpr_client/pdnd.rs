//! The PDND side of a client (platform notes §2.4): its voucher requests to `/pdnd/token.oauth2` and
//! its calls to the ANPR e-services behind GovWay, judged independently of the simulator that answers
//! them — every JWS verified here with OpenSSL against the trusted comuni's keys, every digest
//! recomputed from the bytes received — so that a client learns each ModI rule it broke, not only the
//! first one GovWay would refuse it for.
//!
//! A voucher request is judged on the client assertion (signed, `iss` = `sub` = `client_id`, the
//! client-assertion audience, `purposeId`, `jti`, fresh times, the audit token's `digest`). An
//! e-service call is judged on its `Agid-JWT-TrackingEvidence` (AUDIT_REST_02), on that token being
//! the one the voucher was issued for (the SHA-256 in the assertion), on `Digest` matching the body, on
//! its `Agid-JWT-Signature` (INTEGRITY_REST_02: `signed_headers` an array of objects naming the
//! `Digest` and the `Content-Type` sent), and on the voucher being used for this call only: the audit
//! binding means a fresh voucher per call.

use std::collections::HashMap;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use openssl::base64::encode_block;
use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use snodo_simulators::anpr::jwt::{self, JwtError, hex, sha256};

use super::checks::{
    CheckResult, PDND_AUDIT_DIGEST, PDND_DIGEST, PDND_FRESH_VOUCHER, PDND_SIGNATURE, PDND_TRACKING_EVIDENCE,
    PDND_VOUCHER_REQUEST,
};

/// The voucher endpoint's path on the simulator.
pub const TOKEN_PATH: &str = snodo_simulators::anpr::PDND_TOKEN_PATH;
/// The e-services' path: `<PREFIX><Cxxx-name><SUFFIX>`.
const ESERVICE_PREFIX: &str = "/govway/rest/in/MinInternoPortaANPR-PDND/";
const ESERVICE_SUFFIX: &str = "/v1/anpr-service-e002";
/// Clock skew tolerated on `iat` and `exp`, as for WS-Security.
const SKEW_SECONDS: i64 = 60;

/// The e-service a path calls (`C030-servizioAccertamentoIdUnicoNazionale`), if it is one.
pub fn eservice_of(path: &str) -> Option<&str> {
    path.strip_prefix(ESERVICE_PREFIX)?
        .strip_suffix(ESERVICE_SUFFIX)
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// One PDND request and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct PdndVerdict {
    /// Order of arrival among the PDND requests, from 1.
    pub seq: u64,
    pub received_at: DateTime<Utc>,
    /// `voucher request` or the e-service called.
    pub what: String,
    pub passes: bool,
    pub checks: Vec<CheckResult>,
    /// What the simulator answered: the HTTP status and, on a refusal, its reason.
    pub answer: Option<String>,
}

impl PdndVerdict {
    pub fn result(&self, check: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }
}

/// A voucher issued during the run: which request asked for it, the audit digest it is bound to,
/// and the call that used it first.
struct Issued {
    request_seq: u64,
    audit_digest: Option<String>,
    used_by: Option<u64>,
}

#[derive(Default)]
struct State {
    next_seq: u64,
    verdicts: Vec<PdndVerdict>,
    /// By `access_token`.
    issued: HashMap<String, Issued>,
}

/// The PDND judge of a run.
pub struct PdndJudge {
    keys: Vec<PKey<Public>>,
    state: Mutex<State>,
}

/// A voucher request judged, waiting for the simulator's answer (the voucher it issued).
pub struct PendingVoucher {
    verdict: PdndVerdict,
    audit_digest: Option<String>,
}

impl PdndJudge {
    /// `trusted` are the comuni's certificates: a client's JWS must verify with one of their keys.
    pub fn new(trusted: &[X509]) -> Result<PdndJudge, openssl::error::ErrorStack> {
        let keys = trusted
            .iter()
            .map(|c| c.public_key())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PdndJudge {
            keys,
            state: Mutex::new(State::default()),
        })
    }

    fn next_seq(&self) -> u64 {
        let mut state = self.state.lock();
        state.next_seq += 1;
        state.next_seq
    }

    /// Judges a `POST /pdnd/token.oauth2` body received at `now`.
    pub fn voucher_request(&self, body: &[u8], now: SystemTime) -> PendingVoucher {
        let (result, audit_digest) = match self.judge_voucher_request(body, unix(now)) {
            Ok((detail, digest)) => (CheckResult::pass(PDND_VOUCHER_REQUEST, detail), Some(digest)),
            Err(reason) => (CheckResult::fail(PDND_VOUCHER_REQUEST, reason), None),
        };
        PendingVoucher {
            verdict: verdict(self.next_seq(), now, "voucher request".into(), vec![result]),
            audit_digest,
        }
    }

    /// Keeps a voucher request's verdict with the simulator's answer, and the voucher it issued.
    pub fn voucher_answered(&self, mut pending: PendingVoucher, status: u16, body: &[u8]) {
        let token = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["access_token"].as_str().map(str::to_owned));
        pending.verdict.answer = Some(match &token {
            Some(_) if status == 200 => format!("HTTP {status}, a voucher"),
            _ => format!("HTTP {status} {}", refusal(body)),
        });
        let mut state = self.state.lock();
        if let Some(token) = token.filter(|_| status == 200) {
            state.issued.insert(
                token,
                Issued {
                    request_seq: pending.verdict.seq,
                    audit_digest: pending.audit_digest,
                    used_by: None,
                },
            );
        }
        state.verdicts.push(pending.verdict);
    }

    /// Judges an e-service call (`eservice` from its path), before the simulator answers it.
    pub fn call(
        &self,
        eservice: &str,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now: SystemTime,
    ) -> PdndVerdict {
        let at = unix(now);
        let seq = self.next_seq();
        let audience = format!("/MinInternoPortaANPR/{eservice}/v1");
        let evidence = header("agid-jwt-trackingevidence");
        let tracking = match &evidence {
            None => CheckResult::fail(PDND_TRACKING_EVIDENCE, "no Agid-JWT-TrackingEvidence header"),
            Some(token) => match self.judge_tracking_evidence(token, &audience, at) {
                Ok(detail) => CheckResult::pass(PDND_TRACKING_EVIDENCE, detail),
                Err(reason) => CheckResult::fail(PDND_TRACKING_EVIDENCE, reason),
            },
        };
        let sent_digest = header("digest");
        let expected_digest = format!("SHA-256={}", encode_block(&sha256(body)));
        let digest = match &sent_digest {
            None => CheckResult::fail(PDND_DIGEST, "no Digest header"),
            Some(d) if *d == expected_digest => {
                CheckResult::pass(PDND_DIGEST, "SHA-256 of the body received, base64")
            }
            Some(d) => CheckResult::fail(
                PDND_DIGEST,
                format!(
                    "Digest {d} is not SHA-256 of the {} bytes received ({expected_digest})",
                    body.len()
                ),
            ),
        };
        let signature = match header("agid-jwt-signature") {
            None => CheckResult::fail(PDND_SIGNATURE, "no Agid-JWT-Signature header"),
            Some(token) => match self.judge_signature(
                &token,
                &audience,
                sent_digest.as_deref(),
                header("content-type").as_deref(),
                at,
            ) {
                Ok(detail) => CheckResult::pass(PDND_SIGNATURE, detail),
                Err(reason) => CheckResult::fail(PDND_SIGNATURE, reason),
            },
        };
        let (audit, fresh) =
            self.judge_voucher_use(seq, header("authorization").as_deref(), evidence.as_deref());
        verdict(
            seq,
            now,
            eservice.to_owned(),
            vec![tracking, audit, digest, signature, fresh],
        )
    }

    /// Keeps an e-service call's verdict with the simulator's answer.
    pub fn call_answered(&self, mut verdict: PdndVerdict, status: u16, body: &[u8]) {
        verdict.answer = Some(if status == 200 {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status} {}", refusal(body))
        });
        self.state.lock().verdicts.push(verdict);
    }

    pub fn verdicts(&self) -> Vec<PdndVerdict> {
        let mut verdicts = self.state.lock().verdicts.clone();
        verdicts.sort_by_key(|v| v.seq);
        verdicts
    }

    fn judge_voucher_request(&self, body: &[u8], now: i64) -> Result<(String, String), String> {
        let fields = form_fields(body)?;
        let field = |name: &str| fields.get(name).map(String::as_str);
        if field("grant_type") != Some("client_credentials") {
            return Err("grant_type is not client_credentials".into());
        }
        if field("client_assertion_type") != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
            return Err(
                "client_assertion_type is not urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            );
        }
        let client_id = field("client_id")
            .filter(|c| !c.is_empty())
            .ok_or("no client_id")?;
        let assertion = field("client_assertion").ok_or("no client_assertion")?;
        let claims = self
            .verified("the client assertion", assertion)
            .map_err(|e| e.to_string())?;
        if claims["iss"] != client_id || claims["sub"] != client_id {
            return Err("the client assertion's iss and sub are not both the client_id".into());
        }
        if !claims["aud"]
            .as_str()
            .is_some_and(|a| a.ends_with("/client-assertion"))
        {
            return Err("the client assertion's aud is not PDND's …/client-assertion audience".into());
        }
        for name in ["purposeId", "jti"] {
            if claims[name].as_str().is_none_or(str::is_empty) {
                return Err(format!("the client assertion has no {name}"));
            }
        }
        fresh("the client assertion", &claims, now)?;
        let digest = &claims["digest"];
        let value = digest["value"].as_str().unwrap_or_default();
        if digest["alg"] != "SHA256" || value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                "the client assertion's digest is not {alg: SHA256, value: hex SHA-256 of the audit token}"
                    .into(),
            );
        }
        Ok((
            format!(
                "client {client_id}: the client assertion verifies, purposeId, jti, fresh, audit digest {}…",
                &value[..12]
            ),
            value.to_ascii_lowercase(),
        ))
    }

    fn judge_tracking_evidence(&self, token: &str, audience: &str, now: i64) -> Result<String, String> {
        let claims = self
            .verified("Agid-JWT-TrackingEvidence", token)
            .map_err(|e| e.to_string())?;
        for name in ["iss", "purposeId", "userID", "userLocation", "LoA", "jti"] {
            if claims[name].as_str().is_none_or(str::is_empty) {
                return Err(format!("Agid-JWT-TrackingEvidence has no {name}"));
            }
        }
        if claims["dnonce"].is_null() {
            return Err("Agid-JWT-TrackingEvidence has no dnonce".into());
        }
        audience_is(&claims, audience, "Agid-JWT-TrackingEvidence")?;
        fresh("Agid-JWT-TrackingEvidence", &claims, now)?;
        Ok("verifies; iss, aud, purposeId, dnonce, userID, userLocation, LoA, jti; fresh".into())
    }

    fn judge_signature(
        &self,
        token: &str,
        audience: &str,
        digest: Option<&str>,
        content_type: Option<&str>,
        now: i64,
    ) -> Result<String, String> {
        let claims = self
            .verified("Agid-JWT-Signature", token)
            .map_err(|e| e.to_string())?;
        for name in ["iss", "jti"] {
            if claims[name].as_str().is_none_or(str::is_empty) {
                return Err(format!("Agid-JWT-Signature has no {name}"));
            }
        }
        audience_is(&claims, audience, "Agid-JWT-Signature")?;
        fresh("Agid-JWT-Signature", &claims, now)?;
        let signed = match &claims["signed_headers"] {
            Value::Array(items) if items.iter().all(Value::is_object) => items,
            Value::Null => return Err("Agid-JWT-Signature has no signed_headers".into()),
            Value::String(_) => {
                return Err(
                    "Agid-JWT-Signature's signed_headers is a string; GovWay wants an array of objects"
                        .into(),
                );
            }
            _ => return Err("Agid-JWT-Signature's signed_headers is not an array of objects".into()),
        };
        let signed_value = |name: &str| signed.iter().find_map(|o| o.get(name).and_then(Value::as_str));
        match (signed_value("digest"), digest) {
            (Some(s), Some(d)) if s == d => {}
            (None, _) => return Err("signed_headers names no digest".into()),
            _ => return Err("signed_headers' digest is not the Digest header sent".into()),
        }
        match (signed_value("content-type"), content_type) {
            (Some(s), Some(c)) if s == c => {}
            (None, _) => return Err("signed_headers names no content-type".into()),
            _ => return Err("signed_headers' content-type is not the Content-Type header sent".into()),
        }
        Ok(
            "verifies; aud, jti, fresh; signed_headers an array naming the Digest and Content-Type sent"
                .into(),
        )
    }

    /// The audit binding and the voucher's freshness, both read from the vouchers issued this run.
    fn judge_voucher_use(
        &self,
        seq: u64,
        authorization: Option<&str>,
        evidence: Option<&str>,
    ) -> (CheckResult, CheckResult) {
        let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
            let why = "no Authorization: Bearer voucher";
            return (
                CheckResult::not_judged(PDND_AUDIT_DIGEST, format!("not judged: {why}")),
                CheckResult::fail(PDND_FRESH_VOUCHER, why),
            );
        };
        let mut state = self.state.lock();
        let Some(issued) = state.issued.get_mut(token) else {
            let why = "the voucher was not issued by this run's PDND";
            return (
                CheckResult::not_judged(PDND_AUDIT_DIGEST, format!("not judged: {why}")),
                CheckResult::fail(PDND_FRESH_VOUCHER, why),
            );
        };
        let audit = match (&issued.audit_digest, evidence) {
            (_, None) => CheckResult::fail(PDND_AUDIT_DIGEST, "no Agid-JWT-TrackingEvidence to bind"),
            (None, Some(_)) => CheckResult::not_judged(
                PDND_AUDIT_DIGEST,
                "not judged: the voucher request's assertion carried no usable digest",
            ),
            (Some(bound), Some(evidence)) => {
                let actual = hex(&sha256(evidence.as_bytes()));
                if *bound == actual {
                    CheckResult::pass(
                        PDND_AUDIT_DIGEST,
                        format!(
                            "SHA-256 of the TrackingEvidence is the digest of voucher request #{}",
                            issued.request_seq
                        ),
                    )
                } else {
                    CheckResult::fail(
                        PDND_AUDIT_DIGEST,
                        format!(
                            "SHA-256 of the TrackingEvidence sent ({}…) is not the digest voucher request #{} \
                             bound the voucher to ({}…)",
                            &actual[..12],
                            issued.request_seq,
                            &bound[..bound.len().min(12)]
                        ),
                    )
                }
            }
        };
        let fresh = match issued.used_by {
            Some(first) => CheckResult::fail(
                PDND_FRESH_VOUCHER,
                format!(
                    "the voucher of voucher request #{} was already used by call #{first}: one voucher per \
                     call (its audit digest binds it to one TrackingEvidence)",
                    issued.request_seq
                ),
            ),
            None => {
                issued.used_by = Some(seq);
                CheckResult::pass(
                    PDND_FRESH_VOUCHER,
                    format!(
                        "the voucher of voucher request #{}, used once",
                        issued.request_seq
                    ),
                )
            }
        };
        (audit, fresh)
    }

    /// The claims of a compact JWS whose RS256 signature verifies with a trusted comune's key.
    fn verified(&self, what: &'static str, token: &str) -> Result<Value, TokenError> {
        jwt::verify_with_any(token, self.keys.iter().map(|key| &**key))
            .map_err(|cause| TokenError::of(what, cause))
    }
}

/// Why a JWS was refused; the texts name the token and the part, never a claim's value.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("{0} is not a compact JWS (three base64url parts)")]
    Shape(&'static str),
    #[error("{0}: the JOSE header or the claims are not base64url JSON objects")]
    Encoding(&'static str),
    #[error("{0}: alg is not RS256")]
    Algorithm(&'static str),
    #[error("{0}: the header names no kid")]
    NoKid(&'static str),
    #[error("{0}: the RS256 signature does not verify with any trusted comune key")]
    Signature(&'static str),
}

impl TokenError {
    /// The simulator's refusal of the token `what`; its signature text names the one key it chose by
    /// kid, where here any trusted comune's key would do.
    fn of(what: &'static str, cause: JwtError) -> TokenError {
        match cause {
            JwtError::Shape => TokenError::Shape(what),
            JwtError::Encoding => TokenError::Encoding(what),
            JwtError::Algorithm => TokenError::Algorithm(what),
            JwtError::NoKid => TokenError::NoKid(what),
            JwtError::Signature { .. } => TokenError::Signature(what),
        }
    }
}

fn verdict(seq: u64, now: SystemTime, what: String, checks: Vec<CheckResult>) -> PdndVerdict {
    PdndVerdict {
        seq,
        received_at: now.into(),
        what,
        passes: checks.iter().all(|c| c.status == super::checks::Status::Pass),
        checks,
        answer: None,
    }
}

fn audience_is(claims: &Value, audience: &str, what: &str) -> Result<(), String> {
    if claims["aud"].as_str().is_some_and(|a| a.ends_with(audience)) {
        Ok(())
    } else {
        Err(format!(
            "{what}'s aud is not this e-service's audience (…{audience}, without -PDND and the operation)"
        ))
    }
}

/// `iat` and `exp` integers, `iat` not in the future, `exp` not passed and after `iat`.
fn fresh(what: &str, claims: &Value, now: i64) -> Result<(), String> {
    let iat = claims["iat"]
        .as_i64()
        .ok_or_else(|| format!("{what} has no iat"))?;
    let exp = claims["exp"]
        .as_i64()
        .ok_or_else(|| format!("{what} has no exp"))?;
    if iat > now + SKEW_SECONDS {
        return Err(format!("{what}: iat is in the future"));
    }
    if exp < now - SKEW_SECONDS {
        return Err(format!("{what} expired"));
    }
    if exp <= iat {
        return Err(format!("{what}: exp is not after iat"));
    }
    Ok(())
}

/// The reason of a refusal, for the report: GovWay's `detail`, PDND's `errors[0].detail`, ANPR's first
/// error.
fn refusal(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::from("(not JSON)");
    };
    let text = value["detail"]
        .as_str()
        .or_else(|| value["errors"][0]["detail"].as_str())
        .or_else(|| value["listaErrori"][0]["testoErroreAnomalia"].as_str())
        .unwrap_or_default();
    snodo_queue::privacy::mask_personal_data(text)
}

/// `application/x-www-form-urlencoded` fields, percent-decoded.
fn form_fields(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the voucher request is not UTF-8 text".to_owned())?;
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let pair = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("the voucher request is not valid form encoding (a bad % escape)")?;
                out.push(pair);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "a form field is not UTF-8 once decoded".to_owned())
}

fn unix(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_percent_decoded_and_a_bad_escape_is_refused() {
        let fields = form_fields(b"a=x%2By+z&client_assertion_type=urn%3Aietf").unwrap();
        assert_eq!(fields["a"], "x+y z");
        assert_eq!(fields["client_assertion_type"], "urn:ietf");
        assert!(form_fields(b"a=%zz").is_err());
    }

    #[test]
    fn eservice_paths_are_recognised() {
        assert_eq!(
            eservice_of("/govway/rest/in/MinInternoPortaANPR-PDND/C030-x/v1/anpr-service-e002"),
            Some("C030-x")
        );
        assert_eq!(
            eservice_of("/govway/rest/in/MinInternoPortaANPR-PDND//v1/anpr-service-e002"),
            None
        );
        assert_eq!(eservice_of("/pdnd/token.oauth2"), None);
    }
}

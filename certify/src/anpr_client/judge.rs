//! One request judged on every check of the catalogue, in ANPR's order (`simulators/src/anpr/soap.rs`):
//! the Envelope, WS-Security, the TLS client certificate, the service's XSD, the header, the
//! operation id. Unlike ANPR, which answers the first problem only, the checks that do not depend on
//! an earlier one are judged anyway (the XSD and the header of a request with a stale Timestamp), so
//! a client learns everything at once; the id sequence is judged only for requests ANPR would have
//! processed, since a refused request consumes no id.

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use openssl::x509::X509;
use parking_lot::Mutex;
use serde::Serialize;
use snodo_queue::privacy::mask_personal_data;
use snodo_security::schema::Schema;
use snodo_security::tls::PeerCertificate;
use snodo_security::wssec::SOAP11_NAMESPACE;
use snodo_security::xml::{Document, Limits, NodeId, parse};

use super::checks::{
    CERTIFICATE, CheckResult, HEADER, ID_OPERAZIONE, SOAP_ENVELOPE, Status, WS_SECURITY, XSD,
};
use super::testata::{SERVICES, Sequences, Service, Testata, judge_header, service_of};
use super::wssec::SecurityJudge;

/// One request and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RequestVerdict {
    /// Order of arrival, from 1.
    pub seq: u64,
    pub received_at: DateTime<Utc>,
    pub path: String,
    /// The payload's local name (`Richiesta3002`), when the Body held one.
    pub payload: Option<String>,
    /// Subject of the TLS client certificate (`CN=…, O=…`), when one was presented.
    pub client_certificate: Option<String>,
    /// True when every check passed: ANPR would have processed the request.
    pub passes: bool,
    pub checks: Vec<CheckResult>,
    /// What the simulator answered (`OK Risposta3002`, `rispostaKO EN122: …`, a SOAP Fault).
    pub answer: Option<String>,
}

impl RequestVerdict {
    pub fn result(&self, check: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }

    /// The checks this request failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.check)
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("the official ANPR schema {file} does not compile: {reason}")]
    Schema { file: String, reason: String },
    #[error("a trusted comune certificate is not usable: {0}")]
    Certificate(String),
}

/// Everything the checks need, built once; shared by the simulator's handlers.
pub struct RequestJudge {
    security: SecurityJudge,
    schemas: HashMap<&'static str, Result<Schema, String>>,
    tipo_invio: String,
    limits: Limits,
    state: Mutex<Judged>,
}

#[derive(Default)]
struct Judged {
    next_seq: u64,
    sequences: Sequences,
    verdicts: Vec<RequestVerdict>,
    /// Requests on other paths (PDND, unknown ones): listed, not judged.
    others: Vec<String>,
}

impl RequestJudge {
    /// `schema_dir` is `soap/comuni/` of the official schemas; `trusted` the comuni's certificates.
    pub fn new(schema_dir: &Path, trusted: Vec<X509>, tipo_invio: &str) -> Result<RequestJudge, JudgeError> {
        let mut schemas = HashMap::new();
        for service in SERVICES {
            if schemas.contains_key(service.xsd) {
                continue;
            }
            let compiled = if service.code.is_none() {
                compile_connection_schema(schema_dir)
            } else {
                let path = schema_dir.join(service.xsd);
                // The service schemas must compile: without them nothing is judged.
                Ok(Schema::compile(&path).map_err(|e| JudgeError::Schema {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })?)
            };
            schemas.insert(service.xsd, compiled);
        }
        Ok(RequestJudge {
            security: SecurityJudge::new(trusted).map_err(|e| JudgeError::Certificate(e.to_string()))?,
            schemas,
            tipo_invio: tipo_invio.to_owned(),
            limits: Limits::default(),
            state: Mutex::new(Judged::default()),
        })
    }

    /// Judges a request received at `now` (real time: freshness is ANPR's, whatever the simulator's
    /// clock says) on `path`; the verdict is kept (with the answer, [`RequestJudge::record`]).
    pub fn judge(
        &self,
        path: &str,
        body: &[u8],
        peer: Option<&PeerCertificate>,
        now: SystemTime,
    ) -> RequestVerdict {
        let mut checks = Vec::new();
        let mut payload_name = None;
        let doc = match parse(body, &self.limits) {
            Ok(doc) => Some(doc),
            Err(e) => {
                checks.push(CheckResult::fail(
                    SOAP_ENVELOPE,
                    format!("not well-formed XML within the limits: {e}"),
                ));
                None
            }
        };
        if let Some(doc) = &doc {
            let findings = self.security.judge(doc, now);
            let body_node = soap_body(doc);
            match (&findings.envelope_error, body_node) {
                (Some(reason), _) => checks.push(CheckResult::fail(SOAP_ENVELOPE, reason.clone())),
                (None, None) => checks.push(CheckResult::fail(
                    SOAP_ENVELOPE,
                    "not a SOAP 1.1 Envelope with one Body",
                )),
                (None, Some(_)) => checks.push(CheckResult::pass(SOAP_ENVELOPE, "a SOAP 1.1 Envelope")),
            }
            checks.extend(findings.results);
            let attributes = findings.attributes;
            let id_sede = attributes.as_ref().map(|a| a.id_sede.as_str());
            checks.push(judge_certificate(peer, id_sede, now));
            match body_node.and_then(|b| doc.child_elements(b).next()) {
                Some(payload) => {
                    let name = doc.element(payload).map(|e| e.name());
                    let local = name.map(|n| n.local_name().to_owned()).unwrap_or_default();
                    payload_name = Some(local.clone());
                    match service_of(name.and_then(|n| n.namespace()), &local) {
                        Some(service) => checks.extend(self.judge_payload(doc, payload, service, id_sede)),
                        None => {
                            checks.push(CheckResult::fail(
                                XSD,
                                format!("no ANPR service is called with {local} (ANPR: Rejected by policy)"),
                            ));
                            checks.push(CheckResult::not_judged(
                                HEADER,
                                "not judged: no ANPR service request",
                            ));
                        }
                    }
                }
                None if body_node.is_some() => {
                    checks.push(CheckResult::fail(XSD, "the Body is empty"));
                    checks.push(CheckResult::not_judged(HEADER, "not judged: the Body is empty"));
                }
                None => {}
            }
        }
        // Whatever could not be reached is not judged, so every verdict lists every check.
        for check in all_checks() {
            if check != ID_OPERAZIONE && !checks.iter().any(|c| c.check == check) {
                checks.push(CheckResult::not_judged(
                    check,
                    "not judged: the request is not a SOAP Envelope",
                ));
            }
        }
        let mut state = self.state.lock();
        state.next_seq += 1;
        let seq = state.next_seq;
        let processed = checks.iter().all(|c| c.status == Status::Pass);
        let sequence = match (&doc, processed) {
            (Some(doc), true) => {
                let payload = soap_body(doc).and_then(|b| doc.child_elements(b).next());
                let service = payload.and_then(|p| {
                    let name = doc.element(p)?.name();
                    service_of(name.namespace(), name.local_name())
                });
                match (payload, service) {
                    (Some(p), Some(service)) => {
                        state.sequences.judge(Testata::of(doc, p).as_ref(), service, seq)
                    }
                    _ => CheckResult::not_judged(ID_OPERAZIONE, "not judged: no service request"),
                }
            }
            _ => CheckResult::not_judged(
                ID_OPERAZIONE,
                "not judged: ANPR refuses the request before it reads idOperazioneComune",
            ),
        };
        checks.push(sequence);
        order(&mut checks);
        for check in &mut checks {
            check.detail = mask_personal_data(&check.detail);
        }
        RequestVerdict {
            seq,
            received_at: now.into(),
            path: path.to_owned(),
            payload: payload_name,
            client_certificate: peer.map(subject_line),
            passes: checks.iter().all(|c| c.status == Status::Pass),
            checks,
            answer: None,
        }
    }

    fn judge_payload(
        &self,
        doc: &Document,
        payload: NodeId,
        service: Service,
        id_sede: Option<&str>,
    ) -> Vec<CheckResult> {
        let xsd = match self.schemas.get(service.xsd) {
            Some(Ok(schema)) => match schema.validate_element(doc, payload) {
                Ok(()) => {
                    CheckResult::pass(XSD, format!("{} valid against {}", service.payload, service.xsd))
                }
                Err(e) => CheckResult::fail(XSD, format!("{} against {}: {e}", service.payload, service.xsd)),
            },
            Some(Err(reason)) => CheckResult::not_judged(XSD, format!("not judged: {reason}")),
            None => CheckResult::not_judged(XSD, "not judged: no schema for the service"),
        };
        let testata = Testata::of(doc, payload);
        let header = judge_header(testata.as_ref(), service, id_sede, &self.tipo_invio);
        vec![xsd, header]
    }

    /// Keeps a verdict with the simulator's answer.
    pub fn record(&self, verdict: RequestVerdict) {
        self.state.lock().verdicts.push(verdict);
    }

    /// A request on a path that is no SOAP service (PDND, a wrong path): counted only.
    pub fn note_other(&self, what: String) {
        self.state.lock().others.push(what);
    }

    pub fn verdicts(&self) -> Vec<RequestVerdict> {
        self.state.lock().verdicts.clone()
    }

    pub fn others(&self) -> Vec<String> {
        self.state.lock().others.clone()
    }
}

/// The connectivity test's schema: `connessione.xsd` imports `vocabolario_connessione.xsd`, which
/// imports `tipoDato.xsd` from its own directory, where the example client does not ship it; the three
/// are put together in a directory of their own to compile. Missing files (a binary run away from the
/// specs) leave connectivity tests not judged on the XSD.
fn compile_connection_schema(schema_dir: &Path) -> Result<Schema, String> {
    let example = schema_dir.join("../../soap-client-example/wsdl");
    let files = [
        example.join("connessione.xsd"),
        example.join("vocabolario_connessione.xsd"),
        schema_dir.join("tipoDato.xsd"),
    ];
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(format!(
            "the connectivity test's schema needs {}",
            missing.display()
        ));
    }
    let dir = std::env::temp_dir().join(format!(
        "snodo-certify-connessione-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let copied = std::fs::create_dir_all(&dir).and_then(|()| {
        files.iter().try_for_each(|f| {
            let name = f.file_name().expect("a file name");
            std::fs::copy(f, dir.join(name)).map(|_| ())
        })
    });
    let compiled = match copied {
        Ok(()) => Schema::compile(dir.join("connessione.xsd")).map_err(|e| e.to_string()),
        Err(e) => Err(format!("copying the connectivity test's schema: {e}")),
    };
    let _ = std::fs::remove_dir_all(&dir);
    compiled
}

/// Every check id, in the catalogue's order.
fn all_checks() -> Vec<&'static str> {
    let mut all = vec![SOAP_ENVELOPE];
    all.extend(WS_SECURITY);
    all.extend([CERTIFICATE, XSD, HEADER, ID_OPERAZIONE]);
    all
}

fn order(checks: &mut [CheckResult]) {
    let all = all_checks();
    checks.sort_by_key(|c| all.iter().position(|a| *a == c.check).unwrap_or(usize::MAX));
}

/// The Envelope's one Body (SOAP 1.1), if the document is one.
fn soap_body(doc: &Document) -> Option<NodeId> {
    let root = doc.document_element();
    if !doc.element(root)?.name().is(Some(SOAP11_NAMESPACE), "Envelope") {
        return None;
    }
    let mut bodies = doc.child_elements(root).filter(|&c| {
        doc.element(c)
            .is_some_and(|e| e.name().is(Some(SOAP11_NAMESPACE), "Body"))
    });
    match (bodies.next(), bodies.next()) {
        (Some(body), None) => Some(body),
        _ => None,
    }
}

/// ANPR's TLS rule: the comune's certificate `<IdSede>-CO-…` (servers) or `<IdSede>-pc-…`
/// (workstations), chaining to ANPR's CA (the handshake checked that) and valid now.
fn judge_certificate(peer: Option<&PeerCertificate>, id_sede: Option<&str>, now: SystemTime) -> CheckResult {
    let Some(peer) = peer else {
        return CheckResult::fail(CERTIFICATE, "no TLS client certificate was presented");
    };
    let Some(cn) = peer.subject.common_name.as_deref() else {
        return CheckResult::fail(CERTIFICATE, "the TLS client certificate has no CN");
    };
    let (istat, rest) = cn.split_at(cn.len().min(6));
    let shaped = istat.len() == 6
        && istat.bytes().all(|b| b.is_ascii_digit())
        && (rest.starts_with("-CO-") || rest.starts_with("-pc-"));
    if !shaped {
        return CheckResult::fail(
            CERTIFICATE,
            format!(
                "CN {cn:?} is not <ISTAT>-CO-… or <ISTAT>-pc-… (ANPR: Postazione certificate does not seem to carry a valid CN name)"
            ),
        );
    }
    if let Some(id_sede) = id_sede
        && istat != id_sede
    {
        return CheckResult::fail(
            CERTIFICATE,
            format!("CN {cn} belongs to comune {istat}, the assertion's IdSede is {id_sede}"),
        );
    }
    if let Ok(certificate) = X509::from_der(&peer.der) {
        let now = openssl::asn1::Asn1Time::from_unix(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        );
        if let Ok(now) = now
            && (certificate.not_after() < now || certificate.not_before() > now)
        {
            return CheckResult::fail(CERTIFICATE, format!("CN {cn}: not valid now"));
        }
    }
    let note = if id_sede.is_some() {
        ""
    } else {
        " (IdSede not compared: the assertion did not verify)"
    };
    CheckResult::pass(CERTIFICATE, format!("CN {cn}{note}"))
}

/// `CN=…, O=…`: the fields an integrator knows a certificate by; never the subject serialNumber (a
/// person's certificate carries a codice fiscale there).
fn subject_line(peer: &PeerCertificate) -> String {
    let s = &peer.subject;
    [
        ("CN", &s.common_name),
        ("OU", &s.organizational_unit),
        ("O", &s.organization),
        ("C", &s.country),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join(", ")
}

//! A minimal ANPR for the connector's tests until (and beside) the real simulator: mutual TLS with the
//! development CA, the WS-Security header verified with the security crate's `RequestVerifier`, 3002,
//! 6001, 4002 and 4005 answered through the mappings' simulator-side writers, and ANPR's numbering
//! rules — a repeated `idOperazioneComune` gets its first answer, a new one lower than the last is
//! refused. Tests script transient failures, stalls and refusals, and read what was received.

#![allow(dead_code)]

mod pdnd;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use snodo_connectors::anpr::soap::ID_NOT_INCREASING;
use snodo_mappings::anpr::bulk::{self, Accepted, PollItem, PollResult};
use snodo_mappings::anpr::certificate::{self, CertificateIssued};
use snodo_mappings::anpr::lookup::{self, LookupCompleted, LookupKey, Resident};
use snodo_mappings::anpr::registry_change::RegistryUpdated;
use snodo_mappings::anpr::{
    AnprMessage, Outcome, Person, Rejection, RequestHeader, ResponseHeader, SchemaV1,
};
use snodo_mappings::anpr::{birth, death, residence};
use snodo_mappings::soap::{Envelope, EnvelopeBuilder, Fault, FaultCode, SOAP11_CONTENT_TYPE, read_envelope};
use snodo_security::devpki;
use snodo_security::dsig::{SignaturePolicy, TrustedKeys};
use snodo_security::tls::PeerCertificate;
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_security::wssec::RequestVerifier;
use snodo_security::xml::Limits;
use tokio::net::TcpListener;

/// What one call looked like.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: String,
    pub id_operazione_comune: String,
    pub tipo_invio: String,
    /// The CN of the client certificate TLS verified.
    pub peer: Option<String>,
    /// The `IdSede` the verified assertion carried.
    pub id_sede: String,
    /// The request as received (signed envelope).
    pub raw: String,
}

#[derive(Default)]
struct State {
    fail_next: usize,
    stall_next: Option<Duration>,
    reject_next: Vec<String>,
    calls: Vec<Call>,
    last_id: u64,
    answers: HashMap<String, (String, String)>,
    next_anpr_id: u64,
    /// 4005 polls answered "not ready" before the results of an operation are given.
    not_ready_polls: usize,
    polls: HashMap<String, usize>,
    /// Vouchers issued: token → (digest of the audit token it is bound to, purposeId).
    vouchers: HashMap<String, (String, String)>,
    pub_pdnd_calls: Vec<PdndCall>,
    pdnd_reject_next: Option<String>,
}

/// One e-service call, as the double judged it.
#[derive(Debug, Clone)]
pub struct PdndCall {
    pub path: String,
    /// `None` when every ModI check passed; else why GovWay would refuse it.
    pub refused: Option<String>,
    pub id_operazione_client: String,
    pub purpose_id: String,
}

/// The test double, shared by the tests and its server.
#[derive(Clone)]
pub struct FakeAnpr {
    state: Arc<Mutex<State>>,
    verifier: Arc<RequestVerifier>,
    pub url: String,
}

fn trusted_comune() -> TrustedKeys {
    let pki = devpki::shared_for_tests();
    TrustedKeys::from_certificates(vec![pki.anpr_client().identity.certificate().clone()]).unwrap()
}

impl FakeAnpr {
    /// Serves on an ephemeral port of 127.0.0.1 with the development PKI's server certificate,
    /// requiring a client certificate from the development CA.
    pub async fn start() -> FakeAnpr {
        let pki = devpki::shared_for_tests();
        let verifier = RequestVerifier::new(
            SignaturePolicy::anpr_ws_security(),
            trusted_comune(),
            trusted_comune(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fake = FakeAnpr {
            state: Arc::new(Mutex::new(State {
                next_anpr_id: 7_000_000,
                ..State::default()
            })),
            verifier: Arc::new(verifier),
            url: format!("https://127.0.0.1:{port}"),
        };
        let mut paths: Vec<&str> = snodo_connectors::anpr::SERVICE_PATHS
            .iter()
            .map(|(_, p)| *p)
            .collect();
        paths.dedup();
        let mut router = axum::Router::new();
        for path in paths {
            let fake = fake.clone();
            router = router.route(
                path,
                axum::routing::post(move |request: axum::extract::Request| {
                    let fake = fake.clone();
                    async move { fake.serve(request).await }
                }),
            );
        }
        let token = fake.clone();
        router = router.route(
            "/pdnd/token.oauth2",
            axum::routing::post(move |body: String| {
                let fake = token.clone();
                async move { fake.voucher(&body) }
            }),
        );
        let eservice = fake.clone();
        router = router.route(
            "/govway/rest/in/MinInternoPortaANPR-PDND/{name}/v1/anpr-service-e002",
            axum::routing::post(
                move |axum::extract::Path(name): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let fake = eservice.clone();
                    async move { fake.eservice(&name, &headers, &body) }
                },
            ),
        );
        let server = TlsServer::new(TlsServerConfig::new(
            pki.tls_server().identity.clone(),
            ClientAuth::Required(pki.trust_anchors()),
        ))
        .unwrap();
        tokio::spawn(async move { server.serve(listener, router, std::future::pending()).await });
        fake
    }

    pub fn fail_next(&self, n: usize) {
        self.state.lock().fail_next = n;
    }

    pub fn stall_next(&self, d: Duration) {
        self.state.lock().stall_next = Some(d);
    }

    /// The next calls are refused with these codes, in order.
    pub fn reject_next(&self, codes: &[&str]) {
        self.state.lock().reject_next = codes.iter().map(|c| (*c).to_owned()).collect();
    }

    /// 4005 answers "not ready" (EN108) this many times per operation before giving its results.
    pub fn not_ready_polls(&self, n: usize) {
        self.state.lock().not_ready_polls = n;
    }

    /// Pretends the comune already used numbers up to `id`.
    pub fn set_last_id(&self, id: u64) {
        self.state.lock().last_id = id;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().calls.clone()
    }

    pub fn pdnd_calls(&self) -> Vec<PdndCall> {
        self.state.lock().pub_pdnd_calls.clone()
    }

    /// The next e-service call is answered 404 RispostaKO with this code.
    pub fn pdnd_reject_next(&self, code: &str) {
        self.state.lock().pdnd_reject_next = Some(code.to_owned());
    }
}

fn ko(h: &RequestHeader, anpr_id: &str, code: &str, text: &str) -> Rejection {
    Rejection {
        header: ResponseHeader::answering(h, anpr_id, Outcome::Rejected),
        errors: vec![AnprMessage::error(code, text)],
    }
}

fn write_ko(service: &str, r: &Rejection) -> String {
    match service {
        "3002" => lookup::write_rejection(r),
        "6001" => certificate::write_rejection(r),
        "5005" => residence::write_rejection(r),
        "1001" => birth::write_rejection(r),
        "2001" => death::write_rejection(r),
        s => bulk::write_rejection(s, r),
    }
    .unwrap()
}

/// The 3002 answer about the person the request names.
fn lookup_answer(h: &RequestHeader, cmd: &lookup::LookupResident, anpr_id: &str) -> String {
    let cf = match &cmd.by {
        LookupKey::CodiceFiscale(cf) => Some(cf.clone()),
        LookupKey::Generalita(_) => None,
    };
    let event = LookupCompleted {
        schema: SchemaV1,
        id_operazione_anpr: anpr_id.to_owned(),
        persons: vec![Resident {
            id_anpr: Some("AF41450AS".into()),
            person: Person {
                codice_fiscale: cf,
                surname: Some("ROSSI".into()),
                given_name: Some("MARIO".into()),
                ..Person::default()
            },
            civil_status: None,
            citizenships: Vec::new(),
            residence: None,
            family_link: None,
            household: None,
        }],
        warnings: vec![AnprMessage::warning("EN300", "dato anagrafico da verificare")],
    };
    lookup::write_response(
        &ResponseHeader::answering(h, anpr_id, Outcome::OkWithWarnings),
        &event,
    )
    .unwrap()
}

impl FakeAnpr {
    fn answer(&self, envelope: &Envelope) -> Result<(String, String), Fault> {
        let doc = envelope.document();
        let node = envelope.payload();
        let name = doc
            .element(node)
            .map(|e| e.name().local_name().to_owned())
            .unwrap_or_default();
        let client = |e: &dyn std::fmt::Display| Fault::new(FaultCode::Client, e.to_string());
        // (header, service-specific answer writer)
        let (h, service): (RequestHeader, &str) = match name.as_str() {
            "Richiesta3002" => (lookup::read_request(doc, node).map_err(|e| client(&e))?.0, "3002"),
            "Richiesta6001" => (
                certificate::read_request(doc, node).map_err(|e| client(&e))?.0,
                "6001",
            ),
            "Richiesta4002" => (bulk::read_request(doc, node).map_err(|e| client(&e))?.0, "4002"),
            "Richiesta5005" => (
                residence::read_request(doc, node).map_err(|e| client(&e))?.0,
                "5005",
            ),
            "Richiesta1001" => (birth::read_request(doc, node).map_err(|e| client(&e))?.0, "1001"),
            "Richiesta2001" => (death::read_request(doc, node).map_err(|e| client(&e))?.0, "2001"),
            "Richiesta4005" => (
                bulk::read_poll_request(doc, node).map_err(|e| client(&e))?.0,
                "4005",
            ),
            other => return Err(Fault::new(FaultCode::Client, format!("unknown request {other}"))),
        };
        let mut s = self.state.lock();
        if let Some((first_service, answer)) = s.answers.get(&h.id_operazione_comune) {
            if first_service != service {
                let r = ko(
                    &h,
                    "1",
                    "EN079",
                    "id operazione comune gia' presente per un servizio diverso",
                );
                return Ok((service.into(), write_ko(service, &r)));
            }
            return Ok((service.into(), answer.clone()));
        }
        let id: u64 = h
            .id_operazione_comune
            .parse()
            .map_err(|_| client(&"idOperazioneComune"))?;
        s.next_anpr_id += 1;
        let anpr_id = s.next_anpr_id.to_string();
        if id <= s.last_id {
            let r = ko(
                &h,
                &anpr_id,
                ID_NOT_INCREASING.0,
                "idOperazioneComune inferiore all'ultimo",
            );
            return Ok((service.into(), write_ko(service, &r)));
        }
        s.last_id = id;
        let answer = if !s.reject_next.is_empty() {
            let code = s.reject_next.remove(0);
            write_ko(
                service,
                &ko(
                    &h,
                    &anpr_id,
                    &code,
                    "La richiesta effettuata non produce alcun risultato",
                ),
            )
        } else {
            match service {
                "3002" => {
                    let (_, cmd) = lookup::read_request(doc, node).unwrap();
                    lookup_answer(&h, &cmd, &anpr_id)
                }
                "6001" => certificate::write_response(
                    &ResponseHeader::answering(&h, &anpr_id, Outcome::Ok),
                    &certificate::read_request(doc, node).unwrap().1,
                    &CertificateIssued {
                        schema: SchemaV1,
                        id_operazione_anpr: anpr_id.clone(),
                        protocol_number: Some("2025000123".into()),
                        pdf_base64: Some("JVBERi0xLjQK".into()),
                        warnings: Vec::new(),
                    },
                )
                .unwrap(),
                "5005" | "1001" | "2001" => {
                    let updated = RegistryUpdated {
                        schema: SchemaV1,
                        id_operazione_anpr: Some(anpr_id.clone()),
                        subjects: Vec::new(),
                        warnings: vec![AnprMessage::warning(
                            "EN300",
                            "Indirizzo non presente nello stradario",
                        )],
                        place_warnings: Vec::new(),
                    };
                    let h = ResponseHeader::answering(&h, &anpr_id, Outcome::OkWithWarnings);
                    match service {
                        "5005" => residence::write_response(&h, &updated),
                        "1001" => birth::write_response(&h, &updated),
                        _ => death::write_response(&h, &updated),
                    }
                    .unwrap()
                }
                "4002" => bulk::write_response(
                    &ResponseHeader::answering(&h, &anpr_id, Outcome::Ok),
                    &Accepted {
                        id_operazione_anpr: anpr_id.clone(),
                    },
                )
                .unwrap(),
                _ => {
                    let (_, operation, page) = bulk::read_poll_request(doc, node).unwrap();
                    let not_ready = s.not_ready_polls;
                    let seen = s.polls.entry(operation.clone()).or_default();
                    *seen += 1;
                    if *seen <= not_ready {
                        write_ko(service, &ko(&h, &anpr_id, "EN108", "elaborazione in corso"))
                    } else {
                        let result = PollResult {
                            status: "OK".into(),
                            id_operazione_anpr: operation.clone(),
                            available_at: "2025-03-14T10:00:00".into(),
                            page: Some((page, 1)),
                            items: vec![
                                PollItem {
                                    id_operazione_anpr: operation.clone(),
                                    state: Some(2),
                                    kind: Some("4002".into()),
                                    content_base64: Some("PHJpc3VsdGF0aS8+".into()),
                                    format: Some("XML".into()),
                                },
                                PollItem {
                                    id_operazione_anpr: format!("9{operation}"),
                                    state: Some(1),
                                    kind: Some("N030".into()),
                                    content_base64: None,
                                    format: None,
                                },
                            ],
                        };
                        bulk::write_poll_response(
                            &ResponseHeader::answering(&h, &anpr_id, Outcome::Ok),
                            &result,
                        )
                        .unwrap()
                    }
                }
            }
        };
        s.answers.insert(
            h.id_operazione_comune.clone(),
            (service.to_owned(), answer.clone()),
        );
        Ok((service.into(), answer))
    }
}

impl FakeAnpr {
    async fn serve(&self, request: axum::extract::Request) -> axum::response::Response {
        use axum::response::IntoResponse;
        let peer = request
            .extensions()
            .get::<PeerCertificate>()
            .and_then(|p| p.subject.common_name.clone());
        let body = axum::body::to_bytes(request.into_body(), 4 << 20)
            .await
            .unwrap_or_default();
        let reply = match read_envelope(&body, &Limits::default()) {
            Ok(envelope) => {
                self.handle(envelope, peer, String::from_utf8_lossy(&body).into_owned())
                    .await
            }
            Err(e) => Err(Fault::new(FaultCode::Client, e.to_string())),
        };
        let (status, xml) = match reply {
            Ok(payload) => (200, EnvelopeBuilder::new().body(&payload)),
            Err(fault) => (500, EnvelopeBuilder::new().fault(&fault)),
        };
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [(axum::http::header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
            xml,
        )
            .into_response()
    }

    async fn handle(&self, envelope: Envelope, peer: Option<String>, raw: String) -> Result<String, Fault> {
        let verified = self.verifier.verify(envelope.document(), SystemTime::now());
        let stall = self.state.lock().stall_next.take();
        if let Some(d) = stall {
            tokio::time::sleep(d).await;
        }
        let header = {
            let doc = envelope.document();
            let payload = envelope.payload();
            doc.child_elements(payload).next().map(|t| {
                let text = |name: &str| {
                    doc.child_elements(t)
                        .find(|&c| doc.element(c).is_some_and(|e| e.name().local_name() == name))
                        .map(|c| doc.text_content(c))
                        .unwrap_or_default()
                };
                (
                    text("operazioneRichiesta"),
                    text("idOperazioneComune"),
                    text("tipoInvio"),
                )
            })
        };
        let (service, id, tipo_invio) = header.unwrap_or_default();
        let id_sede = verified
            .as_ref()
            .map(|v| v.attributes().id_sede.clone())
            .unwrap_or_default();
        {
            let mut s = self.state.lock();
            s.calls.push(Call {
                service,
                id_operazione_comune: id,
                tipo_invio,
                peer,
                id_sede,
                raw,
            });
            if s.fail_next > 0 {
                s.fail_next -= 1;
                return Err(Fault::new(FaultCode::Server, "Service Unavailable"));
            }
        }
        if let Err(e) = verified {
            // ANPR's answer to a bad WS-Security header (issues #3285, #2330).
            return Err(Fault::new(
                FaultCode::Client,
                format!("Internal Error (from client): {e}"),
            ));
        }
        self.answer(&envelope).map(|(_, payload)| payload)
    }
}

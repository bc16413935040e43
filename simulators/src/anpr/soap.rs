//! One SOAP request, judged the way ANPR judges it (platform notes §1.6, §1.3), in this order:
//! the WS-Security header (fresh Timestamp, signature over Body and Timestamp by a trusted comune
//! certificate, signed SAML assertion), the TLS client certificate (`<ISTAT>-CO-…`, the comune of
//! `IdSede`), the official XSD of the service, the sender (`IdSede` = `codMittente`), then the
//! `idOperazioneComune` rules, and only then the operation.
//!
//! Security failures are the generic `env:Client` faults ANPR gives ("Internal Error (from
//! client)", issues #3285 and #2330), with the verifier's reason in `detail` so an integrator can fix
//! the request; business refusals are `rispostaKO` with ANPR's codes.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use snodo_mappings::anpr::{Rejection, RequestHeader};
use snodo_mappings::soap::{EnvelopeBuilder, Fault, FaultCode, escape_text};
use snodo_security::tls::PeerCertificate;
use snodo_security::xml::{Document, NodeId};

use super::Shared;
use super::registry::{IdCheck, Remembered};
use super::services::{self, Context, Request, Service, refuse};

const SOAP11_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Namespace of the connectivity test (`soap-client-example/wsdl/connessione.xsd`).
pub const CONNECTION_NAMESPACE: &str = "http://sogei.it/ANPR/connessione";

/// The code the simulator answers a new `idOperazioneComune` lower than the comune's last with.
/// The rule is documented in `tipoDato.xsd` (`testataRichiesta`) without a code, and ANPR's public
/// error table (last changed 2018) has none for it — its EN080 is "Dati del comune richiedente
/// insufficienti". ANPR answers operations it does not allow with the generic EN148 and a specific
/// text (italia/anpr#1906, #2905), so the simulator does the same; the connector recognises EN148
/// with "inferiore" in the text (`connectors/src/anpr/soap.rs`).
pub const ID_NOT_INCREASING: &str = "EN148";

/// The text of that refusal.
const ID_NOT_INCREASING_TEXT: &str = "idOperazioneComune inferiore all'ultimo inviato dal comune";

pub async fn serve(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerCertificate>>,
    body: Bytes,
) -> Response {
    // Freshness is judged on real time: the connector signs with its own clock, and moving the
    // simulator clock (to age data or run a retry schedule) must not make every request "expired".
    let (doc, verified) = match shared.verifier.parse_and_verify(&body, SystemTime::now()) {
        Ok(v) => v,
        Err(e) => {
            return fault(
                FaultCode::Client,
                "Internal Error (from client)",
                Some(&e.to_string()),
            );
        }
    };
    let id_sede = verified.attributes().id_sede.clone();
    if shared.settings.require_client_certificate {
        let cn = peer
            .as_ref()
            .and_then(|Extension(p)| p.subject.common_name.clone());
        let valid = cn.as_deref().is_some_and(|cn| {
            cn.strip_prefix(id_sede.as_str())
                .is_some_and(|rest| rest.starts_with("-CO-") || rest.starts_with("-pc-"))
        });
        if !valid {
            let reason = match &cn {
                None => "no TLS client certificate was presented".to_owned(),
                Some(_) => {
                    "the TLS client certificate is not the certificate of the comune of IdSede".to_owned()
                }
            };
            return fault(
                FaultCode::Client,
                "Postazione certificate does not seem to carry a valid CN name (from client)",
                Some(&reason),
            );
        }
    }
    let Some(payload) = doc.child_elements(verified.body()).next() else {
        return fault(
            FaultCode::Client,
            "Malformed content (from client)",
            Some("the Body is empty"),
        );
    };
    let Some(name) = doc.element(payload).map(|e| e.name()) else {
        return fault(
            FaultCode::Client,
            "Malformed content (from client)",
            Some("the Body is empty"),
        );
    };
    let local = name.local_name().to_owned();
    if local == "RichiestaConnessione" && name.namespace() == Some(CONNECTION_NAMESPACE) {
        return connection_test(&shared, &doc, payload, &id_sede);
    }
    if local == "Richiesta3003" && name.namespace() == Some(snodo_mappings::anpr::ns::CONSULTAZIONE) {
        return pull(&shared, &doc, payload, &id_sede);
    }
    let Some(service) = Service::of_request(&local) else {
        return fault(
            FaultCode::Client,
            "Rejected by policy",
            Some(&format!("no ANPR service is called with {local}")),
        );
    };
    if let Err(e) = shared.schemas.validate(service, &doc, payload) {
        return fault(FaultCode::Client, "Malformed content (from client)", Some(&e));
    }
    let (header, request) = match services::read(service, &doc, payload) {
        Ok(read) => read,
        Err(e) => {
            return fault(
                FaultCode::Client,
                "Malformed content (from client)",
                Some(&e.to_string()),
            );
        }
    };
    // §1.3: tipoInvio must match the environment; the simulator is a test environment.
    if header.tipo_invio != shared.settings.tipo_invio {
        return fault(
            FaultCode::Client,
            "Rejected by policy",
            Some(&format!(
                "tipoInvio {} does not match this environment ({})",
                header.tipo_invio, shared.settings.tipo_invio
            )),
        );
    }
    answer(&shared, service, &header, &id_sede, request)
}

fn answer(
    shared: &Shared,
    service: Service,
    header: &RequestHeader,
    id_sede: &str,
    request: Request,
) -> Response {
    let registry = &shared.registry;
    let reject = |r: Rejection| match service.rejection(&r) {
        Ok(payload) => ok(&payload),
        Err(e) => internal(&e.to_string()),
    };
    if header.operazione_richiesta != service.code() {
        let id = registry.next_operation_id();
        return reject(refuse(
            header,
            &id,
            "EC022",
            &format!(
                "Il campo operazione richiesta {} non corrisponde al servizio {}",
                header.operazione_richiesta,
                service.code()
            ),
        ));
    }
    if header.cod_mittente != id_sede {
        let id = registry.next_operation_id();
        return reject(refuse(
            header,
            &id,
            "EN167",
            "Operazione non effettuabile: il mittente non e' competente sul comune indicato nella richiesta",
        ));
    }
    let _exclusive = registry.operation_lock();
    match registry.check_id(&header.cod_mittente, &header.id_operazione_comune, service.code()) {
        IdCheck::Replay(first) => {
            return (
                StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK),
                [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
                EnvelopeBuilder::new().body(&first.body),
            )
                .into_response();
        }
        IdCheck::OtherService => {
            let id = registry.next_operation_id();
            return reject(refuse(
                header,
                &id,
                "EN079",
                "id operazione comune gia' presente per un servizio diverso",
            ));
        }
        IdCheck::NotIncreasing => {
            let id = registry.next_operation_id();
            return reject(refuse(header, &id, ID_NOT_INCREASING, ID_NOT_INCREASING_TEXT));
        }
        IdCheck::Fresh => {}
    }
    let ctx = Context {
        registry,
        jobs: &shared.jobs,
        now: shared.clock.now(),
        bulk_processing: shared.settings.bulk_processing,
        bulk_page_size: shared.settings.bulk_page_size,
    };
    let payload = match services::run(&ctx, header, request) {
        Ok(Ok(answered)) => {
            if let Some(job) = answered.accepted_job {
                shared.schedule_n030(&job);
            }
            answered.payload
        }
        Ok(Err(rejection)) => match service.rejection(&rejection) {
            Ok(payload) => payload,
            Err(e) => return internal(&e.to_string()),
        },
        Err(e) => return internal(&e.to_string()),
    };
    registry.remember(
        &header.cod_mittente,
        &header.id_operazione_comune,
        Remembered {
            service: service.code().to_owned(),
            status: 200,
            body: Arc::new(payload.clone()),
        },
    );
    ok(&payload)
}

/// Service 3003: the comune's notifications (`mailbox`), under the same checks and idempotency as
/// the other services.
fn pull(shared: &Shared, doc: &Document, payload: NodeId, id_sede: &str) -> Response {
    if let Err(e) = shared.schemas.validate_with(Service::Lookup.xsd(), doc, payload) {
        return fault(FaultCode::Client, "Malformed content (from client)", Some(&e));
    }
    let Some(echo) = super::mailbox::header(doc, payload) else {
        return fault(
            FaultCode::Client,
            "Malformed content (from client)",
            Some("testataRichiesta"),
        );
    };
    if echo.1 != id_sede {
        return fault(
            FaultCode::Client,
            "Rejected by policy",
            Some("codMittente is not the comune of IdSede"),
        );
    }
    let registry = &shared.registry;
    let _exclusive = registry.operation_lock();
    let payload_xml = match registry.check_id(&echo.1, &echo.0, "3003") {
        IdCheck::Replay(first) => return ok(&first.body),
        IdCheck::OtherService => {
            return ok(&super::mailbox::rejection(
                &echo,
                &registry.next_operation_id(),
                "EN079",
                "id operazione comune gia' presente per un servizio diverso",
            ));
        }
        IdCheck::NotIncreasing => {
            return ok(&super::mailbox::rejection(
                &echo,
                &registry.next_operation_id(),
                ID_NOT_INCREASING,
                ID_NOT_INCREASING_TEXT,
            ));
        }
        IdCheck::Fresh => {
            let city = registry.population().city();
            super::mailbox::answer(
                &shared.mailbox,
                doc,
                payload,
                &echo,
                (city.name, city.istat, city.province),
                &registry.next_operation_id(),
                shared.clock.now(),
            )
        }
    };
    registry.remember(
        &echo.1,
        &echo.0,
        Remembered {
            service: "3003".into(),
            status: 200,
            body: Arc::new(payload_xml.clone()),
        },
    );
    ok(&payload_xml)
}

/// `testConnessione`: the header echoed in a `RispostaConnessione` (schema checked by hand: the
/// connectivity XSD ships apart from the service schemas).
fn connection_test(shared: &Shared, doc: &Document, payload: NodeId, id_sede: &str) -> Response {
    let Some(testata) = doc.child_elements(payload).find(|&c| {
        doc.element(c)
            .is_some_and(|e| e.name().local_name() == "testataRichiesta")
    }) else {
        return fault(
            FaultCode::Client,
            "Malformed content (from client)",
            Some("RichiestaConnessione needs its testataRichiesta"),
        );
    };
    let text = |local: &str| {
        doc.child_elements(testata)
            .find(|&c| doc.element(c).is_some_and(|e| e.name().local_name() == local))
            .map(|c| doc.text_content(c).trim().to_owned())
    };
    let (Some(id), Some(sender), Some(operation), Some(at)) = (
        text("idOperazioneComune"),
        text("codMittente"),
        text("operazioneRichiesta"),
        text("dataOraRichiesta"),
    ) else {
        return fault(
            FaultCode::Client,
            "Malformed content (from client)",
            Some(
                "testataRichiesta lacks idOperazioneComune, codMittente, operazioneRichiesta or dataOraRichiesta",
            ),
        );
    };
    if sender != id_sede {
        return fault(
            FaultCode::Client,
            "Rejected by policy",
            Some("codMittente is not the comune of IdSede"),
        );
    }
    let payload = format!(
        "<ns2:RispostaConnessione xmlns:ns2=\"{CONNECTION_NAMESPACE}\"><testataRisposta>\
         <idOperazioneComune>{}</idOperazioneComune><codMittente>ANPR</codMittente>\
         <codDestinatario>{}</codDestinatario><operazioneRichiesta>{}</operazioneRichiesta>\
         <dataOraRichiesta>{}</dataOraRichiesta><idOperazioneANPR>{}</idOperazioneANPR>\
         <esitoOperazione>2</esitoOperazione></testataRisposta></ns2:RispostaConnessione>",
        escape_text(&id),
        escape_text(&sender),
        escape_text(&operation),
        escape_text(&at),
        shared.registry.next_operation_id()
    );
    ok(&payload)
}

pub fn ok(payload: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
        EnvelopeBuilder::new().body(payload),
    )
        .into_response()
}

pub fn fault(code: FaultCode, text: &str, reason: Option<&str>) -> Response {
    let mut f = Fault::new(code, text);
    if let Some(reason) = reason {
        f = f.with_detail(format!("<motivo>{}</motivo>", escape_text(reason)));
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, SOAP11_CONTENT_TYPE)],
        EnvelopeBuilder::new().fault(&f),
    )
        .into_response()
}

/// The simulator could not write an answer it made up: its own bug, said as a Server fault.
fn internal(reason: &str) -> Response {
    fault(FaultCode::Server, "Internal Error (from server)", Some(reason))
}

//! The request header (`testataRichiesta`, anpr-and-cie-booking.md §1.3) and the
//! `idOperazioneComune` rules ANPR applies across a comune's requests: the table of services the
//! suite knows, the field checks, and the per-comune sequence.

use std::collections::HashMap;

use snodo_mappings::anpr::header::COD_DESTINATARIO;
use snodo_mappings::anpr::ns;
use snodo_security::xml::{Document, NodeId};
use snodo_simulators::anpr::CONNECTION_NAMESPACE;

use super::checks::{CheckResult, HEADER, ID_OPERAZIONE};

/// A service request the suite can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub payload: &'static str,
    pub namespace: &'static str,
    /// `operazioneRichiesta`; `None` for the connectivity test, which has no service code.
    pub code: Option<&'static str>,
    /// The schema file, under `soap/comuni/` (or, for the connectivity test, the example client's).
    pub xsd: &'static str,
    /// Registrations carry `dataDecorrenza`.
    pub registration: bool,
}

/// The connectivity test's schema, beside the example client's WSDL (`soap-client-example/wsdl/`),
/// not among the service schemas.
pub const CONNECTION_XSD: &str = "connessione.xsd";

const fn service(
    payload: &'static str,
    namespace: &'static str,
    code: &'static str,
    xsd: &'static str,
    registration: bool,
) -> Service {
    Service {
        payload,
        namespace,
        code: Some(code),
        xsd,
        registration,
    }
}

/// The services the ANPR simulator answers (`simulators/src/anpr/`).
pub const SERVICES: [Service; 9] = [
    service(
        "Richiesta1001",
        ns::ISCRIZIONE,
        "1001",
        "1000iscrizione.xsd",
        true,
    ),
    service(
        "Richiesta2001",
        ns::CANCELLAZIONE,
        "2001",
        "2000cancellazione.xsd",
        true,
    ),
    service(
        "Richiesta3002",
        ns::CONSULTAZIONE,
        "3002",
        "3000consultazione.xsd",
        false,
    ),
    service(
        "Richiesta3003",
        ns::CONSULTAZIONE,
        "3003",
        "3000consultazione.xsd",
        false,
    ),
    service(
        "Richiesta4002",
        ns::ESTRAZIONE,
        "4002",
        "4000estrazione.xsd",
        false,
    ),
    service(
        "Richiesta4005",
        ns::ESTRAZIONE,
        "4005",
        "4000estrazione.xsd",
        false,
    ),
    service("Richiesta5005", ns::MUTAZIONE, "5005", "5000mutazione.xsd", true),
    service(
        "Richiesta6001",
        ns::CERTIFICAZIONE,
        "6001",
        "6001certificazione.xsd",
        false,
    ),
    Service {
        payload: "RichiestaConnessione",
        namespace: CONNECTION_NAMESPACE,
        code: None,
        xsd: CONNECTION_XSD,
        registration: false,
    },
];

pub fn service_of(namespace: Option<&str>, local: &str) -> Option<Service> {
    SERVICES
        .into_iter()
        .find(|s| s.payload == local && namespace == Some(s.namespace))
}

/// The header's fields by local name (children are unqualified in every service schema).
pub struct Testata<'d> {
    doc: &'d Document,
    node: NodeId,
}

impl<'d> Testata<'d> {
    pub fn of(doc: &'d Document, payload: NodeId) -> Option<Testata<'d>> {
        let node = doc.child_elements(payload).find(|&c| {
            doc.element(c)
                .is_some_and(|e| e.name().local_name() == "testataRichiesta")
        })?;
        Some(Testata { doc, node })
    }

    pub fn field(&self, local: &str) -> Option<String> {
        self.doc
            .child_elements(self.node)
            .find(|&c| {
                self.doc
                    .element(c)
                    .is_some_and(|e| e.name().local_name() == local)
            })
            .map(|c| self.doc.text_content(c).trim().to_owned())
    }
}

/// The header rules; `id_sede` is the verified assertion's (unknown when it did not verify).
pub fn judge_header(
    testata: Option<&Testata<'_>>,
    service: Service,
    id_sede: Option<&str>,
    tipo_invio: &str,
) -> CheckResult {
    let Some(t) = testata else {
        return CheckResult::fail(HEADER, "the request has no testataRichiesta");
    };
    let mut problems = Vec::new();
    let mut require = |name: &str| {
        let value = t.field(name);
        if value.as_deref().is_none_or(str::is_empty) {
            problems.push(format!("{name} is missing"));
        }
        value.unwrap_or_default()
    };
    let sender = require("codMittente");
    let operation = require("operazioneRichiesta");
    let requested_at = require("dataOraRichiesta");
    require("idOperazioneComune");
    match id_sede {
        Some(id_sede) if !sender.is_empty() && sender != id_sede => problems.push(format!(
            "codMittente {sender} is not the IdSede {id_sede} of the assertion (ANPR: EN167)"
        )),
        _ => {}
    }
    if !requested_at.is_empty()
        && chrono::DateTime::parse_from_rfc3339(&requested_at).is_err()
        && chrono::NaiveDateTime::parse_from_str(&requested_at, "%Y-%m-%dT%H:%M:%S%.f").is_err()
    {
        problems.push(format!("dataOraRichiesta {requested_at} is not an xs:dateTime"));
    }
    if let Some(code) = service.code {
        if !operation.is_empty() && operation != code {
            problems.push(format!(
                "operazioneRichiesta {operation} is not {code}, the code of {} (ANPR: EC022)",
                service.payload
            ));
        }
        let destination = t.field("codDestinatario").unwrap_or_default();
        if destination != COD_DESTINATARIO {
            problems.push(format!(
                "codDestinatario {destination:?} is not {COD_DESTINATARIO}, the only rule version accepted since 2024-07-01"
            ));
        }
        let kind = t.field("tipoOperazione").unwrap_or_default();
        if !["C", "V", "R"].contains(&kind.as_str()) {
            problems.push(format!("tipoOperazione {kind:?} is not C, V or R"));
        }
        let mode = t.field("tipoInvio").unwrap_or_default();
        if mode != tipo_invio {
            problems.push(format!(
                "tipoInvio {mode:?} does not match this environment ({tipo_invio}; ANPR: Rejected by policy)"
            ));
        }
        if service.registration && t.field("dataDecorrenza").is_none_or(|d| d.is_empty()) {
            problems.push(format!(
                "{} is a registration and needs dataDecorrenza",
                service.payload
            ));
        }
    }
    if problems.is_empty() {
        let sender_note = if id_sede.is_some() {
            ""
        } else {
            " (codMittente not compared: the assertion did not verify)"
        };
        CheckResult::pass(
            HEADER,
            format!("codMittente {sender}, operazioneRichiesta {operation}{sender_note}"),
        )
    } else {
        CheckResult::fail(HEADER, problems.join("; "))
    }
}

/// What ANPR remembers of a comune's operation ids.
#[derive(Debug, Default)]
pub struct Sequences {
    comuni: HashMap<String, Sequence>,
}

#[derive(Debug, Default)]
struct Sequence {
    last: u128,
    /// Each id used, with its service (code or payload) and the request that first used it.
    used: HashMap<u128, (String, u64)>,
}

impl Sequences {
    /// Judges request `seq`'s id for `service` and, when ANPR would accept it, records it.
    pub fn judge(&mut self, testata: Option<&Testata<'_>>, service: Service, seq: u64) -> CheckResult {
        let Some(t) = testata else {
            return CheckResult::not_judged(ID_OPERAZIONE, "not judged: no testataRichiesta");
        };
        let (Some(comune), Some(id)) = (t.field("codMittente"), t.field("idOperazioneComune")) else {
            return CheckResult::not_judged(
                ID_OPERAZIONE,
                "not judged: codMittente or idOperazioneComune missing",
            );
        };
        let numeric = (1..=30).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
        let Some(number) = numeric.then(|| id.parse::<u128>().ok()).flatten() else {
            return CheckResult::fail(
                ID_OPERAZIONE,
                format!("idOperazioneComune {id:?} is not a number of 1 to 30 digits"),
            );
        };
        let kind = service.code.unwrap_or(service.payload).to_owned();
        let sequence = self.comuni.entry(comune).or_default();
        if let Some((used_for, first)) = sequence.used.get(&number) {
            return if *used_for == kind {
                CheckResult::pass(
                    ID_OPERAZIONE,
                    format!("{id} again for {kind}: a repeat of request #{first}"),
                )
            } else {
                CheckResult::fail(
                    ID_OPERAZIONE,
                    format!("{id} was used by request #{first} for {used_for}, now for {kind} (ANPR: EN079)"),
                )
            };
        }
        if number <= sequence.last {
            return CheckResult::fail(
                ID_OPERAZIONE,
                format!(
                    "{id} is not greater than the comune's last idOperazioneComune {} (ANPR refuses it)",
                    sequence.last
                ),
            );
        }
        sequence.last = number;
        sequence.used.insert(number, (kind, seq));
        CheckResult::pass(ID_OPERAZIONE, format!("{id}, greater than the comune's last"))
    }
}

#[cfg(test)]
mod tests {
    use snodo_security::xml::{Limits, parse};

    use super::super::checks::Status;
    use super::*;

    fn request(id: &str, service: &str) -> String {
        format!(
            "<p:Richiesta{service} xmlns:p=\"{}\"><testataRichiesta><idOperazioneComune>{id}</idOperazioneComune>\
             <codMittente>015146</codMittente></testataRichiesta></p:Richiesta{service}>",
            ns::CONSULTAZIONE
        )
    }

    fn judge(sequences: &mut Sequences, id: &str, service: &str, seq: u64) -> CheckResult {
        let xml = request(id, service);
        let doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
        let payload = doc.document_element();
        let service = service_of(Some(ns::CONSULTAZIONE), &format!("Richiesta{service}")).unwrap();
        sequences.judge(Testata::of(&doc, payload).as_ref(), service, seq)
    }

    #[test]
    fn ids_must_grow_per_comune_and_repeat_only_for_the_same_service() {
        let mut sequences = Sequences::default();
        assert_eq!(judge(&mut sequences, "10", "3002", 1).status, Status::Pass);
        assert_eq!(judge(&mut sequences, "11", "3003", 2).status, Status::Pass);
        // A retry: the same id for the same service.
        let repeat = judge(&mut sequences, "10", "3002", 3);
        assert_eq!(repeat.status, Status::Pass, "{}", repeat.detail);
        assert!(repeat.detail.contains("#1"));
        // EN079: the same id for another service.
        let other = judge(&mut sequences, "11", "3002", 4);
        assert_eq!(other.status, Status::Fail);
        assert!(other.detail.contains("EN079"), "{}", other.detail);
        // A new id not greater than the last.
        assert_eq!(judge(&mut sequences, "9", "3002", 5).status, Status::Fail);
        assert_eq!(judge(&mut sequences, "A1", "3002", 6).status, Status::Fail);
        assert_eq!(judge(&mut sequences, "12", "3002", 7).status, Status::Pass);
    }
}

//! The business of each SOAP service, on requests already verified (WS-Security, client certificate)
//! and schema-valid: 3002 lookup, 6001 certificate, 5005 change of residence, 1001 birth, 2001 death,
//! 4002/4005 bulk lookup with asynchronous results. Each returns the `RispostaNNNN` payload, OK or KO,
//! written by the pure mappings of `snodo_mappings::anpr` (so its shape is the one the connector reads).
//!
//! Error codes are ANPR's (`tables/tab_elenco_errori_anpr.csv`, platform notes §1.7).

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use openssl::base64::encode_block;
use snodo_mappings::anpr::bulk::{self, Accepted, PollItem, PollResult};
use snodo_mappings::anpr::certificate::{self, CertificateIssued, IssueCertificate};
use snodo_mappings::anpr::contract::{Person, Place, Sex};
use snodo_mappings::anpr::lookup::{self, LookupCompleted, LookupKey, LookupResident, Section};
use snodo_mappings::anpr::registry_change::{ChangedSubject, HouseholdId, RegistryUpdated};
use snodo_mappings::anpr::{
    AnprError, AnprMessage, Outcome, Rejection, RequestHeader, ResponseHeader, SchemaV1, birth,
    birth_candidates, death, residence,
};
use snodo_mappings::codice_fiscale::{self, CodiceFiscale};
use snodo_mappings::places::places;
use snodo_security::xml::{Document, NodeId};

use super::birth_parents::ambiguous_parents;
use super::certificates::{certificate_refusal, certificate_text, certificate_title};
use super::jobs::{BulkJob, BulkJobs, JobState};
use super::pdf::render;
use super::registry::{AnprRegistry, Record};

/// The operations the simulator serves, by request element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Lookup,
    Certificate,
    Residence,
    Birth,
    Death,
    BulkSubmit,
    BulkPoll,
}

impl Service {
    /// The service of a request payload's local name (`Richiesta3002`, …).
    pub fn of_request(local: &str) -> Option<Service> {
        Some(match local {
            "Richiesta3002" => Service::Lookup,
            "Richiesta6001" => Service::Certificate,
            "Richiesta5005" => Service::Residence,
            "Richiesta1001" => Service::Birth,
            "Richiesta2001" => Service::Death,
            "Richiesta4002" => Service::BulkSubmit,
            "Richiesta4005" => Service::BulkPoll,
            _ => return None,
        })
    }

    /// `operazioneRichiesta`.
    pub fn code(self) -> &'static str {
        match self {
            Service::Lookup => "3002",
            Service::Certificate => "6001",
            Service::Residence => "5005",
            Service::Birth => "1001",
            Service::Death => "2001",
            Service::BulkSubmit => "4002",
            Service::BulkPoll => "4005",
        }
    }

    /// The official schema file the request is validated against.
    pub fn xsd(self) -> &'static str {
        match self {
            Service::Lookup => "3000consultazione.xsd",
            Service::Certificate => "6001certificazione.xsd",
            Service::Residence => "5000mutazione.xsd",
            Service::Birth => "1000iscrizione.xsd",
            Service::Death => "2000cancellazione.xsd",
            Service::BulkSubmit | Service::BulkPoll => "4000estrazione.xsd",
        }
    }

    /// Every service.
    pub const ALL: [Service; 7] = [
        Service::Lookup,
        Service::Certificate,
        Service::Residence,
        Service::Birth,
        Service::Death,
        Service::BulkSubmit,
        Service::BulkPoll,
    ];

    /// The `rispostaKO` of this service.
    pub fn rejection(self, r: &Rejection) -> Result<String, AnprError> {
        match self {
            Service::Lookup => lookup::write_rejection(r),
            Service::Certificate => certificate::write_rejection(r),
            Service::Residence => residence::write_rejection(r),
            Service::Birth => birth::write_rejection(r),
            Service::Death => death::write_rejection(r),
            Service::BulkSubmit => bulk::write_rejection(bulk::SUBMIT_SERVICE, r),
            Service::BulkPoll => bulk::write_rejection(bulk::POLL_SERVICE, r),
        }
    }
}

/// What a request asks of the registry, read by the mapping of its service.
pub enum Request {
    Lookup(LookupResident),
    Certificate(IssueCertificate),
    Residence(residence::ChangeResidence),
    Birth(Box<birth::RegisterBirth>),
    Death(death::RegisterDeath),
    BulkSubmit(bulk::Chunk),
    BulkPoll(String, u32),
}

/// Reads the payload with the service's mapping.
pub fn read(
    service: Service,
    doc: &Document,
    payload: NodeId,
) -> Result<(RequestHeader, Request), AnprError> {
    Ok(match service {
        Service::Lookup => lookup::read_request(doc, payload).map(|(h, r)| (h, Request::Lookup(r)))?,
        Service::Certificate => {
            certificate::read_request(doc, payload).map(|(h, r)| (h, Request::Certificate(r)))?
        }
        Service::Residence => {
            residence::read_request(doc, payload).map(|(h, r)| (h, Request::Residence(r)))?
        }
        Service::Birth => birth::read_request(doc, payload).map(|(h, r)| (h, Request::Birth(Box::new(r))))?,
        Service::Death => death::read_request(doc, payload).map(|(h, r)| (h, Request::Death(r)))?,
        Service::BulkSubmit => bulk::read_request(doc, payload).map(|(h, r)| (h, Request::BulkSubmit(r)))?,
        Service::BulkPoll => {
            bulk::read_poll_request(doc, payload).map(|(h, id, page)| (h, Request::BulkPoll(id, page)))?
        }
    })
}

/// What a service needs besides the request.
pub struct Context<'a> {
    pub registry: &'a AnprRegistry,
    pub jobs: &'a BulkJobs,
    pub now: DateTime<Utc>,
    /// How long a 4002 chunk takes on the simulator clock before 4005 has its results.
    pub bulk_processing: TimeDelta,
    /// People per 4005 page.
    pub bulk_page_size: usize,
}

/// An operation's answer: the payload, and a bulk job that was accepted (for its N030 push).
pub struct Answered {
    pub payload: String,
    pub accepted_job: Option<String>,
}

/// ANPR's refusal with one blocking error.
pub fn refuse(header: &RequestHeader, id_operazione_anpr: &str, code: &str, text: &str) -> Rejection {
    Rejection {
        header: ResponseHeader::answering(header, id_operazione_anpr, Outcome::Rejected),
        errors: vec![AnprMessage::error(code, text)],
    }
}

/// Runs the operation; `Err` is a rejection to write with [`Service::rejection`].
pub fn run(
    ctx: &Context<'_>,
    header: &RequestHeader,
    request: Request,
) -> Result<Result<Answered, Rejection>, AnprError> {
    let id = ctx.registry.next_operation_id();
    let ok = ResponseHeader::answering(header, &id, Outcome::Ok);
    let ko = |code: &str, text: &str| Ok(Err(refuse(header, &id, code, text)));
    let today = ctx.now.date_naive();
    let answered = |payload: String| {
        Ok(Ok(Answered {
            payload,
            accepted_job: None,
        }))
    };
    match request {
        Request::Lookup(r) => {
            let date = r.reference_date.unwrap_or(today);
            let local = !r.nationwide;
            let found: Vec<Record> = match &r.by {
                LookupKey::CodiceFiscale(cf) => ctx.registry.by_code(cf, date).into_iter().collect(),
                LookupKey::Generalita(g) => {
                    ctx.registry
                        .by_name(&g.surname, &g.given_name, g.sex, g.birth_date, date)
                }
            };
            let found: Vec<Record> = found
                .into_iter()
                .filter(|r| {
                    !r.not_yet_born
                        && (!local || (r.resident_here && header.cod_mittente == ctx.registry.city_istat()))
                })
                .collect();
            match found.len() {
                0 => return ko("EN122", "La richiesta effettuata non produce alcun risultato"),
                1 => {}
                _ => {
                    return ko(
                        "EN043",
                        "Sono presenti piu' soggetti corrispondenti ai dati anagrafici inseriti",
                    );
                }
            }
            let all = r.sections.contains(&Section::FullRecord);
            let residence = all || r.sections.contains(&Section::Residence);
            let family = all || r.sections.contains(&Section::Family);
            let event = LookupCompleted {
                schema: SchemaV1,
                id_operazione_anpr: id.clone(),
                persons: found.iter().map(|p| p.resident(residence, family)).collect(),
                warnings: Vec::new(),
            };
            answered(lookup::write_response(&ok, &event)?)
        }
        Request::Certificate(r) => {
            let date = today;
            let Some(code) = r.holder.codice_fiscale.as_deref() else {
                return ko("EN122", "La richiesta effettuata non produce alcun risultato");
            };
            let Some(holder) = ctx.registry.by_code(code, date).filter(|h| !h.not_yet_born) else {
                return ko(
                    "EN042",
                    &format!("Soggetto da certificare non presente in ANPR alla data del {date}"),
                );
            };
            for &kind in &r.certificate_types {
                if certificate_title(kind).is_none() {
                    return ko(
                        "EC070",
                        &format!("Codice tipo certificato {kind} inesistente sulla tabella di riferimento"),
                    );
                }
                if let Some(refusal) = certificate_refusal(kind, &holder) {
                    return ko(refusal.0, refusal.1);
                }
            }
            let protocol = ctx.registry.next_protocol(today.year());
            let pdf = (!r.data_only)
                .then(|| encode_block(&render(&certificate_text(&r, &holder, &protocol, today))));
            let event = CertificateIssued {
                schema: SchemaV1,
                id_operazione_anpr: id.clone(),
                protocol_number: Some(protocol),
                pdf_base64: pdf,
                warnings: Vec::new(),
            };
            answered(certificate::write_response(&ok, &r, &event)?)
        }
        Request::Residence(r) => {
            if header.cod_mittente != ctx.registry.city_istat() {
                return ko(
                    "EN117",
                    "Impossibile modificare la scheda soggetto di competenza di altro comune",
                );
            }
            let HouseholdId::Anpr(household) = &r.household.id else {
                return ko(
                    "EN119",
                    "Identificativo Famiglia non valido o di competenza di altro comune",
                );
            };
            let Some(members) = ctx.registry.household_members(household, r.effective_date) else {
                return ko(
                    "EN119",
                    "Identificativo Famiglia non valido o di competenza di altro comune",
                );
            };
            let wanted: Vec<String> = r
                .members
                .iter()
                .filter_map(|m| m.person.codice_fiscale.as_deref().map(str::to_ascii_uppercase))
                .collect();
            let movers: Vec<&(u32, Record)> = members
                .iter()
                .filter(|(_, rec)| rec.death_date.is_none())
                .filter(|(_, rec)| {
                    wanted.is_empty()
                        || rec
                            .person
                            .codice_fiscale
                            .as_deref()
                            .is_some_and(|c| wanted.contains(&c.to_owned()))
                })
                .collect();
            if movers.is_empty() || (!wanted.is_empty() && movers.len() != wanted.len()) {
                return ko("EN122", "La richiesta effettuata non produce alcun risultato");
            }
            let mut address = r.new_residence.clone();
            address.since = Some(r.effective_date);
            for (index, _) in &movers {
                ctx.registry.move_person(*index, address.clone());
            }
            let event = RegistryUpdated {
                schema: SchemaV1,
                id_operazione_anpr: Some(id.clone()),
                subjects: movers
                    .iter()
                    .map(|(_, rec)| ChangedSubject {
                        id_anpr: Some(rec.id_anpr.clone()),
                        person: Some(rec.person.clone()),
                    })
                    .collect(),
                warnings: Vec::new(),
                place_warnings: Vec::new(),
            };
            answered(residence::write_response(&ok, &event)?)
        }
        Request::Death(r) => {
            if header.cod_mittente != ctx.registry.city_istat() {
                return ko(
                    "EN117",
                    "Impossibile modificare la scheda soggetto di competenza di altro comune",
                );
            }
            let Some(code) = r.person.codice_fiscale.as_deref() else {
                return ko("EN122", "La richiesta effettuata non produce alcun risultato");
            };
            let Some(rec) = ctx.registry.by_code(code, r.death_date) else {
                return ko("EN122", "La richiesta effettuata non produce alcun risultato");
            };
            if !rec.resident_here {
                return ko(
                    "EN117",
                    "Impossibile modificare la scheda soggetto di competenza di altro comune",
                );
            }
            if rec.death_date.is_some() || rec.not_yet_born {
                return ko(
                    "EN042",
                    &format!("Soggetto non presente in ANPR alla data del {}", r.death_date),
                );
            }
            ctx.registry.register_death(code, r.death_date);
            let event = RegistryUpdated {
                schema: SchemaV1,
                id_operazione_anpr: Some(id.clone()),
                subjects: vec![ChangedSubject {
                    id_anpr: Some(rec.id_anpr.clone()),
                    person: Some(rec.person.clone()),
                }],
                warnings: Vec::new(),
                place_warnings: Vec::new(),
            };
            answered(death::write_response(&ok, &event)?)
        }
        Request::Birth(r) => {
            if header.cod_mittente != ctx.registry.city_istat() {
                return ko(
                    "EN117",
                    "Impossibile modificare la scheda soggetto di competenza di altro comune",
                );
            }
            if let Some(choice) = ambiguous_parents(ctx.registry, &r, today, &id) {
                return answered(birth_candidates::write_response(&ok, &choice)?);
            }
            let mut child = r.child.clone();
            let code = match child.codice_fiscale.clone() {
                Some(code) => code.to_ascii_uppercase(),
                None => match assign_code(ctx.registry, &child) {
                    Some(code) => code,
                    None => return ko("EC007", "Luogo di nascita inesistente alla data dell'evento"),
                },
            };
            if ctx.registry.code_taken(&code) {
                return ko("EN125", "Codice fiscale gia' attribuito ad altro soggetto");
            }
            child.codice_fiscale = Some(code);
            let id_anpr = format!("NB{:05}AA", ctx.registry.births() % 100_000);
            let household = [&r.father, &r.mother]
                .into_iter()
                .flatten()
                .filter_map(|p| p.codice_fiscale.as_deref())
                .find_map(|c| ctx.registry.by_code(c, today))
                .and_then(|parent| {
                    parent
                        .household
                        .clone()
                        .map(|(h, _)| (h, parent.residence.clone()))
                });
            let record = Record {
                id_anpr: id_anpr.clone(),
                person: child.clone(),
                civil_status: 1,
                citizenship: r.citizenship.clone(),
                residence: household.as_ref().and_then(|(_, a)| a.clone()),
                household: household.map(|(h, _)| (h, 3)),
                death_date: None,
                resident_here: true,
                not_yet_born: false,
            };
            ctx.registry.register_birth(record);
            let event = RegistryUpdated {
                schema: SchemaV1,
                id_operazione_anpr: Some(id.clone()),
                subjects: vec![ChangedSubject {
                    id_anpr: Some(id_anpr),
                    person: Some(child),
                }],
                warnings: Vec::new(),
                place_warnings: Vec::new(),
            };
            answered(birth::write_response(&ok, &event)?)
        }
        Request::BulkSubmit(chunk) => {
            if chunk.codici_fiscali.len() > bulk::MAX_PER_CHUNK {
                return ko(
                    "EN101",
                    "Il file allegato supera i limiti dimensionali previsti: non indicare piu' di 2000 codici fiscali",
                );
            }
            ctx.jobs.insert(
                id.clone(),
                BulkJob {
                    comune: header.cod_mittente.clone(),
                    chunk,
                    accepted_at: ctx.now,
                    ready_at: ctx.now + ctx.bulk_processing,
                    notification_id: ctx.registry.next_operation_id(),
                },
            );
            Ok(Ok(Answered {
                payload: bulk::write_response(
                    &ok,
                    &Accepted {
                        id_operazione_anpr: id.clone(),
                    },
                )?,
                accepted_job: Some(id),
            }))
        }
        Request::BulkPoll(job_id, page) => {
            let job = match ctx.jobs.state(&job_id, &header.cod_mittente, ctx.now) {
                JobState::Unknown => {
                    return ko("EN122", "La richiesta effettuata non produce alcun risultato");
                }
                JobState::Waiting => return ko("EN108", "Richiesta presa in carico ma non ancora elaborata"),
                JobState::Working => return ko("EN109", "Richiesta in corso di elaborazione"),
                JobState::Ready(job) => job,
            };
            // Big results come in pages, each asked for by its own 4005 (`progressivo`).
            let per_page = ctx.bulk_page_size.max(1);
            let pages = job.chunk.codici_fiscali.len().div_ceil(per_page).max(1);
            let Some(index) = (page as usize).checked_sub(1).filter(|&i| i < pages) else {
                return ko("EN122", "La richiesta effettuata non produce alcun risultato");
            };
            let first = index * per_page;
            let last = (first + per_page).min(job.chunk.codici_fiscali.len());
            let content = bulk_result(ctx, &job, &ok, &job_id, first..last)?;
            let mut items = vec![PollItem {
                id_operazione_anpr: job_id.clone(),
                state: Some(1),
                kind: Some(bulk::SUBMIT_SERVICE.into()),
                content_base64: Some(encode_block(content.as_bytes())),
                format: Some("XML".into()),
            }];
            // The N030 that announced the results is listed once, with the first page.
            if index == 0 {
                items.push(PollItem {
                    id_operazione_anpr: job.notification_id.clone(),
                    state: Some(1),
                    kind: Some("N030".into()),
                    content_base64: Some(encode_block(
                        notification_content(&job.notification_id, &job_id).as_bytes(),
                    )),
                    format: Some("XML".into()),
                });
            }
            let result = PollResult {
                status: "1".into(),
                id_operazione_anpr: job_id.clone(),
                available_at: job.ready_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                page: Some((page, pages as u32)),
                items,
            };
            answered(bulk::write_poll_response(&ok, &result)?)
        }
    }
}

/// The content of an N030 notification `notification_id`: which asynchronous operation has its
/// results. Its own `testataNotifica` comes first, so that a comune reading the first
/// `idOperazioneANPR` of the XML — as it must for a 3003 entry, which carries no other id — finds the
/// id the push (`testataNotifica` of `RichiestaN000`) and the 4005 entry carry too.
pub fn notification_content(notification_id: &str, job_id: &str) -> String {
    format!(
        "<notificaN030><testataNotifica><tipoNotifica>N030</tipoNotifica><idOperazioneANPR>{notification_id}</idOperazioneANPR>\
         </testataNotifica><operazioneRichiesta><idOperazioneANPR>{job_id}</idOperazioneANPR></operazioneRichiesta>\
         <esito>Elaborazione completata</esito></notificaN030>"
    )
}

/// One page of a 4002 result file, for the chunk's codes in `range`: a `Risposta3002` listing everyone
/// found, with an EN122 anomaly per code that found no one (its position in the chunk as the value).
fn bulk_result(
    ctx: &Context<'_>,
    job: &BulkJob,
    ok: &ResponseHeader,
    job_id: &str,
    range: std::ops::Range<usize>,
) -> Result<String, AnprError> {
    let mut persons = Vec::new();
    let mut warnings = Vec::new();
    let all = job.chunk.sections.contains(&Section::FullRecord);
    let residence = all || job.chunk.sections.contains(&Section::Residence);
    let family = all || job.chunk.sections.contains(&Section::Family);
    for (i, code) in job
        .chunk
        .codici_fiscali
        .iter()
        .enumerate()
        .skip(range.start)
        .take(range.len())
    {
        match ctx
            .registry
            .by_code(code, job.chunk.reference_date)
            .filter(|r| !r.not_yet_born)
        {
            Some(r) => persons.push(r.resident(residence, family)),
            None => warnings.push(AnprMessage {
                value: Some((i + 1).to_string()),
                field: Some("codiceFiscale".into()),
                ..AnprMessage::warning("EN122", "La richiesta effettuata non produce alcun risultato")
            }),
        }
    }
    let header = ResponseHeader {
        id_operazione_anpr: job_id.to_owned(),
        operazione_richiesta: bulk::SUBMIT_SERVICE.into(),
        ..ok.clone()
    };
    lookup::write_response(
        &header,
        &LookupCompleted {
            schema: SchemaV1,
            id_operazione_anpr: job_id.to_owned(),
            persons,
            warnings,
        },
    )
}

/// The code the Agenzia would assign to a newborn (the next omocodia variant when taken).
fn assign_code(registry: &AnprRegistry, child: &Person) -> Option<String> {
    let birth = child.birth_date?;
    let place = match child.birth_place.as_ref()? {
        Place::Comune(c) => {
            let istat = c.istat_code.as_deref()?;
            places()
                .comune_by_istat(istat, birth)
                .or_else(|| places().comune_by_istat(istat, snodo_mappings::places::ARCHIVE_DATE))?
                .cadastral_code
        }
        Place::Abroad(f) => {
            places()
                .foreign_states()
                .iter()
                .find(|s| s.istat == f.country_code)?
                .code
        }
    };
    let sex = match child.sex? {
        Sex::M => codice_fiscale::Sex::Male,
        Sex::F => codice_fiscale::Sex::Female,
    };
    let base = CodiceFiscale::compute(
        child.surname.as_deref().unwrap_or("X"),
        child.given_name.as_deref().unwrap_or("X"),
        sex,
        birth,
        place,
    )
    .ok()?;
    (0..8)
        .filter_map(|level| base.omocodia_variant(level).ok())
        .map(|c| c.to_string())
        .find(|c| !registry.code_taken(c))
}

//! The command side of the ANPR connector — lookup 3002, certificate 6001, bulk lookup 4002, change
//! of residence 5005, birth 1001, death 2001, and the PDND e-services: each `anpr.*` command checked (codice fiscale included)
//! before a number is allocated or anything is sent, then performed through [`super::soap::exchange`]
//! and answered with its completed event, or `rejected` with ANPR's code and text.
//!
//! The bulk lookup never waits for ANPR's asynchronous result inside the delivery: it submits each
//! chunk (4002), publishes `anpr.bulk_lookup.submitted` for it with confirms, records the job for the
//! 4005 poller ([`super::bulk`]) and completes; results come later as their own events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use snodo_mappings::anpr::birth::{self, RegisterBirth};
use snodo_mappings::anpr::bulk::{self, StartBulkLookup};
use snodo_mappings::anpr::certificate::{self, IssueCertificate};
use snodo_mappings::anpr::death::{self, RegisterDeath};
use snodo_mappings::anpr::lookup::{self, LookupKey, LookupResident};
use snodo_mappings::anpr::pdnd::{self, PdndKey, PdndLookup};
use snodo_mappings::anpr::place_check::PlaceWarning;
use snodo_mappings::anpr::residence::{self, ChangeResidence};
use snodo_mappings::anpr::{Answer, SchemaV1};
use snodo_mappings::codice_fiscale::validate_for_command;
use snodo_queue::envelope::MessageType;
use snodo_queue::runtime::{Command, CommandError, CommandHandler, ErrorCode};
use uuid::Uuid;

use super::bulk::{BulkJobs, Job, JobChunk};
use super::config::AnprTenant;
use super::soap::{self, allocate, exchange, field_error, rejected};
use crate::inbound::{InboundEvent, InboundPublisher};
use crate::state::SharedStore;

/// The connector's name: its queue, `[connectors.anpr]`, metrics.
pub const NAME: &str = "anpr";

/// Event of each submitted chunk of a bulk lookup.
pub const CHUNK_SUBMITTED: &str = "anpr.bulk_lookup.submitted";

/// The body of `anpr.bulk_lookup.start.completed`: the job is with ANPR; its results follow as
/// `anpr.bulk_lookup.result` events and `anpr.bulk_lookup.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkLookupAccepted {
    pub schema: SchemaV1,
    /// The job id: the command's `message_id`, which every later event of the job correlates to.
    pub job: Uuid,
    pub chunks: u32,
    pub codici_fiscali: u32,
}

/// The ANPR command handler.
pub struct AnprConnector {
    tenants: HashMap<String, Arc<AnprTenant>>,
    store: SharedStore,
    events: InboundPublisher,
    jobs: BulkJobs,
    /// How long publishing one `submitted` event may take before the attempt fails `unavailable`.
    publish_within: Duration,
}

impl AnprConnector {
    pub fn new(tenants: Vec<AnprTenant>, store: SharedStore, events: InboundPublisher) -> AnprConnector {
        AnprConnector {
            tenants: tenants
                .into_iter()
                .map(|t| (t.istat.clone(), Arc::new(t)))
                .collect(),
            jobs: BulkJobs::new(store.clone()),
            store,
            events,
            publish_within: Duration::from_secs(10),
        }
    }

    fn tenant(&self, command: &Command) -> Result<&AnprTenant, CommandError> {
        let istat = command.tenant().unwrap_or_default();
        self.tenants.get(istat).map(Arc::as_ref).ok_or_else(|| {
            CommandError::invalid_message(format!(
                "tenant {istat:?} has no [tenants.anpr] section: it does not use ANPR"
            ))
        })
    }
}

/// A command, parsed and checked.
enum Parsed {
    Lookup(LookupResident),
    Certificate(IssueCertificate),
    Bulk(StartBulkLookup),
    /// Registry changes, with the places the embedded tables could not confirm: warnings on the
    /// completed event, never a refusal (the archive stops in May 2023).
    Residence(Box<ChangeResidence>, Vec<PlaceWarning>),
    Birth(Box<RegisterBirth>, Vec<PlaceWarning>),
    Death(Box<RegisterDeath>, Vec<PlaceWarning>),
    Pdnd(PdndLookup),
}

fn parse(command: &Command) -> Result<Parsed, CommandError> {
    let parsed = match command.envelope.kind.as_str() {
        lookup::COMMAND => {
            let cmd: LookupResident = command.parse_body()?;
            cmd.check().map_err(field_error)?;
            if let LookupKey::CodiceFiscale(cf) = &cmd.by {
                check_cf("by.codice_fiscale", cf)?;
            }
            Parsed::Lookup(cmd)
        }
        certificate::COMMAND => {
            let cmd: IssueCertificate = command.parse_body()?;
            cmd.check().map_err(field_error)?;
            if let Some(cf) = &cmd.holder.codice_fiscale {
                check_cf("holder.codice_fiscale", cf)?;
            }
            Parsed::Certificate(cmd)
        }
        bulk::COMMAND => {
            let cmd: StartBulkLookup = command.parse_body()?;
            cmd.check().map_err(field_error)?;
            for (i, cf) in cmd.codici_fiscali.iter().enumerate() {
                check_cf(&format!("codici_fiscali[{i}]"), cf)?;
            }
            Parsed::Bulk(cmd)
        }
        // The registry changes validate their codici fiscali in `check` (the mapping's own use of
        // `snodo_mappings::codice_fiscale`).
        residence::COMMAND => {
            let cmd: ChangeResidence = command.parse_body()?;
            let warnings = cmd.check().map_err(field_error)?;
            Parsed::Residence(Box::new(cmd), warnings)
        }
        birth::COMMAND => {
            let cmd: RegisterBirth = command.parse_body()?;
            let warnings = cmd.check().map_err(field_error)?;
            Parsed::Birth(Box::new(cmd), warnings)
        }
        death::COMMAND => {
            let cmd: RegisterDeath = command.parse_body()?;
            let warnings = cmd.check().map_err(field_error)?;
            Parsed::Death(Box::new(cmd), warnings)
        }
        pdnd::COMMAND => {
            let cmd: PdndLookup = command.parse_body()?;
            cmd.check().map_err(field_error)?;
            if let PdndKey::CodiceFiscale(cf) = &cmd.by {
                check_cf("by.codice_fiscale", cf)?;
            }
            Parsed::Pdnd(cmd)
        }
        other => {
            return Err(CommandError::new(
                ErrorCode::UnknownType,
                format!("the ANPR connector has no command {other}"),
            ));
        }
    };
    Ok(parsed)
}

/// Check character, omocodia, date: a bad code never reaches ANPR. The error names the field only.
fn check_cf(field: &str, cf: &str) -> Result<(), CommandError> {
    validate_for_command(cf)
        .map(|_| ())
        .map_err(|e| CommandError::invalid_message(format!("field `{field}`: {e}")))
}

#[async_trait]
impl CommandHandler for AnprConnector {
    fn name(&self) -> &str {
        NAME
    }

    fn families(&self) -> Vec<String> {
        vec!["anpr".into()]
    }

    /// The `idOperazioneComune`, allocated only for a command that passed every check, so a bad
    /// command costs no number.
    async fn external_key(&self, command: &Command) -> Result<Option<String>, CommandError> {
        let parsed = parse(command)?;
        let tenant = self.tenant(command)?;
        if let Parsed::Pdnd(_) = parsed {
            // PDND's idOperazioneClient is derived from the message_id (DESIGN §4), not counted.
            let key = pdnd::id_operazione_client(&command.envelope.message_id.to_string());
            return Ok(Some(key));
        }
        let id = allocate(tenant, &self.store, command.envelope.message_id).await?;
        Ok(Some(id))
    }

    async fn handle(&self, command: &Command) -> Result<Value, CommandError> {
        let parsed = parse(command)?;
        let tenant = self.tenant(command)?;
        let message_id = command.envelope.message_id;
        match parsed {
            Parsed::Lookup(cmd) => {
                let id = self.number(tenant, command).await?;
                let answer = exchange(
                    tenant,
                    &self.store,
                    lookup::SERVICE,
                    message_id,
                    id,
                    |ctx| lookup::write_request(&cmd, ctx),
                    lookup::read_response,
                )
                .await?;
                completed(lookup::SERVICE, answer)
            }
            Parsed::Certificate(cmd) => {
                let id = self.number(tenant, command).await?;
                let answer = exchange(
                    tenant,
                    &self.store,
                    certificate::SERVICE,
                    message_id,
                    id,
                    |ctx| certificate::write_request(&cmd, ctx),
                    certificate::read_response,
                )
                .await?;
                completed(certificate::SERVICE, answer)
            }
            Parsed::Bulk(cmd) => {
                let id = self.number(tenant, command).await?;
                self.start_bulk(tenant, command, cmd, id).await
            }
            Parsed::Residence(cmd, warnings) => {
                let id = self.number(tenant, command).await?;
                let answer = exchange(
                    tenant,
                    &self.store,
                    residence::SERVICE,
                    message_id,
                    id,
                    |ctx| residence::write_request(&cmd, ctx).map(|(payload, _)| payload),
                    |doc, node| residence::read_response(doc, node, warnings.clone()),
                )
                .await?;
                completed(residence::SERVICE, answer)
            }
            Parsed::Birth(cmd, warnings) => {
                let id = self.number(tenant, command).await?;
                let answer = exchange(
                    tenant,
                    &self.store,
                    birth::SERVICE,
                    message_id,
                    id,
                    |ctx| birth::write_request(&cmd, ctx).map(|(payload, _)| payload),
                    |doc, node| birth::read_response(doc, node, warnings.clone()),
                )
                .await?;
                completed(birth::SERVICE, answer)
            }
            Parsed::Death(cmd, warnings) => {
                let id = self.number(tenant, command).await?;
                let answer = exchange(
                    tenant,
                    &self.store,
                    death::SERVICE,
                    message_id,
                    id,
                    |ctx| death::write_request(&cmd, ctx).map(|(payload, _)| payload),
                    |doc, node| death::read_response(doc, node, warnings.clone()),
                )
                .await?;
                completed(death::SERVICE, answer)
            }
            Parsed::Pdnd(cmd) => {
                let client = tenant.pdnd.as_ref().ok_or_else(|| {
                    CommandError::invalid_message(format!(
                        "tenant {} has no [tenants.anpr.pdnd] section: it cannot call the PDND e-services",
                        tenant.istat
                    ))
                })?;
                client.lookup(&cmd, &message_id.to_string()).await
            }
        }
    }
}

impl AnprConnector {
    /// The `idOperazioneComune` bound to the command (normally by the runtime, from
    /// [`CommandHandler::external_key`]).
    async fn number(&self, tenant: &AnprTenant, command: &Command) -> Result<String, CommandError> {
        match &command.envelope.external_key {
            Some(id) => Ok(id.clone()),
            None => allocate(tenant, &self.store, command.envelope.message_id).await,
        }
    }

    /// Submits every chunk (each with its own number: chunk 0 the command's, the others allocated
    /// against ids derived from the job), publishes one `submitted` event per chunk, and records the
    /// job for the poller. A retry re-submits with the same numbers, and ANPR answers each with its
    /// first answer, so the job's `idOperazioneANPR`s — and its events' ids — do not change.
    async fn start_bulk(
        &self,
        tenant: &AnprTenant,
        command: &Command,
        cmd: StartBulkLookup,
        first_id: String,
    ) -> Result<Value, CommandError> {
        let job_id = command.envelope.message_id;
        let chunks = cmd.chunks(Utc::now().date_naive()).map_err(field_error)?;
        let total =
            u32::try_from(chunks.len()).map_err(|_| CommandError::invalid_message("too many chunks"))?;
        let kind: MessageType = CHUNK_SUBMITTED.parse().expect("a well-formed event type");
        let mut recorded = Vec::with_capacity(chunks.len());
        for (index, chunk) in chunks.iter().enumerate() {
            let index = index as u32;
            let id = if index == 0 {
                first_id.clone()
            } else {
                let key = Uuid::new_v5(&job_id, format!("anpr-bulk-chunk:{index}").as_bytes());
                allocate(tenant, &self.store, key).await?
            };
            let answer = exchange(
                tenant,
                &self.store,
                bulk::SUBMIT_SERVICE,
                job_id,
                id,
                |ctx| bulk::write_request(chunk, ctx),
                bulk::read_response,
            )
            .await?;
            let accepted = answer.map_err(|r| rejected(bulk::SUBMIT_SERVICE, &r))?;
            let count = chunk.codici_fiscali.len() as u32;
            let submitted = bulk::ChunkSubmitted {
                schema: SchemaV1,
                chunk: index,
                chunks: total,
                codici_fiscali: count,
                id_operazione_anpr: accepted.id_operazione_anpr.clone(),
            };
            let event = InboundEvent {
                kind: kind.clone(),
                tenant: Some(tenant.istat.clone()),
                platform_id: format!("{job_id}:{index}"),
                body: to_json(&submitted)?,
            };
            self.events
                .store(&event, self.publish_within)
                .await
                .map_err(|e| CommandError::unavailable(e.to_string()))?;
            recorded.push(JobChunk {
                id_operazione_anpr: accepted.id_operazione_anpr,
                codici_fiscali: count,
            });
        }
        let job = Job {
            job: job_id,
            chunks: recorded,
        };
        self.jobs
            .register(&tenant.istat, &job)
            .await
            .map_err(soap::state_error)?;
        to_json(&BulkLookupAccepted {
            schema: SchemaV1,
            job: job_id,
            chunks: total,
            codici_fiscali: cmd.codici_fiscali.len() as u32,
        })
    }
}

/// ANPR's answer as the completed event's body, or `rejected`.
fn completed<T: Serialize>(service: &str, answer: Answer<T>) -> Result<Value, CommandError> {
    to_json(&answer.map_err(|r| rejected(service, &r))?)
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, CommandError> {
    serde_json::to_value(value).map_err(|e| CommandError::internal(format!("serializing the event: {e}")))
}

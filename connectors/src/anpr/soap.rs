//! One ANPR SOAP operation, end to end: the `idOperazioneComune` of the attempt, the request written
//! by `snodo_mappings::anpr`, the signed call, the answer read back, and every outcome classified
//! (DESIGN §5) — `rispostaKO` is `rejected` with ANPR's code and Italian text, except the one refusal
//! that only a new number cures.
//!
//! The number: ANPR answers a repeated `idOperazioneComune` with its first answer and refuses a new
//! one lower than the last it saw from the comune (anpr-and-cie-booking.md §0.2). So the number is
//! allocated from the per-tenant counter and recorded against the command's `message_id` before the
//! first send, and every retry and replay sends the same one. Two commands allocated 7 and 8 may still
//! reach ANPR as 8 then 7; that refusal is the only case where a new number is taken — derived from the
//! refused one, so a replay that meets the same refusal takes the same new number again.

use chrono::{FixedOffset, Utc};
use snodo_mappings::anpr::{AnprError, Answer, Rejection, RequestContext};
use snodo_queue::runtime::journal::{PlatformAttempt, record_platform_attempt};
use snodo_queue::runtime::{CommandError, ErrorCode};
use snodo_security::xml::{Document, NodeId};
use uuid::Uuid;

use super::config::AnprTenant;
use crate::state::{SharedStore, StateError};

/// The per-tenant counter of `idOperazioneComune` in the coordination store.
pub const COUNTER: &str = "anpr-id-operazione-comune";

/// ANPR's refusal of a new `idOperazioneComune` lower than the comune's last. ANPR's public error
/// table (last changed 2018) has no entry for this rule; the code is the one Snodo's ANPR simulator
/// answers, kept in one place so that a code learned from the real service is a one-line change.
pub const ID_NOT_INCREASING: &[&str] = &["EN080"];

/// How many fresh numbers one attempt may take after [`ID_NOT_INCREASING`] refusals: concurrent
/// commands can overtake each other more than once, but not without end.
const MAX_RENUMBERING: usize = 8;

/// The number recorded for `message_id` (or a fresh one, recorded now).
pub async fn allocate(store: &SharedStore, tenant: &str, message_id: Uuid) -> Result<String, CommandError> {
    store
        .allocate(COUNTER, tenant, message_id)
        .await
        .map(|n| n.to_string())
        .map_err(state_error)
}

/// The coordination store's failure as the command's: unavailable when it may pass.
pub fn state_error(e: StateError) -> CommandError {
    if e.is_retryable() {
        CommandError::unavailable(e.to_string())
    } else {
        CommandError::internal(format!("the coordination store refused: {e}"))
    }
}

/// A field rule broken by the command, caught by the mapping before anything is sent.
pub fn field_error(e: AnprError) -> CommandError {
    CommandError::invalid_message(e.to_string())
}

/// The identity under which one service call is renumbered: stable for a given command and
/// refused number, so a replay renumbers the same way.
fn renumbering_key(message_id: Uuid, refused: &str) -> Uuid {
    Uuid::new_v5(&message_id, format!("anpr-renumber:{refused}").as_bytes())
}

/// Sends `service` for `tenant` with `id` (the number bound to the command, or to this part of it),
/// writing the payload with `write` and reading the answer with `read`. Returns ANPR's answer, OK or
/// refused; an ANPR refusal of the number itself is handled here.
pub async fn exchange<T>(
    tenant: &AnprTenant,
    store: &SharedStore,
    service: &str,
    message_id: Uuid,
    id: String,
    write: impl Fn(&RequestContext) -> Result<String, AnprError>,
    read: impl Fn(&Document, NodeId) -> Result<Answer<T>, AnprError>,
) -> Result<Answer<T>, CommandError> {
    let client = tenant
        .client(service)
        .ok_or_else(|| CommandError::internal(format!("no ANPR endpoint for service {service}")))?;
    let mut id = id;
    let mut renumbered = 0;
    loop {
        let ctx = RequestContext {
            id_operazione_comune: id.clone(),
            istat_code: tenant.istat.clone(),
            mode: tenant.mode,
            requested_at: Utc::now().with_timezone(&FixedOffset::east_opt(0).expect("UTC is an offset")),
        };
        let payload = write(&ctx).map_err(field_error)?;
        let started = std::time::Instant::now();
        // Every ANPR service is document/literal with soapAction "" (§0.1).
        let answer = client
            .call("", &payload)
            .await
            .map_err(|e| {
                // ANPR answers a repeated idOperazioneComune with its first answer: repeating is safe.
                e.to_command_error(true)
            })
            .and_then(|envelope| {
                read(envelope.document(), envelope.payload()).map_err(|e| {
                    CommandError::unavailable(format!(
                        "ANPR's answer to service {service} cannot be read: {e}"
                    ))
                })
            });
        // The journal's record of this attempt (issue 9), against the command being handled.
        record_platform_attempt(PlatformAttempt {
            platform: "anpr",
            operation: service.to_owned(),
            endpoint: client.endpoint().to_owned(),
            status: answer.is_ok().then_some(200),
            outcome: match &answer {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(_)) => Err(ErrorCode::Rejected),
                Err(e) => Err(e.code),
            },
            platform_code: match &answer {
                Ok(Err(r)) => r.platform_code().map(str::to_owned),
                Err(e) => e.platform_code.clone(),
                Ok(Ok(_)) => None,
            },
            elapsed: started.elapsed(),
            request: Some(payload.clone().into()),
            response: None,
            business_ids: vec![id.clone()],
        });
        let answer = answer?;
        match answer {
            Err(rejection) if is_id_refusal(&rejection) && renumbered < MAX_RENUMBERING => {
                renumbered += 1;
                tracing::info!(
                    service,
                    refused = %id,
                    "ANPR refused the idOperazioneComune as lower than its last; taking a new one."
                );
                id = allocate(store, &tenant.istat, renumbering_key(message_id, &id)).await?;
            }
            answer => return Ok(answer),
        }
    }
}

fn is_id_refusal(r: &Rejection) -> bool {
    r.platform_code().is_some_and(|c| ID_NOT_INCREASING.contains(&c))
}

/// `rispostaKO` as the command's failure: `rejected`, with ANPR's code and Italian text.
pub fn rejected(service: &str, r: &Rejection) -> CommandError {
    let code = r.platform_code().unwrap_or("KO").to_owned();
    let text = r
        .platform_message()
        .unwrap_or("ANPR answered rispostaKO without an error")
        .to_owned();
    CommandError {
        message: format!("ANPR rejected service {service}: {code}"),
        ..CommandError::rejected(code, text)
    }
}

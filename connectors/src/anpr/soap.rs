//! One ANPR SOAP operation, end to end: the `idOperazioneComune` of the attempt, the request written
//! by `snodo_mappings::anpr`, the signed call, the answer read back, and every outcome classified
//! (DESIGN §5) — `rispostaKO` is `rejected` with ANPR's code and Italian text, except the one refusal
//! that only a new number cures.
//!
//! The number: ANPR answers a repeated `idOperazioneComune` with its first answer and refuses a new
//! one lower than the last it saw from the comune (anpr-and-cie-booking.md §0.2). So the number is
//! allocated from the per-tenant counter and recorded against the command's `message_id` before the
//! first send, and every retry and replay sends the same one. Within a process the comune's requests
//! leave in number order, a bounded number in flight ([`super::send_order`]). What the line cannot
//! order — two requests in flight judged by ANPR in the other order, another Snodo instance sending
//! for the same comune, a number bound before a crash and sent after later ones — meets the "lower
//! than the last" refusal; that is the only case where a new number is taken, derived from the
//! refused one, so a replay that meets the same refusal takes the same new number again. ANPR performed nothing under a refused number
//! (a number it had performed would get its first answer back instead), so renumbering cannot
//! perform an operation twice.

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

/// ANPR's refusal of a new `idOperazioneComune` lower than the comune's last: code and a fragment
/// of its text. The rule is in the `testataRichiesta` documentation of `tipoDato.xsd` (v9.0.3), which
/// names no code, and ANPR's public error table (`tables/tab_elenco_errori_anpr.csv`, last changed
/// 2018) has no entry for it: EN080 there is "Dati del comune richiedente insufficienti", another
/// rule. ANPR's support says it answers operations it does not allow with the generic EN148 and a
/// specific text (italia/anpr#1906), as it does for a number still being processed ("Una operazione
/// con lo stesso id operazione comune risulta ancora in elaborazione", italia/anpr#2905). So the
/// refusal recognised is EN148 whose text says the number is lower ("inferiore"); any other EN148
/// stays a `rejected` with ANPR's text. Snodo's ANPR simulator answers exactly this.
pub const ID_NOT_INCREASING: (&str, &str) = ("EN148", "inferiore");

/// ANPR's answer while an operation with the same number is still being processed (italia/anpr#2905):
/// the same number, sent again later, gets its answer.
const STILL_PROCESSING: (&str, &str) = ("EN148", "ancora in elaborazione");

/// How many fresh numbers one attempt may take after [`ID_NOT_INCREASING`] refusals: a request can
/// be overtaken more than once (by its neighbours in flight, by another instance), but not without end. Past it the attempt is `unavailable`
/// and the runtime retries it later.
const MAX_RENUMBERING: usize = 8;

/// The number recorded for `key` (a command's `message_id`, or an id derived from it), or a fresh
/// one, recorded now; announced on the tenant's line, so that higher numbers wait for it.
pub async fn allocate(tenant: &AnprTenant, store: &SharedStore, key: Uuid) -> Result<String, CommandError> {
    let number = store
        .allocate(COUNTER, &tenant.istat, key)
        .await
        .map_err(state_error)?;
    tenant.line.announce(number);
    Ok(number.to_string())
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
        // Signed before queueing, so that only the send itself holds the comune's line.
        let envelope = tenant
            .secure(&payload)
            .await
            .map_err(|e| e.to_command_error(true))?;
        let started = std::time::Instant::now();
        let answer = {
            // A number that is not ours to order (not numeric) goes without waiting.
            let _turn = match id.parse::<u64>() {
                Ok(number) => Some(tenant.line.turn(number).await),
                Err(_) => None,
            };
            // Every ANPR service is document/literal with soapAction "" (§0.1).
            client.call_envelope("", envelope).await
        };
        let answer = answer
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
        match answer? {
            Err(rejection) if is_refusal(&rejection, ID_NOT_INCREASING) => {
                if renumbered == MAX_RENUMBERING {
                    return Err(CommandError::unavailable(format!(
                        "ANPR refused {MAX_RENUMBERING} fresh idOperazioneComune in a row as lower than \
                         the comune's last (another sender is racing this one); retrying later"
                    )));
                }
                renumbered += 1;
                tracing::info!(
                    service,
                    refused = %id,
                    "ANPR refused the idOperazioneComune as lower than its last; taking a new one."
                );
                id = allocate(tenant, store, renumbering_key(message_id, &id)).await?;
            }
            Err(rejection) if is_refusal(&rejection, STILL_PROCESSING) => {
                return Err(CommandError::unavailable(format!(
                    "ANPR is still processing idOperazioneComune {id} for service {service}; its \
                     answer comes to the same number later"
                )));
            }
            answer => return Ok(answer),
        }
    }
}

/// Whether `r` is the refusal `(code, fragment of its text)`.
fn is_refusal(r: &Rejection, (code, text): (&str, &str)) -> bool {
    r.platform_code() == Some(code)
        && r.platform_message()
            .is_some_and(|m| m.to_lowercase().contains(text))
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

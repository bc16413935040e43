//! The runtime's hook into the journal (issue 9): every command the runtime handles is reported to a
//! [`JournalSink`] when it arrives and when its outcome is decided, and while a handler runs, the
//! command it works for is known to any code it calls ([`record_platform_attempt`]), so that a
//! connector records an attempt at a platform in one line without passing ids around.
//!
//! Work outside a command — an inbound endpoint answering a platform, a feed poller — runs inside
//! [`with_sink`], so that the same calls ([`record_platform_attempt`], [`record_event`]) reach the
//! sink there too, just without a command to attach to.
//!
//! The sink lives in `snodo-connectors` (where the store and the keyed business-id index are); this
//! crate only knows the trait. Reports are synchronous and must not block: a sink queues them and
//! writes in the background, so the journal never slows or fails a command.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::error::ErrorCode;

/// What happened to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStep {
    Received,
    Completed,
    RetryScheduled,
    Failed,
}

/// One report about a command.
#[derive(Debug, Clone)]
pub struct CommandRecord {
    pub step: CommandStep,
    /// The runtime's label (`anpr`, `core:unrouted`).
    pub connector: String,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub kind: Option<String>,
    pub tenant: Option<String>,
    pub attempt: u32,
    /// The platform idempotency key (`x-snodo-external-key`), itself a business id (the ANPR
    /// `idOperazioneComune`).
    pub external_key: Option<String>,
    /// The command's body, on [`CommandStep::Received`]: the sink takes business ids from it and keeps
    /// it only when raw bodies are configured.
    pub body: Option<Bytes>,
    /// The outcome event's body on completion (the same rules apply).
    pub result: Option<Bytes>,
    pub error_code: Option<ErrorCode>,
    pub error: Option<String>,
    pub platform_code: Option<String>,
    pub retry_in: Option<Duration>,
}

/// One call to a platform made while handling a command.
#[derive(Debug, Clone)]
pub struct PlatformAttempt {
    pub platform: &'static str,
    pub operation: String,
    pub endpoint: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// `Ok` or the DESIGN §5 code the answer was classified as.
    pub outcome: Result<(), ErrorCode>,
    pub platform_code: Option<String>,
    pub elapsed: Duration,
    /// Kept only when the journal is configured to keep raw bodies.
    pub request: Option<Bytes>,
    pub response: Option<Bytes>,
    /// Business ids the call concerns beyond those of the command (a number allocated for it, …).
    pub business_ids: Vec<String>,
}

/// One event Snodo published on `snodo.events` outside a command's outcome: an inbound call's fact, a
/// notification a handler received, a feed item.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Who published it (the publisher's `app_id`: `pagopa`, `anpr`, `identity`).
    pub publisher: String,
    pub message_id: String,
    pub kind: String,
    pub tenant: Option<String>,
    /// The platform's own identifier of the fact (receipt id, notification id): a business id.
    pub platform_id: Option<String>,
    /// `ok` once the broker confirmed it, else why it was not stored.
    pub outcome: Result<(), String>,
    pub elapsed: Duration,
    /// The event's JSON body: the sink takes business ids from it and keeps it only when raw bodies
    /// are configured.
    pub body: Option<Bytes>,
}

/// The command a handler is working for, as the journal needs it.
#[derive(Debug, Clone)]
pub struct CurrentCommand {
    pub connector: String,
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub kind: String,
    pub tenant: Option<String>,
}

/// Where the runtime reports. Implementations must return at once (queue, never wait).
pub trait JournalSink: Send + Sync + 'static {
    fn command(&self, record: CommandRecord);
    fn platform_attempt(&self, command: Option<&CurrentCommand>, attempt: PlatformAttempt);
    /// An event published outside a command's outcome (those are in [`CommandRecord::result`]).
    fn event(&self, command: Option<&CurrentCommand>, event: EventRecord);
}

pub type SharedJournalSink = Arc<dyn JournalSink>;

#[derive(Clone)]
pub(super) struct Scope {
    /// `None` inside [`with_sink`]: reports without a command.
    pub command: Option<CurrentCommand>,
    pub sink: SharedJournalSink,
}

tokio::task_local! {
    pub(super) static CURRENT: Scope;
}

/// Records one attempt at a platform against the command being handled (no-op outside a handler or
/// without a journal). The one line a connector adds after each platform call.
pub fn record_platform_attempt(attempt: PlatformAttempt) {
    let _ = CURRENT.try_with(|scope| scope.sink.platform_attempt(scope.command.as_ref(), attempt));
}

/// Records one published event against the command being handled, if any (no-op outside a handler
/// or [`with_sink`]). Called by the connectors' shared publisher, not by each connector.
pub fn record_event(event: EventRecord) {
    let _ = CURRENT.try_with(|scope| scope.sink.event(scope.command.as_ref(), event));
}

/// The command being handled on this task, if any.
pub fn current_command() -> Option<CurrentCommand> {
    CURRENT.try_with(|scope| scope.command.clone()).ok().flatten()
}

/// The sink in scope on this task (a handler's or [`with_sink`]'s), if any.
pub fn current_sink() -> Option<SharedJournalSink> {
    CURRENT.try_with(|scope| scope.sink.clone()).ok()
}

/// Runs `work` — an inbound call, a feed poller, anything that is not a command — with `sink` in
/// scope, so that what it records reaches the journal. Inside a command's scope already, the command
/// stays attached.
pub async fn with_sink<F: std::future::Future>(sink: SharedJournalSink, work: F) -> F::Output {
    let command = current_command();
    CURRENT.scope(Scope { command, sink }, work).await
}

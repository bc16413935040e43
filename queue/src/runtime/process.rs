//! What happens to one delivery, from parsing to acknowledgement (DESIGN §4–§5).
//!
//! Each delivery is turned into a [`Plan`]: the messages to publish, in order, before the delivery may be
//! acknowledged. The plan is published with confirms, retried while the broker pushes back, and only then
//! is the command acknowledged. If the process stops first, the delivery is released and comes back:
//! at-least-once, with deterministic event ids so that consumers can de-duplicate.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Inner;
use super::error::{CommandError, ErrorCode};
use super::handler::Command;
use super::journal::{CURRENT, CommandRecord, CommandStep, CurrentCommand, Scope};
use super::retry::RetryDecision;
use crate::envelope::{
    self, Envelope, HEADER_ATTEMPTS, HEADER_ERROR, HEADER_ERROR_CODE, HEADER_FAILED_AT, MessageType, Outcome,
    SNODO_ID_NAMESPACE,
};
use crate::message::{HeaderValue, Message};
use crate::privacy::mask_personal_data;
use crate::transport::{AckOutcome, Delivery, Publish};

/// The publishes that settle one delivery, in order, and the best-effort reply.
struct Plan {
    publishes: Vec<Publish>,
    reply: Option<Publish>,
    /// For metrics and logs.
    result: PlanResult,
    /// The `type` label of the per-type metrics (`invalid` when the envelope could not be read).
    kind: String,
}

enum PlanResult {
    Completed,
    Retry { delay: Duration, code: ErrorCode },
    Failed(ErrorCode),
}

pub(super) async fn process(inner: Arc<Inner>, delivery: Delivery, shutdown: CancellationToken) {
    let started = Instant::now();
    inner.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let settled_key = settled_key(&inner, &delivery.message);
    if let Some((message_id, attempt)) = settled_key
        && already_settled(&inner, message_id, attempt).await
    {
        inner.metrics.already_settled.fetch_add(1, Ordering::Relaxed);
        tracing::Span::current().record("message_id", tracing::field::display(message_id));
        tracing::info!(
            attempt,
            redelivered = delivery.redelivered,
            "Attempt already settled (its outcome was confirmed, its ack lost); acknowledged without handling."
        );
        acknowledge(&inner, delivery).await;
        inner.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    // Past the grace period the handler is abandoned mid-call: the delivery goes back to the broker and
    // the platform sees the same idempotency key when it comes back.
    let plan = tokio::select! {
        biased;
        plan = plan(&inner, &delivery.message) => plan,
        _ = shutdown.cancelled() => {
            tracing::warn!("Stopping while the command was being handled; it will be redelivered.");
            inner.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(delivery);
            return;
        }
    };
    for publish in plan.publishes {
        if publish_until_confirmed(&inner, publish, &shutdown).await.is_err() {
            // Shutting down with the broker unreachable: release the delivery so that it comes back.
            tracing::warn!("Stopping before the outcome was confirmed; the command will be redelivered.");
            inner.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(delivery);
            return;
        }
    }
    let by_type = inner.metrics.for_type(&plan.kind);
    match plan.result {
        PlanResult::Completed => {
            inner.metrics.completed.fetch_add(1, Ordering::Relaxed);
            by_type.completed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("Command completed.");
        }
        PlanResult::Retry { delay, code } => {
            inner.metrics.retried.fetch_add(1, Ordering::Relaxed);
            by_type.retried.fetch_add(1, Ordering::Relaxed);
            tracing::info!(error_code = %code, retry_in = ?delay, "Attempt failed; retry scheduled.");
        }
        PlanResult::Failed(code) => {
            inner.metrics.record_failed(code);
            inner.metrics.dead_lettered.fetch_add(1, Ordering::Relaxed);
            by_type.record_failed(code);
            by_type.dead_lettered.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Some(reply) = plan.reply {
        // DESIGN §4: reply_to copies are best effort and never part of the acknowledgement condition.
        let transport = inner.transport.clone();
        tokio::spawn(async move {
            if let Err(e) = transport.publish(reply).await {
                tracing::debug!(error = %e, "Reply copy not delivered.");
            }
        });
    }
    if let Some((message_id, attempt)) = settled_key {
        record_settled(&inner, message_id, attempt).await;
    }
    // An ack waiting on a dead connection must not hold a shutdown: past the grace period it is given up,
    // and the broker requeues the command when the connection closes (the ledger then recognises it).
    tokio::select! {
        biased;
        () = acknowledge(&inner, delivery) => {}
        _ = shutdown.cancelled() => {
            inner.metrics.acks_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("Stopping before the ack went out; the broker will redeliver the command.");
        }
    }
    let elapsed = started.elapsed();
    by_type.handling.observe(elapsed);
    inner
        .metrics
        .handling_micros
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    inner.metrics.handled.fetch_add(1, Ordering::Relaxed);
    inner.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
}

/// How long one read or write of the settled-attempts ledger may take before the runtime goes on
/// without it: a ledger that hangs must not hold commands any more than a ledger that is down.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(2);

/// The ledger key of a delivery: its `message_id` and `attempt`, when a ledger is configured and the
/// envelope can be read. Messages whose envelope cannot be read have no reliable identity; they are
/// dead-lettered again if redelivered, which is harmless (same reason, same original).
fn settled_key(inner: &Inner, message: &Message) -> Option<(Uuid, u32)> {
    inner.settled.as_ref()?;
    Envelope::parse(message).ok().map(|e| (e.message_id, e.attempt))
}

/// Whether the ledger has this attempt as settled. An unavailable ledger counts as "no": the delivery is
/// handled (at-least-once), never lost or held.
async fn already_settled(inner: &Inner, message_id: Uuid, attempt: u32) -> bool {
    let Some(ledger) = &inner.settled else {
        return false;
    };
    match tokio::time::timeout(LEDGER_TIMEOUT, ledger.is_settled(message_id, attempt)).await {
        Ok(Ok(settled)) => settled,
        Ok(Err(e)) => {
            inner
                .metrics
                .settled_ledger_unavailable
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, ledger = ledger.kind(),
                "Cannot tell whether this attempt was already settled; handling it (at-least-once).");
            false
        }
        Err(_) => {
            inner
                .metrics
                .settled_ledger_unavailable
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(after = ?LEDGER_TIMEOUT, ledger = ledger.kind(),
                "The settled-attempts ledger did not answer; handling this attempt (at-least-once).");
            false
        }
    }
}

/// Records the attempt as settled once its publishes are confirmed. Failing to record is counted and
/// the delivery is acknowledged anyway: its outcome is out, and holding it would only bring it back.
async fn record_settled(inner: &Inner, message_id: Uuid, attempt: u32) {
    let Some(ledger) = &inner.settled else {
        return;
    };
    let failure = match tokio::time::timeout(LEDGER_TIMEOUT, ledger.record_settled(message_id, attempt)).await
    {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {LEDGER_TIMEOUT:?}"),
    };
    inner
        .metrics
        .settled_ledger_unavailable
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(error = %failure, ledger = ledger.kind(),
        "Settled attempt not recorded; if its ack is lost too, it will be handled again.");
}

async fn acknowledge(inner: &Inner, delivery: Delivery) {
    match delivery.ack().await {
        Ok(AckOutcome::Settled) => {}
        Ok(AckOutcome::ChannelLost) => {
            inner.metrics.acks_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("Ack not delivered: the channel closed; the broker will redeliver the command.");
        }
        Err(e) => {
            inner.metrics.acks_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "Ack failed; the broker will redeliver the command.");
        }
    }
}

/// Publishes with confirm, trying again with backoff while the broker refuses or is away. Gives up only
/// when the runtime is shutting down.
async fn publish_until_confirmed(
    inner: &Inner,
    publish: Publish,
    shutdown: &CancellationToken,
) -> Result<(), ()> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times();
    let until_confirmed = (|| inner.transport.publish(publish.clone()))
        .retry(backoff)
        .when(|_| !shutdown.is_cancelled())
        .notify(|e, wait| {
            inner.metrics.publish_retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, exchange = %publish.exchange, routing_key = %publish.routing_key,
                retry_in = ?wait, "Publish not confirmed; trying again.");
        });
    // A confirm awaited on a dead connection must not hold a shutdown either.
    tokio::select! {
        biased;
        confirmed = until_confirmed => confirmed.map_err(|_| ()),
        _ = shutdown.cancelled() => Err(()),
    }
}

async fn plan(inner: &Inner, message: &Message) -> Plan {
    let envelope = match Envelope::parse(message) {
        Ok(e) => e,
        Err(e) => return invalid_envelope_plan(inner, message, CommandError::invalid_message(e.to_string())),
    };
    let kind = envelope.kind.as_str().to_owned();
    inner.metrics.record_received(envelope.kind.as_str());
    let mut command = Command {
        envelope,
        body: message.body.clone(),
    };
    let span = tracing::Span::current();
    span.record("message_id", tracing::field::display(command.envelope.message_id));
    span.record("type", command.envelope.kind.as_str());
    if let Some(c) = command.envelope.correlation_id {
        span.record("correlation_id", tracing::field::display(c));
    }
    if let Some(t) = &command.envelope.tenant {
        span.record("tenant", t.as_str());
    }
    let connector = inner.label();
    let outcome = match &inner.journal {
        None => attempt(inner, &mut command).await,
        Some(sink) => {
            sink.command(journal_record(&connector, &command, CommandStep::Received));
            let scope = Scope {
                command: Some(CurrentCommand {
                    connector: connector.clone(),
                    message_id: command.envelope.message_id.to_string(),
                    correlation_id: command.envelope.correlation_id.map(|c| c.to_string()),
                    kind: kind.clone(),
                    tenant: command.envelope.tenant.clone(),
                }),
                sink: sink.clone(),
            };
            CURRENT.scope(scope, attempt(inner, &mut command)).await
        }
    };
    let mut record = journal_record(&connector, &command, CommandStep::Completed);
    record.body = None;
    let mut plan = match outcome {
        Ok(body) => {
            if inner.journal.is_some() {
                record.result = serde_json::to_vec(&body).ok().map(Into::into);
            }
            completed_plan(inner, &command, body)
        }
        Err(error) => {
            record.error_code = Some(error.code);
            record.error = Some(error.message.clone());
            record.platform_code = error.platform_code.clone();
            failure_plan(inner, message, &command, error)
        }
    };
    if let Some(sink) = &inner.journal {
        // Recorded when decided: if the publish is never confirmed, the command comes back and is
        // recorded again, which the journal shows as a second delivery.
        match &plan.result {
            PlanResult::Completed => {}
            PlanResult::Retry { delay, code } => {
                record.step = CommandStep::RetryScheduled;
                record.retry_in = Some(*delay);
                record.error_code = Some(*code);
            }
            PlanResult::Failed(code) => {
                record.step = CommandStep::Failed;
                record.error_code = Some(*code);
            }
        }
        sink.command(record);
    }
    plan.kind = kind;
    plan
}

fn journal_record(connector: &str, command: &Command, step: CommandStep) -> CommandRecord {
    let e = &command.envelope;
    CommandRecord {
        step,
        connector: connector.to_owned(),
        message_id: Some(e.message_id.to_string()),
        correlation_id: e.correlation_id.map(|c| c.to_string()),
        kind: Some(e.kind.as_str().to_owned()),
        tenant: e.tenant.clone(),
        attempt: e.attempt,
        external_key: e.external_key.clone(),
        body: Some(command.body.clone()),
        result: None,
        error_code: None,
        error: None,
        platform_code: None,
        retry_in: None,
    }
}

/// Runs one attempt: tenant, deadline, idempotency key, then the handler within the deadline.
async fn attempt(inner: &Inner, command: &mut Command) -> Result<serde_json::Value, CommandError> {
    match command.envelope.tenant.as_deref() {
        Some(t) if !inner.tenants.is_known(t) => {
            return Err(CommandError::invalid_message(format!("unknown tenant {t:?}")));
        }
        None if inner.handler.requires_tenant() => {
            return Err(CommandError::invalid_message(format!(
                "{} requires the {} header",
                command.envelope.kind,
                envelope::HEADER_TENANT
            )));
        }
        _ => {}
    }
    let remaining = match command.envelope.deadline {
        Some(deadline) => match (deadline - Utc::now()).to_std() {
            Ok(left) if !left.is_zero() => Some(left),
            _ => return Err(deadline_exceeded(deadline, "before the attempt started")),
        },
        None => None,
    };
    if command.envelope.external_key.is_none() {
        command.envelope.external_key = inner.handler.external_key(command).await?;
    }
    let handling = inner.handler.handle(command);
    match remaining {
        None => handling.await,
        Some(left) => match tokio::time::timeout(left, handling).await {
            Ok(result) => result,
            Err(_) => Err(deadline_exceeded(
                command
                    .envelope
                    .deadline
                    .expect("remaining is only set with a deadline"),
                "while the platform was being called",
            )),
        },
    }
}

fn deadline_exceeded(deadline: chrono::DateTime<Utc>, when: &str) -> CommandError {
    CommandError::new(
        ErrorCode::DeadlineExceeded,
        format!("the deadline {} passed {when}", deadline.to_rfc3339()),
    )
}

fn completed_plan(inner: &Inner, command: &Command, body: serde_json::Value) -> Plan {
    let event = command
        .envelope
        .outcome_event(Outcome::Completed, &inner.settings.app_id);
    let message = event.to_message(serde_json::to_vec(&body).expect("a JSON value always serializes"));
    Plan {
        reply: reply_copy(command.envelope.reply_to.as_deref(), &message),
        publishes: vec![Publish::new(
            inner.events_exchange.clone(),
            event.kind.to_string(),
            message,
        )],
        result: PlanResult::Completed,
        kind: String::new(),
    }
}

fn failure_plan(inner: &Inner, original: &Message, command: &Command, error: CommandError) -> Plan {
    let attempt = command.envelope.attempt;
    let error = if error.retryable {
        match inner
            .settings
            .retry
            .decide(attempt, command.envelope.deadline, Utc::now())
        {
            RetryDecision::RetryAfter { delay, next_attempt } => {
                return retry_plan(inner, original, command, delay, next_attempt, error.code);
            }
            RetryDecision::Exhausted => error,
            RetryDecision::PastDeadline { delay } => CommandError {
                retryable: false,
                ..CommandError::new(
                    ErrorCode::DeadlineExceeded,
                    format!(
                        "the next attempt (in {delay:?}) would start after the deadline; last error: {error}"
                    ),
                )
            },
        }
    } else {
        error
    };
    tracing::warn!(error_code = %error.code, attempts = attempt,
        error = %mask_personal_data(&error.message), "Command failed; parked in the dead-letter queue.");
    let event = command
        .envelope
        .outcome_event(Outcome::Failed, &inner.settings.app_id);
    let report = error.report(attempt);
    let message = event.to_message(serde_json::to_vec(&report).expect("an error report always serializes"));
    let dead = dead_letter(original, &command.envelope, &error, attempt);
    Plan {
        reply: reply_copy(command.envelope.reply_to.as_deref(), &message),
        publishes: vec![
            Publish::to_queue(inner.dead_queue.clone(), dead),
            Publish::new(inner.events_exchange.clone(), event.kind.to_string(), message),
        ],
        result: PlanResult::Failed(error.code),
        kind: String::new(),
    }
}

fn retry_plan(
    inner: &Inner,
    original: &Message,
    command: &Command,
    delay: Duration,
    next_attempt: u32,
    code: ErrorCode,
) -> Plan {
    let mut copy = original.clone();
    copy.strip_broker_headers();
    let mut envelope = command.envelope.clone();
    envelope.attempt = next_attempt;
    envelope.write_headers(&mut copy);
    let queue = inner.settings.names.retry_queue(inner.handler.name(), delay);
    Plan {
        publishes: vec![Publish::to_queue(queue, copy)],
        reply: None,
        result: PlanResult::Retry { delay, code },
        kind: String::new(),
    }
}

/// The original message, parked with the error in its headers (DESIGN §3).
fn dead_letter(original: &Message, envelope: &Envelope, error: &CommandError, attempts: u32) -> Message {
    let mut dead = parked(original, error, attempts);
    envelope.write_headers(&mut dead);
    dead
}

/// `original` without the broker's history, with the error headers of DESIGN §3. Shared by commands
/// that failed and by messages whose envelope could not even be read.
fn parked(original: &Message, error: &CommandError, attempts: u32) -> Message {
    let mut dead = original.clone();
    dead.strip_broker_headers();
    let h = &mut dead.headers;
    h.insert(HEADER_ERROR_CODE.into(), error.code.as_str().into());
    h.insert(HEADER_ERROR.into(), error.message.clone().into());
    h.insert(HEADER_FAILED_AT.into(), Utc::now().to_rfc3339().into());
    h.insert(HEADER_ATTEMPTS.into(), HeaderValue::Int(i64::from(attempts)));
    if let Some(code) = &error.platform_code {
        h.insert("x-snodo-platform-code".into(), code.clone().into());
    }
    dead
}

/// A message whose envelope cannot be read still gets a `.failed` event when it can be addressed at all,
/// and is always dead-lettered with the reason.
fn invalid_envelope_plan(inner: &Inner, message: &Message, error: CommandError) -> Plan {
    inner.metrics.record_received("invalid");
    tracing::warn!(error = %error.message, "Invalid message; parked in the dead-letter queue.");
    if let Some(sink) = &inner.journal {
        sink.command(CommandRecord {
            step: CommandStep::Failed,
            connector: inner.label(),
            message_id: message.properties.message_id.clone(),
            correlation_id: message.properties.correlation_id.clone(),
            kind: message.properties.kind.clone(),
            tenant: message.header_str(envelope::HEADER_TENANT).map(str::to_owned),
            attempt: 1,
            external_key: None,
            body: Some(message.body.clone()),
            result: None,
            error_code: Some(error.code),
            error: Some(error.message.clone()),
            platform_code: None,
            retry_in: None,
        });
    }
    let raw_id = message.properties.message_id.as_deref();
    let command_id = raw_id.and_then(|id| Uuid::parse_str(id).ok());
    let kind: Option<MessageType> = message.properties.kind.as_deref().and_then(|k| k.parse().ok());
    let event_kind = kind.map(|k| k.outcome(Outcome::Failed)).unwrap_or_else(|| {
        "snodo.invalid_message.failed"
            .parse()
            .expect("a well-formed constant type")
    });
    let event_id = Uuid::new_v5(
        &SNODO_ID_NAMESPACE,
        format!("{}/{event_kind}", raw_id.unwrap_or("-")).as_bytes(),
    );
    let event = Envelope {
        message_id: if raw_id.is_some() {
            event_id
        } else {
            Uuid::new_v4()
        },
        correlation_id: command_id,
        kind: event_kind,
        schema: 1,
        tenant: message.header_str(envelope::HEADER_TENANT).map(str::to_owned),
        deadline: None,
        attempt: 1,
        external_key: None,
        reply_to: None,
        app_id: Some(inner.settings.app_id.clone()),
        timestamp: None,
    };
    let body = serde_json::to_vec(&error.report(1)).expect("an error report always serializes");
    let event_message = event.to_message(body);
    let dead = parked(message, &error, 1);
    let reply = reply_copy(message.properties.reply_to.as_deref(), &event_message);
    Plan {
        publishes: vec![
            Publish::to_queue(inner.dead_queue.clone(), dead),
            Publish::new(
                inner.events_exchange.clone(),
                event.kind.to_string(),
                event_message,
            ),
        ],
        reply,
        result: PlanResult::Failed(error.code),
        kind: "invalid".to_owned(),
    }
}

/// The best-effort copy of a terminal event for the command's `reply_to`, if it named one.
fn reply_copy(reply_to: Option<&str>, event: &Message) -> Option<Publish> {
    reply_to
        .filter(|r| !r.is_empty())
        .map(|reply_to| Publish::to_queue(reply_to, event.clone()).best_effort())
}

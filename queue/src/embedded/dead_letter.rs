//! RabbitMQ's dead-letter bookkeeping, reproduced from `rabbit_dead_letter` (3.10): the `x-death` header
//! and its cycle detection.
//!
//! Faithfulness matters here more than anywhere else in the embedded broker, because the rule that
//! bites in production is subtle: a message dead-lettered into a queue it already died in, with no
//! `rejected` death in between, is silently dropped. DESIGN §3 has the runtime strip `x-death` from retry
//! copies and replays for exactly that reason, and the embedded broker must drop such messages too, or
//! tests would pass here and lose messages on RabbitMQ.

use std::time::{SystemTime, UNIX_EPOCH};

use super::queue::Entry;
use crate::message::{HeaderValue, Headers, Message};

/// Why a message left its queue; the `reason` of its `x-death` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeathReason {
    /// nack or reject without requeue.
    Rejected,
    /// Its TTL (queue `x-message-ttl` or message `expiration`) passed at the head of the queue.
    Expired,
    /// It came back unsettled more often than the quorum queue's `x-delivery-limit`.
    DeliveryLimit,
}

impl DeathReason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::DeliveryLimit => "delivery_limit",
        }
    }
}

/// The message as RabbitMQ republishes it to the dead-letter exchange: `x-death` updated (the entry for
/// this queue and reason moved to the front with its count raised, or a new one with count 1), the
/// `x-first-death-*` headers set on its first death, and `expiration` moved into the entry.
pub(super) fn dead_letter_message(entry: Entry, queue: &str, reason: DeathReason) -> Message {
    let Entry {
        mut message,
        exchange,
        routing_key,
        ..
    } = entry;
    let mut info = Headers::new();
    info.insert("reason".into(), reason.as_str().into());
    info.insert("queue".into(), queue.into());
    info.insert("time".into(), HeaderValue::Timestamp(unix_seconds()));
    info.insert("exchange".into(), exchange.clone().into());
    info.insert(
        "routing-keys".into(),
        HeaderValue::Array(vec![routing_key.into()]),
    );
    // A dead letter must not expire again because of the TTL it was published with.
    if let Some(expiration) = message.properties.expiration.take() {
        info.insert("original-expiration".into(), expiration.into());
    }
    let deaths = match message.headers.remove("x-death") {
        Some(HeaderValue::Array(deaths)) => Some(deaths),
        _ => None,
    };
    let deaths = match deaths {
        None => {
            message
                .headers
                .insert("x-first-death-reason".into(), reason.as_str().into());
            message.headers.insert("x-first-death-queue".into(), queue.into());
            message
                .headers
                .insert("x-first-death-exchange".into(), exchange.into());
            info.insert("count".into(), HeaderValue::Int(1));
            vec![HeaderValue::Table(info)]
        }
        Some(deaths) => {
            // Non-table entries are dropped, as RabbitMQ does; entries for the same queue and reason are
            // merged (pre-3.5 brokers could write several).
            let (matching, others): (Vec<Headers>, Vec<Headers>) = deaths
                .into_iter()
                .filter_map(|death| match death {
                    HeaderValue::Table(table) => Some(table),
                    _ => None,
                })
                .partition(|table| {
                    str_field(table, "queue") == Some(queue)
                        && str_field(table, "reason") == Some(reason.as_str())
                });
            let current = match matching.first() {
                None => {
                    info.insert("count".into(), HeaderValue::Int(1));
                    info
                }
                Some(first) => {
                    let total: i64 = matching
                        .iter()
                        .filter_map(|table| table.get("count").and_then(HeaderValue::as_i64))
                        .sum();
                    let mut first = first.clone();
                    first.insert("count".into(), HeaderValue::Int(total + 1));
                    first
                }
            };
            std::iter::once(current)
                .chain(others)
                .map(HeaderValue::Table)
                .collect()
        }
    };
    message
        .headers
        .insert("x-death".into(), HeaderValue::Array(deaths));
    message
}

/// RabbitMQ's `is_cycle`: would dead-lettering into `target` close a cycle that no client took part in?
/// `headers` are the dead letter's, with this death already at the front of `x-death`. The cycle is the
/// run of deaths up to and including the last one in `target`; it is "fully automatic", and the message
/// dropped, when none of them is `rejected`. A death entry that is not a table must have come from a
/// client, so it counts as a rejection.
pub(super) fn is_cycle(target: &str, headers: &Headers) -> bool {
    let Some(deaths) = headers.get("x-death").and_then(HeaderValue::as_array) else {
        return false;
    };
    let Some(end) = deaths.iter().position(|death| {
        death
            .as_table()
            .is_some_and(|table| str_field(table, "queue") == Some(target))
    }) else {
        return false;
    };
    deaths[..=end].iter().all(|death| {
        death
            .as_table()
            .is_some_and(|table| str_field(table, "reason") != Some(DeathReason::Rejected.as_str()))
    })
}

fn str_field<'a>(table: &'a Headers, name: &str) -> Option<&'a str> {
    table.get(name).and_then(HeaderValue::as_str)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

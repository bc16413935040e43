//! Unit tests of what only the embedded broker can show directly: RabbitMQ's dead-letter cycle detection,
//! the route cache following topology changes, delivery-limit and expiry details, connection isolation.
//! The behaviour shared with RabbitMQ is tested by the conformance suite (`queue/tests`).

mod dead_lettering;
mod lifecycle;
mod routing;

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::dead_letter::{DeathReason, dead_letter_message, is_cycle};
use super::queue::Entry;
use super::{ConnectionOptions, EmbeddedBroker};
use crate::message::{HeaderValue, Headers, Message, Properties};
use crate::topology::{BindingSpec, DeadLetterTarget, ExchangeKind, ExchangeSpec, QueueSpec, Topology};
use crate::transport::{
    AckOutcome, ConsumeOptions, Consumer, Delivery, Publish, PublishError, SharedTransport, TransportError,
};

const WAIT: Duration = Duration::from_secs(3);

fn message(id: &str) -> Message {
    Message {
        properties: Properties {
            message_id: Some(id.into()),
            ..Properties::default()
        },
        headers: Headers::new(),
        body: Bytes::from_static(b"{}"),
    }
}

fn id(delivery: &Delivery) -> &str {
    delivery
        .message
        .properties
        .message_id
        .as_deref()
        .unwrap_or_default()
}

fn to(queue: &str, target: &str) -> QueueSpec {
    QueueSpec {
        dead_letter: Some(DeadLetterTarget {
            exchange: String::new(),
            routing_key: target.into(),
        }),
        ..QueueSpec::quorum(queue)
    }
}

fn queues(specs: Vec<QueueSpec>) -> Topology {
    Topology {
        queues: specs,
        ..Topology::default()
    }
}

fn death(queue: &str, reason: &str) -> HeaderValue {
    let mut table = Headers::new();
    table.insert("queue".into(), queue.into());
    table.insert("reason".into(), reason.into());
    table.insert("count".into(), HeaderValue::Int(1));
    HeaderValue::Table(table)
}

fn with_deaths(deaths: Vec<HeaderValue>) -> Headers {
    let mut headers = Headers::new();
    headers.insert("x-death".into(), HeaderValue::Array(deaths));
    headers
}

async fn next(consumer: &mut Consumer) -> Delivery {
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("a delivery in time")
        .expect("consumer alive")
}

async fn get_within(t: &SharedTransport, queue: &str, wait: Duration) -> Option<Delivery> {
    let started = Instant::now();
    loop {
        if let Some(delivery) = t.get(queue).await.expect("get") {
            return Some(delivery);
        }
        if started.elapsed() > wait {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

//! The load side shared by every transport benchmark: publish N commands with confirms (a bounded window
//! in flight), collect the N terminal events, and turn send and receive instants into throughput and
//! latency percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::{Consumer, Message, Publish, SharedTransport};

/// What one run measured.
pub struct Figures {
    pub label: String,
    pub commands: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        self.commands as f64 / self.elapsed.as_secs_f64()
    }

    pub fn line(&self) -> String {
        let q = |p: f64| Duration::from_micros(self.latency.value_at_quantile(p));
        format!(
            "{:<34} {:>9.0} commands/s   p50 {:>9.3?}   p99 {:>9.3?}   p99.9 {:>9.3?}   ({} in {:.2?})",
            self.label,
            self.per_second(),
            q(0.50),
            q(0.99),
            q(0.999),
            self.commands,
            self.elapsed
        )
    }
}

/// A `snodo.ping` command carrying its sequence number.
pub fn ping(seq: u64, tenant: &str) -> Message {
    let kind: MessageType = "snodo.ping".parse().expect("a valid type");
    Envelope::command(kind)
        .with_tenant(tenant)
        .to_message(format!("{{\"seq\":{seq}}}").into_bytes())
}

/// Publishes `n` commands on `publisher` while `events` collects their terminal events, keeping at most
/// `window` commands unanswered (so latency is measured at a steady load, not on a flooded queue);
/// returns when every event arrived.
pub async fn drive(
    label: &str,
    publisher: SharedTransport,
    exchange: String,
    mut events: Consumer,
    n: u64,
    window: usize,
    tenant: &str,
) -> anyhow::Result<Figures> {
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; n as usize]));
    let started = Instant::now();
    let tenant = tenant.to_owned();
    let stamps = sent_at.clone();
    let outstanding = Arc::new(tokio::sync::Semaphore::new(window));
    let credits = outstanding.clone();
    let publishing = tokio::spawn(async move {
        let mut in_flight = FuturesUnordered::new();
        let mut seq = 0;
        while seq < n {
            tokio::select! {
                // Confirms are collected while waiting for credit, or the publishes would never run.
                Some(r) = in_flight.next(), if !in_flight.is_empty() => r?,
                permit = credits.acquire() => {
                    permit.expect("never closed").forget();
                    let message = ping(seq, &tenant);
                    stamps.lock()[seq as usize] = Some(Instant::now());
                    let p = publisher.clone();
                    let exchange = exchange.clone();
                    in_flight.push(async move { p.publish(Publish::new(exchange, "snodo.ping", message)).await });
                    seq += 1;
                }
            }
        }
        while let Some(r) = in_flight.next().await {
            r?;
        }
        Ok::<(), snodo_queue::PublishError>(())
    });
    let mut latency = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds");
    let mut received = 0u64;
    while received < n {
        let delivery = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .with_context(|| format!("{label}: no event for 60 s after {received} of {n}"))?
            .with_context(|| format!("{label}: the event consumer closed"))?;
        let now = Instant::now();
        let body: serde_json::Value = serde_json::from_slice(&delivery.message.body).unwrap_or_default();
        let kind = delivery.message.properties.kind.clone().unwrap_or_default();
        if kind != "snodo.ping.completed" {
            bail!("{label}: unexpected event {kind}: {body}");
        }
        if let Some(seq) = body.get("seq").and_then(serde_json::Value::as_u64)
            && let Some(Some(t0)) = sent_at.lock().get(seq as usize).copied()
        {
            let _ = latency.record(now.duration_since(t0).as_micros().max(1) as u64);
        }
        delivery.ack().await.context("ack an event")?;
        outstanding.add_permits(1);
        received += 1;
    }
    let elapsed = started.elapsed();
    publishing
        .await
        .context("publisher task")?
        .context("publishing commands")?;
    Ok(Figures {
        label: label.to_owned(),
        commands: n,
        elapsed,
        latency,
    })
}

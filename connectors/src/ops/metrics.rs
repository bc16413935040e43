//! Prometheus text rendering (`/metrics`) of everything an instance counts: the runtimes' commands per
//! connector and type, platform calls, inbound calls, queues, feeds and certificates.
//!
//! One naming scheme: `snodo_<subject>_<unit>_total` for counters, `_seconds` histograms, plain gauges.
//! `snodo_messages_received_total{connector,type}` and `snodo_queue_messages{queue}` are fixed because
//! dashboards rely on them. Connector-wide series without `type` are kept beside the per-type ones
//! because the first dashboards were built on them.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use snodo_queue::QueueStats;
use snodo_queue::runtime::metrics::{HistogramSnapshot, LATENCY_BUCKETS, TypeMetrics};
use snodo_queue::runtime::{ConnectorMetrics, ErrorCode};

use super::telemetry::Telemetry;

/// Reads one counter of a connector's metrics.
type Counter = fn(&ConnectorMetrics) -> u64;
/// Reads one counter of a message type's metrics.
type TypeCounter = fn(&TypeMetrics) -> u64;
/// A connector's label and its per-type metrics.
type PerType<'a> = (&'a str, Vec<(String, Arc<TypeMetrics>)>);

const CONNECTOR_COUNTERS: [(&str, &str, Counter); 4] = [
    (
        "snodo_publish_retries_total",
        "Publishes tried again after the broker refused or was away.",
        |m| m.publish_retries.load(Ordering::Relaxed),
    ),
    (
        "snodo_acks_lost_total",
        "Acknowledgements lost with their channel (the command comes back).",
        |m| m.acks_lost.load(Ordering::Relaxed),
    ),
    (
        "snodo_already_settled_total",
        "Redelivered attempts whose outcome was already confirmed, acknowledged without handling.",
        |m| m.already_settled.load(Ordering::Relaxed),
    ),
    (
        "snodo_settled_ledger_unavailable_total",
        "Settled-attempts ledger reads or writes that failed (the delivery was handled at-least-once).",
        |m| m.settled_ledger_unavailable.load(Ordering::Relaxed),
    ),
];

const TYPE_COUNTERS: [(&str, &str, TypeCounter); 4] = [
    (
        "snodo_messages_received_total",
        "Commands received, by connector and type.",
        |m| m.received.load(Ordering::Relaxed),
    ),
    (
        "snodo_messages_completed_total",
        "Commands completed, by connector and type.",
        |m| m.completed.load(Ordering::Relaxed),
    ),
    (
        "snodo_messages_retried_total",
        "Retry copies sent to a delay queue, by connector and type.",
        |m| m.retried.load(Ordering::Relaxed),
    ),
    (
        "snodo_messages_dead_lettered_total",
        "Commands parked in a dead-letter queue, by connector and type.",
        |m| m.dead_lettered.load(Ordering::Relaxed),
    ),
];

/// What one scrape renders.
pub struct Scrape<'a> {
    pub connectors: &'a [(String, Arc<ConnectorMetrics>)],
    pub queues: &'a [(String, Option<QueueStats>)],
    pub telemetry: &'a Telemetry,
    /// The message journal, whose dropped reports are counted.
    pub journal: Option<&'a crate::journal::Journal>,
    pub now: SystemTime,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub fn render(scrape: &Scrape<'_>) -> String {
    let mut out = String::new();
    commands(&mut out, scrape.connectors);
    platform_calls(&mut out, scrape.telemetry);
    inbound_calls(&mut out, scrape.telemetry);
    queues(&mut out, scrape.queues);
    crate::schedule::metrics::render(&mut out, &scrape.telemetry.feeds());
    certificates(&mut out, scrape.telemetry, scrape.now);
    if let Some(journal) = scrape.journal {
        family(
            &mut out,
            "snodo_journal_dropped_total",
            "counter",
            "Journal reports dropped because the writer fell behind (the commands were not affected).",
        );
        let _ = writeln!(out, "snodo_journal_dropped_total {}", journal.dropped());
    }
    out
}

fn commands(out: &mut String, connectors: &[(String, Arc<ConnectorMetrics>)]) {
    let per_type: Vec<PerType<'_>> = connectors.iter().map(|(c, m)| (c.as_str(), m.types())).collect();
    for (name, help, read) in TYPE_COUNTERS {
        family(out, name, "counter", help);
        for (connector, types) in &per_type {
            for (kind, m) in types {
                let labels = format!("connector=\"{}\",type=\"{}\"", escape(connector), escape(kind));
                let _ = writeln!(out, "{name}{{{labels}}} {}", read(m));
            }
        }
    }
    family(
        out,
        "snodo_messages_failed_total",
        "counter",
        "Commands failed, by connector, type and error code (DESIGN §5).",
    );
    for (connector, types) in &per_type {
        for (kind, m) in types {
            for code in ErrorCode::ALL {
                let _ = writeln!(
                    out,
                    "snodo_messages_failed_total{{connector=\"{}\",type=\"{}\",code=\"{code}\"}} {}",
                    escape(connector),
                    escape(kind),
                    m.failed(code)
                );
            }
        }
    }
    family(
        out,
        "snodo_message_handling_seconds",
        "histogram",
        "From delivery to acknowledgement, by connector and type.",
    );
    for (connector, types) in &per_type {
        for (kind, m) in types {
            let labels = format!("connector=\"{}\",type=\"{}\"", escape(connector), escape(kind));
            histogram(
                out,
                "snodo_message_handling_seconds",
                &labels,
                &m.handling.snapshot(),
            );
        }
    }
    for (name, help, read) in CONNECTOR_COUNTERS {
        family(out, name, "counter", help);
        for (connector, m) in connectors {
            let _ = writeln!(out, "{name}{{connector=\"{}\"}} {}", escape(connector), read(m));
        }
    }
    family(
        out,
        "snodo_messages_in_flight",
        "gauge",
        "Commands being handled now.",
    );
    for (connector, m) in connectors {
        let _ = writeln!(
            out,
            "snodo_messages_in_flight{{connector=\"{}\"}} {}",
            escape(connector),
            m.in_flight.load(Ordering::Relaxed)
        );
    }
    family(
        out,
        "snodo_connector_consuming",
        "gauge",
        "1 while the connector's runtime holds a consumer on its queue.",
    );
    for (connector, m) in connectors {
        let _ = writeln!(
            out,
            "snodo_connector_consuming{{connector=\"{}\"}} {}",
            escape(connector),
            u8::from(m.consuming.load(Ordering::Relaxed))
        );
    }
}

fn platform_calls(out: &mut String, telemetry: &Telemetry) {
    let rows = telemetry.platform_calls.snapshot();
    family(
        out,
        "snodo_platform_calls_total",
        "counter",
        "Calls to a platform, by platform, operation, outcome (ok or the DESIGN §5 code) and platform code.",
    );
    for r in &rows {
        for (outcome, code, n) in &r.outcomes {
            let _ = writeln!(
                out,
                "snodo_platform_calls_total{{platform=\"{}\",operation=\"{}\",outcome=\"{outcome}\",platform_code=\"{}\"}} {n}",
                r.platform,
                escape(&r.operation),
                escape(code)
            );
        }
    }
    family(
        out,
        "snodo_platform_call_seconds",
        "histogram",
        "Latency of calls to a platform, by platform and operation.",
    );
    for r in &rows {
        let labels = format!(
            "platform=\"{}\",operation=\"{}\"",
            r.platform,
            escape(&r.operation)
        );
        histogram(out, "snodo_platform_call_seconds", &labels, &r.latency);
    }
}

fn inbound_calls(out: &mut String, telemetry: &Telemetry) {
    family(
        out,
        "snodo_inbound_calls_total",
        "counter",
        "Calls platforms made to Snodo's endpoints, by endpoint and outcome.",
    );
    for (endpoint, outcome, n) in telemetry.inbound.counts() {
        let _ = writeln!(
            out,
            "snodo_inbound_calls_total{{endpoint=\"{}\",outcome=\"{}\"}} {n}",
            escape(&endpoint),
            escape(&outcome)
        );
    }
    family(
        out,
        "snodo_inbound_call_seconds",
        "histogram",
        "Time to answer a platform's call, by endpoint.",
    );
    for (endpoint, snapshot) in telemetry.inbound.latencies() {
        let labels = format!("endpoint=\"{}\"", escape(&endpoint));
        histogram(out, "snodo_inbound_call_seconds", &labels, &snapshot);
    }
}

fn queues(out: &mut String, queues: &[(String, Option<QueueStats>)]) {
    family(
        out,
        "snodo_queue_messages",
        "gauge",
        "Messages ready in a Snodo queue.",
    );
    for (queue, stats) in queues {
        if let Some(s) = stats {
            let _ = writeln!(
                out,
                "snodo_queue_messages{{queue=\"{}\"}} {}",
                escape(queue),
                s.messages
            );
        }
    }
    family(
        out,
        "snodo_queue_consumers",
        "gauge",
        "Consumers of a Snodo queue.",
    );
    for (queue, stats) in queues {
        if let Some(s) = stats {
            let _ = writeln!(
                out,
                "snodo_queue_consumers{{queue=\"{}\"}} {}",
                escape(queue),
                s.consumers
            );
        }
    }
}

fn certificates(out: &mut String, telemetry: &Telemetry, now: SystemTime) {
    family(
        out,
        "snodo_certificate_expiry_days",
        "gauge",
        "Days until a configured certificate expires (negative once expired).",
    );
    for c in telemetry.certificates() {
        let secs = match c.not_after.duration_since(now) {
            Ok(left) => left.as_secs_f64(),
            Err(past) => -past.duration().as_secs_f64(),
        };
        let _ = writeln!(
            out,
            "snodo_certificate_expiry_days{{certificate=\"{}\"}} {:.2}",
            escape(&c.key),
            secs / 86_400.0
        );
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    for (bound, n) in LATENCY_BUCKETS.iter().zip(&h.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_seconds);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

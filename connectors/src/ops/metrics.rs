//! Prometheus text rendering of the runtime's counters and the queue depths (`/metrics`). Names follow
//! `snodo_<subject>_<unit>_total`; `snodo_messages_received_total{connector,type}` and
//! `snodo_queue_messages{queue}` are fixed because dashboards rely on them.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use snodo_queue::QueueStats;
use snodo_queue::runtime::{ConnectorMetrics, ErrorCode};

/// Reads one counter of a connector's metrics.
type Counter = fn(&ConnectorMetrics) -> u64;

const COUNTERS: [(&str, &str, Counter); 5] = [
    ("snodo_messages_completed_total", "Commands completed.", |m| {
        m.completed.load(Ordering::Relaxed)
    }),
    (
        "snodo_messages_retried_total",
        "Retry copies sent to a delay queue.",
        |m| m.retried.load(Ordering::Relaxed),
    ),
    (
        "snodo_messages_dead_lettered_total",
        "Commands parked in a dead-letter queue.",
        |m| m.dead_lettered.load(Ordering::Relaxed),
    ),
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
];

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub fn render(
    connectors: &[(String, Arc<ConnectorMetrics>)],
    queues: &[(String, Option<QueueStats>)],
) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "snodo_messages_received_total",
        "counter",
        "Commands received, by connector and type.",
    );
    for (connector, m) in connectors {
        for (kind, n) in m.received_by_type() {
            let _ = writeln!(
                out,
                "snodo_messages_received_total{{connector=\"{connector}\",type=\"{}\"}} {n}",
                escape(&kind)
            );
        }
    }
    for (name, help, read) in COUNTERS {
        family(&mut out, name, "counter", help);
        for (connector, m) in connectors {
            let _ = writeln!(out, "{name}{{connector=\"{connector}\"}} {}", read(m));
        }
    }
    family(
        &mut out,
        "snodo_messages_failed_total",
        "counter",
        "Commands failed, by error code.",
    );
    for (connector, m) in connectors {
        for code in ErrorCode::ALL {
            let _ = writeln!(
                out,
                "snodo_messages_failed_total{{connector=\"{connector}\",code=\"{code}\"}} {}",
                m.failed(code)
            );
        }
    }
    family(
        &mut out,
        "snodo_messages_in_flight",
        "gauge",
        "Commands being handled now.",
    );
    for (connector, m) in connectors {
        let _ = writeln!(
            out,
            "snodo_messages_in_flight{{connector=\"{connector}\"}} {}",
            m.in_flight.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "snodo_handling_seconds_total",
        "counter",
        "Time spent handling commands.",
    );
    for (connector, m) in connectors {
        let secs = m.handling_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "snodo_handling_seconds_total{{connector=\"{connector}\"}} {secs}"
        );
    }
    family(
        &mut out,
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
        &mut out,
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
    out
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

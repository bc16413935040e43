//! Prometheus text rendering of the runtime's counters and the queue depths (`/metrics`). Names follow
//! `snodo_<subject>_<unit>_total`; `snodo_messages_received_total{connector,type}` and
//! `snodo_queue_messages{queue}` are fixed because dashboards rely on them.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use snodo_queue::QueueStats;
use snodo_queue::runtime::{ConnectorMetrics, ErrorCode};

pub fn render(
    connectors: &[(String, std::sync::Arc<ConnectorMetrics>)],
    queues: &[(String, Option<QueueStats>)],
) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        "snodo_messages_received_total",
        "counter",
        "Commands received, by connector and type.",
    );
    let mut lines = String::new();
    for (connector, m) in connectors {
        for (kind, n) in m.received_by_type() {
            let _ = writeln!(
                lines,
                "snodo_messages_received_total{{connector=\"{connector}\",type=\"{}\"}} {n}",
                escape(&kind)
            );
        }
    }
    drop(family);
    out.push_str(&lines);
    let counters: [(&str, &str, fn(&ConnectorMetrics) -> u64); 5] = [
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
    for (name, help, read) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (connector, m) in connectors {
            let _ = writeln!(out, "{name}{{connector=\"{connector}\"}} {}", read(m));
        }
    }
    let _ = writeln!(
        out,
        "# HELP snodo_messages_failed_total Commands failed, by error code.\n# TYPE snodo_messages_failed_total counter"
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
    let _ = writeln!(
        out,
        "# HELP snodo_messages_in_flight Commands being handled now.\n# TYPE snodo_messages_in_flight gauge"
    );
    for (connector, m) in connectors {
        let _ = writeln!(
            out,
            "snodo_messages_in_flight{{connector=\"{connector}\"}} {}",
            m.in_flight.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP snodo_handling_seconds_total Time spent handling commands.\n# TYPE snodo_handling_seconds_total counter"
    );
    for (connector, m) in connectors {
        let secs = m.handling_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "snodo_handling_seconds_total{{connector=\"{connector}\"}} {secs}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP snodo_queue_messages Messages ready in a Snodo queue.\n# TYPE snodo_queue_messages gauge"
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
    let _ = writeln!(
        out,
        "# HELP snodo_queue_consumers Consumers of a Snodo queue.\n# TYPE snodo_queue_consumers gauge"
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

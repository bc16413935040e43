//! `/metrics` and `/readyz` of the operations listener, over HTTP, on both transports: a scripted
//! connector completes, rejects and retries commands; the exposition is parsed line by line (every sample
//! belongs to a declared family, histograms are cumulative) and the values are checked against what
//! happened. `/readyz` names each connector that is not consuming.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::json;
use snodo_connectors::ops::telemetry::CertificateExpiry;
use snodo_connectors::ops::{self, OpsState, Telemetry};
use snodo_connectors::schedule::FeedMetrics;
use snodo_connectors::state::{StateSettings, connect};
use snodo_queue::request::Requester;
use snodo_queue::runtime::{Command, CommandError, CommandHandler, ErrorCode};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{
    Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};
use tokio_util::sync::CancellationToken;

/// Answers by the command's `outcome` field: `ok`, `reject` (a platform business error) or `flaky`
/// (always unavailable, so retried, then dead-lettered).
struct Scripted;

#[async_trait]
impl CommandHandler for Scripted {
    fn name(&self) -> &str {
        "acme"
    }
    fn families(&self) -> Vec<String> {
        vec!["acme".into()]
    }
    async fn handle(&self, command: &Command) -> Result<serde_json::Value, CommandError> {
        let body: serde_json::Value = command.parse_body()?;
        match body["outcome"].as_str() {
            Some("ok") => Ok(json!({})),
            Some("reject") => Err(CommandError::new(ErrorCode::Rejected, "no such person")),
            _ => Err(CommandError::new(ErrorCode::Unavailable, "platform down")),
        }
    }
}

/// One parsed exposition: sample (`name{labels}` exactly as written) → value, and family → type.
struct Exposition {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses the text format strictly enough to catch a malformed line or an undeclared family.
    fn parse(text: &str) -> Exposition {
        let mut samples = BTreeMap::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has a name and a kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(
                    types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "family declared twice: {name}"
                );
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') && name.starts_with("snodo_"),
                "bad metric name: {line}"
            );
            if series.contains('{') {
                assert!(series.ends_with('}'), "unterminated labels: {line}");
            }
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or(name);
            assert!(
                types.contains_key(family),
                "sample of an undeclared family: {line}"
            );
            if types[family] == "counter" {
                assert!(family.ends_with("_total"), "counters end in _total: {family}");
            }
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "duplicate series: {series}"
            );
        }
        Exposition { samples, types }
    }

    fn get(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no series {series}"))
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the listener answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}

async fn metrics_and_readiness(broker: &dyn TestBroker) {
    let transport = broker.connect().await;
    let names = unique_names();
    let runtime = new_runtime(
        &transport,
        Arc::new(Scripted),
        test_settings(&names, &[Duration::from_millis(20)]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let telemetry = Arc::new(Telemetry::default());
    let ms = Duration::from_millis(40);
    telemetry.platform_calls.record("anpr", "3002", Ok(()), None, ms);
    telemetry
        .platform_calls
        .record("anpr", "3002", Err(ErrorCode::Rejected), Some("EN122"), ms);
    telemetry.inbound.record("pagopa.paSendRT", "ok", ms);
    let feed = Arc::new(FeedMetrics::default());
    feed.polls.store(4, std::sync::atomic::Ordering::Relaxed);
    telemetry.register_feed("pagopa-fdr.015146", feed);
    telemetry.set_certificates(vec![CertificateExpiry {
        key: "tls.server".into(),
        not_after: SystemTime::now() + Duration::from_secs(10 * 86_400 + 3600),
    }]);
    let state = Arc::new(OpsState {
        transport: transport.clone(),
        names: names.clone(),
        queues: vec![names.command_queue("acme"), names.dead_queue("acme")],
        connectors: vec![("acme".into(), runtime.metrics())],
        requester: Arc::new(Requester::start(transport.clone(), &names.prefix).await.unwrap()),
        topology_declared: true.into(),
        consuming: AtomicBool::new(true),
        telemetry,
        dead_letters: Arc::new(snodo_connectors::journal::MemoryDeadLetters::new(
            snodo_connectors::journal::DEFAULT_RETENTION,
        )),
        store: connect(None, StateSettings::with_prefix(names.prefix.clone()))
            .await
            .unwrap(),
        access: ops::auth::OpsAccess::open(),
        journal: snodo_connectors::journal::Journal::new(
            Arc::new(snodo_connectors::journal::trace::MemoryTrace::new(
                Duration::from_secs(3600),
                1000,
            )),
            b"test key".to_vec(),
            false,
        )
        .0,
    });
    let stop = CancellationToken::new();
    let addr = ops::serve(
        "127.0.0.1:0".parse().unwrap(),
        ops::router(state.clone()),
        stop.clone(),
    )
    .await
    .unwrap();
    let base = format!("http://{addr}");

    // Not consuming yet: not ready, and the body says which connector.
    let (status, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(readiness["not_ready"], json!(["connector acme is not consuming"]));
    assert_eq!(readiness["store_reachable"], json!(true));

    let running = Running::start(runtime);
    for outcome in ["ok", "ok", "reject", "flaky"] {
        send(
            &transport,
            &names,
            command("acme.person.get", json!({"outcome": outcome})).1,
        )
        .await;
    }
    let events = tap.take(4, Duration::from_secs(20)).await;
    let failed = events
        .iter()
        .filter(|e| e.envelope.kind.as_str().ends_with(".failed"))
        .count();
    assert_eq!(failed, 2);
    let (status, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 200, "{body}");

    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    let m = Exposition::parse(&text);
    let ct = "connector=\"acme\",type=\"acme.person.get\"";
    // Four commands and one retry copy, which comes back as a fifth delivery.
    assert_eq!(m.get(&format!("snodo_messages_received_total{{{ct}}}")), 5.0);
    assert_eq!(m.get(&format!("snodo_messages_completed_total{{{ct}}}")), 2.0);
    assert_eq!(m.get(&format!("snodo_messages_retried_total{{{ct}}}")), 1.0);
    assert_eq!(m.get(&format!("snodo_messages_dead_lettered_total{{{ct}}}")), 2.0);
    assert_eq!(
        m.get(&format!("snodo_messages_failed_total{{{ct},code=\"rejected\"}}")),
        1.0
    );
    assert_eq!(
        m.get(&format!(
            "snodo_messages_failed_total{{{ct},code=\"unavailable\"}}"
        )),
        1.0
    );
    assert_eq!(
        m.get(&format!("snodo_messages_failed_total{{{ct},code=\"timeout\"}}")),
        0.0
    );
    assert_eq!(m.types["snodo_message_handling_seconds"], "histogram");
    assert_eq!(
        m.get(&format!("snodo_message_handling_seconds_count{{{ct}}}")),
        5.0
    );
    assert_eq!(
        m.get(&format!(
            "snodo_message_handling_seconds_bucket{{{ct},le=\"+Inf\"}}"
        )),
        5.0
    );
    let mut previous = 0.0;
    for bound in snodo_queue::runtime::metrics::LATENCY_BUCKETS {
        let n = m.get(&format!(
            "snodo_message_handling_seconds_bucket{{{ct},le=\"{bound}\"}}"
        ));
        assert!(
            n >= previous,
            "buckets are cumulative: le={bound} has {n} < {previous}"
        );
        previous = n;
    }
    assert!(previous <= 5.0);
    assert_eq!(m.get("snodo_connector_consuming{connector=\"acme\"}"), 1.0);
    assert_eq!(
        m.get("snodo_platform_calls_total{platform=\"anpr\",operation=\"3002\",outcome=\"rejected\",platform_code=\"EN122\"}"),
        1.0
    );
    assert_eq!(
        m.get("snodo_platform_calls_total{platform=\"anpr\",operation=\"3002\",outcome=\"ok\",platform_code=\"\"}"),
        1.0
    );
    assert_eq!(
        m.get("snodo_platform_call_seconds_bucket{platform=\"anpr\",operation=\"3002\",le=\"0.025\"}"),
        0.0
    );
    assert_eq!(
        m.get("snodo_platform_call_seconds_bucket{platform=\"anpr\",operation=\"3002\",le=\"0.05\"}"),
        2.0
    );
    assert_eq!(
        m.get("snodo_inbound_calls_total{endpoint=\"pagopa.paSendRT\",outcome=\"ok\"}"),
        1.0
    );
    assert_eq!(m.get("snodo_feed_polls_total{feed=\"pagopa-fdr.015146\"}"), 4.0);
    let days = m.get("snodo_certificate_expiry_days{certificate=\"tls.server\"}");
    assert!((10.0..10.1).contains(&days), "{days}");
    // Both dead letters wait in the dead-letter queue; nothing waits in the command queue.
    assert_eq!(
        m.get(&format!(
            "snodo_queue_messages{{queue=\"{}\"}}",
            names.dead_queue("acme")
        )),
        2.0
    );
    assert_eq!(
        m.get(&format!(
            "snodo_queue_messages{{queue=\"{}\"}}",
            names.command_queue("acme")
        )),
        0.0
    );
    assert_eq!(
        m.get(&format!(
            "snodo_queue_consumers{{queue=\"{}\"}}",
            names.command_queue("acme")
        )),
        1.0
    );

    running.stop().await;
    let (status, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("connector acme is not consuming"), "{body}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_metrics_follow_what_happened_and_readiness_names_idle_connectors() {
    metrics_and_readiness(&snodo_queue::testing::embedded::EmbeddedTestBroker::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_metrics_follow_what_happened_and_readiness_names_idle_connectors() {
    metrics_and_readiness(&snodo_queue::testing::rabbit::RabbitTestBroker::shared().await).await;
}

//! The journal end to end through the consumer runtime and the `/ops` API: a command retried once and
//! completed, and one rejected with a platform code, are recorded with every attempt at the "platform"
//! (through `record_platform_attempt`, the connectors' one line); `GET /ops/trace/{id}` tells each
//! story in time order by message id and by codice fiscale (normalised, found through the keyed
//! index); no record holds a codice fiscale in clear unless raw bodies are configured; failures are
//! grouped by code; erasing one person removes their records and their dead letter and nothing else.
//! In-process store, and the Redis store with raw bodies on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use snodo_connectors::journal::trace::MemoryTrace;
use snodo_connectors::journal::{self, Journal, JournalSettings, TraceStore};
use snodo_connectors::ops::{self, OpsState, Telemetry, dlq::Indexer};
use snodo_connectors::state::{StateSettings, connect};
use snodo_queue::request::Requester;
use snodo_queue::runtime::journal::{PlatformAttempt, record_platform_attempt};
use snodo_queue::runtime::{Command, CommandError, CommandHandler};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{
    Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};
use tokio_util::sync::CancellationToken;

const RETRIED: &str = "RSSMRA85T10A562S";
const REJECTED: &str = "VRDLGU70A01F205Z";

/// A registry lookup: fails `unavailable` on the first attempt when asked, rejects `EN122` when asked,
/// and records each call to its "platform".
struct Registry;

#[async_trait]
impl CommandHandler for Registry {
    fn name(&self) -> &str {
        "acme"
    }
    fn families(&self) -> Vec<String> {
        vec!["acme".into()]
    }
    async fn handle(&self, command: &Command) -> Result<Value, CommandError> {
        let body: Value = serde_json::from_slice(&command.body).unwrap();
        let cf = body["codice_fiscale"].as_str().unwrap().to_owned();
        let outcome = match body["scenario"].as_str() {
            Some("flaky") if command.envelope.attempt == 1 => Err(CommandError::unavailable("registry busy")),
            Some("absent") => Err(CommandError {
                message: format!("soggetto {cf} non trovato"),
                ..CommandError::rejected("EN122", "nessun soggetto")
            }),
            _ => Ok(json!({"person": {"codice_fiscale": cf, "name": "Mario"}})),
        };
        record_platform_attempt(PlatformAttempt {
            platform: "registry",
            operation: "lookup".into(),
            endpoint: "https://registry.test/lookup".into(),
            status: Some(if outcome.is_ok() { 200 } else { 500 }),
            outcome: outcome.as_ref().map(|_| ()).map_err(|e| e.code),
            platform_code: outcome.as_ref().err().and_then(|e| e.platform_code.clone()),
            elapsed: Duration::from_millis(3),
            request: Some(format!("<lookup><cf>{cf}</cf></lookup>").into_bytes().into()),
            response: None,
            business_ids: Vec::new(),
        });
        outcome
    }
}

async fn get(url: String) -> (u16, Value) {
    let r = reqwest::get(url).await.expect("the listener answers");
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// Polls the trace until `done` holds: the journal writes in the background.
async fn trace_until(base: &str, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (status, v) = get(format!("{base}/ops/trace/{id}")).await;
        assert_eq!(status, 200, "{v}");
        let records = v.as_array().unwrap().clone();
        if done(&records) {
            return records;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "trace of {id} never complete: {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kinds(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["kind"].as_str().unwrap()).collect()
}

async fn the_journal_tells_each_story_and_forgets_one_person(
    broker: &dyn TestBroker,
    store: Arc<dyn TraceStore>,
    raw_bodies: bool,
) {
    let transport = broker.connect().await;
    let names = unique_names();
    let (journal, writer) = Journal::new(store, b"a test key of 32 bytes, exactly!".to_vec(), raw_bodies);
    let runtime = new_runtime(
        &transport,
        Arc::new(Registry),
        test_settings(&names, &[Duration::from_millis(30)]),
    )
    .with_journal(journal.clone());
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let dead_letters: journal::SharedDeadLetterIndex =
        Arc::new(journal::MemoryDeadLetters::new(journal::DEFAULT_RETENTION));
    let state = Arc::new(OpsState {
        transport: transport.clone(),
        names: names.clone(),
        queues: vec![names.dead_queue("acme")],
        connectors: vec![("acme".into(), runtime.metrics())],
        requester: Arc::new(Requester::start(transport.clone(), &names.prefix).await.unwrap()),
        topology_declared: true.into(),
        consuming: true.into(),
        telemetry: Arc::new(Telemetry::default()),
        store: connect(None, StateSettings::with_prefix(names.prefix.clone()))
            .await
            .unwrap(),
        dead_letters: dead_letters.clone(),
        access: ops::auth::OpsAccess::open(),
        journal: journal.clone(),
    });
    let stop = CancellationToken::new();
    let writing = tokio::spawn(writer.run(stop.clone()));
    let indexer = Indexer {
        transport: transport.clone(),
        index: dead_letters.clone(),
        queues: vec![("acme".into(), names.dead_queue("acme"))],
    };
    let indexing = tokio::spawn(indexer.run(stop.clone()));
    let addr = ops::serve("127.0.0.1:0".parse().unwrap(), ops::router(state), stop.clone())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let running = Running::start(runtime);

    let (flaky, msg) = command(
        "acme.person.get",
        json!({"codice_fiscale": RETRIED, "scenario": "flaky"}),
    );
    send(&transport, &names, msg).await;
    let (absent, msg) = command(
        "acme.person.get",
        json!({"codice_fiscale": REJECTED, "scenario": "absent"}),
    );
    send(&transport, &names, msg).await;
    let events = tap.take(2, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 2);

    // By message id: both attempts with their platform calls, in order.
    let flaky_id = flaky.message_id.to_string();
    let story = trace_until(&base, &flaky_id, |r| kinds(r).contains(&"command_completed")).await;
    assert_eq!(
        kinds(&story),
        [
            "command_received",
            "platform_attempt",
            "retry_scheduled",
            "command_received",
            "platform_attempt",
            "command_completed"
        ]
    );
    assert_eq!(story[1]["outcome"], "unavailable");
    assert_eq!(story[1]["operation"], "lookup");
    assert_eq!(story[1]["endpoint"], "https://registry.test/lookup");
    assert_eq!(story[2]["retry_in_ms"], 30);
    assert_eq!(story[4]["outcome"], "ok");
    assert_eq!(story[3]["attempt"], 2);
    // By codice fiscale, as an operator types it: the same story.
    let by_person = trace_until(&base, &RETRIED.to_lowercase(), |r| r.len() == story.len()).await;
    assert_eq!(by_person, story);

    let absent_id = absent.message_id.to_string();
    let rejected = trace_until(&base, &absent_id, |r| kinds(r).contains(&"command_failed")).await;
    let failed = rejected.iter().find(|r| r["kind"] == "command_failed").unwrap();
    assert_eq!(failed["outcome"], "rejected");
    assert_eq!(failed["platform_code"], "EN122");
    assert_eq!(failed["detail"], "soggetto VRD************Z non trovato");
    let text = serde_json::to_string(&rejected).unwrap();
    if raw_bodies {
        assert!(rejected[1]["request_body"].as_str().unwrap().contains(REJECTED));
    } else {
        assert!(!text.contains(REJECTED), "a codice fiscale in clear: {text}");
        assert!(rejected.iter().all(|r| r["request_body"].is_null()));
    }

    let (_, groups) = get(format!("{base}/ops/failures")).await;
    assert_eq!(groups.as_array().unwrap().len(), 1, "{groups}");
    assert_eq!(groups[0]["code"], "rejected");
    assert_eq!(groups[0]["count"], 1);
    assert_eq!(groups[0]["recent"][0]["platform_code"], "EN122");

    // The rejected person asks to be forgotten: their records and dead letter go, the other stays.
    let started = Instant::now();
    while dead_letters.list(&Default::default()).await.unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "never indexed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = reqwest::Client::new()
        .post(format!("{base}/ops/journal/erase"))
        .header("content-type", "application/json")
        .body(json!({"business_id": REJECTED, "by": "dpo@comune"}).to_string())
        .send()
        .await
        .unwrap();
    let erased: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(erased["records"], rejected.len() as u64);
    assert_eq!(erased["commands"], 1);
    assert_eq!(erased["dead_letters"], 1);
    assert!(trace_until(&base, REJECTED, |_| true).await.is_empty());
    assert!(trace_until(&base, &absent_id, |_| true).await.is_empty());
    assert!(dead_letters.list(&Default::default()).await.unwrap().is_empty());
    assert_eq!(trace_until(&base, RETRIED, |_| true).await.len(), story.len());
    let (_, groups) = get(format!("{base}/ops/failures")).await;
    assert_eq!(groups, json!([]));

    running.stop().await;
    stop.cancel();
    writing.await.unwrap();
    indexing.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_journal_tells_each_story_and_forgets_one_person() {
    the_journal_tells_each_story_and_forgets_one_person(
        &snodo_queue::testing::embedded::EmbeddedTestBroker::new(),
        Arc::new(MemoryTrace::new(Duration::from_secs(3600), 10_000)),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_journal_tells_each_story_and_forgets_one_person_with_raw_bodies() {
    let url = std::env::var("SNODO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("journaltest{}", uuid::Uuid::new_v4().simple());
    let store = journal::redis_trace::RedisTrace::connect(&url, &prefix, Duration::from_secs(3600))
        .await
        .expect("Redis for the journal (scripts/test starts it)");
    the_journal_tells_each_story_and_forgets_one_person(
        &snodo_queue::testing::embedded::EmbeddedTestBroker::new(),
        Arc::new(store),
        true,
    )
    .await;
}

#[test]
fn journal_settings_read_from_toml() {
    let s: JournalSettings = toml::from_str("retention = \"3days\"\nraw_bodies = true").unwrap();
    assert_eq!(s.retention, Duration::from_secs(3 * 86_400));
    assert!(s.raw_bodies);
    assert!(toml::from_str::<JournalSettings>("retention = \"soon\"").is_err());
}

//! Dead letters end to end over the `/ops/dlq` API: commands a connector rejects, and one the broker
//! dead-lettered (with `x-death`), are drained into the journal's index; listing and filtering leave
//! the index as it was; a replay after the "fix" completes the command with its original `message_id`
//! and external key, from the first attempt, is recorded with who and when, and happens once even when
//! two operators press replay together; purge removes what the filter names. Embedded transport with
//! the in-process index, and RabbitMQ with the Redis index.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use snodo_connectors::journal::{self, SharedDeadLetterIndex};
use snodo_connectors::ops::{self, OpsState, Telemetry, dlq::Indexer};
use snodo_connectors::state::{StateSettings, connect};
use snodo_queue::message::{HeaderValue, Headers};
use snodo_queue::request::Requester;
use snodo_queue::runtime::{Command, CommandError, CommandHandler, ErrorCode};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{
    Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};
use snodo_queue::transport::Publish;
use tokio_util::sync::CancellationToken;

/// Rejects every command until `fixed`; binds an external key from the message id and echoes the key
/// and attempt it saw, so that a replay can be checked.
struct Fixable {
    fixed: Arc<AtomicBool>,
}

#[async_trait]
impl CommandHandler for Fixable {
    fn name(&self) -> &str {
        "acme"
    }
    fn families(&self) -> Vec<String> {
        vec!["acme".into()]
    }
    async fn external_key(&self, command: &Command) -> Result<Option<String>, CommandError> {
        Ok(Some(format!("op-{}", command.envelope.message_id)))
    }
    async fn handle(&self, command: &Command) -> Result<Value, CommandError> {
        if self.fixed.load(Ordering::SeqCst) {
            Ok(json!({"key": command.envelope.external_key, "attempt": command.envelope.attempt}))
        } else {
            Err(CommandError::new(
                ErrorCode::Rejected,
                "soggetto RSSMRA85T10A562S non trovato",
            ))
        }
    }
}

async fn http(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(b) = body {
        request = request
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let response = request.send().await.expect("the listener answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

async fn list(base: &str, query: &str) -> Vec<Value> {
    let (status, v) = http(reqwest::Method::GET, format!("{base}/ops/dlq{query}"), None).await;
    assert_eq!(status, 200, "{v}");
    v.as_array().expect("a list").clone()
}

async fn dead_letters_are_listed_replayed_and_purged(broker: &dyn TestBroker, index: SharedDeadLetterIndex) {
    let transport = broker.connect().await;
    let names = unique_names();
    let fixed = Arc::new(AtomicBool::new(false));
    let runtime = new_runtime(
        &transport,
        Arc::new(Fixable { fixed: fixed.clone() }),
        test_settings(&names, &[]),
    );
    let mut tap = declare_for(&transport, &names, &runtime).await;
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
        dead_letters: index.clone(),
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
    let addr = ops::serve("127.0.0.1:0".parse().unwrap(), ops::router(state), stop.clone())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let running = Running::start(runtime);

    let (first, msg) = command("acme.person.get", json!({"n": 1}));
    send(&transport, &names, msg).await;
    let (second, msg) = command("acme.certificate.get", json!({"n": 2}));
    send(&transport, &names, msg).await;
    let failed = tap.take(2, Duration::from_secs(10)).await;
    assert!(
        failed
            .iter()
            .all(|e| e.envelope.kind.as_str().ends_with(".failed"))
    );
    // What the broker dead-letters itself (delivery limit) reaches the same queue with x-death.
    let (broker_side, mut msg) = command("acme.person.get", json!({"n": 3}));
    let death: Headers = [
        ("reason".to_owned(), HeaderValue::from("delivery_limit")),
        ("queue".to_owned(), HeaderValue::from(names.command_queue("acme"))),
        ("count".to_owned(), HeaderValue::Int(1)),
    ]
    .into();
    msg.headers.insert(
        "x-death".into(),
        HeaderValue::Array(vec![HeaderValue::Table(death)]),
    );
    transport
        .publish(Publish::to_queue(names.dead_queue("acme"), msg))
        .await
        .unwrap();

    let indexer = Indexer {
        transport: transport.clone(),
        index: index.clone(),
        queues: vec![("acme".into(), names.dead_queue("acme"))],
    };
    let indexing = tokio::spawn(indexer.run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let all = loop {
        let all = list(&base, "").await;
        if all.len() == 3 || tokio::time::Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(all.len(), 3, "{all:?}");
    // Listing twice gives the same answer: it reads the index, never the queue.
    assert_eq!(list(&base, "").await, all);
    assert_eq!(
        transport
            .queue_stats(&names.dead_queue("acme"))
            .await
            .unwrap()
            .messages,
        0
    );
    // Listings mask personal data and carry no body.
    let listed = all
        .iter()
        .find(|e| e["message_id"] == json!(first.message_id.to_string()))
        .unwrap();
    assert_eq!(listed["error"], json!("soggetto RSS************S non trovato"));
    assert_eq!(listed["body"], json!(""));
    assert_eq!(listed["error_code"], json!("rejected"));

    // Filters.
    assert_eq!(list(&base, "?type=acme.certificate.get").await.len(), 1);
    assert_eq!(list(&base, "?error_code=rejected").await.len(), 2);
    let broker = list(&base, "?error_code=broker:delivery_limit").await;
    assert_eq!(broker.len(), 1);
    assert_eq!(broker[0]["broker_reason"], json!("delivery_limit"));
    assert_eq!(broker[0]["message_id"], json!(broker_side.message_id.to_string()));
    let by_id = list(&base, &format!("?message_id={}", second.message_id)).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(list(&base, "?connector=other").await.len(), 0);
    assert_eq!(list(&base, "?since=2999-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(list(&base, "?until=2999-01-01T00:00:00Z").await.len(), 3);

    // Show gives the whole entry, body included.
    let id = listed["id"].as_str().unwrap().to_owned();
    let (status, shown) = http(reqwest::Method::GET, format!("{base}/ops/dlq/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(shown["body"].as_str().unwrap()).unwrap(),
        json!({"n": 1})
    );
    assert_eq!(
        shown["headers"]["x-snodo-external-key"],
        json!(format!("op-{}", first.message_id))
    );

    // The cause is fixed; two operators press replay at once: one replay happens.
    fixed.store(true, Ordering::SeqCst);
    let url = format!("{base}/ops/dlq/{id}/replay");
    let (a, b) = tokio::join!(
        http(
            reqwest::Method::POST,
            url.clone(),
            Some(json!({"by": "alice@ops"}))
        ),
        http(reqwest::Method::POST, url.clone(), Some(json!({"by": "bob@ops"}))),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let completed = tap.take(1, Duration::from_secs(10)).await.remove(0);
    tap.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(completed.envelope.kind.as_str(), "acme.person.get.completed");
    assert_eq!(completed.envelope.correlation_id, Some(first.message_id));
    assert_eq!(
        completed.body,
        json!({"key": format!("op-{}", first.message_id), "attempt": 1}),
        "the external key of the first attempt, and the attempt count reset"
    );
    let (status, shown) = http(reqwest::Method::GET, format!("{base}/ops/dlq/{id}"), None).await;
    assert_eq!(status, 200);
    let by = shown["replayed"]["by"].as_str().unwrap();
    assert!(by == "alice@ops" || by == "bob@ops", "{shown}");
    assert_eq!(shown["replayed"]["queue"], json!(names.command_queue("acme")));
    let (status, again) = http(reqwest::Method::POST, url, Some(json!({"by": "carol@ops"}))).await;
    assert_eq!(status, 409);
    assert!(
        again["error"].as_str().unwrap().contains("already replayed"),
        "{again}"
    );
    assert_eq!(list(&base, "?only_pending=true").await.len(), 2);

    // Purge by filter.
    let (status, purged) = http(
        reqwest::Method::POST,
        format!("{base}/ops/dlq/purge"),
        Some(json!({"error_code": "broker:delivery_limit"})),
    )
    .await;
    assert_eq!((status, purged), (200, json!({"purged": 1})));
    assert_eq!(list(&base, "").await.len(), 2);
    let (status, _) = http(reqwest::Method::GET, format!("{base}/ops/dlq/no-such-id"), None).await;
    assert_eq!(status, 404);

    running.stop().await;
    stop.cancel();
    indexing.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_dead_letters_are_listed_replayed_and_purged() {
    let index = Arc::new(journal::MemoryDeadLetters::new(journal::DEFAULT_RETENTION));
    dead_letters_are_listed_replayed_and_purged(
        &snodo_queue::testing::embedded::EmbeddedTestBroker::new(),
        index,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_dead_letters_are_listed_replayed_and_purged_with_the_redis_index() {
    let url = std::env::var("SNODO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("dlqtest{}", uuid::Uuid::new_v4().simple());
    let index = journal::connect(Some(&url), &prefix, journal::DEFAULT_RETENTION)
        .await
        .expect("Redis for the index (scripts/test starts it)");
    dead_letters_are_listed_replayed_and_purged(
        &snodo_queue::testing::rabbit::RabbitTestBroker::shared().await,
        index,
    )
    .await;
}

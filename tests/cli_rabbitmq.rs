//! `snodo up`, `snodo send` and `snodo ops queues` on RabbitMQ, each test in its own virtual host: the
//! same path as on the embedded transport, and a command sent while no Snodo runs is processed once one
//! starts (the queues are durable, the instances are stateless).

mod support;

use snodo_queue::testing::rabbit::RabbitTestBroker;
use support::{SnodoUp, snodo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_on_rabbitmq_answers_ping_and_keeps_commands_across_restarts() {
    let broker = RabbitTestBroker::shared().await;
    let url = broker.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let up = SnodoUp::start(&["--amqp", &url], &[]);
        let out = snodo(&["send", "snodo.ping", "--amqp", &url]).stdin_json(r#"{"via": "rabbitmq"}"#);
        assert!(out.status.success(), "{}", out.stderr_text());
        let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(event["type"], "snodo.ping.completed");
        assert_eq!(event["body"], serde_json::json!({"via": "rabbitmq"}));

        let out = snodo(&["ops", "queues", "--amqp", &url]).run();
        assert!(out.status.success(), "{}", out.stderr_text());
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("snodo.core.commands") && l.trim_end().ends_with('1')),
            "one consumer:\n{table}"
        );
        up.stop();

        // No Snodo running: the command waits in its durable queue, and `send` times out.
        let out = snodo(&["send", "snodo.ping", "--amqp", &url, "--timeout", "1s"]).run();
        assert!(!out.status.success());
        assert!(out.stderr_text().contains("no outcome"), "{}", out.stderr_text());
        let out = snodo(&["ops", "queues", "--amqp", &url, "--json"]).run();
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let waiting = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["queue"] == "snodo.core.commands")
            .map(|r| r["messages"].clone());
        assert_eq!(waiting, Some(serde_json::json!(1)), "{rows}");

        // A new instance picks it up; the demo backend sees its event.
        let up = SnodoUp::start(&["--amqp", &url], &[]);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let page = support::http_get(&format!("{}/demo/entries.json", up.ops_url()));
            if page.matches("snodo.ping.completed").count() >= 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < until,
                "the queued command was never processed: {page}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        up.stop();
    })
    .await
    .unwrap();
}

/// Queue arguments are immutable: a queue that exists with other settings stops `snodo up` at once with a
/// message naming it, instead of a crash loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_names_a_queue_declared_with_other_arguments() {
    use snodo_queue::Topology;
    use snodo_queue::testing::TestBroker;
    use snodo_queue::topology::QueueSpec;

    let broker = RabbitTestBroker::shared().await;
    let transport = broker.connect().await;
    let clash = QueueSpec {
        message_ttl: Some(std::time::Duration::from_secs(5)),
        ..QueueSpec::quorum("snodo.core.commands")
    };
    transport
        .declare(&Topology {
            queues: vec![clash],
            ..Topology::default()
        })
        .await
        .expect("declare the clashing queue");
    transport.close().await;
    let url = broker.url().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_snodo"))
            .args(["up", "--amqp", &url, "--no-simulators"])
            .env("SNODO_LISTENERS__OPS", "127.0.0.1:0")
            .output()
            .expect("run snodo up")
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("snodo.core.commands") && stderr.contains("different settings"),
        "{stderr}"
    );
}

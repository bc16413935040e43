//! End-to-end tests of the `snodo` binary as an operator uses it: `snodo up` as a real process, `snodo
//! send` and `snodo ops queues` against it, a clean stop on SIGTERM, the production guard of the embedded
//! transport and `snodo check`'s error reports.

mod support;

use std::process::Command;

use support::{SnodoUp, snodo};

#[test]
fn up_on_the_embedded_transport_answers_ping_and_stops_cleanly() {
    let up = SnodoUp::start(&[], &[]);
    let out = snodo(&["send", "snodo.ping", "--ops", &up.ops_url()]).stdin_json(r#"{}"#);
    assert!(out.status.success(), "send failed: {}", out.stderr_text());
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).expect("send prints JSON");
    assert_eq!(event["type"], "snodo.ping.completed");
    assert!(!event["correlation_id"].as_str().unwrap_or_default().is_empty());

    let body = std::env::temp_dir().join(format!("snodo-ping-{}.json", std::process::id()));
    std::fs::write(&body, r#"{"hello": "Milano"}"#).unwrap();
    let out = snodo(&[
        "send",
        "snodo.ping",
        body.to_str().unwrap(),
        "--ops",
        &up.ops_url(),
    ])
    .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["body"], serde_json::json!({"hello": "Milano"}));

    let out = snodo(&["send", "anpr.nothing.here", "--ops", &up.ops_url()]).run();
    assert!(!out.status.success(), "a .failed outcome exits non-zero");
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["type"], "anpr.nothing.here.failed");
    assert_eq!(event["body"]["code"], "unknown_type");

    let out = snodo(&["ops", "queues", "--ops", &up.ops_url()]).run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let table = String::from_utf8_lossy(&out.stdout);
    for queue in [
        "snodo.core.commands",
        "snodo.core.dead",
        "snodo.commands.unrouted",
        "demo.events",
    ] {
        assert!(table.contains(queue), "{queue} missing from:\n{table}");
    }

    let page = support::http_get(&format!("{}/demo", up.ops_url()));
    assert!(page.contains("Demo backend"), "{page}");
    assert!(
        page.contains("snodo.ping.completed"),
        "the demo backend saw the event"
    );
    let ready = support::http_get(&format!("{}/readyz", up.ops_url()));
    assert!(ready.contains("\"ready\":true"), "{ready}");
    let metrics = support::http_get(&format!("{}/metrics", up.ops_url()));
    assert!(
        metrics.contains("snodo_messages_received_total{connector=\"core\",type=\"snodo.ping\"} 2"),
        "{metrics}"
    );

    let stderr = up.stop();
    assert!(stderr.contains("snodo up: stopped."), "{stderr}");
}

#[test]
fn up_refuses_a_production_tenant_on_the_embedded_transport() {
    let config = support::temp_file(
        "production.toml",
        r#"
        [[tenants]]
        istat = "015146"
        name = "Comune di Milano"
        fiscal_code = "01199250158"
        cadastral_code = "F205"
        public_base_url = "https://snodo.comune.milano.it"
        environment = "production"
        "#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_snodo"))
        .args(["--config", config.to_str().unwrap(), "up"])
        .env_remove("SNODO_AMQP_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("production tenant") && stderr.contains("--amqp"),
        "{stderr}"
    );
}

#[test]
fn check_reports_file_key_and_reason() {
    let config = support::temp_file("bad.toml", "[runtime]\nretry = [\"1s\", \"later\"]\n");
    let out = snodo(&["--config", config.to_str().unwrap(), "check"]).run();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad.toml") && stdout.contains("runtime.retry") && stdout.contains("later"),
        "{stdout}"
    );

    let out = snodo(&["check"]).run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("015146"));
}

#[test]
fn send_without_a_running_instance_says_so() {
    let out = snodo(&[
        "send",
        "snodo.ping",
        "--ops",
        "http://127.0.0.1:1",
        "--timeout",
        "2s",
    ])
    .run();
    assert!(!out.status.success());
    assert!(
        out.stderr_text().contains("no `snodo up` answers"),
        "{}",
        out.stderr_text()
    );
}

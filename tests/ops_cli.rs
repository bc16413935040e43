//! `snodo ops dlq` as an operator uses it, against `snodo up` as a real process: a command nobody
//! handles is parked, listed (with filters, as a table and JSON), shown, replayed with the replay
//! recorded, and purged — with the confirmation question answered "no" first, then `--yes`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{SnodoUp, snodo};

fn dlq_json(ops: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["ops", "dlq", "list", "--json", "--ops", ops];
    args.extend_from_slice(extra);
    let out = snodo(&args).run();
    assert!(out.status.success(), "{}", out.stderr_text());
    serde_json::from_slice(&out.stdout).expect("list --json prints JSON")
}

#[test]
fn dead_letters_are_listed_shown_replayed_and_purged_from_the_command_line() {
    let up = SnodoUp::start(&[], &[]);
    let ops = up.ops_url();
    let out = snodo(&["send", "nobody.thing.do", "--ops", &ops]).stdin_json(r#"{"n": 7}"#);
    assert!(!out.status.success());
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    let message_id = event["correlation_id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let entries = loop {
        let entries = dlq_json(&ops, &[]);
        if !entries.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["error_code"], "unknown_type");
    assert_eq!(entries[0]["connector"], "core");
    assert_eq!(entries[0]["message_id"], message_id.as_str());
    let id = entries[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(dlq_json(&ops, &["--error-code", "rejected"]).len(), 0);
    assert_eq!(dlq_json(&ops, &["--type", "nobody.thing.do"]).len(), 1);
    assert_eq!(dlq_json(&ops, &["--message-id", &message_id]).len(), 1);
    assert_eq!(dlq_json(&ops, &["--since", "2999-01-01T00:00:00Z"]).len(), 0);
    let out = snodo(&["ops", "dlq", "list", "--since", "yesterday", "--ops", &ops]).run();
    assert!(!out.status.success());
    assert!(out.stderr_text().contains("RFC 3339"), "{}", out.stderr_text());

    let out = snodo(&["ops", "dlq", "list", "--ops", &ops]).run();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&id) && table.contains("unknown_type"), "{table}");

    let out = snodo(&["ops", "dlq", "show", &id, "--ops", &ops]).run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["body"], r#"{"n":7}"#);

    let out = snodo(&["ops", "dlq", "replay", &id, "--by", "maria@comune", "--ops", &ops]).run();
    assert!(out.status.success(), "{}", out.stderr_text());
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed to snodo.core.commands"));
    let shown = &dlq_json(&ops, &["--message-id", &message_id])[0];
    assert_eq!(shown["replayed"]["by"], "maria@comune");
    let out = snodo(&["ops", "dlq", "replay", &id, "--ops", &ops]).run();
    assert!(!out.status.success(), "a second replay is refused");
    assert!(String::from_utf8_lossy(&out.stdout).contains("already replayed by maria@comune"));

    // Purge asks first; with no "y" on standard input nothing goes.
    let out = snodo(&["ops", "dlq", "purge", "--ops", &ops]).run();
    assert!(!out.status.success());
    assert!(
        out.stderr_text().contains("cannot be undone"),
        "{}",
        out.stderr_text()
    );
    assert!(!dlq_json(&ops, &[]).is_empty());
    let out = snodo(&[
        "ops",
        "dlq",
        "purge",
        "--yes",
        "--message-id",
        &message_id,
        "--ops",
        &ops,
    ])
    .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    assert!(dlq_json(&ops, &["--message-id", &message_id]).is_empty());
    up.stop();
}

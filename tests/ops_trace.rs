//! `snodo ops trace` and `snodo ops erase` against `snodo up` as a process: a command nobody handles
//! is found by its message id and by the codice fiscale in its body, printed in time order; erasing the
//! person asks first, then removes the records and the dead letter.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{SnodoUp, snodo};

const PERSON: &str = "RSSMRA85T10A562S";

fn trace_json(ops: &str, id: &str) -> Vec<Value> {
    let out = snodo(&["ops", "trace", id, "--json", "--ops", ops]).run();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[test]
fn a_story_is_traced_by_message_id_and_codice_fiscale_and_erased() {
    let up = SnodoUp::start(&["--no-simulators"], &[]);
    let ops = up.ops_url();
    let out = snodo(&["send", "nobody.person.get", "--ops", &ops])
        .stdin_json(&format!(r#"{{"codice_fiscale": "{PERSON}"}}"#));
    assert!(!out.status.success());
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    let message_id = event["correlation_id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let story = loop {
        let story = trace_json(&ops, &message_id);
        if story.iter().any(|r| r["kind"] == "command_failed") {
            break story;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{story:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let kinds: Vec<&str> = story.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["command_received", "command_failed"]);
    assert_eq!(story[1]["outcome"], "unknown_type");
    assert_eq!(trace_json(&ops, &PERSON.to_lowercase()), story);

    let out = snodo(&["ops", "trace", &message_id, "--ops", &ops]).run();
    assert!(out.status.success(), "{}", out.stderr_text());
    let table = String::from_utf8_lossy(&out.stdout);
    let received = table.find("command_received").expect("a row per record");
    assert!(table[received..].contains("command_failed"), "{table}");
    assert!(!table.contains(PERSON), "{table}");

    // The dead letter reaches the index before the erasure can take it too.
    let started = Instant::now();
    loop {
        let out = snodo(&["ops", "dlq", "list", "--json", "--ops", &ops]).run();
        let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if !entries.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = snodo(&["ops", "erase", PERSON, "--ops", &ops]).run();
    assert!(!out.status.success(), "no confirmation, nothing erased");
    assert_eq!(trace_json(&ops, PERSON).len(), 2);
    let out = snodo(&[
        "ops",
        "erase",
        PERSON,
        "--yes",
        "--by",
        "dpo@comune",
        "--ops",
        &ops,
    ])
    .run();
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "erased 2 journal records of 1 commands and 1 dead letters"
    );
    let out = snodo(&["ops", "trace", PERSON, "--ops", &ops]).run();
    assert!(!out.status.success(), "nothing left to trace");
    up.stop();
}

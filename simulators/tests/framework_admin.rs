//! The rest of the admin API through a real listener: the exchange recorder (fields, cap, ring,
//! filters), the clock (advance, speed, set) as the simulator's own handlers see it, reset to the
//! seeded state, JSON errors; then HTTPS with a client certificate and the launcher behind
//! `snodo simulate`.

mod framework_common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use framework_common::{Echo, start};
use serde_json::json;
use snodo_simulators::framework::{LaunchError, LaunchOptions, Recorder, Registration, launch, registry};
use tokio_util::sync::CancellationToken;

fn instant(value: &serde_json::Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not an instant: {value}"))
        .with_timezone(&Utc)
}

#[tokio::test]
async fn exchanges_record_requests_replies_and_faults() {
    let sim = start(None).await;
    sim.add_faults(
        json!({"operation": "fail", "fault": {"kind": "http_status", "status": 503, "body": "down"}}),
    )
    .await;
    sim.call("hello", json!({"who": "Milano"})).await.unwrap();
    sim.call("fail", json!({})).await.unwrap();
    sim.client.get(sim.at("/no/such/path")).send().await.unwrap();

    let page = sim.get_json("/admin/exchanges").await;
    let exchanges = page["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 3, "{page}");
    let hello = &exchanges[0];
    assert_eq!(hello["operation"], "hello");
    assert_eq!(hello["method"], "POST");
    assert_eq!(hello["uri"], "/echo");
    assert_eq!(hello["status"], 200);
    assert!(hello["request"]["text"].as_str().unwrap().contains("Milano"));
    assert!(
        hello["response"]["text"]
            .as_str()
            .unwrap()
            .contains("\"outcome\":\"OK\"")
    );
    assert!(hello["fault"].is_null() && hello["peer_subject"].is_null());
    let fail = &exchanges[1];
    assert_eq!(fail["status"], 503);
    assert_eq!(fail["response"]["text"], "down");
    assert_eq!(fail["fault"]["kind"], "http_status");
    assert_eq!(fail["fault"]["hit"], 1);
    assert_eq!(exchanges[2]["status"], 404, "unknown paths are recorded too");

    let only = sim.get_json("/admin/exchanges?operation=fail").await;
    assert_eq!(only["exchanges"].as_array().unwrap().len(), 1);
    let last = sim.get_json("/admin/exchanges?limit=1").await;
    assert_eq!(last["exchanges"][0]["uri"], "/no/such/path");
    let since = instant(&exchanges[1]["at"]);
    let later = sim
        .get_json(&format!(
            "/admin/exchanges?since={}",
            since.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ))
        .await;
    let later = later["exchanges"].as_array().unwrap();
    assert_eq!(later.len(), 2, "{later:?}");
    assert!(later.iter().all(|e| instant(&e["at"]) >= since));

    let cleared = sim
        .client
        .delete(sim.at("/admin/exchanges"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(sim.get_json("/admin/exchanges").await["exchanges"], json!([]));
}

#[tokio::test]
async fn the_recorder_is_a_ring_with_capped_bodies() {
    let sim = start(Some(Recorder::new(3, 16))).await;
    for n in 0..5 {
        sim.call(&format!("op{n}"), json!({"padding": "0123456789abcdef"}))
            .await
            .unwrap();
    }
    let page = sim.get_json("/admin/exchanges").await;
    let ops: Vec<&str> = page["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["op2", "op3", "op4"], "oldest dropped first");
    assert_eq!(page["dropped"], 2);
    assert_eq!(page["capacity"], 3);
    assert_eq!(page["exchanges"][0]["seq"], 3);
    let request = &page["exchanges"][0]["request"];
    assert_eq!(request["text"].as_str().unwrap().len(), 16);
    assert_eq!(request["truncated"], true);
    assert!(request["bytes"].as_u64().unwrap() > 16);
}

#[tokio::test]
async fn the_clock_moves_through_the_admin_api_and_the_handlers_see_it() {
    let sim = start(None).await;
    let before = instant(&sim.get_json("/now").await["now"]);
    let advanced = sim
        .client
        .post(sim.at("/admin/clock"))
        .json(&json!({"advance": "30days"}))
        .send()
        .await
        .unwrap();
    assert_eq!(advanced.status(), StatusCode::OK);
    let seen = instant(&sim.get_json("/now").await["now"]);
    assert!(seen - before >= TimeDelta::days(30), "{before} -> {seen}");
    let echoed = sim
        .call("x", json!({}))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(
        instant(&echoed["now"]) >= seen,
        "the protocol handler reads the same clock"
    );
    let recorded = sim.get_json("/admin/exchanges?limit=1").await;
    assert!(instant(&recorded["exchanges"][0]["at"]) - before >= TimeDelta::days(30));

    // A million times real speed: 20 ms of real time are at least 20 000 s simulated.
    sim.client
        .post(sim.at("/admin/clock"))
        .json(&json!({"speed": 1_000_000}))
        .send()
        .await
        .unwrap();
    let fast_start = instant(&sim.get_json("/admin/clock").await["now"]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fast_end = instant(&sim.get_json("/admin/clock").await["now"]);
    assert!(
        fast_end - fast_start >= TimeDelta::seconds(20_000),
        "{fast_start} -> {fast_end}"
    );

    // Freezing never moves it back, and a frozen clock stands still.
    let frozen = sim
        .client
        .post(sim.at("/admin/clock"))
        .json(&json!({"speed": 0}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(instant(&frozen["now"]) >= fast_end);
    assert_eq!(frozen["speed"], 0.0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(sim.get_json("/admin/clock").await["now"], frozen["now"]);

    let set = sim
        .client
        .post(sim.at("/admin/clock"))
        .json(&json!({"set": "2030-02-28T23:59:00Z", "advance": "2m"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(instant(&set["now"]), instant(&json!("2030-03-01T00:01:00Z")));
}

#[tokio::test]
async fn clock_errors_leave_the_clock_alone() {
    let sim = start(None).await;
    for (body, needle) in [
        (json!({"advance": "soon"}), "duration"),
        (json!({"speed": -2}), "speed"),
        (json!({"set": "yesterday"}), "RFC 3339"),
        (json!({"set": "2030-01-01T00:00:00Z", "offset_ms": 5}), "not both"),
        (json!({"advance": "300years"}), "200 years"),
        (json!({"rewind": "1h"}), "unknown field"),
        (json!({}), "nothing to change"),
    ] {
        let response = sim
            .client
            .post(sim.at("/admin/clock"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let clock = sim.get_json("/admin/clock").await;
    assert_eq!(clock["speed"], 1.0);
    assert!(clock["offset_ms"].as_i64().unwrap().abs() < 60_000, "{clock}");
}

#[tokio::test]
async fn reset_returns_to_the_seeded_state() {
    let sim = start(None).await;
    sim.client
        .post(sim.at("/items"))
        .body("gamma")
        .send()
        .await
        .unwrap();
    assert_eq!(sim.get_json("/items").await, json!(["alpha", "beta", "gamma"]));
    sim.add_faults(json!({"operation": "never", "fault": {"kind": "drop_connection"}}))
        .await;
    sim.client
        .post(sim.at("/admin/clock"))
        .json(&json!({"advance": "400days", "speed": 10}))
        .send()
        .await
        .unwrap();

    let reset = sim.client.post(sim.at("/admin/reset")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    assert_eq!(sim.get_json("/items").await, json!(["alpha", "beta"]));
    assert_eq!(sim.get_json("/admin/faults").await["rules"], json!([]));
    let exchanges = sim.get_json("/admin/exchanges").await;
    assert_eq!(
        exchanges["exchanges"].as_array().unwrap().len(),
        1,
        "only the call after reset: {exchanges}"
    );
    let clock = sim.get_json("/admin/clock").await;
    assert_eq!(clock["speed"], 1.0);
    assert!(clock["offset_ms"].as_i64().unwrap().abs() < 60_000, "{clock}");
    let health = sim.get_json("/admin/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["simulator"], "echo");
}

#[tokio::test]
async fn admin_errors_are_json_that_say_what_is_wrong() {
    let sim = start(None).await;
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            sim.client.post(sim.at("/admin/faults")).body("{not json"),
            StatusCode::BAD_REQUEST,
            "not a valid rule",
        ),
        (
            sim.client
                .post(sim.at("/admin/faults"))
                .json(&json!({"fault": {"kind": "explode"}})),
            StatusCode::BAD_REQUEST,
            "explode",
        ),
        (
            sim.client
                .post(sim.at("/admin/faults"))
                .json(&json!({"times": 0, "fault": {"kind": "drop_connection"}})),
            StatusCode::BAD_REQUEST,
            "times must be at least 1",
        ),
        (
            sim.client.post(sim.at("/admin/faults")).json(&json!([])),
            StatusCode::BAD_REQUEST,
            "no rule",
        ),
        (
            sim.client.delete(sim.at("/admin/faults/99")),
            StatusCode::NOT_FOUND,
            "99",
        ),
        (
            sim.client.delete(sim.at("/admin/faults/abc")),
            StatusCode::BAD_REQUEST,
            "not a number",
        ),
        (
            sim.client.get(sim.at("/admin/exchanges?since=yesterday")),
            StatusCode::BAD_REQUEST,
            "RFC 3339",
        ),
        (
            sim.client.get(sim.at("/admin/exchanges?limit=many")),
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            sim.client.get(sim.at("/admin/nothing")),
            StatusCode::NOT_FOUND,
            "/admin/nothing",
        ),
        (
            sim.client.put(sim.at("/admin/faults")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
        ),
    ];
    for (request, status, needle) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let body: serde_json::Value = response.json().await.expect("errors are JSON");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    assert_eq!(
        sim.get_json("/admin/faults").await["rules"],
        json!([]),
        "nothing was added"
    );
    assert_eq!(
        sim.get_json("/admin/exchanges").await["exchanges"],
        json!([]),
        "admin calls are not recorded"
    );
}

/// A registry holding only the echo simulator: the launcher's code path with a test double, which
/// never belongs in the real registry.
const TEST_REGISTRY: &[Registration] = &[Registration {
    name: "echo",
    summary: "test double",
    build: |context| Ok(Arc::new(Echo::new(context.clock.clone()))),
}];

#[tokio::test]
async fn launch_serves_https_and_records_the_client_certificate_subject() {
    let dir = std::env::temp_dir().join("snodo-devpki-tests");
    let shutdown = CancellationToken::new();
    let launched = launch(
        TEST_REGISTRY,
        &["echo".to_owned()],
        &LaunchOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_offset: 0,
            pki_dir: dir.clone(),
            https: true,
        },
        shutdown.clone(),
    )
    .await
    .expect("launched");
    let trust = launched.trust.clone().expect("HTTPS has trust material");
    let running = &launched.simulators[0];
    assert!(
        running.url().starts_with("https://127.0.0.1:"),
        "{}",
        running.url()
    );

    let pki = snodo_security::devpki::DevPki::ensure(&dir, &Default::default()).unwrap();
    assert_eq!(trust.ca_file, pki.ca_file());
    let config = snodo_security::tls::TlsClientConfig::new(pki.trust_anchors())
        .with_identity(pki.tls_client().identity.clone());
    let client = snodo_security::tls::build_client(&config).unwrap();
    let response = client
        .post(format!("{}/echo", running.url()))
        .json(&json!({"operation": "hello"}))
        .send()
        .await
        .expect("HTTPS with the development CA and a client certificate");
    assert_eq!(response.status(), StatusCode::OK);
    let page: serde_json::Value = client
        .get(format!("{}/exchanges", running.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subject = page["exchanges"][0]["peer_subject"]
        .as_str()
        .expect("a peer subject");
    assert!(subject.contains("CN=Snodo DEVELOPMENT client"), "{subject}");

    // A dropped connection behind the mutual-TLS loop: closed without an HTTP answer too.
    let rule = client
        .post(format!("{}/faults", running.admin_url()))
        .json(&json!({"operation": "cut", "fault": {"kind": "drop_connection"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rule.status(), StatusCode::CREATED);
    let err = client
        .post(format!("{}/echo", running.url()))
        .json(&json!({"operation": "cut"}))
        .send()
        .await
        .expect_err("no HTTP answer over TLS either");
    assert!(!err.is_timeout() && err.status().is_none(), "{err}");

    shutdown.cancel();
    for running in launched.simulators {
        running.stopped().await;
    }
}

#[tokio::test]
async fn launch_reports_unknown_and_duplicate_names() {
    let options = LaunchOptions {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port_offset: 0,
        pki_dir: std::env::temp_dir().join("snodo-devpki-tests"),
        https: false,
    };
    let shutdown = CancellationToken::new();
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let err = launch(
        TEST_REGISTRY,
        &names(&["echo", "pagopa"]),
        &options,
        shutdown.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no simulator is named \"pagopa\"; the known ones are: echo"
    );
    let err = launch(
        TEST_REGISTRY,
        &names(&["echo", "echo"]),
        &options,
        shutdown.clone(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LaunchError::Duplicate { .. }), "{err}");
    let err = launch(registry::REGISTERED, &names(&[]), &options, shutdown.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name at least one simulator"), "{err}");
}

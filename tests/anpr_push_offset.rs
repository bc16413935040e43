//! The ANPR simulator's notification push follows `snodo up --listener-offset` end to end: with every
//! listener moved by N (so that two instances share a machine), an N010 asked of the simulator's admin
//! API on 9441 + N must reach this instance's inbound listener on 7443 + N — not 7443, where another
//! instance (or nothing) listens. The unit test in `simulators/src/anpr/push.rs` only checks the port
//! arithmetic; this one runs the real binary and judges by what an operator sees: `snodo ops trace`
//! of the event's `message_id` (derived here independently from the notification's ANPR id) shows the
//! push's inbound call and the `anpr.notification.received` event, and the simulator's own record
//! shows exactly one attempt, delivered with `codiceEsito` 0 to the offset port — so no attempt went
//! anywhere else.
//!
//! The development PKI is configured the way an operator does it (`tls.dev_pki_dir`), while
//! `SNODO_DEV_PKI_DIR` names another PKI: the simulators must take the one `snodo up` was configured
//! with from the launch, or the push's TLS fails.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use snodo_queue::envelope::SNODO_ID_NAMESPACE;
use snodo_security::devpki::{DevPki, DevTenant};
use support::{SnodoUp, free_simulator_offset, snodo};

/// The development comune (the default configuration's ANPR tenant).
const TENANT: &str = "015146";
/// The port `snodo up`'s inbound listener is configured on before the offset, and the one the
/// simulator's development settings push to before the launch's offset moves it.
const INBOUND_BASE_PORT: u16 = 7443;
/// The ANPR simulator's default port (DESIGN §6).
const ANPR_BASE_PORT: u16 = snodo_simulators::anpr::DEFAULT_PORT;

/// A non-zero offset at which the simulators' ports and the inbound listener's are all free now: the
/// shared helper's search (which checks the simulators'), repeated until 7443 + offset is free too.
fn free_listener_offset() -> u16 {
    for _ in 0..200 {
        let offset = free_simulator_offset();
        let inbound_free = std::net::TcpListener::bind(("127.0.0.1", INBOUND_BASE_PORT + offset)).is_ok();
        if offset != 0 && inbound_free {
            return offset;
        }
    }
    panic!("no port offset with the simulators' and the inbound listener's ports free");
}

/// The `message_id` Snodo gives the event of an ANPR notification, written out here rather than
/// borrowed from the connector so that a change of the derivation shows: UUIDv5 in Snodo's namespace
/// of `inbound/<event type>/<tenant>/anpr:<kind>:<idOperazioneANPR>`.
fn expected_message_id(tenant: &str, kind: &str, notification_id: &str) -> String {
    let name = format!("inbound/anpr.notification.received/{tenant}/anpr:{kind}:{notification_id}");
    uuid::Uuid::new_v5(&SNODO_ID_NAMESPACE, name.as_bytes()).to_string()
}

/// `snodo ops trace <id> --json` against the instance's operations listener. An id not (yet) in the
/// journal prints `[]` and exits with failure; anything but a JSON array is a broken command.
fn trace(ops: &str, id: &str) -> Vec<Value> {
    let out = snodo(&["ops", "trace", id, "--json", "--ops", ops]).run();
    let story: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "snodo ops trace printed no JSON array ({e}): {}",
            out.stderr_text()
        )
    });
    assert_eq!(
        out.status.success(),
        !story.is_empty(),
        "snodo ops trace succeeds exactly when it found records: {}",
        out.stderr_text()
    );
    story
}

fn records_of<'a>(story: &'a [Value], kind: &str) -> Vec<&'a Value> {
    story.iter().filter(|r| r["kind"] == kind).collect()
}

/// The development CA `snodo up` made in `pki_dir` (PEM), which the simulators' and the inbound
/// listener's server certificates chain to.
fn development_ca(pki_dir: &Path) -> Vec<u8> {
    let current =
        std::fs::read_to_string(pki_dir.join("current")).expect("snodo up made the development PKI");
    std::fs::read(pki_dir.join(current.trim()).join("ca.pem")).expect("the development CA")
}

/// Removes the test's directories whatever the outcome.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_n010_pushed_by_the_simulator_reaches_the_inbound_listener_moved_by_the_offset() {
    let offset = free_listener_offset();
    let work = WorkDir(std::env::temp_dir().join(format!(
        "snodo-anpr-push-offset-{}",
        uuid::Uuid::new_v4().simple()
    )));
    // `snodo up` is configured with `pki_dir`; `SNODO_DEV_PKI_DIR` names a decoy PKI made by this
    // process (so its CA and keys are not those `snodo up` makes). A simulator that read the
    // environment instead of its launch would trust the decoy CA and present the decoy's client
    // certificate to the inbound listener, and the push would fail. The cache home keeps anything
    // else off the developer's own cache.
    let pki_dir = work.0.join("devpki");
    let decoy_dir = work.0.join("decoy-devpki");
    let decoy = DevPki::ensure(&decoy_dir, &DevTenant::default()).expect("the decoy PKI");
    let cache_home = work.0.join("cache");
    let prefix = format!("po{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let up = {
        let (pki, decoy, cache) = (
            pki_dir.to_string_lossy().into_owned(),
            decoy_dir.to_string_lossy().into_owned(),
            cache_home.to_string_lossy().into_owned(),
        );
        tokio::task::spawn_blocking(move || {
            SnodoUp::start(
                &["--listener-offset", &offset.to_string()],
                &[
                    (
                        "SNODO_LISTENERS__INBOUND",
                        &format!("127.0.0.1:{INBOUND_BASE_PORT}"),
                    ),
                    ("SNODO_TLS__DEV_PKI_DIR", &pki),
                    ("SNODO_DEV_PKI_DIR", &decoy),
                    ("XDG_CACHE_HOME", &cache),
                    // Should the environment name a Redis, the journal there is this run's alone.
                    ("SNODO_TRANSPORT__PREFIX", &prefix),
                ],
            )
        })
        .await
        .unwrap()
    };
    let ops = up.ops_url();
    let ca = development_ca(&pki_dir);
    assert_ne!(
        ca,
        std::fs::read(decoy.ca_file()).unwrap(),
        "the decoy is another PKI"
    );
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let simulator = format!("https://127.0.0.1:{}", ANPR_BASE_PORT + offset);

    // ANPR produces an N010 for the comune, as after a resident's move registered elsewhere.
    let asked = http
        .post(format!("{simulator}/admin/anpr/notifications"))
        .json(&json!({"comune": TENANT, "kind": "N010"}))
        .send()
        .await
        .expect("the ANPR simulator answers on its offset port");
    assert_eq!(asked.status(), 202, "{}", asked.text().await.unwrap_or_default());
    let asked: Value = asked.json().await.unwrap();
    let notification_id = asked["id_operazione_anpr"]
        .as_str()
        .expect("the simulator names the notification it pushes")
        .to_owned();
    let message_id = expected_message_id(TENANT, "N010", &notification_id);

    // The operator's view: the push's inbound call and the event it stored, under the event's id.
    let started = Instant::now();
    let story = loop {
        let (ops, id) = (ops.clone(), message_id.clone());
        let story = tokio::task::spawn_blocking(move || trace(&ops, &id))
            .await
            .unwrap();
        let done = !records_of(&story, "inbound_call").is_empty()
            && !records_of(&story, "event_published").is_empty();
        if done {
            break story;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no inbound call and event for message id {message_id} (the N010's) on the instance at \
             offset {offset}:\n{story:#?}\nsimulator pushes: {}",
            pushes(&http, &simulator).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let calls = records_of(&story, "inbound_call");
    assert_eq!(calls.len(), 1, "one push, one inbound call: {story:#?}");
    let call = calls[0];
    assert_eq!(call["endpoint"], "/anpr/{tenant}/notifications", "{story:#?}");
    assert_eq!(call["operation"], "anpr.RichiestaN000");
    assert_eq!(call["tenant"], TENANT);
    assert_eq!(call["outcome"], "ok");
    assert_eq!(
        call["message_id"],
        message_id.as_str(),
        "the call names the event it brought"
    );
    // The 3003 pull may publish the same notification too: under the same id, which is the point.
    for event in records_of(&story, "event_published") {
        assert_eq!(event["type"], "anpr.notification.received", "{story:#?}");
        assert_eq!(event["message_id"], message_id.as_str());
        assert_eq!(event["tenant"], TENANT);
        assert_eq!(event["outcome"], "ok");
    }

    // The simulator's side: one attempt for this notification, to the moved port, answered with
    // codiceEsito 0. With the call above the only one this instance received, that attempt is the
    // one that landed here, so nothing was pushed to the un-moved port 7443 first (a miss there
    // would also have been a failed attempt, retried only 5 simulator minutes later).
    let record = pushes(&http, &simulator).await;
    let attempts: Vec<&Value> = record["pushes"]
        .as_array()
        .expect("the simulator lists its pushes")
        .iter()
        .filter(|p| p["id_operazione_anpr"] == notification_id.as_str())
        .collect();
    assert_eq!(attempts.len(), 1, "{record:#}");
    let attempt = attempts[0];
    assert_eq!(attempt["kind"], "N010");
    assert_eq!(attempt["comune"], TENANT);
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(
        attempt["url"],
        format!(
            "https://127.0.0.1:{}/anpr/{TENANT}/notifications",
            INBOUND_BASE_PORT + offset
        ),
        "{record:#}"
    );
    assert_eq!(attempt["delivered"], true, "{record:#}");
    assert_eq!(attempt["outcome"], "codiceEsito 0", "{record:#}");

    tokio::task::spawn_blocking(move || up.stop()).await.unwrap();
}

/// `GET /admin/anpr/pushes` of the simulator.
async fn pushes(http: &reqwest::Client, simulator: &str) -> Value {
    http.get(format!("{simulator}/admin/anpr/pushes"))
        .send()
        .await
        .expect("the simulator's push record")
        .json()
        .await
        .expect("the push record is JSON")
}

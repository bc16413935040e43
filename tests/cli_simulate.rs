//! `snodo simulate` as an integrator runs it: names are checked against the registered platform
//! simulators before anything starts, and a wrong or missing name is answered with the known ones
//! (or with the plain fact that none is registered yet). With `--pki-dir` and `--port-offset`, the
//! ANPR simulator serves the CA of that directory and pushes notifications with that directory's
//! client certificate to the comune's listener moved by the offset — judged by a stand-in listener
//! that accepts only that directory's clients, while `SNODO_DEV_PKI_DIR` names another PKI the
//! simulator must not use. The launcher's other behaviour is tested in
//! `simulators/tests/framework_admin.rs`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};
use snodo_security::devpki::{DevPki, DevTenant};
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_simulators::framework::DEVELOPMENT_INBOUND_PORT;
use snodo_simulators::framework::registry::REGISTERED;
use support::{free_simulator_offset, snodo};
use tokio_util::sync::CancellationToken;

fn known_names() -> String {
    if REGISTERED.is_empty() {
        "no platform simulator is registered in this build yet".to_owned()
    } else {
        let names: Vec<&str> = REGISTERED.iter().map(|r| r.name).collect();
        format!("the known ones are: {}", names.join(", "))
    }
}

#[test]
fn an_unknown_system_is_reported_with_the_known_ones() {
    let pki_dir = std::env::temp_dir().join(format!("snodo-simulate-pki-{}", std::process::id()));
    let out = snodo(&[
        "simulate",
        "no-such-system",
        "--pki-dir",
        pki_dir.to_str().unwrap(),
    ])
    .run();
    assert!(!out.status.success());
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("no simulator is named \"no-such-system\""),
        "{stderr}"
    );
    assert!(stderr.contains(&known_names()), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing was started");
    assert!(!pki_dir.exists(), "names are checked before the PKI is prepared");
}

#[test]
fn no_system_named_says_what_to_name() {
    let out = snodo(&["simulate", "--http"]).run();
    assert!(!out.status.success());
    let stderr = out.stderr_text();
    assert!(stderr.contains("name at least one simulator to run"), "{stderr}");
    assert!(stderr.contains(&known_names()), "{stderr}");
}

/// The development comune (the development PKI's tenant).
const TENANT: &str = "015146";

/// A running `snodo simulate`, its output lines as they come; killed on drop if not stopped.
struct Simulate {
    child: Option<Child>,
    stdout: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl Simulate {
    /// Starts `snodo simulate <args>` with `env` and waits until it says it is ready.
    fn start(args: &[&str], env: &[(&str, &Path)]) -> Simulate {
        let mut command = Command::new(env!("CARGO_BIN_EXE_snodo"));
        command
            .arg("simulate")
            .args(args)
            .env("SNODO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn snodo simulate");
        let (lines, stderr) = mpsc::channel();
        let err = BufReader::new(child.stderr.take().expect("piped stderr"));
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let (out_lines, stdout) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if out_lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = String::new();
        loop {
            match stderr.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains("snodo simulate: ready") => break,
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("snodo simulate did not become ready:\n{seen}");
                }
            }
        }
        // What it printed before saying it was ready (the URLs and trust material).
        let stdout = stdout.try_iter().collect();
        Simulate {
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// The first word after `label` on the stdout line that starts with `first_word`.
    fn printed(&self, first_word: &str, label: &str) -> String {
        self.stdout
            .iter()
            .filter(|line| line.split_whitespace().next() == Some(first_word))
            .find_map(|line| line.split(label).nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {first_word:?} line with {label:?} in {:#?}", self.stdout))
            .to_owned()
    }

    /// SIGTERM, and a clean exit within 40 s.
    fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let until = Instant::now() + Duration::from_secs(40);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("snodo simulate did not stop within 40 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let rest: Vec<String> = self.stderr.try_iter().collect();
        assert!(status.success(), "snodo simulate exited with {status}: {rest:#?}");
    }
}

impl Drop for Simulate {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Removes the test's directories whatever the outcome.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A non-zero offset at which the simulators' ports and the comune's inbound port are free now.
fn free_offset_with_inbound() -> u16 {
    for _ in 0..200 {
        let offset = free_simulator_offset();
        let inbound_free =
            std::net::TcpListener::bind(("127.0.0.1", DEVELOPMENT_INBOUND_PORT + offset)).is_ok();
        if offset != 0 && inbound_free {
            return offset;
        }
    }
    panic!("no port offset with the simulators' and the inbound port free");
}

/// The comune's notification endpoint as ANPR's pushes reach it: HTTPS with `pki`'s server
/// certificate, a client certificate of `pki`'s CA required, every push stored (`codiceEsito` 0)
/// and counted.
async fn stand_in_comune(pki: &DevPki, port: u16, shutdown: CancellationToken) -> Arc<AtomicUsize> {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let router = Router::new().route(
        "/anpr/{tenant}/notifications",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
                 <n:RispostaN000 xmlns:n=\"http://sogei.it/ANPR/N000AnprService\">\
                 <codiceEsito>0</codiceEsito></n:RispostaN000></s:Body></s:Envelope>"
            }
        }),
    );
    let server = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Required(pki.trust_anchors()),
    ))
    .expect("the stand-in's TLS server");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the stand-in inbound port is free");
    tokio::spawn(async move {
        server
            .serve(listener, router, async move { shutdown.cancelled().await })
            .await;
    });
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anpr_simulator_runs_on_the_pki_directory_and_offset_it_is_given() {
    let work =
        WorkDir(std::env::temp_dir().join(format!("snodo-simulate-pki-{}", uuid::Uuid::new_v4().simple())));
    let pki_dir = work.0.join("given");
    // Another development PKI, made by this process (so its CA and keys are not the ones `snodo
    // simulate` makes in `pki_dir`), named where a simulator reading the environment would look.
    let decoy_dir = work.0.join("decoy");
    let decoy = DevPki::ensure(&decoy_dir, &DevTenant::default()).expect("the decoy PKI");
    let offset = free_offset_with_inbound();
    let simulate = {
        let (pki, decoy, cache) = (pki_dir.clone(), decoy_dir.clone(), work.0.join("cache"));
        let offset = offset.to_string();
        tokio::task::spawn_blocking(move || {
            Simulate::start(
                &[
                    "anpr",
                    "--pki-dir",
                    pki.to_str().unwrap(),
                    "--port-offset",
                    &offset,
                ],
                &[("SNODO_DEV_PKI_DIR", &decoy), ("XDG_CACHE_HOME", &cache)],
            )
        })
        .await
        .unwrap()
    };

    // It prints the given directory's CA and serves a certificate of that CA on 9441 + offset.
    let pki = DevPki::ensure(&pki_dir, &DevTenant::default()).expect("snodo simulate made the PKI");
    let ca_file = PathBuf::from(simulate.printed("trust", "CA certificate"));
    assert_eq!(ca_file, pki.ca_file(), "{:#?}", simulate.stdout);
    let ca = std::fs::read(&ca_file).unwrap();
    assert_ne!(ca, std::fs::read(decoy.ca_file()).unwrap(), "two different PKIs");
    let simulator = simulate.printed("anpr", "anpr");
    let anpr_port = snodo_simulators::anpr::DEFAULT_PORT + offset;
    assert_eq!(simulator, format!("https://127.0.0.1:{anpr_port}"));
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let health: Value = http
        .get(format!("{simulator}/admin/health"))
        .send()
        .await
        .expect("the simulator's certificate chains to the given directory's CA")
        .json()
        .await
        .unwrap();
    assert_eq!(health["simulator"], "anpr", "{health}");

    // A push: to 7443 + offset, with a client certificate of the given directory.
    let inbound_port = DEVELOPMENT_INBOUND_PORT + offset;
    let stop_comune = CancellationToken::new();
    let received = stand_in_comune(&pki, inbound_port, stop_comune.clone()).await;
    let asked = http
        .post(format!("{simulator}/admin/anpr/notifications"))
        .json(&json!({"comune": TENANT, "kind": "N010"}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202, "{}", asked.text().await.unwrap_or_default());
    let asked: Value = asked.json().await.unwrap();
    let id = asked["id_operazione_anpr"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let attempts = loop {
        let record: Value = http
            .get(format!("{simulator}/admin/anpr/pushes"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let attempts: Vec<Value> = record["pushes"]
            .as_array()
            .expect("the simulator lists its pushes")
            .iter()
            .filter(|p| p["id_operazione_anpr"] == id.as_str())
            .cloned()
            .collect();
        if !attempts.is_empty() {
            break attempts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no push attempt for {id}: {record:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    let attempt = &attempts[0];
    assert_eq!(
        attempt["url"],
        format!("https://127.0.0.1:{inbound_port}/anpr/{TENANT}/notifications"),
        "{attempt:#}"
    );
    assert_eq!(attempt["delivered"], true, "{attempt:#}");
    assert_eq!(attempt["outcome"], "codiceEsito 0", "{attempt:#}");
    assert_eq!(received.load(Ordering::SeqCst), 1, "the stand-in stored it");

    stop_comune.cancel();
    tokio::task::spawn_blocking(move || simulate.stop())
        .await
        .unwrap();
}

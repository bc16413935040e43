//! The `/ops` page in a real browser: headless Debian `chromium` driven over W3C WebDriver by
//! `chromedriver` (`scripts/test` installs both). The operator signs in with the token, sees a
//! dead-lettered command waiting in its dead-letter queue, watches the queue drain into the index as
//! the indexer starts (the depths refresh live), presses Replay once the cause is fixed, and the
//! command completes — with the same message id — which the page's trace search then shows.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use snodo_connectors::journal::trace::MemoryTrace;
use snodo_connectors::journal::{self, Journal};
use snodo_connectors::ops::{self, OpsState, Telemetry, dlq::Indexer};
use snodo_connectors::state::{StateSettings, connect};
use snodo_queue::request::Requester;
use snodo_queue::runtime::{Command as QueueCommand, CommandError, CommandHandler};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::{
    Running, command, declare_for, new_runtime, send, test_settings, unique_names,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "browser-test-token-0123456789";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Rejects until `fixed`, then completes.
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
    async fn handle(&self, command: &QueueCommand) -> Result<Value, CommandError> {
        if self.fixed.load(Ordering::SeqCst) {
            Ok(json!({"attempt": command.envelope.attempt}))
        } else {
            Err(CommandError::rejected("EN122", "nessun soggetto"))
        }
    }
}

/// `chromedriver` on a free port with one browser session; both ended when dropped.
struct Browser {
    child: Child,
    url: String,
    session: String,
    http: reqwest::Client,
    profile: std::path::PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes chromium (killing chromedriver alone would leave it running),
        // also when the test failed half way: a plain blocking request, since drop cannot await.
        if !self.session.is_empty()
            && let Some(host) = self.url.strip_prefix("http://")
            && let Ok(mut stream) = std::net::TcpStream::connect(host)
        {
            use std::io::{Read, Write};
            // chromedriver may keep the connection open after answering: do not wait long for it.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let profile =
            std::env::temp_dir().join(format!("snodo-ops-browser-{}", uuid::Uuid::new_v4().simple()));
        let mut browser = Browser {
            child,
            url: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: reqwest::Client::new(),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser
            .http
            .get(format!("{}/status", browser.url))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            format!("--user-data-dir={}", browser.profile.display()),
        ]);
        let value = browser
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
                    "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}})),
            )
            .await;
        browser.session = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {value}"))
            .to_owned();
        browser
    }

    /// Ends the session (closing chromium) at the end of a test that went well.
    async fn quit(mut self) {
        self.session_call(reqwest::Method::DELETE, "", None).await;
        self.session.clear();
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let text = request
            .send()
            .await
            .expect("chromedriver answers")
            .text()
            .await
            .unwrap();
        let reply: Value = serde_json::from_str(&text).expect("JSON from chromedriver");
        reply["value"].clone()
    }

    async fn session_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn open(&self, url: &str) {
        self.session_call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The first element matching `css`, waiting up to `within` for it to exist.
    async fn find(&self, css: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .session_call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no {css} on the page within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let id = self.find(css, Duration::from_secs(10)).await;
        self.session_call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css, Duration::from_secs(10)).await;
        self.session_call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Waits until the text of the element matching `css` satisfies `ok`; returns it.
    async fn wait_text(&self, css: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        loop {
            let found = self
                .session_call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                let text = self
                    .session_call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
                    .await;
                last = text.as_str().unwrap_or_default().to_owned();
                if ok(&last) {
                    return last;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{css} never right within {within:?}; last: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_dead_letter_from_the_ops_page_in_chromium() {
    let broker = EmbeddedTestBroker::new();
    let transport = broker.connect().await;
    let names = unique_names();
    let fixed = Arc::new(AtomicBool::new(false));
    let (journal, writer) = Journal::new(
        Arc::new(MemoryTrace::new(Duration::from_secs(3600), 10_000)),
        b"browser test key, 32 bytes long!".to_vec(),
        false,
    );
    let runtime = new_runtime(
        &transport,
        Arc::new(Fixable { fixed: fixed.clone() }),
        test_settings(&names, &[]),
    )
    .with_journal(journal.clone());
    let mut tap = declare_for(&transport, &names, &runtime).await;
    let dead_queue = names.dead_queue("acme");
    let dead_letters: journal::SharedDeadLetterIndex =
        Arc::new(journal::MemoryDeadLetters::new(journal::DEFAULT_RETENTION));
    let state = Arc::new(OpsState {
        transport: transport.clone(),
        names: names.clone(),
        queues: vec![names.command_queue("acme"), dead_queue.clone()],
        connectors: vec![("acme".into(), runtime.metrics())],
        requester: Arc::new(Requester::start(transport.clone(), &names.prefix).await.unwrap()),
        topology_declared: true.into(),
        consuming: true.into(),
        telemetry: Arc::new(Telemetry::default()),
        store: connect(None, StateSettings::with_prefix(names.prefix.clone()))
            .await
            .unwrap(),
        dead_letters: dead_letters.clone(),
        access: ops::auth::OpsAccess::with_token(TOKEN).unwrap(),
        journal,
    });
    let stop = CancellationToken::new();
    let writing = tokio::spawn(writer.run(stop.clone()));
    let addr = ops::serve("127.0.0.1:0".parse().unwrap(), ops::router(state), stop.clone())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let running = Running::start(runtime);

    // A command the platform rejects: parked in the dead-letter queue, not yet indexed.
    let (envelope, message) = command("acme.person.get", json!({"codice_fiscale": "RSSMRA85T10A562S"}));
    send(&transport, &names, message).await;
    let failed = tap.take(1, Duration::from_secs(10)).await;
    assert!(failed[0].envelope.kind.as_str().ends_with(".failed"));
    let message_id = envelope.message_id.to_string();

    let browser = Browser::start().await;
    browser.open(&format!("{base}/ops")).await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#sign-in").await;
    let depth = format!("#queues tr[data-queue=\"{dead_queue}\"] .messages");
    browser
        .wait_text(&depth, Duration::from_secs(10), |t| t == "1")
        .await;

    // The indexer starts: the queue drains into the index, and the live depth shows it.
    let indexer = Indexer {
        transport: transport.clone(),
        index: dead_letters.clone(),
        queues: vec![("acme".into(), dead_queue.clone())],
    };
    let indexing = tokio::spawn(indexer.run(stop.clone()));
    browser
        .wait_text(&depth, Duration::from_secs(6), |t| t == "0")
        .await;
    // The dead letter with its error, as the page lists it (reloaded rather than waiting for the
    // slower dead-letter refresh).
    browser.open(&format!("{base}/ops")).await;
    let error = browser
        .wait_text(
            "#dead-letters tbody tr td:nth-child(5)",
            Duration::from_secs(5),
            |t| !t.is_empty(),
        )
        .await;
    assert!(error.starts_with("rejected EN122"), "{error}");

    // The cause is fixed; the operator replays; the command completes with its message id.
    fixed.store(true, Ordering::SeqCst);
    browser.click("button.replay").await;
    let completed = tap.take(1, Duration::from_secs(10)).await;
    assert_eq!(completed[0].envelope.kind.as_str(), "acme.person.get.completed");
    assert_eq!(completed[0].envelope.correlation_id, Some(envelope.message_id));
    browser
        .wait_text(
            "#dead-letters tbody tr td:nth-child(6)",
            Duration::from_secs(5),
            |t| t.contains("replayed by ops page"),
        )
        .await;
    let entries = dead_letters.list(&Default::default()).await.unwrap();
    assert_eq!(entries[0].replayed.as_ref().unwrap().by, "ops page");

    // The trace search tells the story, ending with the completion.
    browser.type_into("#trace-id", &message_id).await;
    browser.click("#trace-button").await;
    browser
        .wait_text(
            "#trace-table tr.command_completed td:nth-child(6)",
            Duration::from_secs(5),
            |t| t == "ok",
        )
        .await;

    browser.quit().await;
    running.stop().await;
    stop.cancel();
    writing.await.unwrap();
    indexing.await.unwrap().unwrap();
}

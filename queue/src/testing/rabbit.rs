//! RabbitMQ brokers for tests: an isolated virtual host per test on a real node.
//!
//! - [`RabbitTestBroker::shared`] uses the node everyone shares (`SNODO_TEST_AMQP_URL`, default
//!   `amqp://guest:guest@127.0.0.1:5672/%2f`). Tests there may run in parallel: each gets a vhost of its
//!   own, created with `rabbitmqctl add_vhost` and deleted when the broker value is dropped. That node
//!   is never restarted or blocked.
//! - [`RabbitTestBroker::private`] uses a second node owned by the test run
//!   (`scripts/rabbitmq-private-node`, port `SNODO_TEST_PRIVATE_AMQP_PORT`, default 5673), started on
//!   first use. Only there do [`TestBroker::restart`] and [`TestBroker::block_publishers`] work. Tests
//!   on it share the node's state (alarms, restarts), so they run one at a time: each private broker
//!   holds a process-wide lock from creation to drop (and the test script also runs those binaries
//!   with `--test-threads=1`).
//!
//! A broker that cannot be reached fails the test with a message saying how to start it: a silently
//! skipped RabbitMQ test would hide exactly the failures these tests exist for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use super::TestBroker;
use crate::rabbit::{RabbitConfig, RabbitTransport, redact};
use crate::transport::SharedTransport;

const DEFAULT_SHARED_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_PRIVATE_NODE: &str = "snodo-test@localhost";
const DEFAULT_PRIVATE_PORT: &str = "5673";

/// One private-node test at a time in this process.
static PRIVATE_NODE_TURN: Mutex<()> = Mutex::const_new(());

/// One test's vhost on a RabbitMQ node.
pub struct RabbitTestBroker {
    /// `None`: the shared node, which `rabbitmqctl` addresses by default.
    node: Option<String>,
    vhost: String,
    url: String,
    publish_timeout: Duration,
    /// Held by private brokers until they are dropped (after their vhost is deleted).
    _turn: Option<MutexGuard<'static, ()>>,
}

impl RabbitTestBroker {
    /// A fresh vhost on the shared node.
    pub async fn shared() -> RabbitTestBroker {
        let base = std::env::var("SNODO_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_SHARED_URL.to_owned());
        ensure_reachable(
            &base,
            "start it (`service rabbitmq-server start`) or point SNODO_TEST_AMQP_URL at one",
        )
        .await;
        RabbitTestBroker::with_fresh_vhost(None, &base, None).await
    }

    /// A fresh vhost on the private node, which is started if it is not running, with its memory alarm
    /// cleared. Waits until no other private broker of this process is alive.
    pub async fn private() -> RabbitTestBroker {
        let turn = PRIVATE_NODE_TURN.lock().await;
        static STARTED: OnceCell<()> = OnceCell::const_new();
        STARTED.get_or_init(start_private_node).await;
        let port =
            std::env::var("SNODO_TEST_PRIVATE_AMQP_PORT").unwrap_or_else(|_| DEFAULT_PRIVATE_PORT.to_owned());
        let base = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
        ensure_reachable(
            &base,
            "run `scripts/rabbitmq-private-node start` and look at its log",
        )
        .await;
        let node = private_node_name();
        // A test that failed while the node was blocked must not leave the next one blocked.
        rabbitmqctl(Some(&node), &["set_vm_memory_high_watermark", "0.4"]).await;
        RabbitTestBroker::with_fresh_vhost(Some(node), &base, Some(turn)).await
    }

    async fn with_fresh_vhost(
        node: Option<String>,
        base_url: &str,
        turn: Option<MutexGuard<'static, ()>>,
    ) -> RabbitTestBroker {
        let vhost = format!("snodo-test-{}", uuid::Uuid::new_v4());
        rabbitmqctl(node.as_deref(), &["add_vhost", &vhost]).await;
        rabbitmqctl(
            node.as_deref(),
            &["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"],
        )
        .await;
        RabbitTestBroker {
            url: url_with_vhost(base_url, &vhost),
            node,
            vhost,
            publish_timeout: Duration::from_secs(10),
            _turn: turn,
        }
    }

    /// The publish timeout of the transports [`TestBroker::connect`] opens (10 s unless changed).
    pub fn with_publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn vhost(&self) -> &str {
        &self.vhost
    }

    /// The configuration [`TestBroker::connect`] uses; tests may adjust it and call
    /// [`RabbitTestBroker::connect_rabbit`].
    pub fn config(&self) -> RabbitConfig {
        RabbitConfig {
            connection_name: format!("snodo-test {}", self.vhost),
            publish_timeout: self.publish_timeout,
            ..RabbitConfig::new(self.url.clone())
        }
    }

    /// A transport with `config`, as the concrete type (for RabbitMQ-specific assertions).
    pub async fn connect_rabbit(&self, config: RabbitConfig) -> Arc<RabbitTransport> {
        RabbitTransport::connect(config)
            .await
            .unwrap_or_else(|err| panic!("connecting to the test vhost {}: {err}", self.vhost))
    }

    /// Runs `rabbitmqctl` against this broker's node, e.g. to look at what the broker holds.
    pub async fn rabbitmqctl(&self, args: &[&str]) -> String {
        rabbitmqctl(self.node.as_deref(), args).await
    }

    fn private_node(&self, what: &str) -> &str {
        self.node.as_deref().unwrap_or_else(|| {
            panic!(
                "{what} needs RabbitTestBroker::private(): the shared node must never be restarted or blocked"
            )
        })
    }
}

#[async_trait]
impl TestBroker for RabbitTestBroker {
    async fn connect(&self) -> SharedTransport {
        self.connect_rabbit(self.config()).await
    }

    async fn connect_with_publish_timeout(&self, publish_timeout: Duration) -> SharedTransport {
        self.connect_rabbit(RabbitConfig {
            publish_timeout,
            ..self.config()
        })
        .await
    }

    /// `stop_app` closes every client connection (320 CONNECTION_FORCED) and the listener; `start_app`
    /// recovers durable queues and their persistent messages.
    async fn restart(&self) {
        let node = self.private_node("restart").to_owned();
        rabbitmqctl(Some(&node), &["stop_app"]).await;
        rabbitmqctl(Some(&node), &["start_app"]).await;
        rabbitmqctl(Some(&node), &["await_startup"]).await;
    }

    /// A memory high watermark of 0 raises the memory alarm at once: RabbitMQ blocks every connection
    /// that publishes (`connection.blocked`).
    async fn block_publishers(&self) {
        let node = self.private_node("block_publishers").to_owned();
        rabbitmqctl(Some(&node), &["set_vm_memory_high_watermark", "0"]).await;
    }

    async fn unblock_publishers(&self) {
        let node = self.private_node("unblock_publishers").to_owned();
        rabbitmqctl(Some(&node), &["set_vm_memory_high_watermark", "0.4"]).await;
    }
}

impl Drop for RabbitTestBroker {
    fn drop(&mut self) {
        // Blocking for the half second rabbitmqctl takes is acceptable at the end of a test, and unlike a
        // spawned task it is sure to run before the test process exits.
        let mut command = std::process::Command::new("rabbitmqctl");
        command.arg("-q");
        if let Some(node) = &self.node {
            command.args(["-n", node]);
        }
        command.args(["delete_vhost", &self.vhost]);
        match command.output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "could not delete test vhost {}: {}",
                self.vhost,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(err) => eprintln!("could not delete test vhost {}: {err}", self.vhost),
        }
    }
}

fn private_node_name() -> String {
    std::env::var("SNODO_TEST_PRIVATE_NODE").unwrap_or_else(|_| DEFAULT_PRIVATE_NODE.to_owned())
}

async fn start_private_node() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/rabbitmq-private-node");
    let out = Command::new(&script)
        .arg("start")
        .output()
        .await
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
    assert!(
        out.status.success(),
        "{} start failed:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn rabbitmqctl(node: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("rabbitmqctl");
    command.arg("-q");
    if let Some(node) = node {
        command.args(["-n", node]);
    }
    command.args(args);
    let out = command
        .output()
        .await
        .unwrap_or_else(|err| panic!("cannot run rabbitmqctl (is rabbitmq-server installed?): {err}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {} {} failed: {}{}",
        node.map(|n| format!("-n {n}")).unwrap_or_default(),
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails the test, with directions, when nothing listens at the URL's address.
async fn ensure_reachable(url: &str, advice: &str) {
    let address = host_and_port(url);
    let reachable =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(&address)).await;
    match reachable {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => panic!("RabbitMQ is not reachable at {}: {err}; {advice}", redact(url)),
        Err(_) => panic!("RabbitMQ at {} did not answer within 5s; {advice}", redact(url)),
    }
}

/// `host:port` of an AMQP URL (5672, or 5671 for amqps, when the URL names no port).
fn host_and_port(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("amqp", url));
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port.to_owned()
    } else {
        let port = if scheme == "amqps" { 5671 } else { 5672 };
        format!("{host_port}:{port}")
    }
}

/// The URL with its vhost (path) replaced by `vhost`, percent-encoded.
fn url_with_vhost(url: &str, vhost: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("amqp", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |q| &tail[q..]);
    let encoded: String = vhost
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{scheme}://{authority}/{encoded}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vhost_replaces_the_path_and_is_percent_encoded() {
        assert_eq!(
            url_with_vhost("amqp://guest:guest@127.0.0.1:5672/%2f", "snodo-test-1"),
            "amqp://guest:guest@127.0.0.1:5672/snodo-test-1"
        );
        assert_eq!(
            url_with_vhost("amqp://h:1/x?heartbeat=5", "a/b c"),
            "amqp://h:1/a%2Fb%20c?heartbeat=5"
        );
        assert_eq!(url_with_vhost("amqp://h", "v"), "amqp://h/v");
    }

    #[test]
    fn host_and_port_defaults_the_port_by_scheme() {
        assert_eq!(
            host_and_port("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "127.0.0.1:5672"
        );
        assert_eq!(host_and_port("amqps://u:p@mq.example.it/v"), "mq.example.it:5671");
        assert_eq!(host_and_port("amqp://localhost"), "localhost:5672");
    }
}

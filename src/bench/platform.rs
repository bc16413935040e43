//! What every platform benchmark sets up the same way: a RabbitMQ connection under names of its own,
//! the development PKI, the connector built with the context `snodo up` would give it, and — for the
//! benchmarks that drive commands — its consumer runtime with a subscriber queue for the events.
//! One place, so that the four platform benchmarks measure connectors assembled as in production.

use std::sync::Arc;

use anyhow::Context;
use snodo_connectors::config::{Config, PlatformEndpointConfig};
use snodo_connectors::platform::PlatformContext;
use snodo_connectors::state::{self, StateSettings};
use snodo_connectors::tenants::Tenants;
use snodo_queue::rabbit::{RabbitConfig, RabbitTransport};
use snodo_queue::request::Requester;
use snodo_queue::runtime::SharedHandler;
use snodo_queue::topology::SubscriberQueue;
use snodo_queue::{Names, SharedTransport, Topology};
use snodo_security::devpki::{DevPki, DevTenant};
use tokio_util::sync::CancellationToken;

/// The tenant every platform benchmark runs for (the development configuration's).
pub const TENANT: &str = "015146";

pub struct BenchBase {
    pub transport: SharedTransport,
    pub names: Names,
    pub pki: DevPki,
    pub stop: CancellationToken,
}

impl BenchBase {
    /// Connects to `amqp` as `bench <label>`, under a fresh prefix, with the development PKI.
    pub async fn connect(label: &str, amqp: &str) -> anyhow::Result<BenchBase> {
        let transport: SharedTransport = RabbitTransport::connect(RabbitConfig {
            connection_name: format!("bench {label}"),
            ..RabbitConfig::new(amqp)
        })
        .await
        .context("connecting to RabbitMQ")?;
        let prefix: String = label.chars().filter(char::is_ascii_alphanumeric).collect();
        let names = Names::new(format!(
            "bench{prefix}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        let pki = DevPki::ensure(&crate::simulate::default_pki_dir(), &DevTenant::default())
            .context("the development PKI")?;
        Ok(BenchBase {
            transport,
            names,
            pki,
            stop: CancellationToken::new(),
        })
    }

    /// The development configuration with `platform` served at `url` (its simulator of this run).
    pub fn config_with_endpoint(platform: &str, url: String) -> Config {
        let mut config = Config::development();
        config
            .platforms
            .insert(platform.into(), PlatformEndpointConfig { url, ca: Vec::new() });
        config
    }

    /// The context `snodo up` gives a connector, on this run's broker, names and PKI.
    pub async fn context(&self, config: Arc<Config>) -> anyhow::Result<PlatformContext> {
        Ok(PlatformContext {
            tenants: Arc::new(Tenants::from_config(&config)),
            config,
            transport: self.transport.clone(),
            names: self.names.clone(),
            store: state::connect(None, StateSettings::with_prefix(self.names.prefix.clone())).await?,
            requester: Arc::new(Requester::start(self.transport.clone(), &self.names.prefix).await?),
            development_ca: Some(self.pki.trust_anchors()),
            development_pki: Some(self.pki.clone()),
            simulator_port_offset: 0,
            shutdown: self.stop.clone(),
            telemetry: Default::default(),
        })
    }

    /// Runs `handler` on its consumer runtime, with a subscriber queue bound to `events_pattern`;
    /// returns that queue's name and the topology declared (for [`BenchBase::finish`]).
    pub async fn run_handler(
        &self,
        config: &Config,
        handler: SharedHandler,
        events_pattern: &str,
    ) -> anyhow::Result<(String, Topology)> {
        let runtimes = crate::assembly::build_runtimes(
            config,
            &self.transport,
            &self.names,
            Arc::new(vec![TENANT.to_owned()]),
            vec![handler],
        );
        let events_queue = format!("{}.bench.events", self.names.prefix);
        let queues: Vec<_> = runtimes.iter().map(|r| r.queues()).collect();
        let topology = Topology::snodo(
            &self.names,
            &queues,
            &[SubscriberQueue {
                queue: events_queue.clone(),
                patterns: vec![events_pattern.into()],
            }],
            &[],
        );
        self.transport
            .declare(&topology)
            .await
            .context("declaring the bench topology")?;
        for runtime in runtimes {
            let stop = self.stop.clone();
            tokio::spawn(async move { runtime.run(stop).await });
        }
        Ok((events_queue, topology))
    }

    /// Stops the runtimes, deletes the run's queues and closes the connection.
    pub async fn finish(&self, topology: &Topology) {
        self.stop.cancel();
        for queue in topology.queue_names() {
            let _ = self.transport.delete_queue(queue).await;
        }
        self.transport.close().await;
    }
}

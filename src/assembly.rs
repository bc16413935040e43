//! How the pieces of one Snodo instance fit together: which connector runtimes run and which broker
//! objects they need. Shared by `snodo up` and `snodo ops`, so that both see the same queues.

use std::sync::Arc;

use snodo_connectors::config::Config;
use snodo_connectors::core::{Ping, Unrouted};
use snodo_connectors::platform::PLATFORMS;
use snodo_queue::runtime::{ConnectorRuntime, RetrySchedule, RuntimeSettings, SharedHandler};
use snodo_queue::topology::SubscriberQueue;
use snodo_queue::{Names, SharedTransport, Topology};

fn settings_for(config: &Config, names: &Names, connector: &str) -> RuntimeSettings {
    let r = config.runtime_for(connector);
    RuntimeSettings {
        names: names.clone(),
        app_id: "snodo".into(),
        prefetch: r.prefetch,
        concurrency: r.concurrency,
        retry: RetrySchedule::new(r.retry),
        queue_override: None,
        shutdown_grace: r.shutdown_grace,
    }
}

/// One runtime per enabled connector, plus the consumer of unrouted commands.
pub fn build_runtimes(
    config: &Config,
    transport: &SharedTransport,
    names: &Names,
    tenants: Arc<Vec<String>>,
    platform_handlers: Vec<SharedHandler>,
) -> Vec<ConnectorRuntime> {
    let mut handlers: Vec<SharedHandler> = vec![Arc::new(Ping)];
    handlers.extend(platform_handlers);
    let handlers: Vec<SharedHandler> = handlers
        .into_iter()
        .filter(|h| config.connector_enabled(h.name()))
        .collect();
    let known_families: Vec<String> = handlers.iter().flat_map(|h| h.families()).collect();
    let mut runtimes: Vec<ConnectorRuntime> = handlers
        .into_iter()
        .map(|h| {
            let settings = settings_for(config, names, h.name());
            ConnectorRuntime::new(transport.clone(), h, tenants.clone(), settings)
        })
        .collect();
    let unrouted = RuntimeSettings {
        queue_override: Some(names.commands_unrouted()),
        ..settings_for(config, names, snodo_connectors::core::CORE_CONNECTOR)
    };
    runtimes.push(ConnectorRuntime::new(
        transport.clone(),
        Arc::new(Unrouted { known_families }),
        tenants,
        unrouted,
    ));
    runtimes
}

pub fn topology(config: &Config, names: &Names, runtimes: &[ConnectorRuntime]) -> Topology {
    let mut connectors: Vec<_> = runtimes
        .iter()
        .filter(|r| r.queue() == names.command_queue(r.name()))
        .map(ConnectorRuntime::queues)
        .collect();
    // Platform connectors are known by registration too, so `snodo ops` (which builds no connector)
    // names the same queues as `snodo up`.
    for registration in PLATFORMS.iter().filter(|r| config.connector_enabled(r.name)) {
        if !connectors.iter().any(|c| c.connector == registration.name) {
            connectors.push(registration.queues(config));
        }
    }
    let subscribers: Vec<SubscriberQueue> = config
        .backends
        .iter()
        .map(|b| SubscriberQueue {
            queue: b.events_queue.clone(),
            patterns: b.events.clone(),
        })
        .collect();
    let requests: Vec<SubscriberQueue> = config
        .backends
        .iter()
        .filter_map(|b| {
            b.requests_queue.clone().map(|queue| SubscriberQueue {
                queue,
                patterns: b.requests.clone(),
            })
        })
        .collect();
    Topology::snodo(names, &connectors, &subscribers, &requests)
}

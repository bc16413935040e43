//! Builds every enabled platform connector of [`PLATFORMS`] for `snodo up`, and gathers what they
//! contribute: command handlers, inbound routes, background tasks. The inbound routes are wrapped so
//! that every call a platform makes is recorded, and the background tasks run with the instance's
//! telemetry as journal sink, so that what a feed poller calls and publishes is journaled too.

use std::sync::Arc;

use anyhow::{Context, ensure};
use axum::Router;
use snodo_connectors::config::Config;
use snodo_connectors::inbound::record::record_calls;
use snodo_connectors::platform::{Background, PLATFORMS, PlatformContext};
use snodo_connectors::state::SharedStore;
use snodo_connectors::tenants::Tenants;
use snodo_queue::request::Requester;
use snodo_queue::runtime::SharedHandler;
use snodo_queue::runtime::journal::{SharedJournalSink, with_sink};
use snodo_queue::{Names, SharedTransport};
use snodo_security::devpki::DevPki;
use tokio_util::sync::CancellationToken;

pub struct Inputs<'a> {
    pub config: Arc<Config>,
    pub transport: SharedTransport,
    pub names: Names,
    pub store: SharedStore,
    pub requester: Arc<Requester>,
    pub dev_pki: Option<&'a DevPki>,
    pub listener_offset: u16,
    pub shutdown: CancellationToken,
    pub telemetry: snodo_connectors::ops::SharedTelemetry,
}

#[derive(Default)]
pub struct Built {
    pub handlers: Vec<SharedHandler>,
    pub inbound: Option<Router>,
    pub background: Vec<Background>,
}

pub fn build(inputs: &Inputs<'_>) -> anyhow::Result<Built> {
    let context = PlatformContext {
        config: inputs.config.clone(),
        tenants: Arc::new(Tenants::from_config(&inputs.config)),
        transport: inputs.transport.clone(),
        names: inputs.names.clone(),
        store: inputs.store.clone(),
        requester: inputs.requester.clone(),
        development_ca: inputs.dev_pki.map(DevPki::trust_anchors),
        development_pki: inputs.dev_pki.cloned(),
        simulator_port_offset: inputs.listener_offset,
        shutdown: inputs.shutdown.clone(),
        telemetry: inputs.telemetry.clone(),
    };
    let mut built = Built::default();
    for registration in PLATFORMS
        .iter()
        .filter(|r| inputs.config.connector_enabled(r.name))
    {
        let parts = (registration.build)(&context)
            .with_context(|| format!("building the {} connector", registration.name))?;
        if let Some(handler) = parts.handler {
            ensure!(
                handler.name() == registration.name,
                "the {} connector's handler is named {}: they must agree (queue names derive from it)",
                registration.name,
                handler.name()
            );
            built.handlers.push(handler);
        }
        if let Some(routes) = parts.inbound {
            built.inbound = Some(match built.inbound.take() {
                Some(existing) => existing.merge(routes),
                None => routes,
            });
        }
        built.background.extend(parts.background);
    }
    let sink: SharedJournalSink = inputs.telemetry.clone();
    built.background = built
        .background
        .into_iter()
        .map(|task| -> Background { Box::pin(with_sink(sink.clone(), task)) })
        .collect();
    built.inbound = built
        .inbound
        .map(|routes| record_calls(routes, inputs.telemetry.clone()));
    Ok(built)
}

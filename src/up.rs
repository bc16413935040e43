//! `snodo up`: the whole of Snodo in one process — the connector runtimes, the operations listener and,
//! unless told otherwise, the demo backend — on RabbitMQ or on the embedded transport.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, bail};
use snodo_connectors::config::{self, Config, Environment};
use snodo_connectors::ops::{self, OpsState};
use snodo_connectors::state::{self, StateSettings};
use snodo_queue::request::Requester;
use snodo_queue::{Names, TransportKind};
use snodo_security::devpki::{DevPki, DevTenant};
use snodo_simulators::backend::{Answers, DemoBackend};
use snodo_simulators::framework::{LaunchOptions, launch, registry};
use tokio::task::JoinSet;

use crate::assembly;

#[derive(clap::Args)]
pub struct UpArgs {
    /// RabbitMQ URL; without it, the embedded in-process transport. Also SNODO_AMQP_URL.
    #[arg(long)]
    amqp: Option<String>,
    /// Run no simulators and no demo backend (a production-like instance).
    #[arg(long)]
    no_simulators: bool,
    /// Add this to every listener port, to run several instances on one machine.
    #[arg(long, default_value_t = 0)]
    listener_offset: u16,
}

pub async fn run(file: Option<&Path>, args: UpArgs) -> anyhow::Result<ExitCode> {
    let mut config = config::load(file)?;
    if let Some(url) = args.amqp {
        config.transport.amqp_url = Some(url);
    }
    config.listeners = config.listeners.offset(args.listener_offset);
    if args.no_simulators {
        config.demo.enabled = false;
    }
    refuse_production_on_embedded(&config)?;
    // Before anything else starts: a listener beyond localhost without a token must not come up.
    let access = ops::auth::OpsAccess::resolve(
        config.listeners.ops,
        std::env::var(ops::auth::TOKEN_ENV).ok().as_deref(),
        config.listeners.ops_token_file.as_deref(),
    )?;
    let shutdown = crate::signals::shutdown_on_signal();
    let transport = crate::transport::connect(&config, "snodo up").await?;
    // DESIGN §1: Redis when configured, in-process otherwise. Connected now so that a wrong URL stops
    // `snodo up` at once rather than at the first feed poll or login. The runtimes' settled-attempts
    // ledger shares it (queue/src/runtime/settled.rs: a redelivered attempt whose outcome was confirmed
    // is not handled again).
    let (store, settled) = state::connect_with_ledger(
        config.redis.url.as_deref(),
        StateSettings::with_prefix(config.transport.prefix.clone()),
    )
    .await
    .context("connecting to the coordination state (redis.url, SNODO_REDIS_URL)")?;
    let names = Names::new(config.transport.prefix.clone());
    let tenants: Arc<Vec<String>> = Arc::new(config.tenants.iter().map(|t| t.istat.clone()).collect());
    let requester = Arc::new(
        Requester::start(transport.clone(), &names.prefix)
            .await
            .context("starting the reply queue")?,
    );
    // Development instances run against the simulators with the development PKI (DESIGN §6).
    let development = config
        .tenants
        .iter()
        .all(|t| t.environment == Environment::Development);
    // Only when something will use it: generating it the first time takes seconds.
    let pki_needed = !snodo_connectors::platform::PLATFORMS.is_empty()
        || (!args.no_simulators && !registry::REGISTERED.is_empty());
    // The connectors and the simulators must use this one directory: each simulator builds its own
    // certificates and trust from the directory the launch gives it.
    let dev_pki_dir = config
        .tls
        .dev_pki_dir
        .clone()
        .unwrap_or_else(crate::simulate::default_pki_dir);
    let dev_pki = if development && pki_needed {
        Some(DevPki::ensure(&dev_pki_dir, &DevTenant::default()).context("preparing the development PKI")?)
    } else {
        None
    };
    let config = Arc::new(config);
    // The message journal (connectors/src/journal/writer.rs): where the dead-letter index is. The
    // telemetry connectors report into writes it too, and is every runtime's journal sink, so that
    // one report of a platform call, an inbound call or an event reaches both the metrics and the
    // journal (connectors/src/ops/calls.rs).
    let (journal, journal_writer) = snodo_connectors::journal::Journal::connect(
        config.redis.url.as_deref(),
        &config.transport.prefix,
        &config.journal,
    )
    .await
    .context("connecting the message journal ([journal], redis.url)")?;
    let telemetry: snodo_connectors::ops::SharedTelemetry =
        Arc::new(snodo_connectors::ops::Telemetry::with_journal(journal.clone()));
    telemetry.set_certificates(crate::check::certificate_expiries(&config));
    let platforms = crate::platforms::build(&crate::platforms::Inputs {
        config: config.clone(),
        transport: transport.clone(),
        names: names.clone(),
        store: store.clone(),
        requester: requester.clone(),
        dev_pki: dev_pki.as_ref(),
        listener_offset: args.listener_offset,
        shutdown: shutdown.clone(),
        telemetry: telemetry.clone(),
    })?;

    let runtimes: Vec<_> = assembly::build_runtimes(&config, &transport, &names, tenants, platforms.handlers)
        .into_iter()
        .map(|r| {
            r.with_journal(telemetry.clone())
                .with_settled_ledger(settled.clone())
        })
        .collect();
    let topology = assembly::topology(&config, &names, &runtimes);
    transport
        .declare(&topology)
        .await
        .context("declaring the broker topology")?;

    // Dead letters are drained into the journal's index, where operators list and replay them
    // without disturbing the queues (connectors/src/journal).
    let dead_letters = snodo_connectors::journal::connect(
        config.redis.url.as_deref(),
        &config.transport.prefix,
        snodo_connectors::journal::DEFAULT_RETENTION,
    )
    .await
    .context("connecting the journal's dead-letter index")?;
    let mut dead_queues: Vec<(String, String)> = runtimes
        .iter()
        .map(|r| (r.name().to_owned(), names.dead_queue(r.name())))
        .collect();
    dead_queues.sort();
    dead_queues.dedup();
    let state = Arc::new(OpsState {
        transport: transport.clone(),
        names: names.clone(),
        queues: topology.queue_names().map(str::to_owned).collect(),
        connectors: runtimes.iter().map(|r| (r.label(), r.metrics())).collect(),
        requester,
        topology_declared: true.into(),
        consuming: false.into(),
        telemetry,
        store: store.clone(),
        dead_letters: dead_letters.clone(),
        access,
        journal,
    });
    let mut router = ops::router(state.clone());
    let mut tasks = JoinSet::new();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        journal_writer.run(stop).await;
        Ok(())
    });
    if config.demo.enabled {
        let demo = config
            .backends
            .iter()
            .find(|b| b.name == "demo")
            .context("the demo backend needs a backend named demo")?;
        let backend =
            DemoBackend::new(
                transport.clone(),
                demo.events_queue.clone(),
                demo.requests_queue.clone(),
                Answers::default(),
            )
            .with_pagopa(dev_pki.as_ref().map(|pki| {
                snodo_simulators::backend::pagopa::NodeLink {
                    url: format!(
                        "https://127.0.0.1:{}",
                        snodo_simulators::pagopa::DEFAULT_PORT.saturating_add(args.listener_offset)
                    ),
                    trusted: pki.trust_anchors(),
                    station_url: Some(format!(
                        "https://{}/pagopa/{}",
                        config.listeners.inbound,
                        snodo_simulators::pagopa::settings::DEMO_STATION
                    )),
                }
            }));
        let backend = backend.with_identity(
            dev_pki
                .as_ref()
                .and_then(|_| demo_identity_link(&config, &names, args.listener_offset)),
        );
        let backend =
            backend.with_cie_booking(config.tenants.iter().find(|t| t.cie_booking.is_some()).map(|t| {
                snodo_simulators::backend::cie_booking::BookingLink {
                    tenant: t.istat.clone(),
                    commands_exchange: names.commands_exchange(),
                }
            }));
        let backend = backend.with_anpr(config.tenants.iter().find(|t| t.anpr.is_some()).map(|t| {
            snodo_simulators::backend::anpr::AnprLink {
                tenant: t.istat.clone(),
                commands_exchange: names.commands_exchange(),
                simulator: dev_pki.as_ref().map(|pki| {
                    let port = snodo_simulators::anpr::DEFAULT_PORT.saturating_add(args.listener_offset);
                    (format!("https://127.0.0.1:{port}"), pki.trust_anchors())
                }),
            }
        }));
        router = router.merge(backend.router());
        let stop = shutdown.clone();
        tasks.spawn(async move { backend.run(stop).await.context("demo backend") });
    }
    let ops_addr = ops::serve(config.listeners.ops, router, shutdown.clone())
        .await
        .with_context(|| format!("binding the operations listener on {}", config.listeners.ops))?;
    let inbound_addr = match platforms.inbound {
        Some(router) => {
            Some(crate::inbound::serve(&config, dev_pki.as_ref(), router, shutdown.clone()).await?)
        }
        None => None,
    };
    let simulators = if development && !args.no_simulators && !registry::REGISTERED.is_empty() {
        let names: Vec<String> = registry::REGISTERED.iter().map(|r| r.name.to_owned()).collect();
        // The configured directory, not `DevPki::directory` (one generation inside it).
        let options = LaunchOptions {
            host: std::net::IpAddr::from([127, 0, 0, 1]),
            port_offset: args.listener_offset,
            pki_dir: dev_pki_dir.clone(),
            https: dev_pki.is_some(),
        };
        launch(registry::REGISTERED, &names, &options, shutdown.clone())
            .await
            .context("starting the simulators")?
            .simulators
    } else {
        Vec::new()
    };
    // After the simulators, so that development feeds find them at their first poll.
    for task in platforms.background {
        tasks.spawn(async move { task.await.map_err(|e| anyhow::anyhow!(e)) });
    }
    let indexer = ops::dlq::Indexer {
        transport: transport.clone(),
        index: dead_letters,
        queues: dead_queues,
    };
    let stop = shutdown.clone();
    tasks.spawn(async move { indexer.run(stop).await.map_err(|e| anyhow::anyhow!(e)) });
    for runtime in runtimes {
        let stop = shutdown.clone();
        tasks.spawn(async move { runtime.run(stop).await.context("connector runtime") });
    }
    state.consuming.store(true, Ordering::Relaxed);

    let transport_text = match transport.kind() {
        TransportKind::Embedded => "embedded (in-process; nothing survives a restart)".to_owned(),
        TransportKind::RabbitMq => "RabbitMQ".to_owned(),
    };
    eprintln!("snodo up: transport {transport_text}");
    eprintln!("snodo up: coordination state {}", store.kind());
    eprintln!(
        "snodo up: operations  http://{ops_addr}  (/healthz /readyz /metrics /ops/queues{})",
        if config.demo.enabled { " /demo" } else { "" }
    );
    if let Some(addr) = inbound_addr {
        eprintln!("snodo up: inbound     https://{addr}");
    }
    for s in &simulators {
        eprintln!(
            "snodo up: simulator {:<12} {}  admin {}",
            s.name(),
            s.url(),
            s.admin_url()
        );
    }
    for t in &config.tenants {
        eprintln!("snodo up: tenant {} ({}, {:?})", t.istat, t.name, t.environment);
    }
    eprintln!("snodo up: ready. Try: snodo send snodo.ping");

    let mut failed = false;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "A component stopped with an error.");
                failed = true;
                shutdown.cancel();
            }
            Err(e) => {
                tracing::error!(error = %e, "A component panicked.");
                failed = true;
                shutdown.cancel();
            }
        }
        if !shutdown.is_cancelled() {
            // A component ended on its own (its transport closed): stop the others cleanly too.
            shutdown.cancel();
        }
    }
    state.consuming.store(false, Ordering::Relaxed);
    transport.close().await;
    eprintln!("snodo up: stopped.");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// DESIGN §4: the embedded transport keeps nothing across a crash, so it never serves real platforms.
fn refuse_production_on_embedded(config: &Config) -> anyhow::Result<()> {
    if config.transport.amqp_url.is_none()
        && let Some(t) = config
            .tenants
            .iter()
            .find(|t| t.environment == Environment::Production)
    {
        bail!(
            "tenant {} ({}) is a production tenant, and the embedded transport keeps nothing across a crash: \
             give a RabbitMQ URL (--amqp or SNODO_AMQP_URL)",
            t.istat,
            t.name
        );
    }
    Ok(())
}

/// The demo backend's SPID / CIE login links (development only): the first tenant with an identity
/// section, the IdP simulator's entity IDs, back to `/demo/identity` on the operations listener.
fn demo_identity_link(
    config: &Config,
    names: &Names,
    offset: u16,
) -> Option<snodo_simulators::backend::identity::IdentityLink> {
    let tenant = config.tenants.iter().find(|t| t.identity.is_some())?;
    let idp = format!(
        "https://127.0.0.1:{}",
        snodo_simulators::identity::DEFAULT_PORT.saturating_add(offset)
    );
    Some(snodo_simulators::backend::identity::IdentityLink {
        login_url: snodo_connectors::tenants::Tenants::public_urls(tenant).login,
        return_url: format!("http://{}/demo/identity", config.listeners.ops),
        tenant: tenant.istat.clone(),
        spid_idp: format!("{idp}/spid"),
        cie_idp: format!("{idp}/cie"),
        commands_exchange: names.commands_exchange(),
    })
}

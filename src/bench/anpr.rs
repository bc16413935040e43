//! `snodo bench anpr`: resident lookups (service 3002) end to end — a backend publishes
//! `anpr.resident.lookup` commands on RabbitMQ, the ANPR connector built as `snodo up` builds it
//! signs each request (WS-Security with the SAML assertion) and sends it over mutual TLS to the ANPR
//! simulator in process, which checks certificate, signature, XSD and numbering before answering; the
//! completed event comes back through RabbitMQ. Prints lookups per second and latency percentiles
//! from the command's publish to its event's arrival, with a bounded number of commands in flight.
//!
//! One series per value of `--sends-in-flight` (how many of the comune's requests the connector lets
//! be in flight at once, `[tenants.anpr] sends_in_flight`), each on a fresh simulator and connector,
//! in one run: the machine is noisy, so the series are compared with each other, not with other runs.
//! Each series also prints how many requests ANPR refused as overtaken (a lower new
//! `idOperazioneComune` judged after a higher one) and the connector renumbered.
//!
//! Issue 5's aim on this 2-core machine (broker, simulator, connector and load generator sharing it):
//! at least 500 signed lookups per second. The 1.4-million bulk re-read (4002 jobs) is measured by
//! `bench anpr-bulk`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::{ConsumeOptions, Names, Publish, SharedTransport};
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_simulators::anpr::{AnprSettings, AnprSimulator, population};
use snodo_simulators::framework::{Instance, SimClock, Transport, serve};

use super::platform::BenchBase;
use super::report::{Report, Row};

const TENANT: &str = "015146";
const COMMAND: &str = "anpr.resident.lookup";

#[derive(clap::Args)]
pub struct AnprBenchArgs {
    /// Lookups to make.
    #[arg(long, default_value_t = 5_000)]
    lookups: u64,
    /// Lookups in flight at once (published and not yet answered).
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// The comune's requests the connector lets be in flight at once, one series per value
    /// (comma-separated; 1 is strict order, one request per round trip).
    #[arg(long, value_delimiter = ',', default_values_t = vec![snodo_connectors::anpr::DEFAULT_SENDS_IN_FLIGHT, 2])]
    sends_in_flight: Vec<usize>,
    /// The RabbitMQ the connector and the load generator use.
    #[arg(
        long,
        env = "SNODO_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp: String,
}

pub async fn measure(args: AnprBenchArgs) -> anyhow::Result<Report> {
    println!(
        "snodo bench anpr — {} cores, {} lookups per series, {} commands in flight, RabbitMQ {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.lookups,
        args.window,
        args.amqp
    );
    if args.sends_in_flight.is_empty() || args.sends_in_flight.contains(&0) {
        bail!("--sends-in-flight takes one or more counts of at least 1");
    }
    let mut report = Report::new("anpr");
    let mut rates = Vec::new();
    for &sends in &args.sends_in_flight {
        let series = measure_series(&args, sends).await?;
        rates.push((sends, series.rate));
        report.rows.push(series.row);
        if let Some(first) = series.first_failure {
            report.fail(first);
        }
    }
    if let Some(&(base_sends, base_rate)) = rates.first() {
        for &(sends, rate) in &rates[1..] {
            println!(
                "{sends} sends in flight against {base_sends}: {:.2}× the lookups per second",
                rate / base_rate.max(f64::MIN_POSITIVE)
            );
        }
    }
    Ok(report)
}

/// What one series left for the report.
struct Series {
    row: Row,
    rate: f64,
    first_failure: Option<String>,
}

/// One series on a fresh simulator and connector (the simulator remembers every number the comune
/// sent, so each series starts a new comune history), `sends` of the comune's requests in flight.
async fn measure_series(args: &AnprBenchArgs, sends: usize) -> anyhow::Result<Series> {
    println!("— {sends} of the comune's requests in flight");
    let base = BenchBase::connect("anpr", &args.amqp).await?;
    let (transport, names, pki, stop) = (
        base.transport.clone(),
        base.names.clone(),
        base.pki.clone(),
        base.stop.clone(),
    );

    // The simulator: every request judged as ANPR judges it; no pushes (nothing to notify).
    let mut settings = AnprSettings::development(&pki).context("the ANPR simulator's settings")?;
    settings.push_base_url = None;
    let clock = SimClock::new();
    let simulator = Arc::new(AnprSimulator::new(clock.clone(), settings, population())?);
    let tls = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Optional(pki.trust_anchors()),
    ))?;
    let served = serve(
        Arc::new(Instance::new(simulator.clone(), clock)),
        "127.0.0.1:0".parse()?,
        Transport::Https(tls),
        stop.clone(),
    )
    .await?;

    // The connector as `snodo up` builds it; its pollers (4005, 3003) are not started: they would
    // only add their own calls to the measurement.
    let mut config = BenchBase::config_with_endpoint("anpr", served.url());
    for tenant in &mut config.tenants {
        if let Some(anpr) = &mut tenant.anpr {
            anpr.sends_in_flight = Some(sends);
        }
    }
    let config = Arc::new(config);
    let context = base.context(config.clone()).await?;
    let parts = (snodo_connectors::anpr::REGISTRATION.build)(&context)
        .map_err(|e| anyhow::anyhow!("building the ANPR connector: {e}"))?;
    let handler = parts
        .handler
        .context("the ANPR connector has no command handler")?;
    let (events_queue, topology) = base.run_handler(&config, handler, "anpr.#").await?;

    let residents: Vec<String> = population()
        .iter()
        .filter(|p| p.is_resident() && p.death_date.is_none())
        .map(|p| p.codice_fiscale.as_str().to_owned())
        .collect();
    if residents.is_empty() {
        bail!("the simulator's population has no living resident");
    }
    let mut events = transport
        .consume(&events_queue, ConsumeOptions { prefetch: 256 })
        .await
        .context("consuming the events")?;

    // Warm-up: TLS sessions, the PKI, libxml2's schemas.
    let warm = drive(&transport, &names, &mut events, &residents, WARM_UP, 4).await?;
    if warm.failed > 0 {
        bail!(
            "the warm-up lookups failed: {}",
            warm.first_failure.unwrap_or_default()
        );
    }
    let run = drive(
        &transport,
        &names,
        &mut events,
        &residents,
        args.lookups,
        args.window,
    )
    .await?;

    let completed = args.lookups - run.failed;
    let rate = completed as f64 / run.elapsed.as_secs_f64();
    let q = |p: f64| Duration::from_micros(run.latency.value_at_quantile(p));
    println!(
        "{completed} signed lookups in {:.2?}: {rate:.0} lookups/s   (aim: at least 500)",
        run.elapsed,
    );
    println!(
        "{:<24} p50 {:>9.2?}   p99 {:>9.2?}   p99.9 {:>9.2?}   max {:>9.2?}",
        "command → event",
        q(0.5),
        q(0.99),
        q(0.999),
        Duration::from_micros(run.latency.max())
    );
    let refused = simulator.registry().refused_as_lower();
    println!(
        "{refused} requests refused by ANPR as overtaken and renumbered ({:.1} per 100 lookups)",
        refused as f64 * 100.0 / (args.lookups + WARM_UP) as f64
    );
    if let Some(first) = &run.first_failure {
        println!("{} lookups failed; the first: {first}", run.failed);
    }
    drop(events);
    base.finish(&topology).await;
    let row = Row::timed(
        format!("signed 3002 lookups, command → event, {sends} of the comune's requests in flight"),
        "lookups",
        completed,
        run.failed,
        run.elapsed,
        &run.latency,
    );
    Ok(Series {
        row,
        rate,
        first_failure: run.first_failure,
    })
}

/// Lookups before each series is measured: TLS sessions, the PKI, libxml2's schemas.
const WARM_UP: u64 = 20;

/// What one series of lookups measured.
struct Run {
    elapsed: Duration,
    latency: Histogram<u64>,
    failed: u64,
    first_failure: Option<String>,
}

/// Publishes `n` lookups (cycling over `residents`) with at most `window` unanswered, and collects
/// their outcome events.
async fn drive(
    transport: &SharedTransport,
    names: &Names,
    events: &mut snodo_queue::Consumer,
    residents: &[String],
    n: u64,
    window: usize,
) -> anyhow::Result<Run> {
    let kind: MessageType = COMMAND.parse().expect("a valid type");
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let credits = Arc::new(tokio::sync::Semaphore::new(window));
    let started = Instant::now();
    let publishing = {
        let (transport, exchange, sent, credits) = (
            transport.clone(),
            names.commands_exchange(),
            sent.clone(),
            credits.clone(),
        );
        let residents = residents.to_vec();
        tokio::spawn(async move {
            // Publishes run concurrently (each waits for its confirm), bounded by the window: one
            // at a time would measure the confirm round trip, not the connector.
            let mut publishes = tokio::task::JoinSet::new();
            for i in 0..n {
                credits.acquire().await.expect("never closed").forget();
                while let Some(done) = publishes.try_join_next() {
                    done.expect("a publish task does not panic")?;
                }
                let cf = &residents[i as usize % residents.len()];
                let body = serde_json::json!({"schema": 1, "by": {"codice_fiscale": cf}, "sections": ["personal_data"]});
                let envelope = Envelope::command(kind.clone()).with_tenant(TENANT);
                let message = envelope.to_message(serde_json::to_vec(&body).expect("JSON"));
                sent.lock()
                    .insert(envelope.message_id.to_string(), Instant::now());
                let (transport, exchange) = (transport.clone(), exchange.clone());
                publishes
                    .spawn(async move { transport.publish(Publish::new(exchange, COMMAND, message)).await });
            }
            while let Some(done) = publishes.join_next().await {
                done.expect("a publish task does not panic")?;
            }
            Ok::<(), snodo_queue::PublishError>(())
        })
    };
    let mut latency = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds");
    let (mut received, mut failed, mut first_failure) = (0u64, 0u64, None);
    while received < n {
        let delivery = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .with_context(|| format!("no event for 60 s after {received} of {n}"))?
            .context("the event consumer closed")?;
        let now = Instant::now();
        let kind = delivery.message.properties.kind.clone().unwrap_or_default();
        let correlation = delivery
            .message
            .properties
            .correlation_id
            .clone()
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&delivery.message.body).into_owned();
        delivery.ack().await.context("ack an event")?;
        let Some(t0) = sent.lock().remove(&correlation) else {
            // Not one of this series' commands (a late answer of the warm-up, say).
            continue;
        };
        latency
            .record(now.duration_since(t0).as_micros().max(1) as u64)
            .ok();
        if kind != "anpr.resident.lookup.completed" {
            failed += 1;
            first_failure.get_or_insert_with(|| format!("{kind}: {body}"));
        }
        credits.add_permits(1);
        received += 1;
    }
    let elapsed = started.elapsed();
    publishing
        .await
        .context("publisher task")?
        .context("publishing commands")?;
    Ok(Run {
        elapsed,
        latency,
        failed,
        first_failure,
    })
}

//! `snodo bench cie-booking`: availability searches and bookings end to end — a backend publishes
//! `cie_booking.*` commands on RabbitMQ, the booking connector built as `snodo up` builds it sends
//! each as Snodo's SOAP contract over TLS to the booking simulator in process (which validates every
//! request against the XSD and decides it under its one lock), and the outcome event comes back
//! through RabbitMQ. Prints searches and bookings per second and latency percentiles from a
//! command's publish to its event's arrival, with a bounded number of commands in flight.
//!
//! Searches cycle over the open offices and the coming weeks (one office, one week each: what a
//! booking page asks). Bookings are one per citizen of the shared population, spread over every
//! free place of the next three months, so each must succeed: a failure is reported, not measured
//! away. The change feed's poller is not started (it would add its own calls).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{Datelike, Weekday};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::{ConsumeOptions, Names, Publish, SharedTransport};
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_simulators::cie_booking::{CieBookingSimulator, SlotRef, in_rome, population, seeded_offices};
use snodo_simulators::framework::{Instance, SimClock, Transport, serve};

use super::platform::BenchBase;
use super::report::{Report, Row};

const TENANT: &str = "015146";
const SEARCH: &str = "cie_booking.availability.search";
const BOOK: &str = "cie_booking.appointment.book";

#[derive(clap::Args)]
pub struct CieBookingBenchArgs {
    /// Availability searches to make.
    #[arg(long, default_value_t = 3_000)]
    searches: u64,
    /// Bookings to make (each a different citizen; at most the free places of three months).
    #[arg(long, default_value_t = 3_000)]
    bookings: u64,
    /// Commands in flight at once (published and not yet answered).
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// The RabbitMQ the connector and the load generator use.
    #[arg(
        long,
        env = "SNODO_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp: String,
}

pub async fn measure(args: CieBookingBenchArgs) -> anyhow::Result<Report> {
    println!(
        "snodo bench cie-booking — {} cores, {} searches, {} bookings, {} in flight, RabbitMQ {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.searches,
        args.bookings,
        args.window,
        args.amqp
    );
    let base = BenchBase::connect("cie-booking", &args.amqp).await?;
    let (transport, names, pki, stop) = (
        base.transport.clone(),
        base.names.clone(),
        base.pki.clone(),
        base.stop.clone(),
    );

    let clock = SimClock::new();
    let simulator = Arc::new(CieBookingSimulator::new(clock.clone())?);
    let tls = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Optional(pki.trust_anchors()),
    ))?;
    let served = serve(
        Arc::new(Instance::new(simulator, clock.clone())),
        "127.0.0.1:0".parse()?,
        Transport::Https(tls),
        stop.clone(),
    )
    .await?;

    let config = Arc::new(BenchBase::config_with_endpoint("cie_booking", served.url()));
    let context = base.context(config.clone()).await?;
    let parts = (snodo_connectors::cie_booking::REGISTRATION.build)(&context)
        .map_err(|e| anyhow::anyhow!("building the CIE booking connector: {e}"))?;
    let handler = parts
        .handler
        .context("the CIE booking connector has no command handler")?;
    let (events_queue, topology) = base.run_handler(&config, handler, "cie_booking.#").await?;
    let mut events = transport
        .consume(&events_queue, ConsumeOptions { prefetch: 256 })
        .await
        .context("consuming the events")?;

    // The week after next onwards, in Rome, on the simulator's clock.
    let first_monday = (in_rome(clock.now()).date_naive() + chrono::Duration::days(7))
        .iter_days()
        .find(|d| d.weekday() == Weekday::Mon)
        .expect("a week has a Monday");
    let offices: Vec<_> = seeded_offices().into_iter().filter(|o| o.open).collect();
    let searches: Vec<(&str, Value)> = (0..args.searches.max(20))
        .map(|i| {
            let office = &offices[i as usize % offices.len()];
            let from = first_monday + chrono::Duration::weeks((i / offices.len() as u64 % 12) as i64);
            let body = json!({"schema": 1, "office_id": office.office_id, "from": from,
                              "to": from + chrono::Duration::days(6), "reason": "first_document"});
            (SEARCH, body)
        })
        .collect();
    // Every free place of the next 13 weeks, earliest first, one booking each.
    let mut places = Vec::new();
    for day in first_monday.iter_days().take(13 * 7) {
        for office in &offices {
            for start in office.slot_starts(day) {
                let slot = SlotRef {
                    office_id: office.office_id.clone(),
                    local_start: start,
                }
                .id();
                places.extend(std::iter::repeat_n(slot, office.counters as usize));
            }
        }
    }
    let citizens: Vec<_> = population()
        .iter()
        .map(|p| (p.codice_fiscale.as_str().to_owned(), p.surname, p.given_name))
        .collect();
    let warm_bookings = 20;
    let wanted = args.bookings as usize + warm_bookings;
    if wanted > places.len().min(citizens.len()) {
        bail!(
            "{} bookings (with the warm-up's {warm_bookings}) need as many free places and citizens: there are {} places \
             and {} citizens",
            wanted,
            places.len(),
            citizens.len()
        );
    }
    let bookings: Vec<(&str, Value)> = places
        .iter()
        .zip(&citizens)
        .take(wanted)
        .map(|(slot, (cf, surname, given_name))| {
            let body = json!({"schema": 1, "slot_id": slot, "reason": "first_document",
                              "citizen": {"codice_fiscale": cf, "surname": surname, "given_name": given_name,
                                          "email": "cittadino@example.it"}});
            (BOOK, body)
        })
        .collect();

    // Warm-up: TLS sessions, libxml2's schema, the population.
    let warm = drive(&transport, &names, &mut events, &searches[..20], 4).await?;
    let warm_booked = drive(&transport, &names, &mut events, &bookings[..warm_bookings], 4).await?;
    if let Some(first) = warm.first_failure.or(warm_booked.first_failure) {
        bail!("the warm-up failed: {first}");
    }
    let searched = drive(
        &transport,
        &names,
        &mut events,
        &searches[..args.searches as usize],
        args.window,
    )
    .await?;
    let booked = drive(
        &transport,
        &names,
        &mut events,
        &bookings[warm_bookings..],
        args.window,
    )
    .await?;

    let mut report = Report::new("cie-booking");
    for (what, run, n, subject) in [
        (
            "searches",
            &searched,
            args.searches,
            "availability searches (one office, one week), command → event",
        ),
        (
            "bookings",
            &booked,
            args.bookings,
            "bookings (each a new citizen), command → event",
        ),
    ] {
        report.rows.push(Row::timed(
            subject,
            what,
            n - run.failed,
            run.failed,
            run.elapsed,
            &run.latency,
        ));
        let q = |p: f64| Duration::from_micros(run.latency.value_at_quantile(p));
        println!(
            "{:<9} {:>6} in {:>8.2?}: {:>6.0}/s   p50 {:>9.2?}   p99 {:>9.2?}   p99.9 {:>9.2?}   max {:>9.2?}",
            what,
            n - run.failed,
            run.elapsed,
            (n - run.failed) as f64 / run.elapsed.as_secs_f64(),
            q(0.5),
            q(0.99),
            q(0.999),
            Duration::from_micros(run.latency.max())
        );
        if let Some(first) = &run.first_failure {
            println!("{} {what} failed; the first: {first}", run.failed);
            report.fail(first.clone());
        }
    }
    drop(events);
    base.finish(&topology).await;
    Ok(report)
}

/// What one series of commands measured.
struct Run {
    elapsed: Duration,
    latency: Histogram<u64>,
    failed: u64,
    first_failure: Option<String>,
}

/// Publishes `commands` in order with at most `window` unanswered, and collects their outcome
/// events; a `.failed` outcome counts as a failure.
async fn drive(
    transport: &SharedTransport,
    names: &Names,
    events: &mut snodo_queue::Consumer,
    commands: &[(&'static str, Value)],
    window: usize,
) -> anyhow::Result<Run> {
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let credits = Arc::new(tokio::sync::Semaphore::new(window));
    let started = Instant::now();
    let n = commands.len() as u64;
    let publishing = {
        let (transport, exchange, sent, credits) = (
            transport.clone(),
            names.commands_exchange(),
            sent.clone(),
            credits.clone(),
        );
        let commands = commands.to_vec();
        tokio::spawn(async move {
            // Each publish waits for its confirm on its own, so the window, not the confirm round
            // trip, bounds the commands in flight.
            let mut confirms = Vec::new();
            for (kind, body) in commands {
                credits.acquire().await.expect("never closed").forget();
                let message_type: MessageType = kind.parse().expect("a valid type");
                let envelope = Envelope::command(message_type).with_tenant(TENANT);
                let message = envelope.to_message(serde_json::to_vec(&body).expect("JSON"));
                sent.lock()
                    .insert(envelope.message_id.to_string(), Instant::now());
                let (transport, exchange) = (transport.clone(), exchange.clone());
                confirms.push(tokio::spawn(async move {
                    transport.publish(Publish::new(exchange, kind, message)).await
                }));
            }
            for confirm in confirms {
                confirm.await.context("a publish task")??;
            }
            Ok::<(), anyhow::Error>(())
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
            continue;
        };
        latency
            .record(now.duration_since(t0).as_micros().max(1) as u64)
            .ok();
        if !kind.ends_with(".completed") {
            failed += 1;
            // Bodies of failures carry no codice fiscale (error texts are masked).
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

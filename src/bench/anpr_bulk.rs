//! `snodo bench anpr-bulk`: a whole city re-read through ANPR's bulk lookup — the scenario of issue 5
//! ("Milan moved its 1.4 million records into ANPR in one weekend"). The ANPR simulator serves a
//! synthetic population of `--residents` people (1.4 million by default, generated deterministically
//! from a seed); a backend publishes `anpr.bulk_lookup.start` jobs covering every resident's codice
//! fiscale; the connector, assembled as `snodo up` assembles it (one tenant, one line to ANPR shared
//! by the command handler and the 4005 poller), submits each chunk of at most 2,000 codes with a
//! signed 4002, and the poller on the scheduler follows 4005 — every page of every chunk — until each
//! job's `anpr.bulk_lookup.completed`. Prints the time from the first job published to the last job
//! completed, with its parts, against issue 5's aim of 30 minutes on this 2-core machine.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::TimeDelta;
use hdrhistogram::Histogram;
use snodo_connectors::anpr::{AnprConnector, AnprTenant, BulkResultsFeed, COMPLETED_EVENT, RESULT_EVENT};
use snodo_connectors::inbound::InboundPublisher;
use snodo_connectors::schedule::{Scheduler, SchedulerSettings, item_message_id};
use snodo_queue::envelope::{Envelope, MessageType};
use snodo_queue::{ConsumeOptions, Publish};
use snodo_security::tls::{ClientAuth, TlsServer, TlsServerConfig};
use snodo_simulators::anpr::{AnprSettings, AnprSimulator, POPULATION_SEED};
use snodo_simulators::framework::{Instance, SimClock, Transport, serve};
use snodo_simulators::population::{Population, PopulationConfig};
use uuid::Uuid;

use super::platform::{BenchBase, TENANT};
use super::report::{Report, Row};

const COMMAND: &str = "anpr.bulk_lookup.start";

#[derive(clap::Args)]
pub struct AnprBulkBenchArgs {
    /// Residents of the simulated city, every one re-read.
    #[arg(long, default_value_t = 1_400_000)]
    residents: u32,
    /// Codici fiscali per job (each submitted as chunks of at most 2,000).
    #[arg(long, default_value_t = 20_000)]
    job_size: usize,
    /// How long ANPR takes over a chunk before 4005 has its results, in seconds.
    #[arg(long, default_value_t = 2)]
    processing_seconds: i64,
    /// The 4005 poller's pause between polls that found nothing more, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_interval_ms: u64,
    /// Give up after this many minutes.
    #[arg(long, default_value_t = 60)]
    timeout_minutes: u64,
    /// The RabbitMQ the connector and the load generator use.
    #[arg(
        long,
        env = "SNODO_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp: String,
}

pub async fn measure(args: AnprBulkBenchArgs) -> anyhow::Result<Report> {
    if args.job_size == 0 {
        bail!("--job-size must be at least 1");
    }
    println!(
        "snodo bench anpr-bulk — {} cores, {} residents, jobs of {} codici fiscali, ANPR processing {} s a chunk, RabbitMQ {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.residents,
        args.job_size,
        args.processing_seconds,
        args.amqp
    );

    // The city: the shared population's generator at the requested size (same seed as the
    // simulators' development population, so the first 10,000 are not the same people — the
    // households are laid out for the size — but the codes are as real as theirs).
    let started = Instant::now();
    let population = Arc::new(
        Population::build(PopulationConfig::development(POPULATION_SEED, args.residents))
            .context("building the synthetic population")?,
    );
    let built = started.elapsed();
    let started = Instant::now();
    let codes: Vec<String> = population
        .iter()
        .take(args.residents as usize)
        .map(|p| p.codice_fiscale.as_str().to_owned())
        .collect();
    let listed = started.elapsed();
    println!(
        "population: {} people built in {built:.2?} ({:.1} MB held); {} residents' codici fiscali listed in {listed:.2?}",
        population.len(),
        population.footprint().heap_bytes as f64 / 1e6,
        codes.len()
    );

    let base = BenchBase::connect("anpr-bulk", &args.amqp).await?;
    let (transport, names, pki, stop) = (
        base.transport.clone(),
        base.names.clone(),
        base.pki.clone(),
        base.stop.clone(),
    );

    let mut settings = AnprSettings::development(&pki).context("the ANPR simulator's settings")?;
    settings.push_base_url = None;
    settings.bulk_processing = TimeDelta::seconds(args.processing_seconds.max(0));
    let clock = SimClock::new();
    let simulator = Arc::new(AnprSimulator::new(clock.clone(), settings, population.clone())?);
    let tls = TlsServer::new(TlsServerConfig::new(
        pki.tls_server().identity.clone(),
        ClientAuth::Optional(pki.trust_anchors()),
    ))?;
    let served = serve(
        Arc::new(Instance::new(simulator, clock)),
        "127.0.0.1:0".parse()?,
        Transport::Https(tls),
        stop.clone(),
    )
    .await?;

    // The connector as `snodo up` builds it: one tenant whose clones — the handler's and the 4005
    // poller's — share the comune's line to ANPR. The poller runs on a shorter interval than
    // production's 30 s, so that the figure measures the work rather than the waiting.
    let config = Arc::new(BenchBase::config_with_endpoint("anpr", served.url()));
    let context = base.context(config.clone()).await?;
    let tenant = AnprTenant::from_config(
        &config.tenants[0],
        &served.url(),
        pki.trust_anchors(),
        Some(&pki),
        Duration::from_secs(60),
    )?
    .context("the development tenant uses ANPR")?;
    let handler = AnprConnector::new(
        vec![tenant.clone()],
        context.store.clone(),
        InboundPublisher::new(transport.clone(), &names, "anpr"),
    );
    let (events_queue, topology) = base
        .run_handler(&config, Arc::new(handler), "anpr.bulk_lookup.#")
        .await?;
    let mut poll_settings = SchedulerSettings::new(names.clone());
    poll_settings.app_id = "anpr".into();
    poll_settings.interval = Duration::from_millis(args.poll_interval_ms);
    poll_settings.backoff_min = Duration::from_millis(200);
    poll_settings.backoff_max = Duration::from_secs(5);
    let scheduler = Scheduler::new(
        Arc::new(BulkResultsFeed::new(Arc::new(tenant), context.store.clone())),
        context.store.clone(),
        transport.clone(),
        poll_settings,
    )?;
    tokio::spawn(scheduler.run(stop.clone()));

    let mut events = transport
        .consume(&events_queue, ConsumeOptions { prefetch: 64 })
        .await
        .context("consuming the events")?;

    // Every job at once: the runtime takes as many as its concurrency allows, the rest wait in
    // the queue, as a backend's weekend batch would.
    let kind: MessageType = COMMAND.parse().expect("a valid type");
    let completed_kind: MessageType = COMPLETED_EVENT.parse().expect("a valid type");
    let started = Instant::now();
    let mut jobs: HashMap<Uuid, (Instant, usize)> = HashMap::new();
    let mut completion_ids: HashMap<Uuid, Uuid> = HashMap::new();
    for job in codes.chunks(args.job_size) {
        let body = serde_json::json!({"schema": 1, "codici_fiscali": job, "sections": ["personal_data"]});
        let envelope = Envelope::command(kind.clone()).with_tenant(TENANT);
        let message = envelope.to_message(serde_json::to_vec(&body).expect("JSON"));
        let id = envelope.message_id;
        jobs.insert(id, (Instant::now(), job.len()));
        completion_ids.insert(
            item_message_id(&completed_kind, Some(TENANT), &id.to_string()),
            id,
        );
        transport
            .publish(Publish::new(names.commands_exchange(), COMMAND, message))
            .await
            .context("publishing a bulk job")?;
    }
    let published = started.elapsed();
    println!(
        "{} jobs published in {published:.2?}; waiting for their submissions and results…",
        jobs.len()
    );

    let mut latency = Histogram::<u64>::new_with_bounds(1, 7_200_000_000, 3).expect("valid bounds");
    let (mut submitted_at, mut first_result_at) = (None, None);
    let (mut accepted, mut chunks, mut results, mut result_bytes, mut done_codes) =
        (0, 0u64, 0u64, 0u64, 0u64);
    let mut pending: HashSet<Uuid> = jobs.keys().copied().collect();
    let mut failure: Option<String> = None;
    let mut last_report = Instant::now();
    let until = Instant::now() + Duration::from_secs(args.timeout_minutes * 60);
    while !pending.is_empty() {
        let left = until.saturating_duration_since(Instant::now());
        let Ok(next) = tokio::time::timeout(left.max(Duration::from_millis(1)), events.next()).await else {
            failure = Some(format!(
                "{} of {} jobs not completed after {} minutes",
                pending.len(),
                jobs.len(),
                args.timeout_minutes
            ));
            break;
        };
        let delivery = next.context("the event consumer closed")?;
        let envelope = Envelope::parse(&delivery.message).context("an event without its envelope")?;
        let body: serde_json::Value = serde_json::from_slice(&delivery.message.body).unwrap_or_default();
        delivery.ack().await.context("ack an event")?;
        match envelope.kind.as_str() {
            "anpr.bulk_lookup.start.completed" => {
                accepted += 1;
                if accepted == jobs.len() {
                    submitted_at = Some(started.elapsed());
                }
            }
            "anpr.bulk_lookup.start.failed" => {
                failure.get_or_insert_with(|| format!("a job failed: {body}"));
                break;
            }
            "anpr.bulk_lookup.submitted" => chunks += 1,
            RESULT_EVENT => {
                first_result_at.get_or_insert_with(|| started.elapsed());
                results += 1;
                result_bytes += body["content_base64"].as_str().map_or(0, str::len) as u64;
            }
            COMPLETED_EVENT => {
                let Some(job) = completion_ids.get(&envelope.message_id) else {
                    continue;
                };
                if pending.remove(job) {
                    let (sent, size) = jobs[job];
                    latency.record(sent.elapsed().as_micros().max(1) as u64).ok();
                    let codes = body["codici_fiscali"].as_u64().unwrap_or(0);
                    if codes != size as u64 {
                        failure.get_or_insert_with(|| format!("a job of {size} completed with {codes}"));
                    }
                    done_codes += codes;
                }
            }
            _ => {}
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            println!(
                "  {:>6.0} s: {accepted}/{} jobs submitted ({chunks} chunks), {results} result pages, {}/{} jobs completed",
                started.elapsed().as_secs_f64(),
                jobs.len(),
                jobs.len() - pending.len(),
                jobs.len()
            );
        }
    }
    let elapsed = started.elapsed();
    drop(events);
    base.finish(&topology).await;

    let per_second = done_codes as f64 / elapsed.as_secs_f64();
    println!(
        "{done_codes} codici fiscali re-read in {elapsed:.2?}: {per_second:.0} a second   (aim: 1.4 million in under 30 minutes, {:.0} a second)",
        1_400_000.0 / 1800.0
    );
    println!(
        "  all {} jobs submitted ({chunks} chunks of ≤ 2,000 through 4002) after {:.2?}; first result page after {:.2?}",
        jobs.len(),
        submitted_at.unwrap_or(elapsed),
        first_result_at.unwrap_or(elapsed)
    );
    println!(
        "  {results} result pages through 4005 ({:.0} MB of base64 in the events); job publish → completed p50 {:.2?}, max {:.2?}",
        result_bytes as f64 / 1e6,
        Duration::from_micros(latency.value_at_quantile(0.5)),
        Duration::from_micros(latency.max())
    );
    if done_codes > 0 && args.residents > 0 && done_codes < 1_400_000 {
        println!(
            "  at this rate 1.4 million would take {:.1} minutes",
            1_400_000.0 / per_second / 60.0
        );
    }
    let mut report = Report::new("anpr-bulk");
    let failed = codes.len() as u64 - done_codes;
    report.rows.push(Row::timed(
        format!(
            "{} residents re-read through 4002/4005 jobs, job → completed",
            args.residents
        ),
        "codici fiscali",
        done_codes,
        failed,
        elapsed,
        &latency,
    ));
    if let Some(failure) = failure {
        println!("FAILED: {failure}");
        report.fail(failure);
    } else if failed > 0 {
        report.fail(format!("{failed} codici fiscali not re-read"));
    }
    Ok(report)
}

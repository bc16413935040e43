//! `snodo bench transport`: N `snodo.ping` commands through the consumer runtime (the real `Ping`
//! connector, the real topology) on the embedded transport and on RabbitMQ, and, in the same run, a raw
//! lapin loop doing the same work by hand (consume → publish the event with confirm → ack), with the
//! ratio between the runtime and that baseline.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use snodo_connectors::core::Ping;
use snodo_queue::embedded::EmbeddedBroker;
use snodo_queue::rabbit::{RabbitConfig, RabbitTransport};
use snodo_queue::runtime::{ConnectorRuntime, RetrySchedule, RuntimeSettings};
use snodo_queue::topology::SubscriberQueue;
use snodo_queue::{ConsumeOptions, Names, SharedTransport, Topology};
use tokio_util::sync::CancellationToken;

use super::load::{Figures, drive};
use super::raw_lapin;
use super::report::{Report, Row};

const TENANT: &str = "015146";

#[derive(clap::Args)]
pub struct TransportBenchArgs {
    /// Commands per run on RabbitMQ.
    #[arg(long, default_value_t = 20_000)]
    commands: u64,
    /// Commands per run on the embedded transport.
    #[arg(long, default_value_t = 500_000)]
    embedded_commands: u64,
    /// RabbitMQ to measure; `none` measures the embedded transport only.
    #[arg(
        long,
        env = "SNODO_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp: String,
    /// Consumer prefetch (runtime and baseline alike).
    #[arg(long, default_value_t = 256)]
    prefetch: u16,
    /// Commands handled at once (runtime and baseline alike).
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Unconfirmed commands the load generator keeps in flight.
    #[arg(long, default_value_t = 512)]
    window: usize,
}

pub async fn measure(args: TransportBenchArgs) -> anyhow::Result<Report> {
    println!(
        "snodo bench transport — {} cores, prefetch {}, concurrency {}, window {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.prefetch,
        args.concurrency,
        args.window
    );
    let broker = EmbeddedBroker::new();
    let embedded = through_runtime(
        "runtime on embedded",
        broker.connect(),
        broker.connect(),
        &args,
        args.embedded_commands,
    )
    .await?;
    println!("{}", embedded.line());
    let mut report = Report::new("transport");
    report.rows.push(row(
        "snodo.ping through the runtime, embedded transport",
        &embedded,
    ));
    if args.amqp == "none" {
        return Ok(report);
    }
    // Default publisher settings, as `snodo up` uses them: confirms are pipelined per channel (see
    // `rabbit::publisher`), like the baseline's single channel.
    let connect = |name: &str| {
        RabbitTransport::connect(RabbitConfig {
            connection_name: name.to_owned(),
            ..RabbitConfig::new(&args.amqp)
        })
    };
    let runtime_side: SharedTransport = connect("bench runtime").await.context("connecting to RabbitMQ")?;
    let load_side: SharedTransport = connect("bench load").await.context("connecting to RabbitMQ")?;
    // Alternate runtime and baseline so that drift on this noisy machine hits both alike.
    let mut runtime_runs: Vec<Figures> = Vec::new();
    let mut raw_runs: Vec<Figures> = Vec::new();
    for round in 1..=2 {
        let raw = raw_lapin::run(
            &args.amqp,
            load_side.clone(),
            args.commands,
            args.prefetch,
            args.concurrency,
            args.window,
        )
        .await
        .with_context(|| format!("raw lapin baseline, round {round}"))?;
        println!("{}", raw.line());
        raw_runs.push(raw);
        let rt = through_runtime(
            &format!("runtime on RabbitMQ (round {round})"),
            runtime_side.clone(),
            load_side.clone(),
            &args,
            args.commands,
        )
        .await?;
        println!("{}", rt.line());
        runtime_runs.push(rt);
    }
    let best = |runs: &[Figures]| runs.iter().map(Figures::per_second).fold(0.0, f64::max);
    let ratio = best(&runtime_runs) / best(&raw_runs);
    let fastest = |runs: &[Figures]| {
        runs.iter()
            .max_by(|a, b| a.per_second().total_cmp(&b.per_second()))
            .map(|f| row(&f.label, f))
    };
    if let (Some(raw), Some(runtime)) = (fastest(&raw_runs), fastest(&runtime_runs)) {
        report.rows.push(Row {
            subject: "raw lapin baseline on RabbitMQ (best of 2)".into(),
            ..raw
        });
        report.rows.push(
            Row {
                subject: "snodo.ping through the runtime on RabbitMQ (best of 2)".into(),
                ..runtime
            }
            .with_ratio("raw lapin", ratio),
        );
    }
    println!(
        "runtime / raw lapin throughput (best of 2 each): {:.1}%   (aim: at least 85%)",
        ratio * 100.0
    );
    println!(
        "embedded transport: {:.0} commands/s   (aim: at least 200,000)",
        embedded.per_second()
    );
    runtime_side.close().await;
    load_side.close().await;
    Ok(report)
}

fn row(subject: &str, figures: &Figures) -> Row {
    Row::timed(
        subject,
        "commands",
        figures.commands,
        0,
        figures.elapsed,
        &figures.latency,
    )
}

/// Declares a fresh topology, runs the `Ping` connector on `runtime_side` and drives it from `load_side`.
async fn through_runtime(
    label: &str,
    runtime_side: SharedTransport,
    load_side: SharedTransport,
    args: &TransportBenchArgs,
    n: u64,
) -> anyhow::Result<Figures> {
    let names = Names::new(format!(
        "bench{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let settings = RuntimeSettings {
        names: names.clone(),
        app_id: "snodo-bench".into(),
        prefetch: args.prefetch,
        concurrency: args.concurrency,
        retry: RetrySchedule::new(vec![Duration::from_secs(1)]),
        queue_override: None,
        shutdown_grace: Duration::from_secs(10),
    };
    let runtime = ConnectorRuntime::new(
        runtime_side.clone(),
        Arc::new(Ping),
        Arc::new(vec![TENANT.to_owned()]),
        settings,
    );
    let events_queue = format!("{}.bench.events", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[runtime.queues()],
        &[SubscriberQueue {
            queue: events_queue.clone(),
            patterns: vec!["snodo.ping.#".into()],
        }],
        &[],
    );
    load_side
        .declare(&topology)
        .await
        .context("declaring the bench topology")?;
    let events = load_side
        .consume(
            &events_queue,
            ConsumeOptions {
                prefetch: args.prefetch.max(256),
            },
        )
        .await
        .context("consuming bench events")?;
    let stop = CancellationToken::new();
    let running = tokio::spawn(runtime.run(stop.clone()));
    let figures = drive(
        label,
        load_side.clone(),
        names.commands_exchange(),
        events,
        n,
        args.window,
        TENANT,
    )
    .await;
    stop.cancel();
    running.await.context("runtime task")?.context("runtime")?;
    for q in topology.queue_names() {
        let _ = load_side.delete_queue(q).await;
    }
    figures
}

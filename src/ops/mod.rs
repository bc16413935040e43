//! `snodo ops …`: what operators ask most often. `queues` prints depth and consumers of every Snodo queue,
//! from RabbitMQ directly or from a running `snodo up` on the embedded transport; `dlq` lists, shows,
//! replays and purges dead letters through the operations listener of a running `snodo up`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use snodo_connectors::config;
use snodo_queue::Names;

use crate::assembly;

mod dlq;
mod trace;

/// The operations token from `listeners.ops_token_file`, for when `SNODO_OPS_TOKEN` is not set: the
/// CLI on the instance's own machine reads what `snodo up` reads.
pub(crate) fn token_from_file(config: &config::Config) -> Option<String> {
    let path = config.listeners.ops_token_file.as_deref()?;
    std::fs::read_to_string(path).ok().map(|t| t.trim().to_owned())
}

/// `SNODO_OPS_TOKEN`, else the configured token file.
pub(crate) fn ops_token(config: &config::Config) -> Option<String> {
    std::env::var(snodo_connectors::ops::auth::TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| token_from_file(config))
}

#[derive(clap::Args)]
pub struct OpsArgs {
    #[command(subcommand)]
    command: OpsCommand,
}

#[derive(clap::Subcommand)]
enum OpsCommand {
    /// Depth and consumers of every Snodo queue.
    Queues {
        /// RabbitMQ URL; without it (and without SNODO_AMQP_URL), the operations listener of `snodo up`.
        #[arg(long)]
        amqp: Option<String>,
        /// Operations listener to ask, when not using RabbitMQ.
        #[arg(long)]
        ops: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Dead letters: list, show, replay, purge (from the journal's index; the queues are not touched).
    Dlq(dlq::DlqArgs),
    /// The whole story of a message id, correlation id or business id, in time order (the journal).
    Trace(trace::TraceArgs),
    /// Erase one person's journal records and their commands' dead letters.
    Erase(trace::EraseArgs),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    queue: String,
    messages: Option<u64>,
    consumers: Option<u32>,
}

pub async fn run(file: Option<&Path>, args: OpsArgs) -> anyhow::Result<ExitCode> {
    let (amqp, ops, json) = match args.command {
        OpsCommand::Queues { amqp, ops, json } => (amqp, ops, json),
        OpsCommand::Dlq(dlq) => return dlq::run(file, dlq).await,
        OpsCommand::Trace(args) => return trace::trace(file, args).await,
        OpsCommand::Erase(args) => return trace::erase(file, args).await,
    };
    let mut config = config::load(file)?;
    if let Some(url) = amqp {
        config.transport.amqp_url = Some(url);
    }
    let rows: Vec<Row> = if config.transport.amqp_url.is_some() {
        let transport = crate::transport::connect(&config, "snodo ops").await?;
        let names = Names::new(config.transport.prefix.clone());
        let runtimes =
            assembly::build_runtimes(&config, &transport, &names, Arc::new(Vec::new()), Vec::new());
        let topology = assembly::topology(&config, &names, &runtimes);
        let mut rows = Vec::new();
        for q in topology.queue_names() {
            let stats = transport.queue_stats(q).await.ok();
            rows.push(Row {
                queue: q.to_owned(),
                messages: stats.map(|s| s.messages),
                consumers: stats.map(|s| s.consumers),
            });
        }
        transport.close().await;
        rows
    } else {
        let base = ops.unwrap_or_else(|| format!("http://{}", config.listeners.ops));
        let url = format!("{}/ops/queues", base.trim_end_matches('/'));
        let mut request = reqwest::Client::new().get(&url);
        if let Some(token) = ops_token(&config) {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("no `snodo up` answers at {base} (start one, or give --amqp)"))?;
        if !response.status().is_success() {
            bail!("{url} answered {}", response.status());
        }
        response.json().await.context("reading the queue list")?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|r| r.queue.len()).max().unwrap_or(5).max(5);
    println!("{:<width$}  {:>10}  {:>9}", "queue", "messages", "consumers");
    let mut missing = false;
    for r in &rows {
        let show = |v: Option<String>| v.unwrap_or_else(|| "missing".into());
        missing |= r.messages.is_none();
        println!(
            "{:<width$}  {:>10}  {:>9}",
            r.queue,
            show(r.messages.map(|m| m.to_string())),
            show(r.consumers.map(|c| c.to_string()))
        );
    }
    Ok(if missing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

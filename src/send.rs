//! `snodo send <type> [file|-]`: publishes one command, waits for its terminal event and prints it as JSON.
//! Over RabbitMQ it talks to the broker directly; otherwise to the operations listener of a running
//! `snodo up` (its embedded broker lives in that process).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use snodo_connectors::config;
use snodo_connectors::ops::send::{SendOutcome, SendRequest, send_command};
use snodo_queue::Names;
use snodo_queue::request::Requester;

#[derive(clap::Args)]
pub struct SendArgs {
    /// The command type, e.g. snodo.ping or anpr.resident.lookup.
    #[arg(value_name = "TYPE")]
    kind: String,
    /// JSON body: a file, or - for standard input; `{}` when absent.
    file: Option<PathBuf>,
    /// Tenant (ISTAT code); defaults to the first configured tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// How long to wait for the outcome.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// RabbitMQ URL; without it (and without SNODO_AMQP_URL), the operations listener of `snodo up`.
    #[arg(long)]
    amqp: Option<String>,
    /// Operations listener of the `snodo up` to send through, when not using RabbitMQ.
    #[arg(long)]
    ops: Option<String>,
}

pub async fn run(file: Option<&Path>, args: SendArgs) -> anyhow::Result<ExitCode> {
    let mut config = config::load(file)?;
    if let Some(url) = args.amqp {
        config.transport.amqp_url = Some(url);
    }
    let body: serde_json::Value = match &args.file {
        None => serde_json::json!({}),
        Some(p) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the body from standard input")?;
            serde_json::from_str(&text).context("the body on standard input is not JSON")?
        }
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))?
        }
    };
    let request = SendRequest {
        kind: args.kind,
        tenant: args
            .tenant
            .or_else(|| config.tenants.first().map(|t| t.istat.clone())),
        body,
        timeout_ms: Some(args.timeout.as_millis() as u64),
    };
    let outcome = if config.transport.amqp_url.is_some() {
        let transport = crate::transport::connect(&config, "snodo send").await?;
        let names = Names::new(config.transport.prefix.clone());
        let requester = Requester::start(transport.clone(), &names.prefix)
            .await
            .context("declaring the reply queue")?;
        let outcome = send_command(&requester, &names, request).await;
        transport.close().await;
        outcome?
    } else {
        let base = args
            .ops
            .unwrap_or_else(|| format!("http://{}", config.listeners.ops));
        through_ops_listener(&base, crate::ops::ops_token(&config), &request, args.timeout).await?
    };
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(if outcome.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn through_ops_listener(
    base: &str,
    token: Option<String>,
    request: &SendRequest,
    timeout: Duration,
) -> anyhow::Result<SendOutcome> {
    let client = reqwest::Client::builder()
        .timeout(timeout + Duration::from_secs(5))
        .build()?;
    let url = format!("{}/ops/send", base.trim_end_matches('/'));
    let mut post = client.post(&url).json(request);
    if let Some(token) = token {
        post = post.bearer_auth(token);
    }
    let response = post
        .send()
        .await
        .with_context(|| format!("no `snodo up` answers at {base} (start one, or give --amqp)"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("{url} answered {status}: {text}");
    }
    response.json().await.context("reading the outcome")
}

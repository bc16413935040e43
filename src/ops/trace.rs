//! `snodo ops trace <id>` and `snodo ops erase <business id>`: the journal of a running `snodo up`
//! through its operations listener (`/ops/trace`, `/ops/journal/erase`).

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use snodo_connectors::config;
use snodo_connectors::journal::TraceRecord;
use snodo_connectors::ops::trace::Erased;

#[derive(clap::Args)]
pub struct TraceArgs {
    /// A message id, a correlation id, or a business id (codice fiscale, IUV or notice number,
    /// idOperazioneComune, booking code).
    id: String,
    /// Print JSON (with raw bodies, when the journal keeps them) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    listener: Listener,
}

#[derive(clap::Args)]
pub struct EraseArgs {
    /// The person's business id (codice fiscale, …): every journal record of their commands and those
    /// commands' dead letters are erased.
    business_id: String,
    /// Who erases, for the record (default $USER@hostname).
    #[arg(long)]
    by: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    listener: Listener,
}

#[derive(clap::Args)]
struct Listener {
    /// Operations listener of `snodo up` (default: the configured one).
    #[arg(long)]
    ops: Option<String>,
    /// Access token of the operations listener. Also SNODO_OPS_TOKEN.
    #[arg(long, env = "SNODO_OPS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Listener {
    fn request(
        &self,
        config: &config::Config,
        method: reqwest::Method,
        path: &str,
    ) -> (String, reqwest::RequestBuilder) {
        let base = self
            .ops
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.listeners.ops));
        let base = base.trim_end_matches('/').to_owned();
        let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
        if let Some(token) = self.token.clone().or_else(|| super::token_from_file(config)) {
            request = request.bearer_auth(token);
        }
        (base, request)
    }
}

fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn trace(file: Option<&Path>, args: TraceArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(file)?;
    let path = format!("/ops/trace/{}", path_segment(args.id.trim()));
    let (base, request) = args.listener.request(&config, reqwest::Method::GET, &path);
    let response = request
        .send()
        .await
        .with_context(|| format!("no `snodo up` answers at {base} (start one, or give --ops)"))?;
    let status = response.status();
    let text = response.text().await.context("reading the trace")?;
    if !status.is_success() {
        bail!("{base} answered {status}: {text}");
    }
    let records: Vec<TraceRecord> = serde_json::from_str(&text).context("reading the trace")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        print_table(&records);
    }
    Ok(if records.is_empty() {
        eprintln!("nothing in the journal for that id (never seen, erased, or past the retention)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(records: &[TraceRecord]) {
    println!(
        "{:<24}  {:<17}  {:<14}  {:<36}  {:<34}  {:<18}  {:>7}  detail",
        "time", "what", "by", "message_id", "type / operation", "outcome", "ms"
    );
    for r in records {
        let what = serde_json::to_value(r.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        // A call (to a platform, or from one) is named by its operation; the event it led to is its own row.
        let is_call = matches!(
            r.kind,
            snodo_connectors::journal::RecordKind::PlatformAttempt
                | snodo_connectors::journal::RecordKind::InboundCall
        );
        let subject = match (&r.operation, &r.message_type) {
            (Some(op), _) if is_call => op.clone(),
            (_, Some(t)) => t.clone(),
            (Some(op), None) => op.clone(),
            (None, None) => "-".into(),
        };
        let outcome = match (&r.outcome, &r.platform_code) {
            (Some(o), Some(c)) => format!("{o} {c}"),
            (Some(o), None) => o.clone(),
            (None, _) => "-".into(),
        };
        let mut detail = r.detail.clone().unwrap_or_default();
        if let Some(ms) = r.retry_in_ms {
            detail = format!("retry in {ms} ms {detail}");
        }
        if let Some(e) = &r.endpoint {
            detail = format!("{e} {detail}");
        }
        println!(
            "{:<24}  {:<17}  {:<14}  {:<36}  {:<34}  {:<18}  {:>7}  {}",
            r.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            what,
            r.source,
            r.message_id.as_deref().unwrap_or("-"),
            subject,
            outcome,
            r.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            detail.trim()
        );
    }
}

pub async fn erase(file: Option<&Path>, args: EraseArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(file)?;
    if !args.yes {
        eprint!(
            "Erase every journal record of this person's commands, and those commands' dead letters? \
             This cannot be undone. [y/N] "
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing erased");
            return Ok(ExitCode::FAILURE);
        }
    }
    let by = args.by.clone().unwrap_or_else(super::dlq::default_by);
    let (base, request) = args
        .listener
        .request(&config, reqwest::Method::POST, "/ops/journal/erase");
    let response = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::json!({"business_id": args.business_id, "by": by}).to_string())
        .send()
        .await
        .with_context(|| format!("no `snodo up` answers at {base} (start one, or give --ops)"))?;
    let status = response.status();
    let text = response.text().await.context("reading the answer")?;
    if !status.is_success() {
        bail!("{base} answered {status}: {text}");
    }
    let erased: Erased = serde_json::from_str(&text).context("reading the answer")?;
    println!(
        "erased {} journal records of {} commands and {} dead letters",
        erased.records, erased.commands, erased.dead_letters
    );
    Ok(ExitCode::SUCCESS)
}

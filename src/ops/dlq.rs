//! `snodo ops dlq list|show|replay|purge`: the dead letters of a running `snodo up`, through its
//! operations listener (`/ops/dlq`), which reads the journal's index and never the queues themselves.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;
use snodo_connectors::config;
use snodo_connectors::journal::{DeadLetter, DeadLetterFilter};

#[derive(clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
    /// Operations listener of `snodo up` (default: the configured one).
    #[arg(long, global = true)]
    ops: Option<String>,
    /// Access token of the operations listener. Also SNODO_OPS_TOKEN.
    #[arg(long, global = true, env = "SNODO_OPS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(clap::Args, Default)]
struct Filters {
    #[arg(long)]
    connector: Option<String>,
    /// Message type, e.g. anpr.resident.lookup.
    #[arg(long = "type")]
    kind: Option<String>,
    /// DESIGN §5 code (rejected, unavailable, …) or broker:<reason> for what the broker dead-lettered.
    #[arg(long)]
    error_code: Option<String>,
    #[arg(long)]
    message_id: Option<String>,
    /// Failed at or after this instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Failed before this instant (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Leave out what was replayed already.
    #[arg(long)]
    pending: bool,
}

impl Filters {
    fn filter(self) -> anyhow::Result<DeadLetterFilter> {
        let value = serde_json::json!({
            "connector": self.connector,
            "type": self.kind,
            "error_code": self.error_code,
            "message_id": self.message_id,
            "since": self.since,
            "until": self.until,
            "only_pending": self.pending,
        });
        serde_json::from_value(value)
            .context("--since and --until take RFC 3339 instants (2025-06-01T00:00:00Z)")
    }
}

#[derive(clap::Subcommand)]
enum DlqCommand {
    /// One line per dead letter, oldest first (error texts masked, no bodies).
    List {
        #[command(flatten)]
        filters: Filters,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one dead letter, its body and headers included, as JSON.
    Show { id: String },
    /// Publish dead letters back to their command queue (by id, or every pending one matching filters).
    Replay {
        ids: Vec<String>,
        #[command(flatten)]
        filters: Filters,
        /// Who replays, for the record; default: $USER@hostname.
        #[arg(long)]
        by: Option<String>,
    },
    /// Forget the dead letters matching the filters (all without filters).
    Purge {
        #[command(flatten)]
        filters: Filters,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.with_context(|| {
            format!(
                "no `snodo up` answers at {} (start one, or give --ops)",
                self.base
            )
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.context("reading the answer")?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    async fn list(&self, filter: &DeadLetterFilter) -> anyhow::Result<Vec<DeadLetter>> {
        let query = serde_urlencoded(filter);
        let (status, v) = self
            .call(reqwest::Method::GET, &format!("/ops/dlq{query}"), None)
            .await?;
        if status != 200 {
            bail!("listing dead letters: HTTP {status}: {}", error_text(&v));
        }
        serde_json::from_value(v).context("reading the dead-letter list")
    }
}

fn error_text(v: &Value) -> String {
    v.get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// The filter as a query string (only the fields that are set).
fn serde_urlencoded(filter: &DeadLetterFilter) -> String {
    let value = serde_json::to_value(filter).expect("a filter serializes");
    let mut pairs = Vec::new();
    for (k, v) in value.as_object().expect("a struct is an object") {
        let text = match v {
            Value::Null | Value::Bool(false) => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        pairs.push(format!("{k}={}", percent_encode(&text)));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) fn default_by() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

pub async fn run(file: Option<&Path>, args: DlqArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(file)?;
    let base = args
        .ops
        .unwrap_or_else(|| format!("http://{}", config.listeners.ops))
        .trim_end_matches('/')
        .to_owned();
    let client = Client {
        base,
        token: args.token.or_else(|| super::token_from_file(&config)),
        http: reqwest::Client::new(),
    };
    match args.command {
        DlqCommand::List { filters, json } => {
            let entries = client.list(&filters.filter()?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print_table(&entries);
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { id } => {
            let (status, v) = client
                .call(
                    reqwest::Method::GET,
                    &format!("/ops/dlq/{}", percent_encode(&id)),
                    None,
                )
                .await?;
            if status != 200 {
                bail!("{}", error_text(&v));
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay { ids, filters, by } => {
            let by = by.unwrap_or_else(default_by);
            let ids = if ids.is_empty() {
                let mut filter = filters.filter()?;
                filter.only_pending = true;
                client.list(&filter).await?.into_iter().map(|e| e.id).collect()
            } else {
                ids
            };
            let mut failed = false;
            for id in ids {
                let body = serde_json::json!({"by": by});
                let path = format!("/ops/dlq/{}/replay", percent_encode(&id));
                let (status, v) = client.call(reqwest::Method::POST, &path, Some(body)).await?;
                if status == 200 {
                    println!("{id}: replayed to {}", v["queue"].as_str().unwrap_or("?"));
                } else {
                    failed = true;
                    println!("{id}: NOT replayed: {}", error_text(&v));
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        DlqCommand::Purge { filters, yes } => {
            let filter = filters.filter()?;
            let n = client.list(&filter).await?.len();
            if n == 0 {
                println!("no dead letters match");
                return Ok(ExitCode::SUCCESS);
            }
            if !yes
                && !confirm(&format!(
                    "Forget {n} dead letter(s)? This cannot be undone. [y/N] "
                ))?
            {
                println!("nothing purged");
                return Ok(ExitCode::FAILURE);
            }
            let (status, v) = client
                .call(
                    reqwest::Method::POST,
                    "/ops/dlq/purge",
                    Some(serde_json::to_value(&filter)?),
                )
                .await?;
            if status != 200 {
                bail!("{}", error_text(&v));
            }
            println!("purged {}", v["purged"]);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn print_table(entries: &[DeadLetter]) {
    println!(
        "{:<36}  {:<20}  {:<10}  {:<28}  {:<22}  {:<36}  error",
        "id", "failed at", "connector", "type", "code", "message id"
    );
    for e in entries {
        let code = match &e.platform_code {
            Some(p) => format!("{} {p}", e.error_code),
            None => e.error_code.clone(),
        };
        let mut error = e.error.clone().unwrap_or_default();
        if let Some(r) = &e.replayed {
            error = format!(
                "[replayed by {} at {}] {error}",
                r.by,
                r.at.format("%Y-%m-%d %H:%M:%S")
            );
        }
        println!(
            "{:<36}  {:<20}  {:<10}  {:<28}  {:<22}  {:<36}  {error}",
            e.id,
            e.failed_at.format("%Y-%m-%d %H:%M:%S"),
            e.connector,
            e.kind.as_deref().unwrap_or("-"),
            code,
            e.message_id.as_deref().unwrap_or("-"),
        );
    }
}

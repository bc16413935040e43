//! `snodo bench all`: every benchmark in one go, with modest sizes, and one table of what they
//! measured. Each benchmark runs as its own `snodo bench <name>` child process, so that its peak
//! memory (getrusage `ru_maxrss`, reported by the child itself) is that benchmark's alone, a failing
//! benchmark does not stop the others, and each prints its own detailed figures as it always has
//! (to stderr here, keeping stdout for the table).

use std::fmt::Write as _;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;

use super::report::{REPORT_ENV, Report, Row, own_peak_kib};

#[derive(clap::Args)]
pub struct AllBenchArgs {
    /// Print the table as Markdown (for docs/benchmarks.md).
    #[arg(long)]
    markdown: bool,
    /// Run only these benchmarks (comma-separated names, as `snodo bench <name>` spells them).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The RabbitMQ every benchmark uses.
    #[arg(
        long,
        env = "SNODO_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp: String,
}

/// A benchmark and the arguments that keep it modest (about half a minute each on two cores).
struct Plan {
    name: &'static str,
    args: &'static [&'static str],
    /// Whether it takes `--amqp`.
    broker: bool,
}

const PLANS: &[Plan] = &[
    Plan {
        name: "transport",
        args: &["--commands", "10000", "--embedded-commands", "200000"],
        broker: true,
    },
    Plan {
        name: "xml",
        args: &["--seconds", "0.5", "--xmlsec1-runs", "20"],
        broker: false,
    },
    Plan {
        name: "pagopa",
        args: &["--payments", "1500"],
        broker: true,
    },
    Plan {
        name: "identity",
        args: &["--logins", "500"],
        broker: true,
    },
    Plan {
        name: "cie-booking",
        args: &["--searches", "1500", "--bookings", "1500"],
        broker: true,
    },
    Plan {
        name: "anpr",
        args: &["--lookups", "3000", "--window", "64"],
        broker: true,
    },
    Plan {
        name: "anpr-bulk",
        args: &["--residents", "100000"],
        broker: true,
    },
];

/// What one child run left behind.
struct Outcome {
    name: &'static str,
    elapsed: Duration,
    report: Result<Report, String>,
    exit_ok: bool,
}

pub async fn run(args: AllBenchArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("finding the snodo binary")?;
    // anpr-bulk joins the table once it exists.
    let available = |name: &str| super::Bench::has_subcommand(name);
    let plans: Vec<&Plan> = PLANS
        .iter()
        .filter(|p| available(p.name))
        .filter(|p| args.only.is_empty() || args.only.iter().any(|o| o == p.name))
        .collect();
    if let Some(unknown) = args
        .only
        .iter()
        .find(|o| !plans.iter().any(|p| p.name == o.as_str()))
    {
        anyhow::bail!("no benchmark named {unknown:?} (or not runnable by bench all)");
    }
    let dir = std::env::temp_dir().join(format!("snodo-bench-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut outcomes = Vec::new();
    for plan in plans {
        let report_path = dir.join(format!("{}.json", plan.name));
        let _ = std::fs::remove_file(&report_path);
        let mut command = tokio::process::Command::new(&exe);
        command.arg("bench").arg(plan.name).args(plan.args);
        if plan.broker {
            command.arg("--amqp").arg(&args.amqp);
        }
        eprintln!("\n=== snodo bench {} {}", plan.name, plan.args.join(" "));
        let started = Instant::now();
        let status = command
            .env(REPORT_ENV, &report_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit())
            .status()
            .await
            .with_context(|| format!("running snodo bench {}", plan.name))?;
        let report = std::fs::read(&report_path)
            .map_err(|e| format!("no figures ({e}); exit status {status}"))
            .and_then(|bytes| {
                serde_json::from_slice::<Report>(&bytes).map_err(|e| format!("unreadable figures: {e}"))
            });
        outcomes.push(Outcome {
            name: plan.name,
            elapsed: started.elapsed(),
            report,
            exit_ok: status.success(),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);

    let table = Table::from(&outcomes);
    println!();
    if args.markdown {
        print!("{}", table.markdown());
    } else {
        print!("{}", table.plain());
    }
    println!(
        "\npeak RSS: the benchmark's own process (connector, in-process simulator and load generator), \
         VmHWM; on the xmlsec1 rows, one xmlsec1 verification's ru_maxrss (GNU time's %M). snodo bench \
         all itself: {}.",
        kib(own_peak_kib())
    );
    let mut ok = true;
    for outcome in &outcomes {
        match &outcome.report {
            Ok(report) if report.ok && outcome.exit_ok => {}
            Ok(report) => {
                ok = false;
                println!(
                    "{} FAILED: {}",
                    outcome.name,
                    report
                        .first_failure
                        .as_deref()
                        .unwrap_or("its exit status says so")
                );
            }
            Err(e) => {
                ok = false;
                println!("{} FAILED: {e}", outcome.name);
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The one table: a line per measured series, benchmark by benchmark.
struct Table {
    lines: Vec<[String; 8]>,
}

const HEADER: [&str; 8] = [
    "benchmark",
    "what",
    "n",
    "per second",
    "p50",
    "p99",
    "ratio",
    "peak RSS",
];

impl Table {
    fn from(outcomes: &[Outcome]) -> Table {
        let mut lines = Vec::new();
        for outcome in outcomes {
            let report = match &outcome.report {
                Ok(report) => report,
                Err(e) => {
                    lines.push([
                        outcome.name.to_owned(),
                        format!("FAILED: {e}"),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]);
                    continue;
                }
            };
            let process_peak = report.memory.map(|m| kib(m.self_peak_kib)).unwrap_or_default();
            for (i, row) in report.rows.iter().enumerate() {
                let name = if i == 0 {
                    format!("{} ({:.0?})", outcome.name, outcome.elapsed)
                } else {
                    String::new()
                };
                let memory = match row.children_peak_kib {
                    Some(child) => format!("{} (xmlsec1)", kib(child)),
                    None if i == 0 => process_peak.clone(),
                    None => String::new(),
                };
                lines.push([
                    name,
                    row.subject.clone(),
                    count(row),
                    rate(row),
                    latency(row.p50_us, row.mean_only),
                    latency(row.p99_us, false),
                    ratio(row),
                    memory,
                ]);
            }
            if !report.ok {
                lines.push([
                    String::new(),
                    format!(
                        "FAILED: {}",
                        report.first_failure.as_deref().unwrap_or("see above")
                    ),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
        }
        Table { lines }
    }

    fn plain(&self) -> String {
        let mut widths = HEADER.map(|h| h.chars().count());
        for line in &self.lines {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut row = |cells: &[String]| {
            for (k, (cell, w)) in cells.iter().zip(widths).enumerate() {
                // Text left, figures right.
                let pad = w - cell.chars().count();
                if k < 2 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
                out.push_str("  ");
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        };
        row(&HEADER.map(String::from));
        for line in &self.lines {
            row(line);
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", HEADER.join(" | "));
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
        for line in &self.lines {
            let cells: Vec<String> = line.iter().map(|c| c.replace('|', "\\|")).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }
}

fn count(row: &Row) -> String {
    if row.count == 0 && row.failed == 0 {
        return String::new();
    }
    let mut s = thousands(row.count as f64);
    if row.failed > 0 {
        let _ = write!(s, " ({} failed)", thousands(row.failed as f64));
    }
    s
}

fn rate(row: &Row) -> String {
    match row.per_second {
        Some(rate) if rate.is_finite() => format!("{} {}/s", thousands(rate), row.unit),
        _ => String::new(),
    }
}

fn latency(micros: Option<f64>, mean_only: bool) -> String {
    let Some(us) = micros else {
        return String::new();
    };
    let text = if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 10_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 1_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.1} µs")
    };
    if mean_only { format!("{text} (mean)") } else { text }
}

fn ratio(row: &Row) -> String {
    match &row.ratio {
        Some((baseline, r)) if *r >= 10.0 => format!("{r:.0}× {baseline}"),
        Some((baseline, r)) => format!("{:.0}% of {baseline}", r * 100.0),
        None => String::new(),
    }
}

fn kib(k: u64) -> String {
    if k >= 1024 * 1024 {
        format!("{:.2} GiB", k as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.0} MiB", k as f64 / 1024.0)
    }
}

fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::from(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }

    #[test]
    fn ratios_read_as_percent_below_ten_and_as_times_above() {
        let mut row = Row {
            subject: String::new(),
            unit: "x".into(),
            count: 1,
            failed: 0,
            per_second: Some(1.0),
            p50_us: None,
            p99_us: None,
            mean_only: false,
            ratio: Some(("raw lapin".into(), 0.93)),
            children_peak_kib: None,
        };
        assert_eq!(ratio(&row), "93% of raw lapin");
        row.ratio = Some(("xmlsec1".into(), 362.4));
        assert_eq!(ratio(&row), "362× xmlsec1");
    }
}

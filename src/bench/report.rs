//! What a benchmark measured, as values rather than printed lines: every `snodo bench X` returns a
//! [`Report`], prints its own figures as before, and — when `snodo bench all` runs it as a child
//! process — also writes the report as JSON for the one table (`SNODO_BENCH_REPORT`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The environment variable naming the file a benchmark writes its [`Report`] to.
pub const REPORT_ENV: &str = "SNODO_BENCH_REPORT";

/// One benchmark's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The benchmark's name, as `snodo bench <name>` spells it.
    pub bench: String,
    pub rows: Vec<Row>,
    /// Every operation succeeded and every expected event arrived.
    pub ok: bool,
    /// The first failure, when not `ok`.
    pub first_failure: Option<String>,
    /// Peak resident memory, filled in when the report is written.
    #[serde(default)]
    pub memory: Option<Memory>,
}

impl Report {
    pub fn new(bench: &str) -> Report {
        Report {
            bench: bench.to_owned(),
            rows: Vec::new(),
            ok: true,
            first_failure: None,
            memory: None,
        }
    }

    /// Records a failure (the first one's text is kept).
    pub fn fail(&mut self, failure: impl Into<String>) {
        self.ok = false;
        self.first_failure.get_or_insert_with(|| failure.into());
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// One measured series: how many, how fast, how long each took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// What was measured ("signed 3002 lookups, command → event").
    pub subject: String,
    /// What is counted ("lookups", "verifications").
    pub unit: String,
    /// Operations that succeeded.
    pub count: u64,
    pub failed: u64,
    /// None where a rate would mislead (a step of a larger operation, counted at the operation's rate).
    pub per_second: Option<f64>,
    /// Median and 99th percentile latency in microseconds; a mean alone goes in `p50_us` with
    /// `mean_only` set (per-document XML figures are means of CPU time).
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    #[serde(default)]
    pub mean_only: bool,
    /// The throughput relative to a baseline measured in the same run: (baseline's name, ratio).
    pub ratio: Option<(String, f64)>,
    /// Peak resident memory of the child processes this series ran (the `xmlsec1` CLI), in KiB.
    #[serde(default)]
    pub children_peak_kib: Option<u64>,
}

impl Row {
    /// A series of `count` successes (and `failed` failures) over `elapsed`, latency in µs in `latency`.
    pub fn timed(
        subject: impl Into<String>,
        unit: &str,
        count: u64,
        failed: u64,
        elapsed: Duration,
        latency: &Histogram<u64>,
    ) -> Row {
        Row {
            subject: subject.into(),
            unit: unit.to_owned(),
            count,
            failed,
            per_second: Some(count as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)),
            p50_us: Some(latency.value_at_quantile(0.5) as f64),
            p99_us: Some(latency.value_at_quantile(0.99) as f64),
            mean_only: false,
            ratio: None,
            children_peak_kib: None,
        }
    }

    pub fn with_ratio(mut self, baseline: &str, ratio: f64) -> Row {
        self.ratio = Some((baseline.to_owned(), ratio));
        self
    }
}

/// Peak resident set size of the benchmark's process, in KiB.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Memory {
    /// The benchmark's own process: connector, in-process simulator and load generator.
    pub self_peak_kib: u64,
}

impl Memory {
    pub fn now() -> Memory {
        Memory {
            self_peak_kib: own_peak_kib(),
        }
    }
}

/// This process's peak resident set size in KiB. Linux's `ru_maxrss` also counts the memory the
/// process had before its `execve` — for a child spawned by `snodo bench all`, the parent's, as
/// the child is spawned with the parent's address space — so `VmHWM`, which is this image's
/// alone, is preferred where `/proc` has it.
pub fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or_else(|| max_rss_kib(libc::RUSAGE_SELF))
}

/// `ru_maxrss` for `who`; Linux reports it in KiB.
pub fn max_rss_kib(who: libc::c_int) -> u64 {
    // SAFETY: getrusage only writes the struct it is given, which is plain data and zeroed first.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    if rc == 0 { usage.ru_maxrss.max(0) as u64 } else { 0 }
}

/// Ends `snodo bench X`: writes the report for `snodo bench all` when asked to, and turns it into
/// the exit code (failure when an operation failed, as each benchmark always did).
pub fn finish(mut report: Report) -> anyhow::Result<ExitCode> {
    report.memory = Some(Memory::now());
    if let Some(path) = std::env::var_os(REPORT_ENV) {
        let json = serde_json::to_vec_pretty(&report).context("encoding the report")?;
        std::fs::write(&path, json)
            .with_context(|| format!("writing the report to {}", path.to_string_lossy()))?;
    }
    Ok(report.exit_code())
}

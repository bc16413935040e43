//! Running a suite: the cases `--case` selected (all by default), one after the other, each timed;
//! a suite whose set-up fails still produces a report, every selected case an error with the set-up's
//! reason, so a CI pipeline always gets its JUnit file and a non-zero exit.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;

use crate::case::CaseInfo;
use crate::cli::CommonArgs;
use crate::outcome::Outcome;
use crate::report::{CaseResult, Report, ReportError, summary};

/// A set-up step failed: the target could not be reached or read, or the suite's own parts could
/// not start. The message says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SuiteError(pub String);

impl SuiteError {
    pub fn new(message: impl Into<String>) -> SuiteError {
        SuiteError(message.into())
    }
}

/// One certification suite. Implementations live in their own module (`spid_sp`, …) and are driven
/// by [`execute`]; the catalogue is an associated function so that `--list` needs no target.
#[async_trait(?Send)]
pub trait Suite {
    /// The subcommand's name (`spid-sp`), also the report files' stem.
    const NAME: &'static str;

    /// Every case, in run order.
    fn catalogue() -> Vec<CaseInfo>;

    /// What is judged, in words, for the reports.
    fn target(&self) -> String;

    /// Runs once before the cases (fetching the target's metadata, starting helpers).
    async fn prepare(&mut self) -> Result<(), SuiteError>;

    /// Judges one case of [`Suite::catalogue`]. Never panics on the target's behaviour: anything the
    /// target does is a pass or a failure, anything that prevents judging it an error.
    async fn run_case(&mut self, case: &CaseInfo) -> Outcome;
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `--list`: nothing was run.
    Listed,
    /// Every selected case passed.
    Passed,
    /// At least one case failed or could not be judged.
    Failed,
}

/// The command line was wrong, or the reports could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    #[error("unknown case {unknown:?} for {suite}; its cases are: {known}")]
    UnknownCase {
        suite: &'static str,
        unknown: String,
        known: String,
    },
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot write to the terminal: {0}")]
    Output(#[from] std::io::Error),
}

/// The cases `wanted` names, in catalogue order, or every case when `wanted` is empty.
pub fn select(
    suite: &'static str,
    catalogue: Vec<CaseInfo>,
    wanted: &[String],
) -> Result<Vec<CaseInfo>, CertifyError> {
    if let Some(unknown) = wanted
        .iter()
        .find(|w| !catalogue.iter().any(|c| c.id == w.as_str()))
    {
        return Err(CertifyError::UnknownCase {
            suite,
            unknown: unknown.clone(),
            known: catalogue
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if wanted.is_empty() {
        return Ok(catalogue);
    }
    Ok(catalogue
        .into_iter()
        .filter(|c| wanted.iter().any(|w| c.id == w.as_str()))
        .collect())
}

/// Prepares the suite and runs `cases`; never fails: what goes wrong is in the report.
pub async fn run<S: Suite>(suite: &mut S, cases: Vec<CaseInfo>) -> Report {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let mut results = Vec::with_capacity(cases.len());
    match suite.prepare().await {
        Ok(()) => {
            for case in cases {
                let started = Instant::now();
                let outcome = suite.run_case(&case).await;
                results.push(CaseResult {
                    case,
                    outcome,
                    duration: started.elapsed(),
                });
            }
        }
        Err(e) => {
            let reason = format!("set-up failed, the case was not run: {e}");
            results.extend(cases.into_iter().map(|case| CaseResult {
                case,
                outcome: Outcome::error(reason.clone()),
                duration: std::time::Duration::ZERO,
            }));
        }
    }
    Report {
        suite: S::NAME.to_owned(),
        target: suite.target(),
        started_at,
        duration: clock.elapsed(),
        cases: results,
    }
}

/// `snodo certify <suite>`: `--list` prints the catalogue; otherwise `build` makes the suite from the
/// subcommand's target options (only called when cases are to run), the selected cases run, the
/// summary goes to `out` and, with `--report DIR`, the JSON and JUnit files are written.
pub async fn execute<S: Suite>(
    common: &CommonArgs,
    build: impl FnOnce() -> Result<S, SuiteError>,
    out: &mut dyn Write,
) -> Result<Verdict, CertifyError> {
    let catalogue = S::catalogue();
    if common.list {
        let width = catalogue.iter().map(|c| c.id.as_str().len()).max().unwrap_or(0);
        for case in &catalogue {
            writeln!(out, "{:width$}  {}", case.id.as_str(), case.description)?;
        }
        return Ok(Verdict::Listed);
    }
    let cases = select(S::NAME, catalogue, &common.cases)?;
    let report = match build() {
        Ok(mut suite) => run(&mut suite, cases).await,
        Err(e) => {
            let reason = format!("the suite could not be built, the case was not run: {e}");
            Report {
                suite: S::NAME.to_owned(),
                target: String::from("(not built)"),
                started_at: chrono::Utc::now(),
                duration: std::time::Duration::ZERO,
                cases: cases
                    .into_iter()
                    .map(|case| CaseResult {
                        case,
                        outcome: Outcome::error(reason.clone()),
                        duration: std::time::Duration::ZERO,
                    })
                    .collect(),
            }
        }
    };
    out.write_all(summary::render(&report).as_bytes())?;
    if let Some(dir) = &common.report {
        let written: Vec<PathBuf> = report.write_to(dir)?;
        for path in written {
            writeln!(out, "report written: {}", path.display())?;
        }
    }
    Ok(if report.is_success() {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

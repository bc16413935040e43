//! A suite run's report and its three renderings: the human summary ([`summary`]), JSON ([`json`])
//! and JUnit XML ([`junit`]), the latter two written by `--report DIR` as `<suite>.json` and
//! `<suite>.junit.xml`.

pub mod json;
pub mod junit;
pub mod summary;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::case::CaseInfo;
use crate::outcome::Outcome;

/// One judged case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    #[serde(flatten)]
    pub case: CaseInfo,
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
}

/// Everything one run of a suite found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The suite's name (`spid-sp`).
    pub suite: String,
    /// What was judged, in words (`SP metadata https://…, login https://…, profile spid-sp-public`).
    pub target: String,
    pub started_at: DateTime<Utc>,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    pub cases: Vec<CaseResult>,
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
}

impl Report {
    pub fn totals(&self) -> Totals {
        let count = |label: &str| self.cases.iter().filter(|c| c.outcome.label() == label).count();
        Totals {
            total: self.cases.len(),
            passed: count("pass"),
            failed: count("fail"),
            errors: count("error"),
        }
    }

    /// True when every case passed (and there was at least one).
    pub fn is_success(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(|c| c.outcome.is_pass())
    }

    /// The ids of the cases that did not pass, in run order.
    pub fn not_passed(&self) -> Vec<&str> {
        self.cases
            .iter()
            .filter(|c| !c.outcome.is_pass())
            .map(|c| c.case.id.as_str())
            .collect()
    }

    /// Writes `<suite>.json` and `<suite>.junit.xml` into `dir` (created if missing); returns the paths.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let mut written = Vec::new();
        for (extension, body) in [("json", json::render(self)), ("junit.xml", junit::render(self))] {
            let path = dir.join(format!("{}.{extension}", self.suite));
            std::fs::write(&path, body).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

//! The case catalogue's vocabulary: every case has a stable id (what `--case` takes and what a CI
//! report names), a one-line description, and the rule it checks with where that rule is written, so
//! that a failure can be argued with the platform's own text rather than with Snodo's opinion.

use std::fmt;

use serde::Serialize;

/// A case's stable identifier within its suite (`59`, `xsw-nested`, `metadata-signature`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CaseId(String);

impl CaseId {
    pub fn new(id: impl Into<String>) -> CaseId {
        CaseId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for CaseId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CaseId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// One case of a suite's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseInfo {
    pub id: CaseId,
    /// One line: what is done to the implementation.
    pub description: String,
    /// What a conforming implementation does (`the ACS refuses it: non-2xx`).
    pub rule: String,
    /// Where the rule is written (`spid-sp-test case 59; SPID technical rules, Response`).
    pub source: String,
}

impl CaseInfo {
    pub fn new(
        id: impl Into<String>,
        description: impl Into<String>,
        rule: impl Into<String>,
        source: impl Into<String>,
    ) -> CaseInfo {
        CaseInfo {
            id: CaseId::new(id),
            description: description.into(),
            rule: rule.into(),
            source: source.into(),
        }
    }
}

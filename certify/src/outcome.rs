//! What became of one case. A failure is the implementation's fault and says precisely what it did
//! wrong; an error is the run's (the target unreachable, a set-up step refused) and says what stopped
//! the case from being judged. Both make the run fail: a case that could not be judged is not passed.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The implementation behaved as the rule requires; `observed` is what it did (`refused: HTTP 403`).
    Pass { observed: String },
    /// The implementation broke the rule; `reason` says how, precisely.
    Fail { reason: String },
    /// The case could not be judged.
    Error { reason: String },
}

impl Outcome {
    pub fn pass(observed: impl Into<String>) -> Outcome {
        Outcome::Pass {
            observed: observed.into(),
        }
    }

    pub fn fail(reason: impl Into<String>) -> Outcome {
        Outcome::Fail {
            reason: reason.into(),
        }
    }

    pub fn error(reason: impl Into<String>) -> Outcome {
        Outcome::Error {
            reason: reason.into(),
        }
    }

    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Pass { .. })
    }

    /// `pass`, `fail` or `error`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass { .. } => "pass",
            Outcome::Fail { .. } => "fail",
            Outcome::Error { .. } => "error",
        }
    }

    /// What was observed (pass) or what went wrong (fail, error).
    pub fn text(&self) -> &str {
        match self {
            Outcome::Pass { observed } => observed,
            Outcome::Fail { reason } | Outcome::Error { reason } => reason,
        }
    }
}

//! `snodo certify`: certification suites that judge an implementation — a vendor's, an integrator's or
//! Snodo's own — against what the national platforms accept, and report it so that a person and a CI
//! pipeline both understand (issue 11).
//!
//! The framework is platform-neutral: a catalogue of cases ([`case`]), their outcomes ([`outcome`]),
//! the runner that honours `--list`, `--case` and `--report` ([`runner`], [`cli`]) and the report
//! writers ([`report`]: human summary, JSON, JUnit XML). Each platform is one module implementing
//! [`runner::Suite`]; `certify/README.md` says how to add one.

pub mod case;
pub mod cli;
pub mod outcome;
pub mod report;
pub mod runner;

// One line per suite (see certify/README.md, "Adding a suite").
pub mod anpr_client;
pub mod pagopa_ec;
pub mod spid_sp;

pub use case::{CaseId, CaseInfo};
pub use cli::CommonArgs;
pub use outcome::Outcome;
pub use report::{CaseResult, Report};
pub use runner::{CertifyError, Suite, SuiteError, Verdict, execute};

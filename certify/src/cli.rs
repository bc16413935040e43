//! The options every suite shares. Each `snodo certify <suite>` subcommand flattens [`CommonArgs`]
//! beside its own target options; a target option required for a run should be declared
//! `required_unless_present = "list"` so that `--list` works without a target.

use std::path::PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// List the suite's cases (id and one-line description) and exit.
    #[arg(long)]
    pub list: bool,
    /// Run only this case (repeatable); by default every case.
    #[arg(long = "case", value_name = "ID")]
    pub cases: Vec<String>,
    /// Write <suite>.json and <suite>.junit.xml (JUnit XML for CI) into this directory.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

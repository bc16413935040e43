//! The JSON report: the whole [`Report`] with its totals, one object per case with the outcome
//! (`pass`, `fail`, `error`) beside the id, description, rule and source, for tools that post-process
//! a run (dashboards, diffing two runs).

use serde::Serialize;

use super::{Report, Totals};

#[derive(Serialize)]
struct Document<'r> {
    #[serde(flatten)]
    report: &'r Report,
    totals: Totals,
    success: bool,
}

/// The report as pretty-printed JSON, ending with a newline.
pub fn render(report: &Report) -> String {
    let document = Document {
        report,
        totals: report.totals(),
        success: report.is_success(),
    };
    let mut text =
        serde_json::to_string_pretty(&document).expect("a report serializes: strings and numbers only");
    text.push('\n');
    text
}

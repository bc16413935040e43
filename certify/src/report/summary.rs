//! The human summary printed at the end of a run: one line per case (failures and errors with their
//! reason indented below), then the totals and the ids to re-run with `--case`.

use std::fmt::Write;

use super::Report;

/// The summary as text, ending with a newline.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "snodo certify {} — {}", report.suite, report.target);
    let width = report
        .cases
        .iter()
        .map(|c| c.case.id.as_str().len())
        .max()
        .unwrap_or(0);
    for result in &report.cases {
        let mark = match result.outcome.label() {
            "pass" => "PASS ",
            "fail" => "FAIL ",
            _ => "ERROR",
        };
        let _ = writeln!(
            out,
            "{mark} {:width$}  {}",
            result.case.id.as_str(),
            result.case.description
        );
        if !result.outcome.is_pass() {
            let _ = writeln!(out, "      {}", result.outcome.text());
        }
        // The rule a failure broke; an error broke none, it only kept the case from being judged.
        if result.outcome.label() == "fail" {
            let _ = writeln!(out, "      rule: {} ({})", result.case.rule, result.case.source);
        }
    }
    let totals = report.totals();
    let _ = writeln!(
        out,
        "{}: {} cases — {} passed, {} failed, {} errors ({:.1} s)",
        report.suite,
        totals.total,
        totals.passed,
        totals.failed,
        totals.errors,
        report.duration.as_secs_f64()
    );
    let not_passed = report.not_passed();
    if !not_passed.is_empty() {
        let again: Vec<String> = not_passed.iter().map(|id| format!("--case {id}")).collect();
        let _ = writeln!(out, "to re-run what did not pass: {}", again.join(" "));
    }
    out
}

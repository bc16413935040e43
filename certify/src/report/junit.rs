//! The JUnit XML report, in the Ant dialect every CI parser reads (GitLab, Jenkins, GitHub actions'
//! reporters, Azure): `testsuites` › one `testsuite` › one `testcase` per case, a failed case with a
//! `failure` element, a case that could not be judged with an `error` element, both carrying the
//! reason as `message` and, in the text, the reason, the rule and its source.
//!
//! It is written to satisfy the strictest common reading of that format (the Ant schema: `testsuite`
//! with `name`, `timestamp` without a zone, `hostname`, `tests`, `failures`, `errors`, `time`, `id`,
//! `package`, then `properties`, the test cases, `system-out` and `system-err`), so a parser that wants
//! less also accepts it. Text is escaped, and characters XML 1.0 cannot carry are replaced.

use std::fmt::Write;

use super::Report;
use crate::outcome::Outcome;

/// The report as a JUnit XML document.
pub fn render(report: &Report) -> String {
    let totals = report.totals();
    let seconds = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64());
    let timestamp = report.started_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let class = format!("snodo.certify.{}", report.suite);
    let mut out = String::with_capacity(512 + report.cases.len() * 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        escape(&format!("snodo certify {}", report.suite)),
        totals.total,
        totals.failed,
        totals.errors,
        seconds(report.duration)
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" package=\"snodo.certify\" id=\"0\" timestamp=\"{timestamp}\" hostname=\"localhost\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\">",
        escape(&report.suite),
        totals.total,
        totals.failed,
        totals.errors,
        seconds(report.duration)
    );
    let _ = writeln!(
        out,
        "    <properties>\n      <property name=\"target\" value=\"{}\"/>\n    </properties>",
        escape(&report.target)
    );
    for result in &report.cases {
        let name = format!("{}: {}", result.case.id, result.case.description);
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            escape(&name),
            escape(&class),
            seconds(result.duration)
        );
        let (element, kind) = match &result.outcome {
            Outcome::Pass { .. } => {
                out.push_str("/>\n");
                continue;
            }
            Outcome::Fail { .. } => ("failure", "rule-violated"),
            Outcome::Error { .. } => ("error", "not-judged"),
        };
        let reason = result.outcome.text();
        let _ = writeln!(
            out,
            ">\n      <{element} message=\"{}\" type=\"{kind}\">{}&#10;rule: {}&#10;source: {}</{element}>\n    </testcase>",
            escape(reason),
            escape(reason),
            escape(&result.case.rule),
            escape(&result.case.source)
        );
    }
    out.push_str("    <system-out/>\n    <system-err/>\n  </testsuite>\n</testsuites>\n");
    out
}

/// Escapes for text and attribute values; characters outside XML 1.0's `Char` production (most C0
/// controls, lone surrogates cannot occur in a `str`, U+FFFE/U+FFFF) become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_replaces_what_xml_cannot_carry() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\u{FFFF}"), "x\u{FFFD}y\u{FFFD}");
        assert_eq!(escape("l1\nl2"), "l1&#10;l2");
    }
}

//! The report writers and the runner, on a small fake suite: the JUnit file is judged by `xmllint`
//! against the Ant JUnit schema (tests/junit-ant.xsd) and read back for its counts; the JSON report
//! is parsed back; `--case` selects, an unknown case is refused, `--list` runs nothing, a failed
//! set-up turns every case into an error.

use std::process::Command;

use async_trait::async_trait;
use snodo_certify::report::{json, junit, summary};
use snodo_certify::{CaseInfo, CommonArgs, Outcome, Suite, SuiteError, Verdict, execute};

/// Cases `ok`, `bad` (fails with markup in its reason), `broken` (cannot be judged).
struct Fake {
    set_up_fails: bool,
    ran: Vec<String>,
}

#[async_trait(?Send)]
impl Suite for Fake {
    const NAME: &'static str = "fake";

    fn catalogue() -> Vec<CaseInfo> {
        vec![
            CaseInfo::new("ok", "a case that passes", "answers 200", "the fake rules §1"),
            CaseInfo::new(
                "bad",
                "a case that fails",
                "refuses <Assertion> & co",
                "the fake rules §2",
            ),
            CaseInfo::new(
                "broken",
                "a case not judged",
                "answers at all",
                "the fake rules §3",
            ),
        ]
    }

    fn target(&self) -> String {
        "the \"fake\" target <https://example.invalid>".into()
    }

    async fn prepare(&mut self) -> Result<(), SuiteError> {
        if self.set_up_fails {
            return Err(SuiteError::new("the target's metadata answered HTTP 500"));
        }
        Ok(())
    }

    async fn run_case(&mut self, case: &CaseInfo) -> Outcome {
        self.ran.push(case.id.to_string());
        match case.id.as_str() {
            "ok" => Outcome::pass("HTTP 200"),
            "bad" => Outcome::fail("accepted <saml:Assertion> with \"quotes\" & a \u{1} control: HTTP 200"),
            _ => Outcome::error("connection refused"),
        }
    }
}

fn args(cases: &[&str], report: Option<&std::path::Path>) -> CommonArgs {
    CommonArgs {
        list: false,
        cases: cases.iter().map(|c| c.to_string()).collect(),
        report: report.map(ToOwned::to_owned),
    }
}

async fn run_fake(common: &CommonArgs, set_up_fails: bool) -> (Verdict, String) {
    let mut out = Vec::new();
    let verdict = execute(
        common,
        || {
            Ok(Fake {
                set_up_fails,
                ran: Vec::new(),
            })
        },
        &mut out,
    )
    .await
    .expect("runs");
    (verdict, String::from_utf8(out).expect("utf-8"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("snodo-certify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn reports_are_written_valid_and_say_what_failed() {
    let dir = temp_dir("reports");
    let (verdict, summary_text) = run_fake(&args(&[], Some(&dir)), false).await;
    assert_eq!(verdict, Verdict::Failed);
    assert!(summary_text.contains("PASS  ok"), "{summary_text}");
    assert!(summary_text.contains("FAIL  bad"), "{summary_text}");
    assert!(summary_text.contains("ERROR broken"), "{summary_text}");
    assert!(
        summary_text.contains("3 cases — 1 passed, 1 failed, 1 errors"),
        "{summary_text}"
    );
    assert!(
        summary_text.contains("--case bad --case broken"),
        "{summary_text}"
    );

    let junit_path = dir.join("fake.junit.xml");
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/junit-ant.xsd");
    let judged = Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(&junit_path)
        .output()
        .expect("xmllint runs (Debian: libxml2-utils; scripts/test installs it)");
    assert!(
        judged.status.success(),
        "xmllint refused the JUnit report: {}",
        String::from_utf8_lossy(&judged.stderr)
    );
    let junit_text = std::fs::read_to_string(&junit_path).expect("junit written");
    assert!(
        junit_text.contains(r#"tests="3" failures="1" errors="1""#),
        "{junit_text}"
    );
    assert!(junit_text.contains(r#"<testcase name="ok: a case that passes" classname="snodo.certify.fake""#));
    assert!(junit_text.contains(r#"<failure message="accepted &lt;saml:Assertion&gt; with &quot;quotes&quot; &amp; a � control: HTTP 200" type="rule-violated">"#), "{junit_text}");
    assert!(junit_text.contains(r#"<error message="connection refused" type="not-judged">"#));

    let json_text = std::fs::read_to_string(dir.join("fake.json")).expect("json written");
    let json: serde_json::Value = serde_json::from_str(&json_text).expect("json parses");
    assert_eq!(json["suite"], "fake");
    assert_eq!(json["success"], false);
    assert_eq!(json["totals"]["total"], 3);
    assert_eq!(json["totals"]["passed"], 1);
    let cases = json["cases"].as_array().expect("cases");
    let outcomes: Vec<(&str, &str)> = cases
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, [("ok", "pass"), ("bad", "fail"), ("broken", "error")]);
    assert_eq!(cases[0]["observed"], "HTTP 200");
    assert_eq!(cases[1]["rule"], "refuses <Assertion> & co");
    assert_eq!(cases[1]["source"], "the fake rules §2");
    assert!(
        cases[2]["reason"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test]
async fn case_selects_list_runs_nothing_and_unknown_ids_are_refused() {
    let (verdict, text) = run_fake(&args(&["ok"], None), false).await;
    assert_eq!(verdict, Verdict::Passed, "{text}");
    assert!(!text.contains("bad"), "{text}");

    let mut out = Vec::new();
    let listed = execute(
        &CommonArgs {
            list: true,
            ..CommonArgs::default()
        },
        || -> Result<Fake, SuiteError> { panic!("--list must not build the suite") },
        &mut out,
    )
    .await
    .expect("lists");
    assert_eq!(listed, Verdict::Listed);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "ok      a case that passes\nbad     a case that fails\nbroken  a case not judged\n"
    );

    let mut out = Vec::new();
    let refused = execute(
        &args(&["ok", "nope"], None),
        || -> Result<Fake, SuiteError> { panic!("an unknown case must not build the suite") },
        &mut out,
    )
    .await
    .expect_err("unknown case");
    assert_eq!(
        refused.to_string(),
        "unknown case \"nope\" for fake; its cases are: ok, bad, broken"
    );
}

#[tokio::test]
async fn a_failed_set_up_makes_every_selected_case_an_error() {
    let dir = temp_dir("setup");
    let (verdict, text) = run_fake(&args(&["ok", "bad"], Some(&dir)), true).await;
    assert_eq!(verdict, Verdict::Failed);
    assert!(text.contains("2 cases — 0 passed, 0 failed, 2 errors"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fake.json")).unwrap()).unwrap();
    for case in json["cases"].as_array().unwrap() {
        assert_eq!(case["outcome"], "error");
        assert_eq!(
            case["reason"],
            "set-up failed, the case was not run: the target's metadata answered HTTP 500"
        );
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn renderers_agree_on_an_empty_run_being_no_success() {
    let report = snodo_certify::Report {
        suite: "fake".into(),
        target: "nothing".into(),
        started_at: chrono::Utc::now(),
        duration: std::time::Duration::ZERO,
        cases: Vec::new(),
    };
    assert!(!report.is_success(), "a run of no case proves nothing");
    assert!(json::render(&report).contains("\"success\": false"));
    assert!(junit::render(&report).contains(r#"tests="0" failures="0" errors="0""#));
    assert!(summary::render(&report).contains("0 cases"));
}

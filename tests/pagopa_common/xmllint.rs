//! `xmllint`, an independent judge, over every answer Snodo's EC endpoint produced in a test.
//!
//! The node simulator judges the answers with its own in-process libxml2, and its exchange recorder
//! keeps only the calls the simulator *received* (PSP, ACA, FdR), not the ones it made to the EC. So
//! the end-to-end world taps Snodo's inbound router itself ([`AnswerTap`]): each answer is kept as
//! it left Snodo, whoever asked (the node, its broadcast, a test calling directly), and judged here
//! against the official `paForNode.xsd` by the `xmllint` command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use parking_lot::Mutex;

use super::Answer;

/// EC answers are a few kilobytes; anything near this is a bug worth failing on.
const ANSWER_LIMIT: usize = 1 << 20;

/// Every answer the tapped router sent, in order.
#[derive(Clone, Default)]
pub struct AnswerTap {
    answers: Arc<Mutex<Vec<Answer>>>,
}

impl AnswerTap {
    /// `router` with every answer recorded on its way out.
    pub fn tap(&self, router: axum::Router) -> axum::Router {
        router.layer(middleware::from_fn_with_state(self.clone(), record))
    }

    pub fn answers(&self) -> Vec<Answer> {
        self.answers.lock().clone()
    }

    /// Judges every paForNode answer (HTTP 200) recorded so far with `xmllint` and insists there
    /// was at least one; returns how many were judged. The others carry no paForNode payload by
    /// protocol: a 403 refused before the request was read, a SOAP `Client` fault (HTTP 500) for a
    /// payload that is no paForNode operation.
    pub fn judge_every_answer(&self) -> usize {
        let answers: Vec<Answer> = self.answers().into_iter().filter(|a| a.status == 200).collect();
        assert!(
            !answers.is_empty(),
            "no paForNode answer from Snodo was recorded: the xmllint check would judge nothing"
        );
        let payloads: Vec<String> = answers.iter().map(Answer::payload).collect();
        judge_payloads(&payloads);
        eprintln!(
            "xmllint judged {} answers of Snodo's EC endpoint against paForNode.xsd",
            payloads.len()
        );
        payloads.len()
    }
}

async fn record(State(tap): State<AnswerTap>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, ANSWER_LIMIT)
        .await
        .expect("an EC answer Snodo can finish writing");
    tap.answers.lock().push(Answer {
        status: parts.status.as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    Response::from_parts(parts, Body::from(bytes))
}

pub fn pagopa_specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/pagopa")
}

/// Runs `xmllint --noout --schema paForNode.xsd` on each payload (one file each) and fails naming
/// the files `xmllint` refused, kept on disk, with its message.
pub fn judge_payloads(payloads: &[String]) {
    let dir = std::env::temp_dir().join(format!("snodo-pagopa-xmllint-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = payloads
        .iter()
        .enumerate()
        .map(|(i, payload)| {
            let path = dir.join(format!("answer-{i}.xml"));
            std::fs::write(&path, payload).unwrap();
            path
        })
        .collect();
    let output = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(pagopa_specs().join("wsdl/xsd/paForNode.xsd"))
        .args(&files)
        .output()
        .expect("xmllint is installed (scripts/test installs libxml2-utils)");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let validated = files
        .iter()
        .filter(|f| stderr.contains(&format!("{} validates", f.display())))
        .count();
    if output.status.success() && validated == files.len() {
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    let refused: Vec<String> = files
        .iter()
        .filter(|f| !stderr.contains(&format!("{} validates", f.display())))
        .map(|f| f.display().to_string())
        .collect();
    panic!(
        "xmllint refused {} of {} answers ({}):\n{stderr}",
        refused.len(),
        files.len(),
        refused.join(", ")
    );
}

#[cfg(test)]
mod judge_tests {
    use super::*;

    const VALID: &str = r#"<pafn:paVerifyPaymentNoticeRes xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><outcome>KO</outcome><fault><faultCode>PAA_SYSTEM_ERROR</faultCode><faultString>x</faultString><id>01199250158</id></fault></pafn:paVerifyPaymentNoticeRes>"#;

    #[test]
    fn xmllint_passes_a_valid_answer_and_names_the_file_of_an_invalid_one() {
        judge_payloads(&[VALID.to_owned()]);
        let invalid = VALID.replace("<outcome>KO</outcome>", "<outcome>MAYBE</outcome>");
        let refusal = std::panic::catch_unwind(|| judge_payloads(&[VALID.to_owned(), invalid]))
            .expect_err("an outcome outside the XSD's enumeration is refused");
        let message = refusal.downcast_ref::<String>().unwrap();
        assert!(message.contains("refused 1 of 2"), "{message}");
        assert!(message.contains("answer-1.xml"), "{message}");
        assert!(message.contains("outcome"), "{message}");
        let kept = message.split(['(', ')']).nth(1).unwrap();
        std::fs::remove_dir_all(Path::new(kept).parent().unwrap()).unwrap();
    }
}

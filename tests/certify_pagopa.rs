//! `snodo certify pagopa-ec` against Snodo's own EC endpoint (`snodo up` on the embedded transport,
//! its demo backend's three notices and its canteen top-up catalogue service) — every case passes —
//! and against a test-only EC station, first correct (every case passes: the control) and then with
//! one planted defect at a time, where the suite must fail exactly the cases that defect touches and
//! no other.
//!
//! The demand cases (paDemandPaymentNotice) are also run on Snodo's endpoint in the pagoPA end-to-end
//! world (`pagopa_common::world`: the connector as `snodo up` builds it on RabbitMQ, a backend
//! answering `pagopa.notice.demand`), where `xmllint` also judges every answer it sent against
//! `paForNode.xsd`.

mod pagopa_common;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use snodo_certify::pagopa_ec::{PagopaEc, PagopaEcArgs};
use snodo_certify::runner::{run, select};
use snodo_certify::{Report, Suite};
use snodo_mappings::pagopa::contract::PaymentPosition;
use snodo_mappings::pagopa::{
    FaultBean, PaFaultCode, PaRequest, Station, answer_position, ko, read_request, receipt_ok,
};
use snodo_mappings::soap::{SOAP11_CONTENT_TYPE, read_envelope};
use snodo_security::xml::Limits;
use snodo_simulators::backend::pagopa::{
    CANTEEN_CARDS, CANTEEN_TOP_UP_EXAMPLE, CANTEEN_TOP_UP_SERVICE, EC_FISCAL_CODE, FINE_NOTICE,
    SCHOOL_FEE_NOTICE, TARI_NOTICE, seeded,
};
use snodo_simulators::pagopa::settings::DEMO_STATION;
use support::SnodoUp;
use tokio::net::TcpListener;

const NOTICES: [&str; 3] = [TARI_NOTICE, FINE_NOTICE, SCHOOL_FEE_NOTICE];

/// The catalogue service the demand cases ask about, a subject the test ECs know, and its data.
const DEMAND_SERVICE: &str = "00001";
const DEMAND_SUBJECT: &str = "00042";
const DEMAND_DATA: &str =
    "<richiesta xmlns=\"urn:comune:milano:ztl\"><targa>AB123CD</targa><giorni>1</giorni></richiesta>";
/// The notice a demand creates (segregation code 01, IUV base 2025000000999).
fn demanded_notice() -> String {
    snodo_mappings::pagopa::NoticeNumber::aux3(1, 2_025_000_000_999)
        .unwrap()
        .to_string()
}

const DEMAND_CASES: [&str; 3] = ["demand", "demand-unknown-subject", "demand-bad-service-data"];

/// `--demand-service … --demand-subject … --demand-data <a file holding DEMAND_DATA>`.
fn demand_options() -> Vec<String> {
    let file = std::env::temp_dir().join(format!(
        "snodo-certify-demand-{}.xml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, DEMAND_DATA).unwrap();
    [
        "--demand-service",
        DEMAND_SERVICE,
        "--demand-subject",
        DEMAND_SUBJECT,
        "--demand-data",
        file.to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn args(url: &str, extra: &[&str]) -> PagopaEcArgs {
    #[derive(clap::Parser)]
    struct Command {
        // As the binary flattens them, so that `required_unless_present = "list"` resolves.
        #[command(flatten)]
        _common: snodo_certify::CommonArgs,
        #[command(flatten)]
        args: PagopaEcArgs,
    }
    let mut argv = vec!["pagopa-ec".to_owned(), "--url".to_owned(), url.to_owned()];
    for notice in NOTICES {
        argv.extend(["--notice".to_owned(), notice.to_owned()]);
    }
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    <Command as clap::Parser>::parse_from(argv).args
}

async fn certify(url: &str, extra: &[&str]) -> Report {
    certify_cases(url, extra, &[]).await
}

/// The run of `wanted` (every case when empty), the demand options added.
async fn certify_cases(url: &str, extra: &[&str], wanted: &[&str]) -> Report {
    let demand = demand_options();
    let mut all: Vec<&str> = extra.to_vec();
    all.extend(demand.iter().map(String::as_str));
    let mut suite = PagopaEc::new(&args(url, &all)).expect("the suite's settings");
    let wanted: Vec<String> = wanted.iter().map(|s| (*s).to_owned()).collect();
    let cases = select(PagopaEc::NAME, PagopaEc::catalogue(), &wanted).unwrap();
    run(&mut suite, cases).await
}

fn not_passed(report: &Report) -> BTreeSet<String> {
    report.not_passed().into_iter().map(str::to_owned).collect()
}

fn ids(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// An offset at which `snodo up`'s inbound listener (7443) and the four simulators are free now.
fn free_offset() -> u16 {
    let start = 1000 + (std::process::id() % 300) as u16 * 70;
    (0..500u16)
        .map(|i| start.wrapping_add(i * 13) % 40_000 + 500)
        .find(|offset| {
            [7443u16, 9441, 9442, 9443, 9444]
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + offset)).is_ok())
        })
        .expect("a free port offset")
}

#[test]
fn snodo_up_passes_every_pagopa_ec_case() {
    let offset = free_offset().to_string();
    let up = SnodoUp::start(
        &["--listener-offset", &offset],
        &[("SNODO_LISTENERS__INBOUND", "127.0.0.1:7443")],
    );
    let port = 7443 + offset.parse::<u16>().unwrap();
    let url = format!("https://127.0.0.1:{port}/pagopa/{DEMO_STATION}");
    let dir = std::env::temp_dir().join(format!("snodo-certify-pagopa-{}", uuid::Uuid::new_v4().simple()));
    // The demo backend's catalogue service: a canteen card it issued, topped up by 25.00 €.
    let demand_data = dir.with_extension("ricarica.xml");
    std::fs::write(&demand_data, CANTEEN_TOP_UP_EXAMPLE).unwrap();
    let mut argv = vec![
        "certify",
        "pagopa-ec",
        "--url",
        &url,
        "--report",
        dir.to_str().unwrap(),
        "--demand-service",
        CANTEEN_TOP_UP_SERVICE,
        "--demand-subject",
        CANTEEN_CARDS[0],
        "--demand-data",
        demand_data.to_str().unwrap(),
    ];
    for notice in &NOTICES {
        argv.extend(["--notice", notice]);
    }
    let out = support::snodo(&argv).run();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{summary}\n{}", out.stderr_text());
    let all = PagopaEc::catalogue().len();
    assert!(summary.contains(&format!("{all} passed")), "{summary}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("pagopa-ec.json")).unwrap()).unwrap();
    assert_eq!(json["success"], true);
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), all);
    for id in DEMAND_CASES {
        assert!(
            cases.iter().any(|c| c["id"] == id),
            "{id} is missing from the report: {json}"
        );
    }
    assert!(dir.join("pagopa-ec.junit.xml").is_file());
    let _ = std::fs::remove_file(&demand_data);
    up.stop();
}

/// What the test EC does wrong.
#[derive(Debug, Clone, Copy, Default)]
struct Defects {
    /// Every KO answer without its fault bean.
    ko_without_fault: bool,
    /// A receipt it already has is refused with PAA_SYSTEM_ERROR, as if storing it failed.
    refuses_duplicates: bool,
    /// paGetPayment[V2] transfers one cent more than paymentAmount.
    wrong_amounts: bool,
    /// paGetPaymentV2 never answered.
    hangs_on_activation: bool,
    /// A notice is created on demand for any subject, known or not.
    demands_for_anyone: bool,
    /// The notice created on demand is not known when the node verifies it.
    forgets_demanded_notices: bool,
    /// The demand's OK answer says allCCP "yes" (xs:boolean: true, false, 1 or 0).
    demand_answer_breaks_xsd: bool,
}

/// A small EC station serving the demo's three notices from the mappings' own EC side.
struct TestEc {
    defects: Defects,
    receipts: Mutex<BTreeSet<String>>,
}

async fn station(State(ec): State<Arc<TestEc>>, body: Bytes) -> Response {
    let reply = |xml: String| ([("content-type", SOAP11_CONTENT_TYPE)], xml).into_response();
    let Ok(envelope) = read_envelope(&body, &Limits::default()) else {
        return (axum::http::StatusCode::BAD_REQUEST, "not SOAP").into_response();
    };
    let request = match read_request(&envelope) {
        Ok(request) => request,
        Err(e) => match e.ko_response(EC_FISCAL_CODE) {
            Some(ko) => return reply(ec.spoil(ko)),
            None => return (axum::http::StatusCode::BAD_REQUEST, "unknown operation").into_response(),
        },
    };
    let station = Station {
        fiscal_codes: &[EC_FISCAL_CODE],
        broker_id: EC_FISCAL_CODE,
        station_id: DEMO_STATION,
    };
    if let Err(ko) = request.check_station(&station) {
        return reply(ec.spoil(ko));
    }
    let answer = match &request {
        PaRequest::SendRt(receipt) => {
            let first = ec.receipts.lock().insert(receipt.receipt_id.clone());
            if first {
                receipt_ok(request.operation())
            } else {
                let code = if ec.defects.refuses_duplicates {
                    PaFaultCode::SystemError
                } else {
                    PaFaultCode::ReceiptDuplicata
                };
                ko(request.operation(), &FaultBean::new(code, EC_FISCAL_CODE))
            }
        }
        PaRequest::GetPayment(r) if ec.defects.hangs_on_activation && r.is_v2() => {
            return std::future::pending().await;
        }
        PaRequest::GetPayment(r) => {
            let answer = answer_position(&request, &position(&r.qr_code.notice_number));
            if ec.defects.wrong_amounts {
                one_cent_more(&answer)
            } else {
                answer
            }
        }
        PaRequest::Verify(r)
            if ec.defects.forgets_demanded_notices && r.qr_code.notice_number == demanded_notice() =>
        {
            answer_position(&request, &PaymentPosition::Unknown)
        }
        PaRequest::Verify(r) => answer_position(&request, &position(&r.qr_code.notice_number)),
        PaRequest::Demand(r) => {
            let known = r.service_id == DEMAND_SERVICE
                && (r.service_subject_id == DEMAND_SUBJECT || ec.defects.demands_for_anyone);
            if !known {
                answer_position(&request, &PaymentPosition::Unknown)
            } else if ec.defects.demand_answer_breaks_xsd {
                answer_position(&request, &demanded_position()).replacen(
                    "<allCCP>false</allCCP>",
                    "<allCCP>yes</allCCP>",
                    1,
                )
            } else {
                answer_position(&request, &demanded_position())
            }
        }
    };
    reply(ec.spoil(answer))
}

impl TestEc {
    /// The KO-without-fault defect, applied to any KO.
    fn spoil(&self, answer: String) -> String {
        if !self.defects.ko_without_fault || !answer.contains("<outcome>KO</outcome>") {
            return answer;
        }
        match (answer.find("<fault>"), answer.find("</fault>")) {
            (Some(start), Some(end)) => format!("{}{}", &answer[..start], &answer[end + "</fault>".len()..]),
            _ => answer,
        }
    }
}

fn position(notice: &str) -> PaymentPosition {
    if notice == demanded_notice() {
        return demanded_position();
    }
    seeded()
        .into_iter()
        .find(|n| n.notice_number == notice)
        .map_or(PaymentPosition::Unknown, |n| PaymentPosition::Payable(n.position))
}

/// The position a demand creates: the fine's, on the demanded notice (which the answer names).
fn demanded_position() -> PaymentPosition {
    let notice = demanded_notice();
    let mut position = seeded()
        .into_iter()
        .find(|n| n.notice_number == FINE_NOTICE)
        .expect("the seeded fine")
        .position;
    position.iuv = notice[1..].to_owned();
    position.notice_number = Some(notice);
    position.description = "Permesso ZTL, un giorno".into();
    PaymentPosition::Payable(position)
}

/// The first transferAmount one cent higher: the transfers no longer add up to paymentAmount.
fn one_cent_more(answer: &str) -> String {
    let Some(start) = answer
        .find("<transferAmount>")
        .map(|i| i + "<transferAmount>".len())
    else {
        return answer.to_owned();
    };
    let end = start + answer[start..].find('<').expect("a closing tag");
    let amount = snodo_mappings::pagopa::Amount::parse(&answer[start..end]).expect("an amount");
    let more = snodo_mappings::pagopa::Amount::from_cents(amount.cents() + 1).unwrap();
    format!("{}{more}{}", &answer[..start], &answer[end..])
}

async fn start_test_ec(defects: Defects) -> String {
    let ec = Arc::new(TestEc {
        defects,
        receipts: Mutex::new(BTreeSet::new()),
    });
    let router = axum::Router::new()
        .route("/ec", axum::routing::post(station))
        .with_state(ec);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/ec")
}

async fn against(defects: Defects) -> Report {
    let url = start_test_ec(defects).await;
    certify(&url, &["--get-payment-timeout", "500ms"]).await
}

/// Every selected case passed; the report's summary otherwise.
fn assert_success(report: &Report) {
    assert!(
        report.is_success(),
        "{}",
        snodo_certify::report::summary::render(report)
    );
}

/// The cases that did not pass are exactly `expected`.
fn assert_not_passed(report: &Report, expected: &[&str]) {
    assert_eq!(
        not_passed(report),
        ids(expected),
        "{}",
        snodo_certify::report::summary::render(report)
    );
}

/// The cases whose outcome is `label` (`fail`, `error`) are exactly `expected`.
fn assert_labelled(report: &Report, label: &str, expected: &[&str]) {
    let labelled: BTreeSet<String> = report
        .cases
        .iter()
        .filter(|c| c.outcome.label() == label)
        .map(|c| c.case.id.to_string())
        .collect();
    assert_eq!(
        labelled,
        ids(expected),
        "{}",
        snodo_certify::report::summary::render(report)
    );
}

/// Case `id`'s outcome text names every one of `needles`.
fn assert_case_says(report: &Report, id: &str, needles: &[&str]) {
    let text = report
        .cases
        .iter()
        .find(|c| c.case.id == id)
        .unwrap_or_else(|| panic!("case {id} was not run"))
        .outcome
        .text();
    for needle in needles {
        assert!(text.contains(needle), "{id}: no {needle:?} in {text}");
    }
}

/// Against a test EC with `defects` planted, exactly the cases `failing` do not pass, and case `id`
/// says each of `says`.
async fn assert_caught(defects: Defects, failing: &[&str], id: &str, says: &[&str]) {
    let report = against(defects).await;
    assert_not_passed(&report, failing);
    assert_case_says(&report, id, says);
}

#[tokio::test]
async fn a_correct_test_ec_passes_every_case() {
    assert_success(&against(Defects::default()).await);
}

#[tokio::test]
async fn a_ko_without_fault_is_caught_in_every_case_expecting_a_ko() {
    assert_caught(
        Defects {
            ko_without_fault: true,
            ..Defects::default()
        },
        &[
            "verify-unknown-notice",
            "verify-wrong-domain",
            "verify-wrong-broker",
            "verify-wrong-station",
            "verify-syntax-error",
            "demand-unknown-subject",
            "demand-bad-service-data",
            "get-payment-v2-unknown-notice",
            // This EC answers a duplicate receipt KO PAA_RECEIPT_DUPLICATA, which loses its fault too.
            "send-rt-v2-duplicate",
            "send-rt-duplicate",
        ],
        "verify-unknown-notice",
        &["PPT_STAZIONE_INT_PA_ERRORE_RESPONSE", "KO without a fault"],
    )
    .await;
}

#[tokio::test]
async fn a_refused_duplicate_receipt_is_caught() {
    assert_caught(
        Defects {
            refuses_duplicates: true,
            ..Defects::default()
        },
        &["send-rt-v2-duplicate", "send-rt-duplicate"],
        "send-rt-duplicate",
        &["PAA_SYSTEM_ERROR"],
    )
    .await;
}

#[tokio::test]
async fn transfers_not_adding_up_are_caught_and_their_receipts_not_judged() {
    let report = against(Defects {
        wrong_amounts: true,
        ..Defects::default()
    })
    .await;
    assert_labelled(&report, "fail", &["get-payment-v2", "get-payment"]);
    // A repeat of a refused activation, and the receipts of payments the node refused, are not judged.
    assert_labelled(
        &report,
        "error",
        &[
            "get-payment-v2-repeat",
            "send-rt-v2",
            "send-rt-v2-duplicate",
            "send-rt",
            "send-rt-duplicate",
            "send-rt-v2-stand-in",
        ],
    );
    assert_case_says(&report, "get-payment", &["add up to"]);
}

#[tokio::test]
async fn an_activation_slower_than_the_nodes_timeout_is_caught() {
    let report = against(Defects {
        hangs_on_activation: true,
        ..Defects::default()
    })
    .await;
    assert_labelled(
        &report,
        "fail",
        &["get-payment-v2", "get-payment-v2-unknown-notice"],
    );
    assert_case_says(&report, "get-payment-v2", &["PPT_STAZIONE_INT_PA_TIMEOUT"]);
}

#[test]
fn the_catalogue_lists_every_case_with_an_id_and_a_description() {
    let catalogue = PagopaEc::catalogue();
    assert_eq!(catalogue.len(), 18);
    let unique: BTreeSet<&str> = catalogue.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(unique.len(), catalogue.len());
    assert!(
        catalogue
            .iter()
            .all(|c| !c.description.is_empty() && !c.rule.is_empty() && !c.source.is_empty())
    );
}

#[tokio::test]
async fn a_notice_created_for_a_subject_the_ec_does_not_know_is_caught() {
    assert_caught(
        Defects {
            demands_for_anyone: true,
            ..Defects::default()
        },
        &["demand-unknown-subject"],
        "demand-unknown-subject",
        &["answered outcome OK", "PAA_PAGAMENTO_SCONOSCIUTO"],
    )
    .await;
}

#[tokio::test]
async fn a_demanded_notice_the_ec_cannot_verify_is_caught() {
    assert_caught(
        Defects {
            forgets_demanded_notices: true,
            ..Defects::default()
        },
        &["demand"],
        "demand",
        &[&demanded_notice(), "PAA_PAGAMENTO_SCONOSCIUTO"],
    )
    .await;
}

#[tokio::test]
async fn a_demand_answer_invalid_against_pa_for_node_xsd_is_caught() {
    assert_caught(
        Defects {
            demand_answer_breaks_xsd: true,
            ..Defects::default()
        },
        &["demand"],
        "demand",
        &["PPT_STAZIONE_INT_PA_ERRORE_RESPONSE", "paForNode.xsd", "allCCP"],
    )
    .await;
}

#[tokio::test]
async fn without_a_catalogue_service_the_demand_cases_are_not_judged() {
    let url = start_test_ec(Defects::default()).await;
    let mut suite = PagopaEc::new(&args(&url, &[])).expect("the suite's settings");
    let wanted: Vec<String> = DEMAND_CASES.iter().map(|s| (*s).to_owned()).collect();
    let report = run(
        &mut suite,
        select(PagopaEc::NAME, PagopaEc::catalogue(), &wanted).unwrap(),
    )
    .await;
    assert_eq!(report.cases.len(), 3);
    for case in &report.cases {
        assert_eq!(case.outcome.label(), "error", "{}", case.case.id);
        assert!(
            case.outcome.text().contains("--demand-service"),
            "{}",
            case.outcome.text()
        );
    }
}

/// Snodo's EC endpoint, built as `snodo up` builds it, on RabbitMQ with a backend that knows the
/// catalogue service: the demand cases pass, and `xmllint` judges every answer when the world drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snodos_ec_endpoint_passes_the_demand_cases() {
    use pagopa_common::Behaviour;
    let world = pagopa_common::world::World::start().await;
    let url = format!("{}/pagopa/{}", world.inbound_url, pagopa_common::STATION);
    let pki_dir = snodo_security::devpki::shared_for_tests()
        .directory()
        .to_str()
        .unwrap()
        .to_owned();
    let options = ["--pki-dir", pki_dir.as_str()];

    // The backend creates the notice for the known subject, and answers its position after.
    world
        .backend
        .set(DEMAND_SERVICE, Behaviour::Answer(demanded_position()));
    world
        .backend
        .set(&demanded_notice(), Behaviour::Answer(demanded_position()));
    assert_success(&certify_cases(&url, &options, &["demand", "demand-bad-service-data"]).await);

    // The test backend answers by service: for the unknown subject's question it knows no position.
    world
        .backend
        .set(DEMAND_SERVICE, Behaviour::Answer(PaymentPosition::Unknown));
    assert_success(&certify_cases(&url, &options, &["demand-unknown-subject"]).await);

    // The backend was asked twice (the bad data never reach it: Snodo refuses them itself), with
    // the subjects and the data as the suite sent them.
    let demands: Vec<_> = world
        .backend
        .questions()
        .into_iter()
        .filter(|q| q.kind == "pagopa.notice.demand")
        .collect();
    let subjects: Vec<&str> = demands
        .iter()
        .map(|q| q.body["service_subject_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(subjects, [DEMAND_SUBJECT, "99999"]);
    assert_eq!(demands[0].body["service_data_xml"], DEMAND_DATA);
    // xmllint, independently of the suite's libxml2: Snodo's three demand answers (an OK, two KOs)
    // and the verify of the new notice are valid against paForNode.xsd.
    let demand_answers = world
        .answers
        .answers()
        .iter()
        .filter(|a| a.body.contains("paDemandPaymentNoticeResponse"))
        .map(|a| a.outcome().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(demand_answers, ["OK", "KO", "KO"]);
    assert!(world.answers.judge_every_answer() >= 4);
}

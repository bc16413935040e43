//! The demo backend's pagoPA side: the debt positions a Comune's tax and school software would own,
//! answered to `pagopa.position.get` when the node verifies or activates a notice, and a button on
//! `/demo` that has the node simulator pay one of them — so `snodo up` shows a whole payment, from
//! the node's questions to the `pagopa.receipt.received` event, without any tool.
//!
//! Three seeded notices of the demo tenant (Comune di Milano, fiscal code 01199250158): a TARI notice
//! split between the Comune (TARI) and the Città metropolitana (TEFA, 5%), a traffic fine and a school
//! canteen fee. The debtor is fictional. Paying is the node simulator's business (its scenario runner
//! over its admin API); this module only asks it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use snodo_mappings::pagopa::contract::{
    Credit, EntityType, MapEntry, Payable, PaymentPosition, PositionRequest, Subject, Transfer,
};
use snodo_security::pki::TrustAnchors;
use snodo_security::tls::{TlsClientConfig, build_client};

use super::{Answer, Answers};

/// The demo tenant, its own pagoPA intermediary (station `01199250158_01`).
pub const EC_FISCAL_CODE: &str = "01199250158";
/// The TEFA beneficiary of the TARI notice: Città metropolitana di Milano.
pub const TEFA_FISCAL_CODE: &str = "08911820960";
/// TARI 2025, 180.00 € + TEFA 9.00 € (segregation code 01, IUV base 2025000000001).
pub const TARI_NOTICE: &str = "301202500000000180";
/// A traffic fine, 42.00 €.
pub const FINE_NOTICE: &str = "301202500000000281";
/// School canteen, first term, 96.50 €.
pub const SCHOOL_FEE_NOTICE: &str = "301202500000000382";

const IBAN: &str = "IT60X0542811101000000123456";
const TEFA_IBAN: &str = "IT02A0306909420100000300004";

/// One seeded notice.
pub struct DemoNotice {
    pub notice_number: &'static str,
    pub label: &'static str,
    pub position: Payable,
}

fn debtor() -> Subject {
    Subject {
        entity_type: EntityType::F,
        unique_identifier: "RSSMRA80A01F205X".into(),
        full_name: "Mario Rossi (demo)".into(),
        street_name: Some("Piazza della Scala".into()),
        civic_number: Some("2".into()),
        postal_code: Some("20121".into()),
        city: Some("Milano".into()),
        state_province_region: Some("MI".into()),
        country: Some("IT".into()),
        email: None,
    }
}

fn transfer(cents: u64, fiscal_code: &str, iban: &str, text: &str, category: &str) -> Transfer {
    Transfer {
        amount_cents: cents,
        fiscal_code: fiscal_code.into(),
        company_name: None,
        credit: Credit::Account {
            iban: iban.into(),
            postal_iban: None,
        },
        remittance_information: text.into(),
        category: category.into(),
        metadata: vec![MapEntry::new("demo", "snodo")],
    }
}

fn payable(notice: &str, description: &str, office: &str, transfers: Vec<Transfer>) -> Payable {
    Payable {
        iuv: notice[1..].to_owned(),
        notice_number: None,
        amount_cents: transfers.iter().map(|t| t.amount_cents).sum(),
        due_date: "2030-12-31".into(),
        retention_date: None,
        description: description.into(),
        detail_description: None,
        company_name: "Comune di Milano".into(),
        office_name: Some(office.into()),
        debtor: debtor(),
        transfers,
        metadata: Vec::new(),
    }
}

/// The seeded notices.
pub fn seeded() -> Vec<DemoNotice> {
    vec![
        DemoNotice {
            notice_number: TARI_NOTICE,
            label: "TARI 2025 (TARI + TEFA)",
            position: payable(
                TARI_NOTICE,
                "TARI 2025 rata unica",
                "Area Tributi",
                vec![
                    transfer(18_000, EC_FISCAL_CODE, IBAN, "TARI 2025", "9/0101101IM/"),
                    transfer(900, TEFA_FISCAL_CODE, TEFA_IBAN, "TEFA 2025", "9/0201102IM/"),
                ],
            ),
        },
        DemoNotice {
            notice_number: FINE_NOTICE,
            label: "Traffic fine",
            position: payable(
                FINE_NOTICE,
                "Sanzione codice della strada",
                "Polizia Locale",
                vec![transfer(
                    4_200,
                    EC_FISCAL_CODE,
                    IBAN,
                    "Verbale demo",
                    "9/0101108TS/",
                )],
            ),
        },
        DemoNotice {
            notice_number: SCHOOL_FEE_NOTICE,
            label: "School canteen fee",
            position: payable(
                SCHOOL_FEE_NOTICE,
                "Refezione scolastica primo quadrimestre",
                "Area Servizi Scolastici",
                vec![transfer(
                    9_650,
                    EC_FISCAL_CODE,
                    IBAN,
                    "Refezione scolastica",
                    "9/0101105SP/",
                )],
            ),
        },
    ]
}

/// The answer to `pagopa.position.get`: a seeded notice of the demo tenant is payable, anything
/// else unknown (`PAA_PAGAMENTO_SCONOSCIUTO` at the node).
pub fn position_answer() -> Answer {
    let notices = Arc::new(seeded());
    Arc::new(move |body: &serde_json::Value| {
        let request: PositionRequest = serde_json::from_value(body.clone())
            .map_err(|e| format!("not a pagopa.position.get request: {e}"))?;
        let position = notices
            .iter()
            .find(|n| n.notice_number == request.notice_number && request.fiscal_code == EC_FISCAL_CODE)
            .map_or(PaymentPosition::Unknown, |n| {
                PaymentPosition::Payable(n.position.clone())
            });
        serde_json::to_value(position).map_err(|e| e.to_string())
    })
}

/// Where the node simulator's admin API is, and the CA its certificate chains to.
#[derive(Clone)]
pub struct NodeLink {
    /// e.g. `https://127.0.0.1:9442`
    pub url: String,
    pub trusted: TrustAnchors,
    /// This instance's EC station URL, when it is not the one the node simulator defaults to
    /// (`snodo up --listener-offset`): the node is pointed at it before paying.
    pub station_url: Option<String>,
}

/// Adds the pagoPA answers to `answers`.
pub(super) fn seed(answers: &mut Answers) {
    answers.insert("pagopa.position.get", position_answer());
}

/// `POST /demo/pagopa/pay` `{"notice_number"}`: has the node simulator pay a notice as a PSP would
/// and answers its report.
pub(super) fn router(node: Option<NodeLink>) -> Router {
    Router::new()
        .route("/demo/pagopa/pay", post(pay))
        .with_state(Arc::new(node))
}

async fn pay(State(node): State<Arc<Option<NodeLink>>>, body: Bytes) -> Response {
    let fail = |status: StatusCode, message: String| {
        (status, axum::Json(json!({ "error": message }))).into_response()
    };
    let Some(node) = node.as_ref() else {
        return fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance runs no pagoPA node simulator".into(),
        );
    };
    let request: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return fail(StatusCode::BAD_REQUEST, format!("not JSON: {e}")),
    };
    let Some(notice) = request["notice_number"].as_str() else {
        return fail(StatusCode::BAD_REQUEST, "notice_number is missing".into());
    };
    let client = match build_client(&TlsClientConfig::new(node.trusted.clone())) {
        Ok(c) => c,
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if let Some(station) = &node.station_url {
        let target = json!({
            "url": station,
            "id_pa": EC_FISCAL_CODE,
            "id_broker_pa": EC_FISCAL_CODE,
            "id_station": crate::pagopa::settings::DEMO_STATION,
        });
        let pointed = client
            .post(format!("{}/admin/pagopa/ec", node.url))
            .json(&target)
            .send()
            .await;
        if let Err(e) = pointed.and_then(|r| r.error_for_status()) {
            return fail(
                StatusCode::BAD_GATEWAY,
                format!("the node simulator at {} refused this station: {e}", node.url),
            );
        }
    }
    let answer = client
        .post(format!("{}/admin/pagopa/scenarios", node.url))
        .json(&json!({ "scenario": "pay_notice", "notice_number": notice }))
        .send()
        .await;
    let response = match answer {
        Ok(r) => r,
        Err(e) => {
            return fail(
                StatusCode::BAD_GATEWAY,
                format!("the node simulator at {} did not answer: {e}", node.url),
            );
        }
    };
    let status = response.status().as_u16();
    match response.json::<serde_json::Value>().await {
        Ok(report) if status == 200 => axum::Json(report).into_response(),
        Ok(report) => fail(
            StatusCode::BAD_GATEWAY,
            format!("the node simulator answered HTTP {status}: {report}"),
        ),
        Err(e) => fail(
            StatusCode::BAD_GATEWAY,
            format!("the node simulator's answer is not JSON: {e}"),
        ),
    }
}

/// The page's pagoPA section: one button per seeded notice.
pub(super) fn section() -> String {
    let buttons: String = seeded()
        .iter()
        .map(|n| {
            format!(
                "<button class=\"pay\" data-notice=\"{0}\">Pay {1} — {0} ({2}.{3:02} €)</button> ",
                n.notice_number,
                n.label,
                n.position.amount_cents / 100,
                n.position.amount_cents % 100
            )
        })
        .collect();
    format!(
        r#"<h2>pagoPA</h2>
<p>The node simulator pays a seeded notice as a PSP would (verify, activation, receipt); the
backend answers the position and receives <code>pagopa.receipt.received</code>.</p>
<p>{buttons}<span id="pay-result"></span></p>
<script>
for (const b of document.querySelectorAll('button.pay')) {{
  b.onclick = async () => {{
    const r = await fetch('/demo/pagopa/pay', {{ method: 'POST', headers: {{ 'content-type': 'application/json' }},
      body: JSON.stringify({{ notice_number: b.dataset.notice }}) }});
    const j = await r.json();
    document.getElementById('pay-result').textContent = r.ok
      ? b.dataset.notice + ': ' + j.payment.result + ' (' + j.payment.steps.map(s => s.outcome).join(', ') + ')'
      : 'failed: ' + j.error;
    setTimeout(() => location.reload(), 800);
  }};
}}
</script>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use snodo_mappings::pagopa::NoticeNumber;

    #[test]
    fn the_demo_notice_numbers_are_valid_and_their_positions_answerable() {
        for (i, n) in seeded().iter().enumerate() {
            assert_eq!(
                NoticeNumber::aux3(1, 2_025_000_000_001 + i as u64)
                    .unwrap()
                    .as_str(),
                n.notice_number
            );
            PaymentPosition::Payable(n.position.clone()).validate().unwrap();
        }
        let tari = &seeded()[0].position;
        assert_eq!(tari.transfers.len(), 2);
        assert_ne!(tari.transfers[0].fiscal_code, tari.transfers[1].fiscal_code);
    }

    #[test]
    fn seeded_notices_are_payable_and_others_unknown() {
        let answer = position_answer();
        let ask = |notice: &str| {
            answer(&json!({
                "primitive": "pa_verify_payment_notice",
                "id_pa": EC_FISCAL_CODE,
                "id_broker_pa": EC_FISCAL_CODE,
                "id_station": "01199250158_01",
                "fiscal_code": EC_FISCAL_CODE,
                "notice_number": notice,
                "iuv": &notice[1..],
            }))
            .unwrap()
        };
        let fine: PaymentPosition = serde_json::from_value(ask(FINE_NOTICE)).unwrap();
        assert!(matches!(fine, PaymentPosition::Payable(p) if p.amount_cents == 4_200));
        let other: PaymentPosition = serde_json::from_value(ask("301202500000009999")).unwrap();
        assert_eq!(other, PaymentPosition::Unknown);
    }
}

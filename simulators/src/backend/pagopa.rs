//! The demo backend's pagoPA side: the debt positions a Comune's tax and school software would own,
//! answered to `pagopa.position.get` when the node verifies or activates a notice, and a button on
//! `/demo` that has the node simulator pay one of them — so `snodo up` shows a whole payment, from
//! the node's questions to the `pagopa.receipt.received` event, without any tool.
//!
//! Three seeded notices of the demo tenant (Comune di Milano, fiscal code 01199250158): a TARI notice
//! split between the Comune (TARI) and the Città metropolitana (TEFA, 5%), a traffic fine and a school
//! canteen fee. The debtor is fictional. Paying is the node simulator's business (its scenario runner
//! over its admin API); this module only asks it.
//!
//! One catalogue service for `paDemandPaymentNotice` ("modello 4"), answered to
//! `pagopa.notice.demand`: topping up a school-canteen card ([`CANTEEN_TOP_UP_SERVICE`], the cards
//! [`CANTEEN_CARDS`]), the amount read from `<ricarica><importo>25.00</importo></ricarica>`. Each demand
//! issues a new notice, which `pagopa.position.get` then finds payable, so `snodo up` passes the
//! certification's demand cases too.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use parking_lot::Mutex;
use serde_json::json;
use snodo_mappings::pagopa::contract::{
    Credit, DemandRequest, EntityType, MapEntry, Payable, PaymentPosition, PositionRequest, Subject, Transfer,
};
use snodo_mappings::pagopa::{Amount, NoticeError, NoticeNumber};
use snodo_security::pki::TrustAnchors;
use snodo_security::tls::{TlsClientConfig, build_client};
use snodo_security::xml::{Limits, XmlError, parse_str};

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

/// The segregation code of every notice the demo EC issues, seeded or demanded (aux digit 3).
pub const DEMO_SEGREGATION_CODE: u8 = 1;

/// `idServizio` of the demo EC's one catalogue service: topping up a school-canteen card.
pub const CANTEEN_TOP_UP_SERVICE: &str = "00010";
/// `idSoggettoServizio`s of the canteen cards the Comune issued (fictional pupils).
pub const CANTEEN_CARDS: [&str; 2] = ["10001", "10002"];
/// The service data of a 25.00 € top-up, in the service's shape.
pub const CANTEEN_TOP_UP_EXAMPLE: &str = "<ricarica><importo>25.00</importo></ricarica>";

/// The IUV base of the first demanded notice; later ones count up from it. Far from the seeded
/// notices' bases (2025000000001–3) so that a demand never reissues one of them.
const FIRST_DEMANDED_IUV_BASE: u64 = 2_025_100_000_000;
/// How many demanded notices the demo remembers; older ones are forgotten (answered unknown).
const DEMANDED_KEPT: usize = 10_000;
/// Days from the demand to the new notice's due date.
const DEMANDED_DUE_DAYS: i64 = 30;

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

/// Why the service data of a canteen top-up cannot be read. The texts go back to Snodo as the reason
/// of an `invalid_service_data` position, and on to the node as the fault's description: they never
/// quote the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceDataError {
    #[error("the service data are not an XML document: {0}")]
    NotXml(#[from] XmlError),
    #[error("the service data of {CANTEEN_TOP_UP_SERVICE} are one <ricarica> element without namespace")]
    NotATopUp,
    #[error("<ricarica> holds exactly one element, <importo>")]
    NotOneAmount,
    #[error("<importo> is an amount of euro with two decimals, more than zero (e.g. 25.00)")]
    BadAmount,
}

/// Why a demand got no notice although the service and subject are known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemandError {
    #[error("not a pagopa.notice.demand request: {0}")]
    NotARequest(String),
    #[error(transparent)]
    ServiceData(#[from] ServiceDataError),
    #[error("the demo EC has run out of notice numbers: {0}")]
    NoNoticeNumber(#[from] NoticeError),
}

/// The amount of a canteen top-up, from `<ricarica><importo>25.00</importo></ricarica>`.
pub fn top_up_amount(service_data_xml: &str) -> Result<Amount, ServiceDataError> {
    let document = parse_str(service_data_xml, &Limits::default())?;
    let root = document.document_element();
    let is_top_up = document
        .element(root)
        .is_some_and(|e| e.name().is(None, "ricarica"));
    if !is_top_up {
        return Err(ServiceDataError::NotATopUp);
    }
    let mut children = document.child_elements(root);
    let (Some(amount), None) = (children.next(), children.next()) else {
        return Err(ServiceDataError::NotOneAmount);
    };
    if !document
        .element(amount)
        .is_some_and(|e| e.name().is(None, "importo"))
    {
        return Err(ServiceDataError::NotOneAmount);
    }
    Amount::parse(&document.text_content(amount))
        .filter(|a| a.cents() > 0)
        .ok_or(ServiceDataError::BadAmount)
}

/// The demanded notices not yet forgotten, oldest first, and the next IUV base to issue.
struct Demanded {
    next_iuv_base: u64,
    positions: HashMap<String, Payable>,
    order: VecDeque<String>,
    kept: usize,
}

/// The demo EC's positions: the seeded notices and those demanded since start.
pub struct DemoPositions {
    seeded: Vec<DemoNotice>,
    demanded: Mutex<Demanded>,
}

impl Default for DemoPositions {
    fn default() -> Self {
        DemoPositions::keeping(DEMANDED_KEPT)
    }
}

impl DemoPositions {
    fn keeping(kept: usize) -> Self {
        DemoPositions {
            seeded: seeded(),
            demanded: Mutex::new(Demanded {
                next_iuv_base: FIRST_DEMANDED_IUV_BASE,
                positions: HashMap::new(),
                order: VecDeque::new(),
                kept,
            }),
        }
    }

    /// The state of `request`'s notice: payable when seeded or demanded (and not yet forgotten).
    pub fn position(&self, request: &PositionRequest) -> PaymentPosition {
        if request.fiscal_code != EC_FISCAL_CODE {
            return PaymentPosition::Unknown;
        }
        if let Some(n) = self
            .seeded
            .iter()
            .find(|n| n.notice_number == request.notice_number)
        {
            return PaymentPosition::Payable(n.position.clone());
        }
        self.demanded
            .lock()
            .positions
            .get(&request.notice_number)
            .map_or(PaymentPosition::Unknown, |p| PaymentPosition::Payable(p.clone()))
    }

    /// A new notice for a known card of the canteen service, payable for the amount its data ask;
    /// `Unknown` for another EC, another service or a card the Comune did not issue.
    pub fn demand(&self, request: &DemandRequest) -> Result<PaymentPosition, DemandError> {
        if request.id_pa != EC_FISCAL_CODE || request.service_id != CANTEEN_TOP_UP_SERVICE {
            return Ok(PaymentPosition::Unknown);
        }
        // The data are read before the card is looked up: a malformed request is refused as such,
        // whoever it names.
        let amount = top_up_amount(&request.service_data_xml)?;
        if !CANTEEN_CARDS.contains(&request.service_subject_id.as_str()) {
            return Ok(PaymentPosition::Unknown);
        }
        let mut demanded = self.demanded.lock();
        let notice = NoticeNumber::aux3(DEMO_SEGREGATION_CODE, demanded.next_iuv_base)?;
        demanded.next_iuv_base += 1;
        let position = top_up_position(&notice, amount);
        if demanded.order.len() == demanded.kept
            && let Some(oldest) = demanded.order.pop_front()
        {
            demanded.positions.remove(&oldest);
        }
        demanded.order.push_back(notice.as_str().to_owned());
        demanded
            .positions
            .insert(notice.as_str().to_owned(), position.clone());
        Ok(PaymentPosition::Payable(position))
    }
}

fn top_up_position(notice: &NoticeNumber, amount: Amount) -> Payable {
    let due = Utc::now().date_naive() + chrono::Duration::days(DEMANDED_DUE_DAYS);
    Payable {
        iuv: notice.iuv().to_owned(),
        notice_number: Some(notice.as_str().to_owned()),
        amount_cents: amount.cents(),
        due_date: due.format("%Y-%m-%d").to_string(),
        retention_date: None,
        description: "Ricarica tessera refezione scolastica".into(),
        detail_description: None,
        company_name: "Comune di Milano".into(),
        office_name: Some("Area Servizi Scolastici".into()),
        debtor: debtor(),
        transfers: vec![transfer(
            amount.cents(),
            EC_FISCAL_CODE,
            IBAN,
            "Ricarica refezione scolastica",
            "9/0101105SP/",
        )],
        metadata: Vec::new(),
    }
}

/// The answer to `pagopa.position.get`: a seeded or demanded notice of the demo tenant is payable,
/// anything else unknown (`PAA_PAGAMENTO_SCONOSCIUTO` at the node).
pub fn position_answer(positions: Arc<DemoPositions>) -> Answer {
    Arc::new(move |body: &serde_json::Value| {
        let request: PositionRequest = serde_json::from_value(body.clone())
            .map_err(|e| format!("not a pagopa.position.get request: {e}"))?;
        serde_json::to_value(positions.position(&request)).map_err(|e| e.to_string())
    })
}

/// The answer to `pagopa.notice.demand`: a new canteen top-up notice, `Unknown` for a service or
/// card the demo EC does not have, `InvalidServiceData` with the reason for service data that are not
/// a top-up (Snodo answers the node `PAA_SINTASSI_EXTRAXSD`; data that are no XML at all never get
/// here, Snodo's endpoint answers them so itself).
pub fn demand_answer(positions: Arc<DemoPositions>) -> Answer {
    Arc::new(move |body: &serde_json::Value| {
        let request: DemandRequest = serde_json::from_value(body.clone())
            .map_err(|e| DemandError::NotARequest(e.to_string()).to_string())?;
        let position = match positions.demand(&request) {
            Err(DemandError::ServiceData(e)) => PaymentPosition::InvalidServiceData {
                reason: e.to_string(),
            },
            answered => answered.map_err(|e| e.to_string())?,
        };
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
    let positions = Arc::new(DemoPositions::default());
    answers.insert("pagopa.position.get", position_answer(positions.clone()));
    answers.insert("pagopa.notice.demand", demand_answer(positions));
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

/// The page's pagoPA section: one button per seeded notice, and the catalogue service a PSP may
/// demand new notices of.
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
    let cards = CANTEEN_CARDS.join(", ");
    let example = CANTEEN_TOP_UP_EXAMPLE.replace('<', "&lt;").replace('>', "&gt;");
    format!(
        r#"<h2>pagoPA</h2>
<p>The node simulator pays a seeded notice as a PSP would (verify, activation, receipt); the
backend answers the position and receives <code>pagopa.receipt.received</code>.</p>
<p>{buttons}<span id="pay-result"></span></p>
<p>Catalogue service <code>{CANTEEN_TOP_UP_SERVICE}</code> (school-canteen top-up, cards {cards}):
a PSP's <code>paDemandPaymentNotice</code> with data such as <code>{example}</code> gets a new notice
for that amount, payable like the seeded ones.</p>
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

    fn ask_position(positions: &Arc<DemoPositions>, notice: &str) -> PaymentPosition {
        let answer = position_answer(positions.clone());
        let reply = answer(&json!({
            "primitive": "pa_verify_payment_notice",
            "id_pa": EC_FISCAL_CODE,
            "id_broker_pa": EC_FISCAL_CODE,
            "id_station": "01199250158_01",
            "fiscal_code": EC_FISCAL_CODE,
            "notice_number": notice,
            "iuv": &notice[1..],
        }))
        .unwrap();
        serde_json::from_value(reply).unwrap()
    }

    fn ask_demand(
        positions: &Arc<DemoPositions>,
        subject: &str,
        data: &str,
    ) -> Result<PaymentPosition, String> {
        let answer = demand_answer(positions.clone());
        answer(&json!({
            "id_pa": EC_FISCAL_CODE,
            "id_broker_pa": EC_FISCAL_CODE,
            "id_station": "01199250158_01",
            "service_id": CANTEEN_TOP_UP_SERVICE,
            "service_subject_id": subject,
            "service_data_xml": data,
        }))
        .map(|reply| serde_json::from_value(reply).unwrap())
    }

    fn payable(position: PaymentPosition) -> Payable {
        match position {
            PaymentPosition::Payable(p) => p,
            other => panic!("expected a payable position, got {other:?}"),
        }
    }

    /// The mod-93 rule computed here on the whole 16-digit prefix at once, apart from the mappings'
    /// digit-by-digit helper.
    fn check_digits_hold(notice: &str) -> bool {
        let body: u64 = notice[..16].parse().unwrap();
        let check: u64 = notice[16..].parse().unwrap();
        body % 93 == check
    }

    #[test]
    fn the_demo_notice_numbers_are_valid_and_their_positions_answerable() {
        for (i, n) in seeded().iter().enumerate() {
            assert_eq!(
                NoticeNumber::aux3(DEMO_SEGREGATION_CODE, 2_025_000_000_001 + i as u64)
                    .unwrap()
                    .as_str(),
                n.notice_number
            );
            assert!(check_digits_hold(n.notice_number));
            PaymentPosition::Payable(n.position.clone()).validate().unwrap();
        }
        let tari = &seeded()[0].position;
        assert_eq!(tari.transfers.len(), 2);
        assert_ne!(tari.transfers[0].fiscal_code, tari.transfers[1].fiscal_code);
    }

    #[test]
    fn seeded_notices_are_payable_and_others_unknown() {
        let positions = Arc::new(DemoPositions::default());
        let fine = payable(ask_position(&positions, FINE_NOTICE));
        assert_eq!(fine.amount_cents, 4_200);
        assert_eq!(
            ask_position(&positions, "301202500000009999"),
            PaymentPosition::Unknown
        );
    }

    #[test]
    fn each_demand_issues_a_new_valid_notice_that_is_then_payable_for_its_amount() {
        let positions = Arc::new(DemoPositions::default());
        let first = payable(ask_demand(&positions, CANTEEN_CARDS[0], CANTEEN_TOP_UP_EXAMPLE).unwrap());
        let second = payable(
            ask_demand(
                &positions,
                CANTEEN_CARDS[1],
                "<ricarica>\n  <importo> 7.50 </importo>\n</ricarica>",
            )
            .unwrap(),
        );
        let again = payable(ask_demand(&positions, CANTEEN_CARDS[0], CANTEEN_TOP_UP_EXAMPLE).unwrap());
        let notices: Vec<String> = [&first, &second, &again]
            .iter()
            .map(|p| {
                p.notice_number
                    .clone()
                    .expect("a demanded notice names its number")
            })
            .collect();
        let distinct: std::collections::BTreeSet<&String> = notices.iter().collect();
        assert_eq!(distinct.len(), 3, "{notices:?}");
        for (notice, position) in notices.iter().zip([&first, &second, &again]) {
            assert_eq!(notice.len(), 18);
            assert!(notice.starts_with("301"), "aux digit 3, segregation 01: {notice}");
            assert!(check_digits_hold(notice), "{notice}");
            assert_eq!(position.iuv, notice[1..]);
            assert!(seeded().iter().all(|s| s.notice_number != notice));
            PaymentPosition::Payable(position.clone()).validate().unwrap();
            assert_eq!(position.transfers.len(), 1);
            assert_eq!(position.transfers[0].fiscal_code, EC_FISCAL_CODE);
            assert!(matches!(&position.transfers[0].credit, Credit::Account { iban, .. } if iban == IBAN));
            assert_eq!(payable(ask_position(&positions, notice)), *position);
        }
        assert_eq!(first.amount_cents, 2_500);
        assert_eq!(second.amount_cents, 750);
        // The position.get of another EC's notice with the same number is not ours.
        let answer = position_answer(positions.clone());
        let foreign: PaymentPosition = serde_json::from_value(
            answer(&json!({
                "primitive": "pa_verify_payment_notice",
                "id_pa": EC_FISCAL_CODE,
                "id_broker_pa": EC_FISCAL_CODE,
                "id_station": "01199250158_01",
                "fiscal_code": TEFA_FISCAL_CODE,
                "notice_number": notices[0],
                "iuv": &notices[0][1..],
            }))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(foreign, PaymentPosition::Unknown);
    }

    #[test]
    fn an_unknown_card_or_service_gets_no_notice() {
        let positions = Arc::new(DemoPositions::default());
        assert_eq!(
            ask_demand(&positions, "99999", CANTEEN_TOP_UP_EXAMPLE).unwrap(),
            PaymentPosition::Unknown
        );
        let answer = demand_answer(positions.clone());
        let other_service: PaymentPosition = serde_json::from_value(
            answer(&json!({
                "id_pa": EC_FISCAL_CODE,
                "id_broker_pa": EC_FISCAL_CODE,
                "id_station": "01199250158_01",
                "service_id": "00011",
                "service_subject_id": CANTEEN_CARDS[0],
                "service_data_xml": CANTEEN_TOP_UP_EXAMPLE,
            }))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(other_service, PaymentPosition::Unknown);
        // Nothing was issued: the next demand gets the first IUV base.
        let issued = payable(ask_demand(&positions, CANTEEN_CARDS[0], CANTEEN_TOP_UP_EXAMPLE).unwrap());
        assert_eq!(
            issued.notice_number.as_deref(),
            Some(
                NoticeNumber::aux3(DEMO_SEGREGATION_CODE, FIRST_DEMANDED_IUV_BASE)
                    .unwrap()
                    .as_str()
            )
        );
    }

    #[test]
    fn service_data_that_are_not_a_top_up_are_refused_with_the_reason() {
        let positions = Arc::new(DemoPositions::default());
        let refusals = [
            ("this is not an XML document <", "not an XML document"),
            ("<richiesta><importo>25.00</importo></richiesta>", "<ricarica>"),
            (
                "<ricarica xmlns=\"urn:other\"><importo>25.00</importo></ricarica>",
                "<ricarica>",
            ),
            ("<ricarica/>", "exactly one element"),
            (
                "<ricarica><importo>25.00</importo><importo>1.00</importo></ricarica>",
                "exactly one element",
            ),
            (
                "<ricarica><totale>25.00</totale></ricarica>",
                "exactly one element",
            ),
            ("<ricarica><importo>25</importo></ricarica>", "two decimals"),
            ("<ricarica><importo>0.00</importo></ricarica>", "more than zero"),
            ("<ricarica><importo>-5.00</importo></ricarica>", "two decimals"),
        ];
        for (data, reason) in refusals {
            match ask_demand(&positions, CANTEEN_CARDS[0], data).unwrap() {
                PaymentPosition::InvalidServiceData { reason: given } => {
                    assert!(given.contains(reason), "{data}: {given}")
                }
                other => panic!("{data}: {other:?}"),
            }
        }
        // Refusals issue nothing.
        assert!(positions.demanded.lock().positions.is_empty());
    }

    #[test]
    fn the_memory_of_demanded_notices_is_bounded_oldest_first() {
        let positions = Arc::new(DemoPositions::keeping(2));
        let notices: Vec<String> = (0..3)
            .map(|_| {
                payable(ask_demand(&positions, CANTEEN_CARDS[0], CANTEEN_TOP_UP_EXAMPLE).unwrap())
                    .notice_number
                    .unwrap()
            })
            .collect();
        assert_eq!(ask_position(&positions, &notices[0]), PaymentPosition::Unknown);
        for notice in &notices[1..] {
            assert_eq!(payable(ask_position(&positions, notice)).amount_cents, 2_500);
        }
        let demanded = positions.demanded.lock();
        assert_eq!((demanded.positions.len(), demanded.order.len()), (2, 2));
    }
}

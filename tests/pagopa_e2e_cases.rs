//! Issue 6's remaining paths end to end, through the node simulator and a real RabbitMQ
//! (`pagopa_common::world`): a notice demanded by a citizen (paDemandPaymentNotice, "modello 4") and
//! paid; an @e.bollo revenue stamp asked for in paGetPaymentV2 and delivered, signed, in paSendRTV2's
//! receipt (the stamp judged by `xmllint` against `MarcaDaBollo.xsd` and by `xmlsec1`); a receipt
//! broadcast to the station of the notice's second beneficiary; the node recognised by the
//! fingerprint header of a proxy that ends TLS in front of Snodo; and a PSP paying through the
//! node's `nodeForPsp` SOAP service.

mod pagopa_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use pagopa_common::world::{FINGERPRINT_HEADER, Options, TEFA_TENANT, World, node_certificate_fingerprint};
use pagopa_common::{Behaviour, EC, STATION, TEFA_EC, TENANT, payable, verify};
use serde_json::json;
use snodo_mappings::pagopa::NoticeNumber;
use snodo_mappings::pagopa::contract::{Credit, PaymentPosition};
use snodo_mappings::pagopa::{Amount, PspCaller, PspRequest, QrCode};

fn notice(base: u64) -> String {
    NoticeNumber::aux3(1, base).unwrap().to_string()
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snodo-{what}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/pagopa")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_demanded_for_a_catalogue_service_is_created_by_the_backend_and_paid() {
    let world = World::start().await;
    let n = notice(4_200_000_001);
    let PaymentPosition::Payable(mut position) = payable(&n, &[(EC, 3_000)]) else {
        unreachable!("payable builds a payable position")
    };
    position.notice_number = Some(n.clone());
    position.description = "Permesso ZTL Area B, un giorno".into();
    world
        .backend
        .set("00001", Behaviour::Answer(PaymentPosition::Payable(position)));
    world
        .backend
        .set(&n, Behaviour::Answer(payable(&n, &[(EC, 3_000)])));
    let service_data = "<richiesta xmlns=\"urn:comune:milano:ztl\"><targa>AB123CD</targa></richiesta>";
    let report = world
        .admin_post(
            "/pagopa/demand",
            json!({
                "service_id": "00001",
                "service_subject_id": "00042",
                "service_data_xml": service_data,
                "then_pay": true,
            }),
        )
        .await;
    assert_eq!(report["outcome"], "OK", "{report:#}");
    assert_eq!(report["notice_number"], n.as_str());
    assert_eq!(report["fiscal_code"], EC);
    assert_eq!(report["amount_cents"], 3_000);
    assert_eq!(report["payment"]["result"], "paid", "{report:#}");

    // The backend was asked for a new notice with the service's data as the citizen gave them, then
    // for the position of that notice (verify, activation).
    let questions = world.backend.questions();
    let kinds: Vec<&str> = questions.iter().map(|q| q.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "pagopa.notice.demand",
            "pagopa.position.get",
            "pagopa.position.get"
        ]
    );
    let demand = &questions[0];
    assert_eq!(demand.tenant.as_deref(), Some(TENANT));
    assert_eq!(demand.body["service_id"], "00001");
    assert_eq!(demand.body["service_subject_id"], "00042");
    assert_eq!(demand.body["service_data_xml"], service_data);
    let receipts = world.events("pagopa.receipt.received", 1).await;
    assert_eq!(receipts[0].1["notice_number"], n.as_str());

    // A service the backend does not know: its KO reaches the PSP through the node.
    let unknown = world
        .admin_post(
            "/pagopa/demand",
            json!({
                "service_id": "00009",
                "service_subject_id": "00042",
                "service_data_xml": service_data,
            }),
        )
        .await;
    assert_eq!(unknown["outcome"], "PPT_ERRORE_EMESSO_DA_PAA", "{unknown:#}");
    assert_eq!(
        unknown["fault"]["original_fault_code"], "PAA_PAGAMENTO_SCONOSCIUTO",
        "{unknown:#}"
    );

    // Service data the backend finds wrong for its service: a syntax KO with the backend's reason.
    world.backend.set(
        "00008",
        Behaviour::Answer(PaymentPosition::InvalidServiceData {
            reason: "the plate is not an Italian registration".into(),
        }),
    );
    let invalid = world
        .admin_post(
            "/pagopa/demand",
            json!({
                "service_id": "00008",
                "service_subject_id": "00042",
                "service_data_xml": service_data,
            }),
        )
        .await;
    assert_eq!(invalid["outcome"], "PPT_ERRORE_EMESSO_DA_PAA", "{invalid:#}");
    assert_eq!(
        invalid["fault"]["original_fault_code"], "PAA_SINTASSI_EXTRAXSD",
        "{invalid:#}"
    );
    assert_eq!(
        invalid["fault"]["description"], "the plate is not an Italian registration",
        "{invalid:#}"
    );
}

/// A position with a 16 € @e.bollo transfer beside the fee.
fn stamped(n: &str, document_hash: &str) -> PaymentPosition {
    let PaymentPosition::Payable(mut position) = payable(n, &[(EC, 2_500), (EC, 1_600)]) else {
        unreachable!("payable builds a payable position")
    };
    position.description = "Certificato di residenza in bollo".into();
    position.transfers[1].credit = Credit::RevenueStamp {
        document_hash: document_hash.into(),
        province: "MI".into(),
    };
    position.transfers[1].category = "9/0301116TS/".into();
    PaymentPosition::Payable(position)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revenue_stamp_asked_for_in_get_payment_v2_comes_back_signed_in_the_receipt() {
    let world = World::start().await;
    let n = notice(4_200_000_002);
    let document_hash = "Vh8OvxSf+tu/ZRG5KP3ZJg7KPXb6TktfPHmLnrAvMh4=";
    world
        .backend
        .set(&n, Behaviour::Answer(stamped(&n, document_hash)));
    // V2: the node accepted Snodo's paGetPaymentV2 with richiestaMarcaDaBollo (paForNode.xsd and its
    // semantics), sold the stamp, and Snodo stored the receipt carrying it.
    world.scenario("pay_notice", &n).await;
    let receipts = world.events("pagopa.receipt.received", 1).await;
    let transfers = receipts[0].1["transfers"].as_array().unwrap();
    assert_eq!(transfers[0]["credit"]["iban"], "IT60X0542811101000000123456");
    assert_eq!(transfers[1]["amount_cents"], 1_600);
    let attachment = transfers[1]["credit"]["revenue_stamp_attachment"]
        .as_str()
        .unwrap_or_else(|| panic!("the stamp's transfer carries the stamp: {:#}", receipts[0].1));
    let stamp = openssl::base64::decode_block(attachment).unwrap();
    let text = String::from_utf8(stamp.clone()).unwrap();
    assert!(text.contains(document_hash), "{text}");

    // The independent judges: the schema of the Agenzia delle Entrate and xmlsec1 with the seller's
    // certificate; a stamp altered after signing is refused.
    let dir = temp_dir("pagopa-stamp");
    let file = dir.join("marca.xml");
    std::fs::write(&file, &stamp).unwrap();
    let lint = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(specs().join("xsd-common/MarcaDaBollo.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint is installed");
    assert!(lint.status.success(), "{}", String::from_utf8_lossy(&lint.stderr));
    let certificate = dir.join("seller.pem");
    std::fs::write(&certificate, world.admin_text("/pagopa/stamp-seller").await).unwrap();
    let verify_stamp = |path: &Path| {
        Command::new("xmlsec1")
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&certificate)
            .arg(path)
            .output()
            .expect("xmlsec1 is installed")
    };
    let verified = verify_stamp(&file);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let altered = dir.join("altered.xml");
    std::fs::write(&altered, text.replace("<Importo>16.00<", "<Importo>1.60<")).unwrap();
    assert!(
        !verify_stamp(&altered).status.success(),
        "xmlsec1 refuses an altered stamp"
    );
    std::fs::remove_dir_all(&dir).ok();

    // paGetPayment (V1) has no way to ask for a stamp: Snodo answers PAA_SEMANTICA, never an OK
    // with an account the money must not go to.
    let v1 = notice(4_200_000_003);
    world
        .backend
        .set(&v1, Behaviour::Answer(stamped(&v1, document_hash)));
    let report = world
        .admin_post(
            "/pagopa/scenarios",
            json!({ "scenario": "pay_notice", "notice_number": v1, "version": "v1" }),
        )
        .await;
    assert_eq!(report["passed"], false);
    let activation = &report["payment"]["steps"][1];
    assert_eq!(activation["ec_primitive"], "paGetPayment", "{report:#}");
    assert_eq!(
        activation["fault"]["original_fault_code"], "PAA_SEMANTICA",
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_broadcast_to_the_second_beneficiarys_station_and_stored_for_each_ec() {
    let world = World::with(Options {
        secondary_tenant: true,
        ..Options::default()
    })
    .await;
    let tari = notice(4_200_000_004);
    world.backend.set(
        &tari,
        Behaviour::Answer(payable(&tari, &[(EC, 20_000), (TEFA_EC, 1_000)])),
    );
    let report = world.scenario("pay_notice", &tari).await;
    let copies = report["payment"]["broadcast"].as_array().unwrap();
    assert_eq!(copies.len(), 1, "{report:#}");
    assert_eq!(copies[0]["id_pa"], TEFA_EC);
    assert_eq!(copies[0]["delivered"], true, "{report:#}");

    // One event per receiving EC, each with its tenant: the same payment (receipt id), different
    // message ids, since the receiving idPA is part of it.
    let mut receipts = world.events("pagopa.receipt.received", 2).await;
    receipts.sort_by_key(|(e, _)| e.tenant.clone());
    let tenants: Vec<Option<&str>> = receipts.iter().map(|(e, _)| e.tenant.as_deref()).collect();
    assert_eq!(tenants, [Some(TENANT), Some(TEFA_TENANT)]);
    assert_eq!(receipts[0].1["receipt_id"], receipts[1].1["receipt_id"]);
    assert_ne!(receipts[0].0.message_id, receipts[1].0.message_id);
    assert_eq!(receipts[1].1["id_pa"], TEFA_EC);
    assert_eq!(receipts[1].1["fiscal_code"], EC, "the notice is still Milan's");
    // The secondary beneficiary's backend was never asked about the notice: the copy needs no verify.
    assert!(
        world
            .backend
            .questions()
            .iter()
            .all(|q| q.tenant.as_deref() == Some(TENANT))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_tls_terminating_proxy_the_node_is_recognised_by_its_certificate_fingerprint() {
    let world = World::with(Options {
        behind_proxy: true,
        ..Options::default()
    })
    .await;
    let n = notice(4_200_000_005);
    world
        .backend
        .set(&n, Behaviour::Answer(payable(&n, &[(EC, 4_500)])));
    // The node's mutual TLS ends at the proxy, which passes the fingerprint on: a whole payment.
    let report = world.scenario("pay_notice", &n).await;
    assert_eq!(report["payment"]["result"], "paid");
    world.events("pagopa.receipt.received", 1).await;

    // Whoever reaches Snodo's listener without the proxy: no header, a wrong fingerprint, a
    // malformed one — 403 before anything is read, the backend never asked.
    let asked = world.backend.questions().len();
    let url = format!("{}/pagopa/{STATION}", world.inbound_url);
    let http = reqwest::Client::new();
    let right = node_certificate_fingerprint();
    let wrong = right.replacen(&right[..2], if &right[..2] == "00" { "01" } else { "00" }, 1);
    for header in [None, Some(wrong.as_str()), Some("not-a-fingerprint")] {
        let mut request = http
            .post(&url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(verify(&n));
        if let Some(h) = header {
            request = request.header(FINGERPRINT_HEADER, h);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 403, "{header:?}");
    }
    assert_eq!(world.backend.questions().len(), asked);
    // The same header with the trusted fingerprint is what the proxy sends (in any notation).
    let direct = http
        .post(&url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(FINGERPRINT_HEADER, right.replace(':', "").to_lowercase())
        .body(verify(&n))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    // A client without a certificate does not get past the proxy at all.
    let anonymous = snodo_security::tls::build_client(&snodo_security::tls::TlsClientConfig::new(
        snodo_security::devpki::shared_for_tests().trust_anchors(),
    ))
    .unwrap();
    let refused = anonymous
        .post(format!("{}/pagopa/{STATION}", world.proxy_url.as_ref().unwrap()))
        .body(verify(&n))
        .send()
        .await;
    assert!(refused.is_err(), "the proxy requires a client certificate");
}

fn field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(&body[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_psp_paying_through_node_for_psp_reaches_snodo_and_the_backend() {
    let world = World::start().await;
    let n = notice(4_200_000_006);
    world
        .backend
        .set(&n, Behaviour::Answer(payable(&n, &[(EC, 7_300)])));
    let caller = PspCaller {
        id_psp: "SNODOPSP01".into(),
        id_broker_psp: "SNODOPSP01".into(),
        id_channel: "SNODOPSP01_01".into(),
        password: "snodo-psp-pwd".into(),
    };
    let qr_code = QrCode {
        fiscal_code: EC.into(),
        notice_number: n.clone(),
    };
    let call = |request: PspRequest| {
        let http = world.admin.clone();
        let url = format!("{}/nodo-auth/node-for-psp/v1", world.simulator.url());
        async move {
            http.post(url)
                .header("Ocp-Apim-Subscription-Key", "snodo-development-subscription-key")
                .header("Content-Type", "text/xml; charset=utf-8")
                .body(request.to_envelope())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let verified = call(PspRequest::Verify {
        caller: caller.clone(),
        qr_code: qr_code.clone(),
    })
    .await;
    assert_eq!(field(&verified, "outcome"), Some("OK"), "{verified}");
    assert_eq!(field(&verified, "amount"), Some("73.00"));
    let activated = call(PspRequest::Activate {
        caller: caller.clone(),
        v2: true,
        idempotency_key: Some("SNODOPSP01_0000000001".into()),
        qr_code,
        expiration_ms: None,
        amount: Amount::from_cents(7_300).unwrap(),
        due_date: None,
        payment_note: None,
    })
    .await;
    let token = field(&activated, "paymentToken")
        .unwrap_or_else(|| panic!("{activated}"))
        .to_owned();
    let closed = call(PspRequest::SendOutcome {
        caller,
        v2: true,
        idempotency_key: None,
        payment_tokens: vec![token.clone()],
        paid: true,
    })
    .await;
    assert_eq!(field(&closed, "outcome"), Some("OK"), "{closed}");
    let receipts = world.events("pagopa.receipt.received", 1).await;
    assert_eq!(receipts[0].1["receipt_id"], token.as_str());
    assert_eq!(receipts[0].1["amount_cents"], 7_300);
    let payments = world.admin_get("/pagopa/payments").await;
    assert_eq!(
        payments["payments"][0]["delivery"]["state"], "sent",
        "{payments:#}"
    );
}

//! The node's SOAP service for PSPs (`nodeForPsp`): a test playing the PSP pays a notice with
//! verifyPaymentNotice, activatePaymentNotice[V2] and sendPaymentOutcome[V2], and the stub EC sees
//! the matching paForNode calls; every answer of the node is valid against the official
//! `nodeForPsp.xsd`; the node's own refusals (caller, schema, tokens, a paid notice, an activation in
//! progress) and the EC's KO passed through are told apart.

mod pagopa_common;

use pagopa_common::*;
use snodo_mappings::pagopa::contract::ReceiptVersion;
use snodo_mappings::pagopa::{Amount, PspCaller, PspRequest, QrCode};
use snodo_mappings::soap::read_envelope;
use snodo_security::schema::Schema;
use snodo_security::xml::Limits;

fn caller() -> PspCaller {
    PspCaller {
        id_psp: "SNODOPSP01".into(),
        id_broker_psp: "SNODOPSP01".into(),
        id_channel: "SNODOPSP01_01".into(),
        password: "snodo-psp-pwd".into(),
    }
}

fn qr(n: &str) -> QrCode {
    QrCode {
        fiscal_code: EC.into(),
        notice_number: n.into(),
    }
}

fn activate(n: &str, v2: bool, key: Option<&str>, cents: u64) -> PspRequest {
    PspRequest::Activate {
        caller: caller(),
        v2,
        idempotency_key: key.map(Into::into),
        qr_code: qr(n),
        expiration_ms: Some(600_000),
        amount: Amount::from_cents(cents).unwrap(),
        due_date: None,
        payment_note: None,
    }
}

fn outcome(token: &str, v2: bool, paid: bool) -> PspRequest {
    PspRequest::SendOutcome {
        caller: caller(),
        v2,
        idempotency_key: None,
        payment_tokens: vec![token.into()],
        paid,
    }
}

fn field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(&body[start..end])
}

struct Psp<'h> {
    h: &'h Harness,
    schema: Schema,
}

impl Psp<'_> {
    fn new(h: &Harness) -> Psp<'_> {
        Psp {
            h,
            schema: Schema::compile(specs().join("wsdl/xsd/nodeForPsp.xsd"))
                .expect("nodeForPsp.xsd compiles"),
        }
    }

    /// Sends the envelope as a PSP does (subscription key, SOAP 1.1) and insists the node's answer is
    /// valid against `nodeForPsp.xsd`.
    async fn raw(&self, envelope: String, key: Option<&str>) -> (u16, String) {
        let mut request = self
            .h
            .http
            .post(format!("{}/nodo-auth/node-for-psp/v1", self.h.simulator.url()))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"whatever\"")
            .body(envelope);
        if let Some(k) = key {
            request = request.header("Ocp-Apim-Subscription-Key", k);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if status == 200 {
            let answer = read_envelope(body.as_bytes(), &Limits::default()).expect("a SOAP answer");
            self.schema
                .validate_element(answer.document(), answer.payload())
                .unwrap_or_else(|e| panic!("the node's answer breaks nodeForPsp.xsd: {e}\n{body}"));
        }
        (status, body)
    }

    async fn call(&self, request: &PspRequest) -> String {
        let (status, body) = self.raw(request.to_envelope(), Some(KEY)).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

#[tokio::test]
async fn a_psp_pays_a_notice_through_node_for_psp_v2() {
    let h = Harness::start().await;
    let psp = Psp::new(&h);
    let n = notice(31);
    h.position(&n, payable(&n, &[9500, 550]));

    let verified = psp
        .call(&PspRequest::Verify {
            caller: caller(),
            qr_code: qr(&n),
        })
        .await;
    assert_eq!(field(&verified, "outcome"), Some("OK"), "{verified}");
    assert_eq!(field(&verified, "amount"), Some("100.50"));
    assert_eq!(field(&verified, "standin"), Some("false"));

    let activated = psp
        .call(&activate(&n, true, Some("SNODOPSP01_0123456789"), 10050))
        .await;
    assert_eq!(field(&activated, "outcome"), Some("OK"), "{activated}");
    assert_eq!(field(&activated, "totalAmount"), Some("100.50"));
    assert_eq!(field(&activated, "creditorReferenceId"), Some(&n[1..]));
    assert_eq!(activated.matches("<transfer>").count(), 2);
    let token = field(&activated, "paymentToken").unwrap().to_owned();

    // The same idempotency key again: the same token, the EC not asked twice; another key while
    // the first activation lives: the notice is in progress.
    let repeated = psp
        .call(&activate(&n, true, Some("SNODOPSP01_0123456789"), 10050))
        .await;
    assert_eq!(field(&repeated, "paymentToken"), Some(token.as_str()));
    let other = psp
        .call(&activate(&n, true, Some("SNODOPSP01_9876543210"), 10050))
        .await;
    assert_eq!(
        field(&other, "faultCode"),
        Some("PPT_PAGAMENTO_IN_CORSO"),
        "{other}"
    );
    assert_eq!(h.stub.calls("paGetPaymentV2"), 1);

    let closed = psp.call(&outcome(&token, true, true)).await;
    assert_eq!(field(&closed, "outcome"), Some("OK"), "{closed}");
    for op in ["paVerifyPaymentNotice", "paGetPaymentV2", "paSendRTV2"] {
        assert_eq!(h.stub.calls(op), 1, "{op}");
    }
    let receipts = h.stub.receipts();
    assert_eq!(receipts[0].receipt_id, token, "receiptId is the payment token");
    assert_eq!(receipts[0].version, ReceiptVersion::PaSendRtV2);
    assert_eq!(receipts[0].amount_cents, 10050);

    // The token is spent, and the notice paid: the node answers both itself.
    let twice = psp.call(&outcome(&token, true, true)).await;
    assert_eq!(
        field(&twice, "faultCode"),
        Some("PPT_ESITO_GIA_ACQUISITO"),
        "{twice}"
    );
    let paid = psp
        .call(&PspRequest::Verify {
            caller: caller(),
            qr_code: qr(&n),
        })
        .await;
    assert_eq!(
        field(&paid, "faultCode"),
        Some("PPT_PAGAMENTO_DUPLICATO"),
        "{paid}"
    );
    assert_eq!(h.stub.calls("paVerifyPaymentNotice"), 1);
}

#[tokio::test]
async fn v1_activation_and_outcome_drive_pa_get_payment_and_pa_send_rt() {
    let h = Harness::start().await;
    let psp = Psp::new(&h);
    let n = notice(32);
    h.position(&n, payable(&n, &[4200]));
    let activated = psp.call(&activate(&n, false, None, 4200)).await;
    let token = field(&activated, "paymentToken")
        .unwrap_or_else(|| panic!("{activated}"))
        .to_owned();
    // A KO outcome releases the notice without a receipt; a new activation pays it.
    let failed = psp.call(&outcome(&token, false, false)).await;
    assert_eq!(field(&failed, "outcome"), Some("OK"), "{failed}");
    assert!(h.stub.receipts().is_empty());
    let again = psp.call(&activate(&n, false, None, 4200)).await;
    let token = field(&again, "paymentToken").unwrap().to_owned();
    psp.call(&outcome(&token, false, true)).await;
    assert_eq!(h.stub.calls("paGetPayment"), 2);
    assert_eq!(h.stub.calls("paSendRT"), 1);
    assert_eq!(h.stub.receipts()[0].version, ReceiptVersion::PaSendRt);
}

#[tokio::test]
async fn the_node_refuses_what_is_not_a_known_psp_valid_request_or_live_token() {
    let h = Harness::start().await;
    let psp = Psp::new(&h);
    let n = notice(33);
    h.position(&n, payable(&n, &[1000]));
    let verify = PspRequest::Verify {
        caller: caller(),
        qr_code: qr(&n),
    };
    let (status, _) = psp.raw(verify.to_envelope(), None).await;
    assert_eq!(status, 401, "the API gateway wants the subscription key");

    let mut wrong = caller();
    wrong.password = "not-the-pwd".into();
    let refused = psp
        .call(&PspRequest::Verify {
            caller: wrong,
            qr_code: qr(&n),
        })
        .await;
    assert_eq!(
        field(&refused, "faultCode"),
        Some("PPT_AUTENTICAZIONE"),
        "{refused}"
    );

    let invalid = verify.to_envelope().replace("<noticeNumber>", "<noticeNumber>X");
    let (_, broken) = psp.raw(invalid, Some(KEY)).await;
    assert_eq!(field(&broken, "faultCode"), Some("PPT_SINTASSI_XSD"), "{broken}");

    let unknown = psp.call(&outcome("0123456789abcdef", true, true)).await;
    assert_eq!(
        field(&unknown, "faultCode"),
        Some("PPT_TOKEN_SCONOSCIUTO"),
        "{unknown}"
    );

    // The EC does not know the notice: its KO reaches the PSP with the EC's code.
    let missing = notice(34);
    let ko = psp
        .call(&PspRequest::Verify {
            caller: caller(),
            qr_code: qr(&missing),
        })
        .await;
    assert_eq!(field(&ko, "faultCode"), Some("PPT_ERRORE_EMESSO_DA_PAA"), "{ko}");
    assert_eq!(field(&ko, "originalFaultCode"), Some("PAA_PAGAMENTO_SCONOSCIUTO"));
    assert!(h.stub.receipts().is_empty());
}

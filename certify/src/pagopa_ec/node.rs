//! The node's side of a run: the node simulator's own HTTP client towards the station (mutual TLS,
//! timeouts on its clock) and its own judge (`paForNode.xsd` through the security crate's schema
//! layer, then the node's semantic checks in `snodo_mappings::pagopa`), so that a verdict here is
//! exactly what the simulated node — and, as far as the specs say, the real one — would decide.
//!
//! Every call is timed and ends in what the node would have told the PSP: the EC's data, or a
//! [`PptFault`] (`PPT_ERRORE_EMESSO_DA_PAA` with the EC's code for a valid KO,
//! `PPT_STAZIONE_INT_PA_ERRORE_RESPONSE` for a malformed answer, `…_TIMEOUT`, `…_IRRAGGIUNGIBILE`).

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use snodo_mappings::pagopa::contract::{Receipt, ReceiptVersion};
use snodo_mappings::pagopa::{
    AnswerError, DemandAnswer, DemandPaymentRequest, EcAnswer, GetPaymentRequest, NoticeNumber, Operation,
    PaymentData, QrCode, RequestHeader, VerifyAnswer, VerifyRequest, read_demand_answer,
    read_get_payment_answer, read_send_rt_answer, read_verify_answer,
};
use snodo_mappings::soap::Envelope;
use snodo_simulators::framework::SimClock;
use snodo_simulators::pagopa::client::EcClient;
use snodo_simulators::pagopa::judge::{Judge, PptFault};
use snodo_simulators::pagopa::settings::Timeouts;

use super::args::Settings;
use crate::runner::SuiteError;

/// One call as the node saw it.
#[derive(Debug)]
pub struct Call<T> {
    /// The EC's data, or what the node tells the PSP instead.
    pub verdict: Result<T, PptFault>,
    pub elapsed: Duration,
}

/// The node as it calls one station.
pub struct Node {
    client: EcClient,
    judge: Judge,
    /// Real time: the timeouts are the node's, measured as it measures them.
    clock: SimClock,
    timeouts: Timeouts,
    pub header: RequestHeader,
}

impl Node {
    /// The client (the development PKI may be generated here, which takes seconds the first time)
    /// and the judge, whose schema compiles on its first use.
    pub fn connect(settings: &Settings) -> Result<Node, SuiteError> {
        let client = EcClient::build(&settings.target, &settings.dev_pki_dir).map_err(|e| {
            SuiteError::new(format!("the node's client towards {}: {e}", settings.target.url))
        })?;
        Ok(Node {
            client,
            judge: Judge::new(settings.specs_dir.clone()),
            clock: SimClock::new(),
            timeouts: settings.timeouts,
            header: RequestHeader {
                id_pa: settings.target.id_pa.clone(),
                id_broker_pa: settings.target.id_broker_pa.clone(),
                id_station: settings.target.id_station.clone(),
            },
        })
    }

    /// The QR code of `notice` of this EC.
    pub fn qr(&self, notice: &NoticeNumber) -> QrCode {
        QrCode {
            fiscal_code: self.header.id_pa.clone(),
            notice_number: notice.as_str().to_owned(),
        }
    }

    /// `paVerifyPaymentNoticeReq` for `notice` with `header`'s ids.
    pub fn verify_envelope(
        &self,
        header: &RequestHeader,
        notice: &NoticeNumber,
    ) -> Result<String, SuiteError> {
        VerifyRequest {
            header: header.clone(),
            qr_code: QrCode {
                fiscal_code: header.id_pa.clone(),
                notice_number: notice.as_str().to_owned(),
            },
        }
        .to_envelope()
        .map_err(|e| SuiteError::new(format!("writing paVerifyPaymentNoticeReq: {e}")))
    }

    /// Sends a verify request (well-formed or deliberately not) and judges the answer.
    pub async fn verify(&self, envelope: String) -> Call<VerifyAnswer> {
        self.exchange(
            Operation::VerifyPaymentNotice,
            envelope,
            self.timeouts.verify,
            read_verify_answer,
        )
        .await
    }

    /// `paGetPaymentReq` or `paGetPaymentV2Request` for `notice`, with the amount the PSP activates.
    pub async fn get_payment(
        &self,
        operation: Operation,
        notice: &NoticeNumber,
        amount: Option<snodo_mappings::pagopa::Amount>,
    ) -> Call<PaymentData> {
        let request = GetPaymentRequest {
            operation,
            header: self.header.clone(),
            qr_code: self.qr(notice),
            amount,
            payment_note: None,
            transfer_type: None,
            due_date: None,
        };
        let envelope = match request.to_envelope() {
            Ok(envelope) => envelope,
            Err(e) => return own_failure(format!("writing {}: {e}", operation.name())),
        };
        let iuv = notice.iuv().to_owned();
        self.exchange(operation, envelope, self.timeouts.get_payment, |e| {
            read_get_payment_answer(e, operation, &iuv)
        })
        .await
    }

    /// `paDemandPaymentNoticeRequest` for a subject of a catalogue service, the service's data as given.
    pub fn demand_envelope(
        &self,
        service_id: &str,
        subject_id: &str,
        service_data_xml: &str,
    ) -> Result<String, SuiteError> {
        DemandPaymentRequest {
            header: self.header.clone(),
            service_id: service_id.to_owned(),
            service_subject_id: subject_id.to_owned(),
            service_data_xml: service_data_xml.to_owned(),
        }
        .to_envelope()
        .map_err(|e| SuiteError::new(format!("writing paDemandPaymentNoticeRequest: {e}")))
    }

    /// Sends a demand and judges the answer; the node waits for it as for a verify (pagopa.md §5:
    /// paDemandPaymentNotice, 7 s).
    pub async fn demand(&self, envelope: String) -> Call<DemandAnswer> {
        self.exchange(
            Operation::DemandPaymentNotice,
            envelope,
            self.timeouts.verify,
            read_demand_answer,
        )
        .await
    }

    /// `paSendRT` or `paSendRTV2` (by the receipt's version).
    pub async fn send_receipt(&self, receipt: &Receipt) -> Call<()> {
        let operation = match receipt.version {
            ReceiptVersion::PaSendRt => Operation::SendRt,
            ReceiptVersion::PaSendRtV2 => Operation::SendRtV2,
        };
        let envelope = match receipt.to_envelope() {
            Ok(envelope) => envelope,
            Err(e) => return own_failure(format!("writing {}: {e}", operation.name())),
        };
        self.exchange(operation, envelope, self.timeouts.send_rt, |e| {
            read_send_rt_answer(e, operation)
        })
        .await
    }

    async fn exchange<T>(
        &self,
        operation: Operation,
        envelope: String,
        limit: TimeDelta,
        read: impl FnOnce(&Envelope) -> Result<EcAnswer<T>, AnswerError>,
    ) -> Call<T> {
        let started = Instant::now();
        let outcome = self
            .client
            .call(&self.clock, operation.name(), envelope, limit)
            .await;
        let elapsed = started.elapsed();
        Call {
            verdict: self.judge.judge(outcome, read),
            elapsed,
        }
    }
}

/// The suite could not write its own request: reported as the node's system error (never the EC's
/// fault), which the cases turn into "not judged".
fn own_failure<T>(reason: String) -> Call<T> {
    Call {
        verdict: Err(PptFault::new(
            snodo_simulators::pagopa::judge::SYSTEM_ERROR,
            reason,
        )),
        elapsed: Duration::ZERO,
    }
}

/// What the node tells the PSP, in one line: the fault code, the EC's own code when it sent a valid
/// KO, and why.
pub fn told_psp(fault: &PptFault) -> String {
    match &fault.original_fault_code {
        Some(original) => format!(
            "{} (originalFaultCode {original}): {}",
            fault.fault_code, fault.description
        ),
        None => format!("{}: {}", fault.fault_code, fault.description),
    }
}

/// `12 ms`, for the observations.
pub fn millis(elapsed: Duration) -> String {
    format!("{} ms", elapsed.as_millis())
}

//! The pagoPA EC cases: what the node does to the station, what a conforming EC answers, and where
//! the rule is written (pagopa.md cites SANP and the official fault tables). Run in this order: the
//! questions first, then the payments, so each payment finds its notice still payable.

use crate::case::CaseInfo;

pub const VERIFY: &str = "verify";
pub const VERIFY_UNKNOWN_NOTICE: &str = "verify-unknown-notice";
pub const VERIFY_WRONG_DOMAIN: &str = "verify-wrong-domain";
pub const VERIFY_WRONG_BROKER: &str = "verify-wrong-broker";
pub const VERIFY_WRONG_STATION: &str = "verify-wrong-station";
pub const VERIFY_SYNTAX_ERROR: &str = "verify-syntax-error";
pub const DEMAND: &str = "demand";
pub const DEMAND_UNKNOWN_SUBJECT: &str = "demand-unknown-subject";
pub const DEMAND_BAD_SERVICE_DATA: &str = "demand-bad-service-data";
pub const GET_PAYMENT_V2: &str = "get-payment-v2";
pub const GET_PAYMENT_V2_REPEAT: &str = "get-payment-v2-repeat";
pub const GET_PAYMENT_V2_UNKNOWN_NOTICE: &str = "get-payment-v2-unknown-notice";
pub const GET_PAYMENT: &str = "get-payment";
pub const SEND_RT_V2: &str = "send-rt-v2";
pub const SEND_RT_V2_DUPLICATE: &str = "send-rt-v2-duplicate";
pub const SEND_RT: &str = "send-rt";
pub const SEND_RT_DUPLICATE: &str = "send-rt-duplicate";
pub const SEND_RT_V2_STAND_IN: &str = "send-rt-v2-stand-in";

const ANSWERS: &str = "SANP, paForNode.xsd; the node's checks: pagopa.md §3.2";
const TIMEOUT: &str =
    "within the node's timeout (7 s; paSendRT 15 s: SANP, Livelli di Servizio Enti Creditori)";

pub fn cases() -> Vec<CaseInfo> {
    vec![
        CaseInfo::new(
            VERIFY,
            "paVerifyPaymentNotice for every --notice",
            format!(
                "outcome OK, valid against paForNode.xsd, one payment option with amount, options and allCCP, \
                 paymentDescription, fiscalCodePA and companyName; {TIMEOUT}"
            ),
            format!("{ANSWERS}; SANP: on an OK verify officeName is optional, every other tag mandatory"),
        ),
        CaseInfo::new(
            VERIFY_UNKNOWN_NOTICE,
            "paVerifyPaymentNotice for a notice the EC does not know",
            "a valid KO with a fault bean, faultCode PAA_PAGAMENTO_SCONOSCIUTO (the node passes it on as \
             PPT_ERRORE_EMESSO_DA_PAA)",
            "pagoPA fault table Nodo -> EC (pagopa.md §3.1)",
        ),
        CaseInfo::new(
            VERIFY_WRONG_DOMAIN,
            "paVerifyPaymentNotice naming an idPA and fiscalCode the station does not serve",
            "a valid KO with faultCode PAA_ID_DOMINIO_ERRATO",
            "pagoPA fault table Nodo -> EC, caller configuration (pagopa.md §3.1)",
        ),
        CaseInfo::new(
            VERIFY_WRONG_BROKER,
            "paVerifyPaymentNotice naming another idBrokerPA",
            "a valid KO with faultCode PAA_ID_INTERMEDIARIO_ERRATO",
            "pagoPA fault table Nodo -> EC, caller configuration (pagopa.md §3.1)",
        ),
        CaseInfo::new(
            VERIFY_WRONG_STATION,
            "paVerifyPaymentNotice naming another idStation",
            "a valid KO with faultCode PAA_STAZIONE_INT_ERRATA",
            "pagoPA fault table Nodo -> EC, caller configuration (pagopa.md §3.1)",
        ),
        CaseInfo::new(
            VERIFY_SYNTAX_ERROR,
            "paVerifyPaymentNotice whose noticeNumber breaks the XSD (a letter in it)",
            "a valid paVerifyPaymentNoticeRes KO with faultCode PAA_SINTASSI_XSD or PAA_SINTASSI_EXTRAXSD, \
             not a SOAP Fault",
            "pagoPA fault table Nodo -> EC, syntax (pagopa.md §3.1); SANP: errors are outcome KO with a fault",
        ),
        CaseInfo::new(
            DEMAND,
            "paDemandPaymentNotice for --demand-subject of --demand-service with --demand-data, then \
             paVerifyPaymentNotice of the notice it created",
            format!(
                "outcome OK, valid against paForNode.xsd, a qrCode of this EC (fiscalCode = idPA = fiscalCodePA) \
                 with a noticeNumber whose check digits are right, one payment option with amount, \
                 paymentDescription and companyName; the new notice then verifies OK for the same amount; {TIMEOUT}"
            ),
            format!(
                "{ANSWERS}; paDemandPaymentNotice (pagoPA \"modello 4\", pagopa.md §2.4: the PSP pays the new \
                 notice like any other)"
            ),
        ),
        CaseInfo::new(
            DEMAND_UNKNOWN_SUBJECT,
            "paDemandPaymentNotice for a subject of the service the EC does not know (--unknown-subject)",
            "a valid KO with faultCode PAA_PAGAMENTO_SCONOSCIUTO: there is no position to create a notice for",
            "pagoPA fault table Nodo -> EC, paDemandPaymentNotice semantic codes (pagopa.md §3.1)",
        ),
        CaseInfo::new(
            DEMAND_BAD_SERVICE_DATA,
            "paDemandPaymentNotice whose datiSpecificiServizioRequest is base64 of text that is no XML document",
            "a valid paDemandPaymentNoticeResponse KO with faultCode PAA_SINTASSI_EXTRAXSD or PAA_SINTASSI_XSD, \
             not a SOAP Fault and not a notice",
            "pagoPA fault table Nodo -> EC, syntax: paDemandPaymentNotice lists both codes (pagopa.md §3.1); \
             paForNode.xsd: the data are an XML document per the service's catalogue XSD (pagopa.md §2.2)",
        ),
        CaseInfo::new(
            GET_PAYMENT_V2,
            "paGetPaymentV2 for the first notice",
            format!(
                "outcome OK, valid against paForNode.xsd, creditorReferenceId the notice's IUV, 1 to 5 \
                 transfers numbered once each and adding up to paymentAmount; {TIMEOUT}"
            ),
            ANSWERS,
        ),
        CaseInfo::new(
            GET_PAYMENT_V2_REPEAT,
            "paGetPaymentV2 again for the same notice, as after an expired payment token",
            "answered OK again with the same IUV and amount: verify and activation never change the position",
            "pagopa.md §5, idempotency expectations",
        ),
        CaseInfo::new(
            GET_PAYMENT_V2_UNKNOWN_NOTICE,
            "paGetPaymentV2 for a notice the EC does not know",
            "a valid KO with faultCode PAA_PAGAMENTO_SCONOSCIUTO",
            "pagoPA fault table Nodo -> EC (pagopa.md §3.1)",
        ),
        CaseInfo::new(
            GET_PAYMENT,
            "paGetPayment (V1) for the second notice",
            format!(
                "outcome OK, valid against paForNode.xsd, the notice's IUV, transfers adding up to \
                 paymentAmount; {TIMEOUT}"
            ),
            ANSWERS,
        ),
        CaseInfo::new(
            SEND_RT_V2,
            "paSendRTV2 with the receipt of the first notice, paid as paGetPaymentV2 answered",
            format!("outcome OK, valid against paForNode.xsd; {TIMEOUT}"),
            "SANP, Fase di invio della ricevuta; paForNode.xsd",
        ),
        CaseInfo::new(
            SEND_RT_V2_DUPLICATE,
            "the same paSendRTV2 again (a node retry)",
            "outcome OK or a valid KO PAA_RECEIPT_DUPLICATA; any other answer makes the node re-send it \
             every hour for 48 hours",
            "pagopa.md §5, paSendRT retries and idempotency expectations",
        ),
        CaseInfo::new(
            SEND_RT,
            "paSendRT (V1) with the receipt of the second notice, paid as paGetPayment answered",
            format!("outcome OK, valid against paForNode.xsd; {TIMEOUT}"),
            "SANP, Fase di invio della ricevuta; paForNode.xsd",
        ),
        CaseInfo::new(
            SEND_RT_DUPLICATE,
            "the same paSendRT again (a node retry)",
            "outcome OK or a valid KO PAA_RECEIPT_DUPLICATA",
            "pagopa.md §5, paSendRT retries and idempotency expectations",
        ),
        CaseInfo::new(
            SEND_RT_V2_STAND_IN,
            "paSendRTV2 with standIn=true for the third notice (a Stand-In payment's receipt; its data from \
             paGetPaymentV2)",
            "outcome OK: a receipt marked standIn=true is accepted like any other, whatever the EC answered \
             before (Stand-In receipts arrive for notices the EC may not have been asked about)",
            "SANP, Stand In (pagopa.md §5, receipts the EC must accept)",
        ),
    ]
}

//! What ANPR checks on every request, one case each (anpr-and-cie-booking.md §1.3, §1.6): a run
//! judges every request a client sends on all of them, and a case fails when any request fails it.
//! The order is the simulator's (`simulators/src/anpr/soap.rs`), which is ANPR's: the SOAP frame,
//! WS-Security, the client certificate, the service's XSD, the header, the operation id.

use serde::Serialize;

use crate::case::CaseInfo;

pub const SOAP_ENVELOPE: &str = "soap-envelope";
pub const TIMESTAMP: &str = "ws-security-timestamp";
pub const TOKEN: &str = "ws-security-token";
pub const SIGNATURE: &str = "ws-security-signature";
pub const ASSERTION: &str = "ws-security-assertion";
pub const ID_POSTAZIONE_FIRMATO: &str = "ws-security-id-postazione-firmato";
pub const CERTIFICATE: &str = "client-certificate";
pub const XSD: &str = "xsd";
pub const HEADER: &str = "header";
pub const ID_OPERAZIONE: &str = "id-operazione-comune";

pub const PDND_VOUCHER_REQUEST: &str = "pdnd-voucher-request";
pub const PDND_TRACKING_EVIDENCE: &str = "pdnd-tracking-evidence";
pub const PDND_AUDIT_DIGEST: &str = "pdnd-audit-digest";
pub const PDND_DIGEST: &str = "pdnd-digest";
pub const PDND_SIGNATURE: &str = "pdnd-signature";
pub const PDND_FRESH_VOUCHER: &str = "pdnd-fresh-voucher";

/// The PDND checks: the first judged on voucher requests, the others on e-service calls.
pub const PDND: [&str; 6] = [
    PDND_VOUCHER_REQUEST,
    PDND_TRACKING_EVIDENCE,
    PDND_AUDIT_DIGEST,
    PDND_DIGEST,
    PDND_SIGNATURE,
    PDND_FRESH_VOUCHER,
];

/// The WS-Security checks, in the verifier's order.
pub const WS_SECURITY: [&str; 5] = [TIMESTAMP, TOKEN, SIGNATURE, ASSERTION, ID_POSTAZIONE_FIRMATO];

const SECURITY: &str = "anpr-and-cie-booking.md §1.6; soap-client-example/wsdl/policy-X509v3.xml";
const MODI: &str = "anpr-and-cie-booking.md §2.4 (ModI on PDND; GovWay's refusals in italia/anpr issues)";

pub fn cases() -> Vec<CaseInfo> {
    vec![
        CaseInfo::new(
            SOAP_ENVELOPE,
            "the request is a well-formed SOAP 1.1 Envelope with one Body",
            "XML within the parser's limits (no DTD, no entities), a SOAP 1.1 Envelope, an optional Header \
             then exactly one Body holding the service's request",
            "SOAP 1.1 §4; the services' WSDLs",
        ),
        CaseInfo::new(
            TIMESTAMP,
            "wsse:Security carries one fresh, signed wsu:Timestamp",
            "Created then Expires, with a time zone; Created not in the future and Expires not passed (60 s \
             of clock skew), at most 5 minutes apart",
            format!("{SECURITY} (IncludeTimestamp; SAML2CallbackHandler: 5 minutes)"),
        ),
        CaseInfo::new(
            TOKEN,
            "the signature's key comes from a BinarySecurityToken holding a trusted comune certificate",
            "one X509v3 BinarySecurityToken (base64), referenced by the signature's SecurityTokenReference, \
             whose certificate is one of the comuni's ANPR trusts",
            format!("{SECURITY} (X509v3 token, IncludeToken AlwaysToRecipient)"),
        ),
        CaseInfo::new(
            SIGNATURE,
            "ds:Signature over the SOAP Body and the Timestamp, with ANPR's algorithms",
            "a detached signature verifying with the token's key, its References covering the Envelope's Body \
             and the header's Timestamp and nothing else outside the header, RSA-SHA1 or stronger, exclusive \
             c14n",
            format!(
                "{SECURITY} (SignedParts Body + Timestamp); ANPR: \"Internal Error (from client)\" otherwise"
            ),
        ),
        CaseInfo::new(
            ASSERTION,
            "a SAML 2.0 assertion signed by the comune, with ANPR's attributes, valid now",
            "one saml2:Assertion with one enveloped signature by a trusted comune certificate, Issuer, a \
             bearer Subject, the attributes IdSede, IdPostazione, IdPostazioneFirmato and IdApplicazione once \
             each, and its SubjectConfirmationData window holding now",
            format!("{SECURITY} (SAML2CallbackHandler)"),
        ),
        CaseInfo::new(
            ID_POSTAZIONE_FIRMATO,
            "IdPostazioneFirmato is the workstation's CMS signature of IdPostazione",
            "base64 CMS SignedData with attached content equal to the IdPostazione attribute, signed by a \
             trusted workstation (comune) certificate",
            format!("{SECURITY} (Signer.java: SHA256withRSA, content attached)"),
        ),
        CaseInfo::new(
            CERTIFICATE,
            "the TLS client certificate is the comune's <ISTAT>-CO-… (or -pc-) certificate",
            "mutual TLS with a certificate of ANPR's CA whose CN starts with the IdSede of the assertion \
             followed by -CO- or -pc-, valid now",
            "anpr-and-cie-booking.md §1.6; ANPR: \"Postazione certificate does not seem to carry a valid CN name \
             (from client)\"",
        ),
        CaseInfo::new(
            XSD,
            "the Body's request is valid against the service's official XSD",
            "the payload is a service request (Richiesta1001, 2001, 3002, 3003, 4002, 4005, 5005, 6001 or \
             RichiestaConnessione) valid against its schema of soap/comuni v9.0.3",
            "specs/anpr/soap/comuni/*.xsd; ANPR: \"Malformed content (from client)\"",
        ),
        CaseInfo::new(
            HEADER,
            "testataRichiesta: sender, rule version, operation, type and environment",
            "codMittente = IdSede, codDestinatario ANPR05, operazioneRichiesta the service's code, \
             dataOraRichiesta an xs:dateTime, tipoOperazione C, V or R, tipoInvio this environment's, \
             dataDecorrenza on registrations (1001, 2001, 5005)",
            "anpr-and-cie-booking.md §1.3 (tipoDato.xsd, changelog.md); ANPR: EN167, \"Rejected by policy\"",
        ),
        CaseInfo::new(
            ID_OPERAZIONE,
            "idOperazioneComune is numeric, increasing per comune, reused only to repeat the same service",
            "a new number is greater than the comune's last; a number already used is reused only for the \
             same service (a retry); never for another service",
            "anpr-and-cie-booking.md §1.3, §1.7 (EN079); tipoDato.xsd (testataRichiesta)",
        ),
        CaseInfo::new(
            PDND_VOUCHER_REQUEST,
            "PDND voucher requests: client_credentials with a signed client assertion bound to the audit token",
            "form-encoded grant_type client_credentials, client_assertion_type jwt-bearer, client_id; a client \
             assertion (RS256, kid) verifying with a trusted comune key, iss = sub = client_id, aud PDND's \
             …/client-assertion, purposeId, jti, iat not in the future, exp not passed, digest {alg SHA256, \
             value: 64 hex digits}",
            format!("{MODI}, step 2"),
        ),
        CaseInfo::new(
            PDND_TRACKING_EVIDENCE,
            "e-service calls carry a signed Agid-JWT-TrackingEvidence (AUDIT_REST_02)",
            "RS256 with kid, verifying with a trusted comune key; iss, aud the e-service's audience (the URL \
             without -PDND and the operation), purposeId, dnonce, userID, userLocation, LoA, jti; fresh",
            format!("{MODI}, step 1; §2.2 (aud)"),
        ),
        CaseInfo::new(
            PDND_AUDIT_DIGEST,
            "the TrackingEvidence sent is the one the voucher was issued for",
            "hex SHA-256 of the Agid-JWT-TrackingEvidence header equals the digest.value of the client \
             assertion that obtained the call's voucher (recomputed here)",
            format!("{MODI}, step 2 (the digest binds the audit token to the voucher)"),
        ),
        CaseInfo::new(
            PDND_DIGEST,
            "e-service calls carry a Digest of the exact body",
            "Digest: SHA-256=<base64 of SHA-256 of the body bytes received> (recomputed here)",
            format!("{MODI}, step 3; GovWay: \"Digest does not match\""),
        ),
        CaseInfo::new(
            PDND_SIGNATURE,
            "e-service calls carry an Agid-JWT-Signature over their headers (INTEGRITY_REST_02)",
            "RS256 with kid, verifying with a trusted comune key; iss, aud the e-service's audience, jti, \
             fresh; signed_headers an array of objects naming the Digest and the Content-Type sent",
            format!("{MODI}, step 4; GovWay refuses signed_headers as a string"),
        ),
        CaseInfo::new(
            PDND_FRESH_VOUCHER,
            "every e-service call uses a voucher of its own, issued during the run",
            "the Bearer voucher was issued by the run's PDND and used by no earlier call",
            format!("{MODI} (pn-national-registries asks a fresh voucher per ANPR call: the audit binding)"),
        ),
    ]
}

/// How one request fared on one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// An earlier check failed and ANPR would not have looked further (or the check does not apply).
    NotJudged,
}

/// One check of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    pub status: Status,
    /// What was seen (pass), what is wrong (fail), or why it was not judged.
    pub detail: String,
}

impl CheckResult {
    pub fn pass(check: &'static str, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            check,
            status: Status::Pass,
            detail: detail.into(),
        }
    }

    pub fn fail(check: &'static str, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            check,
            status: Status::Fail,
            detail: detail.into(),
        }
    }

    pub fn not_judged(check: &'static str, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            check,
            status: Status::NotJudged,
            detail: detail.into(),
        }
    }
}

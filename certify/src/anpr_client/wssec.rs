//! The WS-Security checks, on the security crate's verifying side (`snodo_security::wssec`, the one
//! the ANPR simulator refuses requests with). That verifier stops at the first problem, as ANPR
//! does; to report each part of the header (Timestamp, token, signature, assertion,
//! IdPostazioneFirmato) separately, its error is mapped to the part it concerns, the parts it had
//! already passed pass, and the parts after it are "not judged" — except after a Timestamp problem:
//! time alone is then set aside (a verifier with unbounded skew and lifetime) so a stale but otherwise
//! correct request is told exactly that, and the assertion's own validity window is checked on its
//! own against the time of reception.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use openssl::x509::X509;
use snodo_security::dsig::{SignaturePolicy, TrustedKeys};
use snodo_security::wssec::{
    AnprAttributes, RequestVerifier, SAML2_NAMESPACE, VerifiedRequest, WsSecurityError, verify_workstation_id,
};
use snodo_security::xml::{Document, NodeId};

use super::checks::{
    ASSERTION, CheckResult, ID_POSTAZIONE_FIRMATO, SIGNATURE, TIMESTAMP, TOKEN, WS_SECURITY,
};

/// ANPR's tolerance (the verifier's default).
const SKEW: Duration = Duration::from_secs(60);
/// "Any time at all", for judging everything but time.
const UNBOUNDED: Duration = Duration::from_secs(200 * 365 * 24 * 3600);

/// Where in the verifier's order an error stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Timestamp,
    Token,
    Signature,
    Assertion,
}

impl Stage {
    fn check(self) -> &'static str {
        match self {
            Stage::Timestamp => TIMESTAMP,
            Stage::Token => TOKEN,
            Stage::Signature => SIGNATURE,
            Stage::Assertion => ASSERTION,
        }
    }
}

/// What an error is about.
enum Concern {
    /// The Envelope itself (reported by the envelope check).
    Envelope,
    /// No usable Security header at all: every part fails.
    WholeHeader,
    Stage(Stage),
}

fn concern(e: &WsSecurityError) -> Concern {
    use WsSecurityError as E;
    match e {
        E::Xml(_) | E::NotAnEnvelope | E::EnvelopeStructure { .. } => Concern::Envelope,
        E::MissingSecurityHeader
        | E::DuplicateSecurityHeader { .. }
        | E::UnexpectedSecurityElement { .. } => Concern::WholeHeader,
        E::SecurityElementCount { element, .. } => Concern::Stage(match *element {
            "wsu:Timestamp" => Stage::Timestamp,
            "saml2:Assertion" => Stage::Assertion,
            _ => Stage::Signature,
        }),
        E::TimestampMalformed { .. }
        | E::TimestampExpired { .. }
        | E::TimestampInFuture { .. }
        | E::TimestampLifetime { .. } => Concern::Stage(Stage::Timestamp),
        E::MissingTokenReference
        | E::TokenReference { .. }
        | E::TokenNotFound { .. }
        | E::TokenMalformed { .. }
        | E::UntrustedToken { .. } => Concern::Stage(Stage::Token),
        E::AssertionSignatureCount { .. }
        | E::AssertionSignature(_)
        | E::AssertionMalformed { .. }
        | E::AssertionAttribute { .. }
        | E::AssertionNotValidNow { .. } => Concern::Stage(Stage::Assertion),
        // The message signature, its coverage, and what a verifier should never raise.
        _ => Concern::Stage(Stage::Signature),
    }
}

/// The WS-Security verdict of one request.
pub struct SecurityFindings {
    /// One result per check of [`WS_SECURITY`], in that order; empty when the envelope itself was
    /// refused (the envelope check says why).
    pub results: Vec<CheckResult>,
    pub envelope_error: Option<String>,
    /// The assertion's attributes, when its signature verified.
    pub attributes: Option<AnprAttributes>,
}

/// The verifiers, built once from the trusted comune certificates.
pub struct SecurityJudge {
    strict: RequestVerifier,
    timeless: RequestVerifier,
    workstations: Vec<X509>,
}

impl SecurityJudge {
    pub fn new(trusted: Vec<X509>) -> Result<SecurityJudge, snodo_security::dsig::SignatureError> {
        let keys = TrustedKeys::from_certificates(trusted.clone())?;
        let strict =
            RequestVerifier::new(SignaturePolicy::anpr_ws_security(), keys.clone(), keys).with_max_skew(SKEW);
        let timeless = strict
            .clone()
            .with_max_skew(UNBOUNDED)
            .with_max_lifetime(UNBOUNDED);
        Ok(SecurityJudge {
            strict,
            timeless,
            workstations: trusted,
        })
    }

    pub fn judge(&self, doc: &Document, now: SystemTime) -> SecurityFindings {
        let error = match self.strict.verify(doc, now) {
            Ok(verified) => return self.complete(doc, &verified, Vec::new(), now, false),
            Err(e) => e,
        };
        let stage = match concern(&error) {
            Concern::Envelope => {
                return SecurityFindings {
                    results: Vec::new(),
                    envelope_error: Some(error.to_string()),
                    attributes: None,
                };
            }
            Concern::WholeHeader => {
                return SecurityFindings {
                    results: WS_SECURITY
                        .iter()
                        .map(|check| CheckResult::fail(check, error.to_string()))
                        .collect(),
                    envelope_error: None,
                    attributes: None,
                };
            }
            Concern::Stage(stage) => stage,
        };
        if stage != Stage::Timestamp {
            return SecurityFindings {
                results: stopped_at(stage, &error),
                envelope_error: None,
                attributes: None,
            };
        }
        // The Timestamp alone is stale or malformed: judge the rest without time.
        let timestamp_failure = vec![CheckResult::fail(TIMESTAMP, error.to_string())];
        match self.timeless.verify(doc, now) {
            Ok(verified) => self.complete(doc, &verified, timestamp_failure, now, true),
            Err(later) => {
                let results = match concern(&later) {
                    Concern::Stage(later_stage) if later_stage > Stage::Timestamp => {
                        let mut results = timestamp_failure;
                        results.extend(stopped_at(later_stage, &later).into_iter().skip(1));
                        results
                    }
                    // A Timestamp that no clock makes acceptable: nothing after it can be judged.
                    _ => stopped_at(Stage::Timestamp, &error),
                };
                SecurityFindings {
                    results,
                    envelope_error: None,
                    attributes: None,
                }
            }
        }
    }

    /// The checks after a verification that got through the assertion: what was not already decided
    /// passes (the assertion's window checked here when the verifier was timeless), then
    /// IdPostazioneFirmato.
    fn complete(
        &self,
        doc: &Document,
        verified: &VerifiedRequest,
        mut results: Vec<CheckResult>,
        now: SystemTime,
        check_window: bool,
    ) -> SecurityFindings {
        let attributes = verified.attributes().clone();
        if results.is_empty() {
            results.push(CheckResult::pass(
                TIMESTAMP,
                format!("fresh, {} s of validity", lifetime_seconds(verified)),
            ));
        }
        results.push(CheckResult::pass(
            TOKEN,
            "a trusted comune certificate, referenced by the signature",
        ));
        results.push(CheckResult::pass(
            SIGNATURE,
            "verifies, over the Body and the Timestamp",
        ));
        let window = if check_window {
            assertion_window(doc, verified.assertion(), now)
        } else {
            Ok(())
        };
        results.push(match window {
            Ok(()) => CheckResult::pass(
                ASSERTION,
                format!(
                    "signed by a trusted comune certificate; IdSede {}, IdApplicazione {}",
                    attributes.id_sede, attributes.id_applicazione
                ),
            ),
            Err(reason) => CheckResult::fail(ASSERTION, reason),
        });
        results.push(
            match verify_workstation_id(
                &attributes.id_postazione_firmato,
                &attributes.id_postazione,
                &self.workstations,
            ) {
                Ok(()) => CheckResult::pass(
                    ID_POSTAZIONE_FIRMATO,
                    format!("signs IdPostazione {}", attributes.id_postazione),
                ),
                Err(e) => CheckResult::fail(ID_POSTAZIONE_FIRMATO, e.to_string()),
            },
        );
        SecurityFindings {
            results,
            envelope_error: None,
            attributes: Some(attributes),
        }
    }
}

fn lifetime_seconds(verified: &VerifiedRequest) -> u64 {
    verified
        .expires()
        .duration_since(verified.created())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The checks when the verifier stopped at `stage` with `error`: the ones before passed, that one
/// failed, the ones after were not looked at.
fn stopped_at(stage: Stage, error: &WsSecurityError) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for (check, at) in [
        (TIMESTAMP, Stage::Timestamp),
        (TOKEN, Stage::Token),
        (SIGNATURE, Stage::Signature),
        (ASSERTION, Stage::Assertion),
    ] {
        results.push(if at < stage {
            CheckResult::pass(check, "passed")
        } else if at == stage {
            CheckResult::fail(check, error.to_string())
        } else {
            CheckResult::not_judged(
                check,
                format!("not judged: ANPR stops at the failed {}", stage.check()),
            )
        });
    }
    results.push(CheckResult::not_judged(
        ID_POSTAZIONE_FIRMATO,
        format!("not judged: ANPR stops at the failed {}", stage.check()),
    ));
    results
}

/// The assertion's SubjectConfirmationData window at `now` (what the strict verifier checks), for an
/// assertion verified without time.
fn assertion_window(doc: &Document, assertion: NodeId, now: SystemTime) -> Result<(), String> {
    let child = |parent: NodeId, local: &str| {
        doc.child_elements(parent).find(|&c| {
            doc.element(c)
                .is_some_and(|e| e.name().is(Some(SAML2_NAMESPACE), local))
        })
    };
    let Some(data) = child(assertion, "Subject")
        .and_then(|s| child(s, "SubjectConfirmation"))
        .and_then(|c| child(c, "SubjectConfirmationData"))
    else {
        return Ok(());
    };
    let Some(element) = doc.element(data) else {
        return Ok(());
    };
    let now: DateTime<Utc> = now.into();
    let skew = chrono::TimeDelta::from_std(SKEW).unwrap_or_default();
    let instant = |name: &str| {
        element
            .attribute(None, name)
            .map(|v| DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&Utc)))
    };
    match instant("NotBefore") {
        Some(Err(_)) => return Err("SubjectConfirmationData NotBefore is not an xs:dateTime".into()),
        Some(Ok(t)) if t > now + skew => {
            return Err(format!("the assertion is not valid before {t} (now {now})"));
        }
        _ => {}
    }
    match instant("NotOnOrAfter") {
        Some(Err(_)) => Err("SubjectConfirmationData NotOnOrAfter is not an xs:dateTime".into()),
        Some(Ok(t)) if t <= now - skew => Err(format!("the assertion expired at {t} (now {now})")),
        _ => Ok(()),
    }
}

//! Fault rules: what a test scripts into a simulator through `POST /admin/faults`, and the one
//! ordered, per-instance list the fault layer ([`super::layer`]) consults on every protocol request.
//!
//! A rule is a scope (operation, optional field = value, "next N calls" or always) and a [`Fault`].
//! Rules are evaluated in order and the first matching rule wins. Matching the scope needs the parsed
//! request (the protocol layer's [`Simulator::field_matches`](super::Simulator::field_matches)), so
//! it happens outside the lock on a snapshot; the claim — decrementing a count — then happens under
//! the lock on the live list, so concurrent calls never consume one "next call" twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Longest latency a rule may inject: enough to outlast any client timeout the platforms use
/// (pagoPA's node waits at most tens of seconds), short enough that a forgotten rule cannot hold a
/// connection for hours.
pub const MAX_LATENCY_MS: u64 = 600_000;

/// What happens to a matched call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Wait, then answer normally. Either `ms` (fixed) or `min_ms` and `max_ms` (a value in the
    /// range, drawn deterministically from the rule's id and hit count).
    Latency {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_ms: Option<u64>,
    },
    /// Answer this HTTP status instead of calling the protocol handler (a gateway's 503, a 429).
    HttpStatus {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    /// The platform's own business error, rendered by the simulator in its protocol (pagoPA:
    /// outcome KO with a `PAA_…`/`PPT_…` fault bean; ANPR: an `EN…` error list).
    PlatformError { code: String, message: String },
    /// A SOAP 1.1 Fault: `code` is `Client`, `Server`, `VersionMismatch`, `MustUnderstand` or a
    /// dotted refinement (`Client.Authentication`); `detail` is well-formed XML.
    SoapFault {
        code: String,
        string: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Close the connection without answering. (Unit-like variants are written `{}` so that
    /// `deny_unknown_fields` refuses a misspelled extra field instead of ignoring it.)
    DropConnection {},
    /// Run the handler, then send its reply cut in half (truncated XML or JSON).
    MalformedReply {},
    /// Answer a document built to hurt the client's parser instead of calling the handler.
    HostileReply { payload: HostilePayload },
}

/// The hostile documents a simulator can answer with: each one a client must refuse, not process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostilePayload {
    /// "Billion laughs": nested internal entities expanding to gigabytes.
    EntityBomb,
    /// An external entity naming a local file (XXE).
    ExternalEntity,
    /// Elements nested far deeper than any real message, for recursive parsers.
    DeepNesting,
}

impl Fault {
    /// The `kind` tag, for the recorder and messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            Fault::HttpStatus { .. } => "http_status",
            Fault::PlatformError { .. } => "platform_error",
            Fault::SoapFault { .. } => "soap_fault",
            Fault::DropConnection {} => "drop_connection",
            Fault::MalformedReply {} => "malformed_reply",
            Fault::HostileReply { .. } => "hostile_reply",
        }
    }
}

/// A rule's match on one request field: a JSON pointer (`/payer/fiscalCode`) on a JSON request, or
/// an element's local name (`noticeNumber`) on an XML request, compared with `value` as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMatch {
    pub path: String,
    pub value: String,
}

/// A rule as posted to `POST /admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRuleSpec {
    /// The operation name the simulator reports (e.g. a SOAP payload's local name); absent = any.
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub field: Option<FieldMatch>,
    /// Apply to the next `times` matching calls, then disappear; absent = every matching call.
    #[serde(default)]
    pub times: Option<u32>,
    pub fault: Fault,
}

/// A live rule, as `GET /admin/faults` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultRule {
    pub id: u64,
    pub operation: Option<String>,
    pub field: Option<FieldMatch>,
    /// Calls still to be faulted; `None` = always.
    pub remaining: Option<u32>,
    /// Calls faulted so far.
    pub hits: u64,
    pub fault: Fault,
}

/// The fault chosen for one call, with the rule it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedFault {
    pub rule: u64,
    /// Which hit of the rule this was, from 1.
    pub hit: u64,
    #[serde(flatten)]
    pub fault: Fault,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("fault rule: {0}")]
    Invalid(String),
    #[error("fault rule {id} does not exist (it may have been used up)")]
    NotFound { id: u64 },
}

impl FaultRuleSpec {
    /// Refuses rules that could never apply or would answer something that is not HTTP.
    pub fn validate(&self) -> Result<(), RuleError> {
        let invalid = |m: &str| Err(RuleError::Invalid(m.to_owned()));
        if self.times == Some(0) {
            return invalid("times must be at least 1; leave it out to fault every matching call");
        }
        if let Some(op) = &self.operation
            && op.trim().is_empty()
        {
            return invalid("operation must not be empty; leave it out to match every operation");
        }
        if let Some(field) = &self.field
            && field.path.trim().is_empty()
        {
            return invalid("field.path must not be empty");
        }
        match &self.fault {
            Fault::Latency { ms, min_ms, max_ms } => match (ms, min_ms, max_ms) {
                (Some(ms), None, None) if *ms <= MAX_LATENCY_MS => Ok(()),
                (None, Some(min), Some(max)) if min <= max && *max <= MAX_LATENCY_MS => Ok(()),
                _ => Err(RuleError::Invalid(format!(
                    "latency takes either ms, or min_ms <= max_ms, each at most {MAX_LATENCY_MS}"
                ))),
            },
            Fault::HttpStatus { status, .. } => {
                if axum::http::StatusCode::from_u16(*status).is_ok() && (100..=599).contains(status) {
                    Ok(())
                } else {
                    Err(RuleError::Invalid(format!(
                        "http_status: {status} is not an HTTP status code (100 to 599)"
                    )))
                }
            }
            Fault::PlatformError { code, .. } if code.trim().is_empty() => {
                invalid("platform_error: code must not be empty")
            }
            Fault::SoapFault { code, detail, .. } => {
                super::replies::soap_fault_code(code).map_err(RuleError::Invalid)?;
                if let Some(detail) = detail {
                    super::replies::check_detail(detail).map_err(RuleError::Invalid)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The ordered rules of one simulator instance.
#[derive(Debug, Clone, Default)]
pub struct FaultRules {
    rules: Arc<Mutex<Vec<FaultRule>>>,
    next_id: Arc<AtomicU64>,
}

impl FaultRules {
    /// Appends validated rules (all or none), returning them with their ids.
    pub fn add(&self, specs: Vec<FaultRuleSpec>) -> Result<Vec<FaultRule>, RuleError> {
        for spec in &specs {
            spec.validate()?;
        }
        let added: Vec<FaultRule> = specs
            .into_iter()
            .map(|s| FaultRule {
                id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
                operation: s.operation,
                field: s.field,
                remaining: s.times,
                hits: 0,
                fault: s.fault,
            })
            .collect();
        self.rules.lock().extend(added.iter().cloned());
        Ok(added)
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.lock().clone()
    }

    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    pub fn remove(&self, id: u64) -> Result<(), RuleError> {
        let mut rules = self.rules.lock();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        if rules.len() == before {
            return Err(RuleError::NotFound { id });
        }
        Ok(())
    }

    /// The first rule, in order, whose scope `matches` (given the operation and field match of the
    /// rule) and that still has calls left; its count is decremented and a rule that is used up is
    /// removed. `None` when no rule applies.
    pub fn claim(
        &self,
        operation: Option<&str>,
        field_matches: impl Fn(&FieldMatch) -> bool,
    ) -> Option<AppliedFault> {
        let snapshot = self.list();
        let candidates: Vec<u64> = snapshot
            .iter()
            .filter(|r| {
                r.operation.as_deref().is_none_or(|op| Some(op) == operation)
                    && r.field.as_ref().is_none_or(&field_matches)
            })
            .map(|r| r.id)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let mut rules = self.rules.lock();
        // The live list keeps the snapshot's order (rules are only appended or removed), so the
        // first live candidate is the first matching rule still in force.
        let index = rules.iter().position(|r| candidates.contains(&r.id))?;
        let rule = &mut rules[index];
        rule.hits += 1;
        let applied = AppliedFault {
            rule: rule.id,
            hit: rule.hits,
            fault: rule.fault.clone(),
        };
        if let Some(remaining) = &mut rule.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        Some(applied)
    }
}

/// The delay of a latency fault for one hit: fixed, or spread over the range by a hash of the rule
/// and hit, so that a run is reproducible without a random number generator.
pub fn latency_ms(fault: &AppliedFault) -> Option<u64> {
    let Fault::Latency { ms, min_ms, max_ms } = &fault.fault else {
        return None;
    };
    if let Some(ms) = ms {
        return Some(*ms);
    }
    let (min, max) = (min_ms.unwrap_or(0), max_ms.unwrap_or(0));
    // SplitMix64 finalizer over (rule, hit).
    let mut z = fault.rule.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fault.hit;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Some(min + z % (max - min + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> FaultRuleSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn counted_rule_is_used_up_then_the_next_rule_applies() {
        let rules = FaultRules::default();
        rules
            .add(vec![
                spec(serde_json::json!({"times": 2, "fault": {"kind": "drop_connection"}})),
                spec(serde_json::json!({"fault": {"kind": "malformed_reply"}})),
            ])
            .unwrap();
        let kinds: Vec<&str> = (0..4)
            .map(|_| rules.claim(None, |_| true).unwrap().fault.kind())
            .collect();
        assert_eq!(
            kinds,
            [
                "drop_connection",
                "drop_connection",
                "malformed_reply",
                "malformed_reply"
            ]
        );
        assert_eq!(rules.list().len(), 1);
    }

    #[test]
    fn invalid_rules_are_refused_with_a_reason() {
        for (json, needle) in [
            (
                serde_json::json!({"times": 0, "fault": {"kind": "drop_connection"}}),
                "at least 1",
            ),
            (
                serde_json::json!({"fault": {"kind": "latency", "ms": 1, "max_ms": 3}}),
                "latency",
            ),
            (
                serde_json::json!({"fault": {"kind": "latency", "min_ms": 5, "max_ms": 3}}),
                "latency",
            ),
            (
                serde_json::json!({"fault": {"kind": "http_status", "status": 42}}),
                "42",
            ),
            (
                serde_json::json!({"fault": {"kind": "soap_fault", "code": "Oops", "string": "x"}}),
                "Oops",
            ),
            (
                serde_json::json!({"fault": {"kind": "soap_fault", "code": "Server", "string": "x", "detail": "<a>"}}),
                "detail",
            ),
            (
                serde_json::json!({"fault": {"kind": "platform_error", "code": " ", "message": "x"}}),
                "code",
            ),
        ] {
            let err = spec(json.clone()).validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn misspelled_fields_are_refused_not_ignored() {
        for json in [
            serde_json::json!({"fault": {"kind": "latency", "ms": 1, "msec": 2}}),
            serde_json::json!({"fault": {"kind": "drop_connection", "after": 1}}),
            serde_json::json!({"operaton": "x", "fault": {"kind": "drop_connection"}}),
            serde_json::json!({"fault": {"kind": "hostile_reply", "payload": "zip_bomb"}}),
        ] {
            assert!(
                serde_json::from_value::<FaultRuleSpec>(json.clone()).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn latency_ranges_stay_in_range_and_vary() {
        let mut seen = std::collections::BTreeSet::new();
        for hit in 1..200 {
            let applied = AppliedFault {
                rule: 7,
                hit,
                fault: Fault::Latency {
                    ms: None,
                    min_ms: Some(10),
                    max_ms: Some(20),
                },
            };
            let ms = latency_ms(&applied).unwrap();
            assert!((10..=20).contains(&ms));
            seen.insert(ms);
        }
        assert!(seen.len() > 5, "{seen:?}");
    }
}

//! The TLS handshakes the judging simulator could not complete, kept for the reports: a client whose
//! certificate chains to a CA ANPR does not trust never reaches a handler (OpenSSL refuses it during
//! the handshake, even with the client certificate optional), so without this record the run would
//! only say that no request arrived. The security crate's TLS server tells the [`HandshakeRecorder`]
//! of each failure; the `client-certificate` case fails on every refused chain with OpenSSL's reason.

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use snodo_security::tls::{HandshakeFailure, HandshakeFailureCause, HandshakeObserver};

/// How many failures are kept one by one; beyond, they are only counted (a port scanner must not
/// grow the run's memory without bound).
const KEPT: usize = 1000;

/// One failed handshake, as `anpr-client.requests.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct HandshakeVerdict {
    pub at: DateTime<Utc>,
    /// The client's address and port.
    pub remote: String,
    /// True when the client's certificate chain is why: the client's fault as ANPR judges it.
    pub untrusted_chain: bool,
    /// OpenSSL's verify error (untrusted chain) or handshake error; "timed out".
    pub reason: String,
}

/// Collects the failures the TLS server reports during the run.
#[derive(Default)]
pub struct HandshakeRecorder {
    state: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    kept: Vec<HandshakeVerdict>,
    total: usize,
}

impl HandshakeRecorder {
    /// The observer to put in the TLS server's configuration; `progress` prints each failure.
    pub fn observer(self: &std::sync::Arc<Self>, progress: bool) -> HandshakeObserver {
        let recorder = self.clone();
        HandshakeObserver::new(move |failure| recorder.record(&failure, progress))
    }

    fn record(&self, failure: &HandshakeFailure, progress: bool) {
        let (untrusted_chain, reason) = match &failure.cause {
            HandshakeFailureCause::UntrustedCertificate(verify) => (true, verify.error_string().to_owned()),
            HandshakeFailureCause::Protocol(error) => (false, error.clone()),
            HandshakeFailureCause::TimedOut => (false, "timed out".to_owned()),
        };
        if progress {
            eprintln!("anpr-client: {failure}");
        }
        let mut state = self.state.lock();
        state.total += 1;
        if state.kept.len() < KEPT {
            state.kept.push(HandshakeVerdict {
                at: Utc::now(),
                remote: failure.remote.to_string(),
                untrusted_chain,
                reason,
            });
        }
    }

    /// The failures kept, oldest first, and how many there were in all.
    pub fn verdicts(&self) -> (Vec<HandshakeVerdict>, usize) {
        let state = self.state.lock();
        (state.kept.clone(), state.total)
    }
}

/// The `client-certificate` failure for the refused chains among `handshakes`, if any:
/// `client certificate chain not trusted: <OpenSSL's reason> (…)`, one clause per distinct reason.
pub fn untrusted_chains(handshakes: &[HandshakeVerdict]) -> Option<String> {
    let refused: Vec<&HandshakeVerdict> = handshakes.iter().filter(|h| h.untrusted_chain).collect();
    let first = refused.first()?;
    let mut reasons: Vec<&str> = Vec::new();
    for handshake in &refused {
        if !reasons.contains(&handshake.reason.as_str()) {
            reasons.push(&handshake.reason);
        }
    }
    let clauses: Vec<String> = reasons
        .iter()
        .map(|reason| format!("client certificate chain not trusted: {reason}"))
        .collect();
    Some(format!(
        "{} ({} TLS handshake(s) refused, the first from {}; a refused client reaches no service)",
        clauses.join("; "),
        refused.len(),
        first.remote
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(untrusted_chain: bool, reason: &str) -> HandshakeVerdict {
        HandshakeVerdict {
            at: Utc::now(),
            remote: "127.0.0.1:40000".into(),
            untrusted_chain,
            reason: reason.into(),
        }
    }

    #[test]
    fn only_refused_chains_fail_the_case_each_reason_once() {
        assert_eq!(untrusted_chains(&[]), None);
        assert_eq!(untrusted_chains(&[verdict(false, "timed out")]), None);
        let reason = untrusted_chains(&[
            verdict(false, "timed out"),
            verdict(true, "unable to get local issuer certificate"),
            verdict(true, "unable to get local issuer certificate"),
            verdict(true, "certificate has expired"),
        ])
        .unwrap();
        assert_eq!(
            reason,
            "client certificate chain not trusted: unable to get local issuer certificate; client \
             certificate chain not trusted: certificate has expired (3 TLS handshake(s) refused, the \
             first from 127.0.0.1:40000; a refused client reaches no service)"
        );
    }
}

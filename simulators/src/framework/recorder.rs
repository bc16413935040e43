//! The exchange recorder: every protocol request a simulator received and what it answered, in a
//! bounded ring (the oldest dropped first, the number dropped reported), for integrators and tests to
//! read through `GET /admin/exchanges`.
//!
//! Bodies are kept verbatim up to a size cap: they are synthetic data, and seeing exactly what was
//! sent is the point. They are never written to the log; this module does not use `tracing` at all.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;

use super::faults::AppliedFault;

/// Default number of exchanges kept.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Default bytes kept of each body.
pub const DEFAULT_BODY_CAP: usize = 64 * 1024;

/// A body as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedBody {
    /// The first bytes (up to the cap) as UTF-8 text; invalid sequences, which the simulated
    /// protocols (XML, JSON) never contain, become U+FFFD.
    pub text: String,
    /// Length of the whole body in bytes.
    pub bytes: usize,
    pub truncated: bool,
}

impl RecordedBody {
    pub fn new(body: &[u8], cap: usize) -> RecordedBody {
        let kept = &body[..body.len().min(cap)];
        RecordedBody {
            text: String::from_utf8_lossy(kept).into_owned(),
            bytes: body.len(),
            truncated: kept.len() < body.len(),
        }
    }
}

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// Position in the recording, from 1; gaps at the start are dropped exchanges.
    pub seq: u64,
    /// When the request arrived, by the simulator clock.
    pub at: DateTime<Utc>,
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// The operation the simulator recognised, if any.
    pub operation: Option<String>,
    /// The HTTP status sent; `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    pub request: RecordedBody,
    pub response: Option<RecordedBody>,
    pub fault: Option<AppliedFault>,
    /// Subject of the verified TLS client certificate, when the connection had one.
    pub peer_subject: Option<String>,
}

/// Which exchanges `GET /admin/exchanges` returns.
#[derive(Debug, Clone, Default)]
pub struct ExchangeFilter {
    pub operation: Option<String>,
    /// Only exchanges at or after this simulator time.
    pub since: Option<DateTime<Utc>>,
    /// Only the most recent `limit` of the matching ones.
    pub limit: Option<usize>,
}

/// What `GET /admin/exchanges` answers.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangePage {
    /// Oldest first.
    pub exchanges: Vec<Exchange>,
    /// Exchanges pushed out of the ring since the last clear.
    pub dropped: u64,
    pub capacity: usize,
}

/// The ring of one simulator instance (cheaply cloned, shared).
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Ring>>,
    body_cap: usize,
}

#[derive(Debug)]
struct Ring {
    exchanges: VecDeque<Exchange>,
    capacity: usize,
    next_seq: u64,
    dropped: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new(DEFAULT_CAPACITY, DEFAULT_BODY_CAP)
    }
}

impl Recorder {
    /// A recorder keeping `capacity` exchanges (at least one) and `body_cap` bytes of each body.
    pub fn new(capacity: usize, body_cap: usize) -> Recorder {
        let capacity = capacity.max(1);
        Recorder {
            inner: Arc::new(Mutex::new(Ring {
                exchanges: VecDeque::with_capacity(capacity.min(DEFAULT_CAPACITY)),
                capacity,
                next_seq: 1,
                dropped: 0,
            })),
            body_cap,
        }
    }

    pub fn body_cap(&self) -> usize {
        self.body_cap
    }

    /// Records an exchange, assigning its sequence number (the `seq` given is ignored).
    pub fn push(&self, mut exchange: Exchange) {
        let mut ring = self.inner.lock();
        exchange.seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.exchanges.len() == ring.capacity {
            ring.exchanges.pop_front();
            ring.dropped += 1;
        }
        ring.exchanges.push_back(exchange);
    }

    pub fn query(&self, filter: &ExchangeFilter) -> ExchangePage {
        let ring = self.inner.lock();
        let mut exchanges: Vec<Exchange> = ring
            .exchanges
            .iter()
            .filter(|e| {
                filter
                    .operation
                    .as_deref()
                    .is_none_or(|op| e.operation.as_deref() == Some(op))
                    && filter.since.is_none_or(|since| e.at >= since)
            })
            .cloned()
            .collect();
        if let Some(limit) = filter.limit {
            let skip = exchanges.len().saturating_sub(limit);
            exchanges.drain(..skip);
        }
        ExchangePage {
            exchanges,
            dropped: ring.dropped,
            capacity: ring.capacity,
        }
    }

    /// Forgets everything, the dropped count included; sequence numbers continue.
    pub fn clear(&self) {
        let mut ring = self.inner.lock();
        ring.exchanges.clear();
        ring.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(op: &str) -> Exchange {
        Exchange {
            seq: 0,
            at: Utc::now(),
            method: "POST".into(),
            uri: "/".into(),
            operation: Some(op.into()),
            status: Some(200),
            request: RecordedBody::new(b"", 10),
            response: None,
            fault: None,
            peer_subject: None,
        }
    }

    #[test]
    fn ring_drops_the_oldest_and_counts_them() {
        let recorder = Recorder::new(3, 10);
        for op in ["a", "b", "c", "d", "e"] {
            recorder.push(exchange(op));
        }
        let page = recorder.query(&ExchangeFilter::default());
        let ops: Vec<_> = page
            .exchanges
            .iter()
            .map(|e| e.operation.clone().unwrap())
            .collect();
        assert_eq!(ops, ["c", "d", "e"]);
        assert_eq!(page.dropped, 2);
        assert_eq!(page.exchanges[0].seq, 3);
    }

    #[test]
    fn bodies_are_capped_and_say_so() {
        let body = RecordedBody::new(b"0123456789abc", 10);
        assert_eq!(body.text, "0123456789");
        assert_eq!(body.bytes, 13);
        assert!(body.truncated);
    }
}

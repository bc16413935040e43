//! The journal itself: takes reports from the consumer runtime (every command, every attempt at a
//! platform, through [`JournalSink`]) and from inbound endpoints, turns them into [`TraceRecord`]s
//! indexed by message id, correlation id and keyed hashes of business ids, and writes them in the
//! background; answers `snodo ops trace` and erases one person's records.
//!
//! Business ids (codice fiscale, IUV / notice number, `idOperazioneComune`, booking code) are taken
//! from the fields of command and result bodies that carry them, normalised (spaces removed, upper
//! case) and indexed as HMAC-SHA256 under a secret key, so that neither the index nor a copy of the
//! store lists who was looked up: finding someone needs the key and the id. The key comes from
//! `journal.hmac_key_file`; without one it is random per process (in-process store) or created once in
//! Redis for every instance (weaker: a dump of Redis then holds the key; configure a file in
//! production).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};
use snodo_queue::privacy::mask_personal_data;
use snodo_queue::runtime::journal::{
    CommandRecord, CommandStep, CurrentCommand, EventRecord, JournalSink, PlatformAttempt,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::JournalError;
use super::redis_trace::RedisTrace;
use super::trace::{MemoryTrace, RecordKind, TraceRecord, TraceStore, id_key};

/// Body fields whose values are business ids (the mappings' JSON names).
pub const BUSINESS_FIELDS: &[&str] = &[
    "codice_fiscale",
    "iuv",
    "notice_number",
    "id_operazione_comune",
    "id_operazione_anpr",
    "booking_code",
    // SPID / CIE attributes of a login (`identity.login.succeeded`): `TINIT-<codice fiscale>`.
    "fiscalNumber",
];

/// The codice fiscale inside a SAML `fiscalNumber` (`TINIT-RSSMRA…`), so one id finds both.
fn strip_tin_prefix(value: &str) -> &str {
    value.strip_prefix("TINIT-").unwrap_or(value)
}

/// Reports waiting to be written; beyond this the journal drops (and counts) rather than slow commands.
const QUEUE_CAPACITY: usize = 10_000;
const BATCH: usize = 256;

/// `[journal]` in `snodo.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSettings {
    /// How long records are kept (`"7d"`).
    #[serde(default = "default_retention", with = "duration_text")]
    pub retention: Duration,
    /// Keep raw request and response bodies (personal data: off unless an investigation needs it).
    #[serde(default)]
    pub raw_bodies: bool,
    /// File holding the secret key of the business-id index (at least 32 bytes).
    #[serde(default)]
    pub hmac_key_file: Option<PathBuf>,
}

impl Default for JournalSettings {
    fn default() -> Self {
        JournalSettings {
            retention: default_retention(),
            raw_bodies: false,
            hmac_key_file: None,
        }
    }
}

fn default_retention() -> Duration {
    Duration::from_secs(7 * 86_400)
}

mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

pub type SharedTraceStore = Arc<dyn TraceStore>;

/// One inbound call a platform made to Snodo.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    /// What was called, as the metrics label it: `pagopa.paSendRT`, `identity.acs`.
    pub endpoint: String,
    /// The route (`/pagopa/{station}`), never the concrete path (it may carry ids).
    pub route: Option<String>,
    pub outcome: String,
    pub status: Option<u16>,
    pub elapsed: Duration,
    /// The event it produced, if any.
    pub message_id: Option<String>,
    /// Every event it produced (the trace follows each).
    pub event_ids: Vec<String>,
    pub message_type: Option<String>,
    pub tenant: Option<String>,
    pub business_ids: Vec<String>,
    pub request: Option<Bytes>,
    pub response: Option<Bytes>,
}

pub struct Journal {
    store: SharedTraceStore,
    hmac_key: Vec<u8>,
    raw_bodies: bool,
    tx: mpsc::Sender<TraceRecord>,
    dropped: AtomicU64,
}

/// Writes what the journal queued until the instance stops; run it as a background task.
pub struct JournalWriter {
    store: SharedTraceStore,
    rx: mpsc::Receiver<TraceRecord>,
}

impl JournalWriter {
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let n = tokio::select! {
                biased;
                n = self.rx.recv_many(&mut batch, BATCH) => n,
                _ = shutdown.cancelled() => {
                    // Whatever is queued still goes in.
                    while let Ok(r) = self.rx.try_recv() { batch.push(r); }
                    self.write(&mut batch).await;
                    return;
                }
            };
            if n == 0 {
                return;
            }
            self.write(&mut batch).await;
        }
    }

    async fn write(&self, batch: &mut Vec<TraceRecord>) {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.append(batch).await {
            tracing::warn!(error = %e, records = batch.len(), "Journal records not written.");
        }
        batch.clear();
    }
}

impl Journal {
    /// A journal over `store`, and the writer to run beside it.
    pub fn new(
        store: SharedTraceStore,
        hmac_key: Vec<u8>,
        raw_bodies: bool,
    ) -> (Arc<Journal>, JournalWriter) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let journal = Journal {
            store: store.clone(),
            hmac_key,
            raw_bodies,
            tx,
            dropped: AtomicU64::new(0),
        };
        (Arc::new(journal), JournalWriter { store, rx })
    }

    /// The journal of `snodo up`: on Redis when `redis_url` is set (as the dead-letter index and the
    /// coordination state), in-process otherwise.
    pub async fn connect(
        redis_url: Option<&str>,
        prefix: &str,
        settings: &JournalSettings,
    ) -> Result<(Arc<Journal>, JournalWriter), JournalError> {
        let from_file = match &settings.hmac_key_file {
            Some(path) => {
                let key = std::fs::read(path).map_err(|e| {
                    JournalError::Unavailable(format!(
                        "journal.hmac_key_file {} cannot be read: {e}",
                        path.display()
                    ))
                })?;
                if key.len() < 32 {
                    return Err(JournalError::Unavailable(format!(
                        "journal.hmac_key_file {} holds {} bytes; the key needs at least 32",
                        path.display(),
                        key.len()
                    )));
                }
                Some(key)
            }
            None => None,
        };
        let mut random = [0u8; 32];
        openssl::rand::rand_bytes(&mut random).map_err(|e| JournalError::Unavailable(e.to_string()))?;
        Ok(match redis_url {
            Some(url) => {
                let store = RedisTrace::connect(url, prefix, settings.retention).await?;
                let key = match from_file {
                    Some(k) => k,
                    None => {
                        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
                        store.shared_hmac_key(hex.as_bytes()).await?
                    }
                };
                Journal::new(Arc::new(store), key, settings.raw_bodies)
            }
            None => Journal::new(
                Arc::new(MemoryTrace::new(
                    settings.retention,
                    super::trace::DEFAULT_MEMORY_RECORDS,
                )),
                from_file.unwrap_or_else(|| random.to_vec()),
                settings.raw_bodies,
            ),
        })
    }

    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// Reports dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The trace key of a business id: `biz:` and the HMAC of its normal form.
    pub fn business_key(&self, id: &str) -> String {
        let normal: String = id
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        let key = PKey::hmac(&self.hmac_key).expect("an HMAC key of any length is accepted");
        let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("HMAC-SHA256 is available");
        let mac = signer
            .sign_oneshot_to_vec(normal.as_bytes())
            .expect("HMAC over a buffer cannot fail");
        let hex: String = mac[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("biz:{hex}")
    }

    fn push(&self, record: TraceRecord) {
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn raw(&self, body: Option<&Bytes>) -> Option<String> {
        if !self.raw_bodies {
            return None;
        }
        body.map(|b| String::from_utf8_lossy(b).into_owned())
    }

    fn keys(&self, ids: &[Option<&str>], business: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut keys: Vec<String> = ids.iter().flatten().map(|id| id_key(id)).collect();
        keys.extend(business.into_iter().map(|b| self.business_key(&b)));
        keys.sort();
        keys.dedup();
        keys
    }

    /// Records one inbound call (a platform calling Snodo). A call naming neither an event nor a
    /// business id is not written: no trace could reach it (the metrics still count it).
    pub fn inbound(&self, call: InboundRecord) {
        let mut ids: Vec<Option<&str>> = vec![call.message_id.as_deref()];
        ids.extend(call.event_ids.iter().map(|id| Some(id.as_str())));
        let keys = self.keys(&ids, call.business_ids);
        if keys.is_empty() {
            return;
        }
        let platform = call.endpoint.split('.').next().unwrap_or_default().to_owned();
        // Stamped when the call arrived, so that it precedes the events it caused in a trace.
        let arrived = Utc::now() - chrono::Duration::from_std(call.elapsed).unwrap_or_default();
        self.push(TraceRecord {
            at: arrived,
            kind: RecordKind::InboundCall,
            source: platform,
            message_id: call.message_id,
            message_type: call.message_type,
            tenant: call.tenant,
            operation: Some(call.endpoint),
            endpoint: call.route,
            status: call.status,
            duration_ms: Some(call.elapsed.as_millis() as u64),
            outcome: Some(call.outcome),
            request_body: self.raw(call.request.as_ref()),
            response_body: self.raw(call.response.as_ref()),
            keys,
            ..blank(RecordKind::InboundCall)
        });
    }

    /// Records one event published outside a command's outcome, attached to the command being handled
    /// when there is one (its `correlation_id` is then the command's message id).
    pub fn event(&self, command: Option<&CurrentCommand>, e: EventRecord) {
        let command_id = command.map(|c| c.message_id.as_str());
        let mut business: Vec<String> = e.platform_id.iter().cloned().collect();
        if let Some(body) = &e.body {
            business.extend(business_ids(body));
        }
        let keys = self.keys(&[Some(e.message_id.as_str()), command_id], business);
        self.push(TraceRecord {
            source: e.publisher,
            message_id: Some(e.message_id),
            correlation_id: command_id.map(str::to_owned),
            message_type: Some(e.kind),
            tenant: e.tenant,
            duration_ms: Some(e.elapsed.as_millis() as u64),
            outcome: Some(match &e.outcome {
                Ok(()) => "ok".to_owned(),
                Err(_) => "not_stored".to_owned(),
            }),
            detail: e.outcome.err().as_deref().map(mask_personal_data),
            request_body: self.raw(e.body.as_ref()),
            keys,
            ..blank(RecordKind::EventPublished)
        });
    }

    /// Every record of the story `id` belongs to — a message id, a correlation id or a business id —
    /// in time order: the records indexed under it, then every record of the commands they name.
    pub async fn trace(&self, id: &str) -> Result<Vec<TraceRecord>, JournalError> {
        let first = self.store.find(&[id_key(id), self.business_key(id)]).await?;
        let mut keys: Vec<String> = first
            .iter()
            .flat_map(|r| [r.message_id.as_deref(), r.correlation_id.as_deref()])
            .flatten()
            .map(id_key)
            .collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Ok(first);
        }
        let mut all = self.store.find(&keys).await?;
        all.extend(first);
        all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        all.dedup_by(|a, b| a.id == b.id);
        Ok(all)
    }

    /// Erases every record of one person's stories (see [`Journal::trace`]); returns how many records
    /// went and the message ids they concerned (their dead letters are the caller's to purge).
    pub async fn erase(&self, business_id: &str) -> Result<(u64, Vec<String>), JournalError> {
        let records = self.trace(business_id).await?;
        let mut message_ids: Vec<String> = records.iter().filter_map(|r| r.message_id.clone()).collect();
        message_ids.sort();
        message_ids.dedup();
        let n = self.store.delete(&records).await?;
        Ok((n, message_ids))
    }

    pub async fn failures(&self, since: DateTime<Utc>) -> Result<Vec<TraceRecord>, JournalError> {
        self.store.failures(since).await
    }
}

fn blank(kind: RecordKind) -> TraceRecord {
    TraceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        at: Utc::now(),
        kind,
        source: String::new(),
        message_id: None,
        correlation_id: None,
        message_type: None,
        tenant: None,
        attempt: None,
        operation: None,
        endpoint: None,
        status: None,
        duration_ms: None,
        outcome: None,
        platform_code: None,
        detail: None,
        retry_in_ms: None,
        request_body: None,
        response_body: None,
        keys: Vec::new(),
    }
}

/// Business ids in a JSON body: string (or number) values of [`BUSINESS_FIELDS`], at any depth.
pub fn business_ids(body: &[u8]) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::String(s)
                            if BUSINESS_FIELDS.contains(&k.as_str()) && s.len() <= 64 =>
                        {
                            out.push(strip_tin_prefix(s).to_owned())
                        }
                        serde_json::Value::Number(n) if BUSINESS_FIELDS.contains(&k.as_str()) => {
                            out.push(n.to_string())
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        walk(&v, &mut out);
    }
    out
}

impl JournalSink for Journal {
    fn command(&self, r: CommandRecord) {
        let kind = match r.step {
            CommandStep::Received => RecordKind::CommandReceived,
            CommandStep::Completed => RecordKind::CommandCompleted,
            CommandStep::RetryScheduled => RecordKind::RetryScheduled,
            CommandStep::Failed => RecordKind::CommandFailed,
        };
        let mut business: Vec<String> = r.external_key.iter().cloned().collect();
        for body in [&r.body, &r.result].into_iter().flatten() {
            business.extend(business_ids(body));
        }
        let keys = self.keys(&[r.message_id.as_deref(), r.correlation_id.as_deref()], business);
        self.push(TraceRecord {
            source: r.connector,
            message_id: r.message_id,
            correlation_id: r.correlation_id,
            message_type: r.kind,
            tenant: r.tenant,
            attempt: Some(r.attempt),
            outcome: match r.step {
                CommandStep::Received => None,
                CommandStep::Completed => Some("ok".to_owned()),
                _ => r.error_code.map(|c| c.as_str().to_owned()),
            },
            platform_code: r.platform_code,
            detail: r.error.as_deref().map(mask_personal_data),
            retry_in_ms: r.retry_in.map(|d| d.as_millis() as u64),
            request_body: self.raw(r.body.as_ref()),
            response_body: self.raw(r.result.as_ref()),
            keys,
            ..blank(kind)
        });
    }

    fn platform_attempt(&self, command: Option<&CurrentCommand>, a: PlatformAttempt) {
        let message_id = command.map(|c| c.message_id.as_str());
        let keys = self.keys(&[message_id], a.business_ids);
        self.push(TraceRecord {
            source: a.platform.to_owned(),
            message_id: message_id.map(str::to_owned),
            correlation_id: command.and_then(|c| c.correlation_id.clone()),
            message_type: command.map(|c| c.kind.clone()),
            tenant: command.and_then(|c| c.tenant.clone()),
            operation: Some(a.operation),
            endpoint: Some(a.endpoint),
            status: a.status,
            duration_ms: Some(a.elapsed.as_millis() as u64),
            outcome: Some(match a.outcome {
                Ok(()) => "ok".to_owned(),
                Err(c) => c.as_str().to_owned(),
            }),
            platform_code: a.platform_code,
            request_body: self.raw(a.request.as_ref()),
            response_body: self.raw(a.response.as_ref()),
            keys,
            ..blank(RecordKind::PlatformAttempt)
        });
    }

    fn event(&self, command: Option<&CurrentCommand>, event: EventRecord) {
        Journal::event(self, command, event);
    }
}

#[cfg(test)]
mod tests {
    use super::business_ids;

    #[test]
    fn business_ids_are_found_at_any_depth_and_a_login_names_its_codice_fiscale() {
        let body = serde_json::json!({
            "iuv": "01202500000000281",
            "receipt": {"notice_number": 301202500000000281u64},
            "attributes": {"fiscalNumber": "TINIT-RSSMRA80A01F205X", "name": "Mario"},
            "items": [{"booking_code": "BK-1"}],
            "description": "not an id"
        });
        let mut ids = business_ids(body.to_string().as_bytes());
        ids.sort();
        assert_eq!(
            ids,
            [
                "01202500000000281",
                "301202500000000281",
                "BK-1",
                "RSSMRA80A01F205X"
            ]
        );
    }
}

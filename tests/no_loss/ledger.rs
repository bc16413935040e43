//! What was sent and what came back: the harness's side of the no-loss proof. Every published message
//! is recorded with what must become of it; a consumer on the backend's event queue records every event
//! (duplicates included: delivery is at least once); at the end [`Ledger::verify`] holds the two against
//! each other and against the dead-letter index, and returns the figures the test prints.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use snodo_queue::envelope::Envelope;
use snodo_queue::transport::Publish;
use snodo_queue::{ConsumeOptions, SharedTransport};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::logins::{BrowserSaw, Intent, LoginRecord, key_of};
use super::workloads::{Expect, Planned};

/// One terminal event as received (first copy; later copies only counted).
#[derive(Debug, Clone)]
pub struct Terminal {
    pub kind: String,
    pub code: Option<String>,
    /// The platform's own code of a failure (`SLOT_ESAURITO`, `HTTP 400`), when it gave one.
    pub platform_code: Option<String>,
    pub attempt: u32,
    pub external_key: Option<String>,
    pub copies: u32,
}

/// One `identity.login.*` event as received; copies add the tickets they carry (a login whose
/// answer was "try again" may have had its event stored by the failed attempt too, same message id).
#[derive(Debug, Clone)]
pub struct LoginEvent {
    pub kind: String,
    pub tickets: BTreeSet<String>,
    pub spid_error_code: Option<u64>,
    pub copies: u32,
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub kind: String,
    pub connector: &'static str,
    pub expect: Expect,
}

#[derive(Default)]
pub struct Ledger {
    pub sent: Mutex<HashMap<Uuid, Sent>>,
    /// Per connector: how many messages without an id were sent.
    pub sent_without_id: Mutex<u64>,
    /// correlation id → event message id → the event.
    pub terminals: Mutex<HashMap<Uuid, BTreeMap<Uuid, Terminal>>>,
    /// `pagopa.receipt.received`: event message id → (receipt id, copies).
    pub receipts: Mutex<HashMap<Uuid, (String, u32)>>,
    /// `identity.login.*`: login key (from the event's return URL) → event message id → the event.
    pub logins: Mutex<HashMap<String, BTreeMap<Uuid, LoginEvent>>>,
    pub events_received: Mutex<u64>,
    pub publish_retries: Mutex<u64>,
}

impl Ledger {
    /// Publishes `planned` to the commands exchange, trying again until the broker confirms it (the
    /// broker may be restarting). A publish whose confirm was lost may be stored twice: same
    /// `message_id`, which the proof allows as at-least-once.
    pub async fn publish(
        &self,
        transport: &SharedTransport,
        exchange: &str,
        connector: &'static str,
        planned: Planned,
    ) {
        let kind = planned.kind();
        match planned.message_id() {
            Some(id) => {
                self.sent.lock().insert(
                    id,
                    Sent {
                        kind: kind.clone(),
                        connector,
                        expect: planned.expect,
                    },
                );
            }
            None => *self.sent_without_id.lock() += 1,
        }
        let publish = Publish::new(exchange.to_owned(), kind, planned.message);
        let mut pause = Duration::from_millis(100);
        for _ in 0..600 {
            match transport.publish(publish.clone()).await {
                Ok(()) => return,
                Err(_) => {
                    *self.publish_retries.lock() += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
        panic!("a command could not be published for ten minutes");
    }

    /// Consumes `queue` until `stop`, recording every event.
    pub fn consume_events(
        self: &Arc<Self>,
        transport: SharedTransport,
        queue: String,
        stop: CancellationToken,
    ) {
        let ledger = self.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let mut consumer = match transport.consume(&queue, ConsumeOptions { prefetch: 500 }).await {
                    Ok(c) => c,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                loop {
                    let delivery = tokio::select! {
                        _ = stop.cancelled() => return,
                        d = consumer.next() => d,
                    };
                    let Some(delivery) = delivery else { break };
                    ledger.record(&delivery.message);
                    // A lost ack redelivers the event: a copy, which the ledger counts as one.
                    let _ = delivery.ack().await;
                }
            }
        });
    }

    fn record(&self, message: &snodo_queue::message::Message) {
        *self.events_received.lock() += 1;
        let Ok(envelope) = Envelope::parse_properties(message) else {
            return;
        };
        let kind = envelope.kind.as_str().to_owned();
        if kind == "pagopa.receipt.received" {
            let body: serde_json::Value = serde_json::from_slice(&message.body).unwrap_or_default();
            let receipt_id = body["receipt_id"].as_str().unwrap_or_default().to_owned();
            let mut receipts = self.receipts.lock();
            let entry = receipts.entry(envelope.message_id).or_insert((receipt_id, 0));
            entry.1 += 1;
            return;
        }
        if kind.starts_with("identity.login.") {
            let body: serde_json::Value = serde_json::from_slice(&message.body).unwrap_or_default();
            let Some(key) = body["return_url"].as_str().and_then(key_of) else {
                return;
            };
            let mut logins = self.logins.lock();
            let event = logins
                .entry(key.to_owned())
                .or_default()
                .entry(envelope.message_id)
                .or_insert_with(|| LoginEvent {
                    kind: kind.clone(),
                    tickets: BTreeSet::new(),
                    spid_error_code: body["spid_error_code"].as_u64(),
                    copies: 0,
                });
            event.copies += 1;
            if let Some(ticket) = body["ticket"].as_str() {
                event.tickets.insert(ticket.to_owned());
            }
            return;
        }
        let terminal = kind.ends_with(".completed") || kind.ends_with(".failed");
        let Some(correlation) = envelope.correlation_id.filter(|_| terminal) else {
            return;
        };
        let failure: Option<serde_json::Value> = kind
            .ends_with(".failed")
            .then(|| serde_json::from_slice(&message.body).unwrap_or_default());
        let code = failure
            .as_ref()
            .map(|body| body["code"].as_str().unwrap_or("?").to_owned());
        let platform_code = failure
            .as_ref()
            .and_then(|body| body["platform_code"].as_str().map(str::to_owned));
        let mut terminals = self.terminals.lock();
        let events = terminals.entry(correlation).or_default();
        events
            .entry(envelope.message_id)
            .and_modify(|t| t.copies += 1)
            .or_insert(Terminal {
                kind,
                code,
                platform_code,
                attempt: envelope.attempt,
                external_key: envelope.external_key.clone(),
                copies: 1,
            });
    }

    /// Commands still without a terminal event.
    pub fn outstanding(&self) -> usize {
        let sent = self.sent.lock();
        let terminals = self.terminals.lock();
        sent.keys().filter(|id| !terminals.contains_key(id)).count()
    }
}

/// One dead letter of the index (`GET /ops/dlq`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DeadLetter {
    pub message_id: Option<String>,
    pub error_code: String,
    pub error: Option<String>,
    pub connector: String,
}

/// The figures of one run, per connector and overall, and every violation found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub lines: Vec<String>,
    pub violations: Vec<String>,
    pub retried: Vec<(Uuid, Option<String>)>,
    /// Commands the platform refused as expected, with the platform code: for the journal check
    /// that no refusal was retried.
    pub refused: Vec<(Uuid, String)>,
}

impl Verdict {
    /// Records a violation, keeping the list readable (the first 30, then a marker).
    pub fn report(&mut self, what: String) {
        if self.violations.len() < 30 {
            self.violations.push(what);
        } else if self.violations.len() == 30 {
            self.violations.push("… (more)".into());
        }
    }
}

impl Ledger {
    pub fn verify(&self, dead: &[DeadLetter], receipts_delivered: &[String]) -> Verdict {
        let sent = self.sent.lock();
        let terminals = self.terminals.lock();
        let mut verdict = Verdict::default();
        let mut dead_by_id: HashMap<&str, Vec<&DeadLetter>> = HashMap::new();
        for d in dead {
            if let Some(id) = &d.message_id {
                dead_by_id.entry(id.as_str()).or_default().push(d);
            }
        }
        #[derive(Default)]
        struct Figures {
            sent: u64,
            completed: u64,
            failed: BTreeMap<String, u64>,
            missing: u64,
            duplicates: u64,
            retried: u64,
        }
        let mut per: BTreeMap<&str, Figures> = BTreeMap::new();
        let report = |v: &mut Verdict, what: String| v.report(what);
        // Expected refusals: platform code → (sent, refused as expected).
        let mut refusals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (id, s) in sent.iter() {
            let f = per.entry(s.connector).or_default();
            f.sent += 1;
            if let Expect::Rejected { platform_code } = s.expect {
                refusals.entry(platform_code).or_default().0 += 1;
            }
            let Some(events) = terminals.get(id) else {
                f.missing += 1;
                report(&mut verdict, format!("{} {id}: no terminal event", s.kind));
                continue;
            };
            f.duplicates += events.values().map(|t| u64::from(t.copies - 1)).sum::<u64>();
            if events.len() != 1 {
                let kinds: Vec<_> = events.values().map(|t| t.kind.as_str()).collect();
                report(
                    &mut verdict,
                    format!(
                        "{} {id}: {} distinct terminal events {kinds:?}",
                        s.kind,
                        events.len()
                    ),
                );
                continue;
            }
            let t = events.values().next().expect("one event");
            if t.attempt > 1 {
                f.retried += 1;
                verdict.retried.push((*id, t.external_key.clone()));
            }
            if let Expect::Rejected { platform_code } = s.expect {
                if t.code.as_deref() == Some("rejected") && t.platform_code.as_deref() == Some(platform_code)
                {
                    refusals.entry(platform_code).or_default().1 += 1;
                    verdict.refused.push((*id, platform_code.to_owned()));
                } else {
                    report(
                        &mut verdict,
                        format!(
                            "{} {id}: ended {} {:?} (platform code {:?}), not rejected {platform_code}",
                            s.kind, t.kind, t.code, t.platform_code
                        ),
                    );
                }
            }
            match &t.code {
                None => {
                    f.completed += 1;
                    if s.expect == Expect::InvalidMessage {
                        report(
                            &mut verdict,
                            format!("{} {id}: hostile message completed", s.kind),
                        );
                    }
                }
                Some(code) => {
                    *f.failed.entry(code.clone()).or_default() += 1;
                    if s.expect == Expect::InvalidMessage && code != "invalid_message" {
                        report(
                            &mut verdict,
                            format!(
                                "{} {id}: hostile message failed {code}, not invalid_message",
                                s.kind
                            ),
                        );
                    }
                    let parked = dead_by_id.get(id.to_string().as_str());
                    match parked {
                        None => report(
                            &mut verdict,
                            format!("{} {id}: failed {code} but not in a dead-letter queue", s.kind),
                        ),
                        Some(entries) => {
                            if !entries.iter().any(|d| {
                                &d.error_code == code && d.error.as_deref().is_some_and(|e| !e.is_empty())
                            }) {
                                report(
                                    &mut verdict,
                                    format!("{} {id}: dead letter without the reason {code}", s.kind),
                                );
                            }
                        }
                    }
                }
            }
        }
        let without_id_sent = *self.sent_without_id.lock();
        let without_id_parked = dead
            .iter()
            .filter(|d| d.message_id.is_none() && d.error_code == "invalid_message")
            .count() as u64;
        // Without an id, a message parked again after its ack was lost is a second entry nobody can
        // tell from the first: at least as many as were sent, none lost.
        if without_id_parked < without_id_sent {
            report(
                &mut verdict,
                format!(
                    "{without_id_sent} messages without a message_id sent, {without_id_parked} parked as invalid_message"
                ),
            );
        }
        // Every receipt the node delivered: exactly one distinct event, whatever the copies.
        let receipts = self.receipts.lock();
        let mut events_per_receipt: HashMap<&str, HashSet<Uuid>> = HashMap::new();
        let mut receipt_copies = 0u64;
        for (event_id, (receipt_id, copies)) in receipts.iter() {
            events_per_receipt
                .entry(receipt_id.as_str())
                .or_default()
                .insert(*event_id);
            receipt_copies += u64::from(*copies);
        }
        for receipt in receipts_delivered {
            match events_per_receipt.get(receipt.as_str()).map(HashSet::len) {
                Some(1) => {}
                Some(n) => report(&mut verdict, format!("receipt {receipt}: {n} distinct events")),
                None => report(
                    &mut verdict,
                    format!("receipt {receipt}: delivered to Snodo, no event"),
                ),
            }
        }

        verdict.lines.push(format!(
            "{:<14} {:>6} {:>9} {:>7} {:>8} {:>10} {:>8}  failed by code",
            "connector", "sent", "completed", "failed", "missing", "duplicates", "retried"
        ));
        let mut total = Figures::default();
        for (connector, f) in &per {
            let failed: u64 = f.failed.values().sum();
            verdict.lines.push(format!(
                "{connector:<14} {:>6} {:>9} {failed:>7} {:>8} {:>10} {:>8}  {:?}",
                f.sent, f.completed, f.missing, f.duplicates, f.retried, f.failed
            ));
            total.sent += f.sent;
            total.completed += f.completed;
            total.missing += f.missing;
            total.duplicates += f.duplicates;
            total.retried += f.retried;
            for (code, n) in &f.failed {
                *total.failed.entry(code.clone()).or_default() += n;
            }
        }
        let failed: u64 = total.failed.values().sum();
        verdict.lines.push(format!(
            "{:<14} {:>6} {:>9} {failed:>7} {:>8} {:>10} {:>8}  {:?}",
            "all", total.sent, total.completed, total.missing, total.duplicates, total.retried, total.failed
        ));
        verdict.lines.push(format!(
            "messages without a message_id: {without_id_sent} sent, {without_id_parked} parked invalid_message; \
             dead letters indexed: {}",
            dead.len()
        ));
        verdict.lines.push(format!(
            "platform refusals (sent, ended rejected with the platform code): {}",
            if refusals.is_empty() {
                "none in this mix".to_owned()
            } else {
                refusals
                    .iter()
                    .map(|(code, (sent, refused))| format!("{code} {sent}/{refused}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        verdict.lines.push(format!(
            "receipts the node delivered: {}; distinct receipt events: {}; copies received: {receipt_copies}",
            receipts_delivered.len(),
            receipts.len()
        ));
        verdict.lines.push(format!(
            "events received (all copies): {}; publishes retried by the generator: {}",
            self.events_received.lock(),
            self.publish_retries.lock()
        ));
        verdict
    }
}

/// How long after RabbitMQ is back an instance may still be reconnecting its publishers.
const RECONNECT_MARGIN: Duration = Duration::from_secs(10);

impl Ledger {
    /// The login proof: a login the browser saw succeed (303 to the backend page with a ticket) has
    /// exactly one `identity.login.succeeded` event, a copy of which carries that ticket; a login
    /// refused at the IdP and explained as such by the SP has exactly one `identity.login.failed`
    /// with the SPID code; no login has two distinct events or an event contradicting what the
    /// citizen was told; a login that failed was never sent to the backend page. `broker_away`: when
    /// RabbitMQ was down, to count the logins whose ACS post met the outage.
    pub fn verify_logins(&self, records: &[LoginRecord], broker_away: &[(Instant, Instant)]) -> Verdict {
        let events = self.logins.lock();
        let mut verdict = Verdict::default();
        /// What became of the logins of one group (the steady stream, a burst).
        #[derive(Default)]
        struct Group {
            logins: u64,
            spid: u64,
            logged_in: u64,
            refused: u64,
            failed: BTreeMap<String, u64>,
            reposted: u64,
            reposted_then_logged_in: u64,
            during_outage: u64,
        }
        let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
        let mut confirmed_unanswered = 0u64;
        let mut failed_with_event = 0u64;
        let empty = BTreeMap::new();
        for r in records {
            let group = groups.entry(r.burst.unwrap_or("steady")).or_default();
            group.logins += 1;
            if r.federation == super::logins::Federation::Spid {
                group.spid += 1;
            }
            let during_outage = r.acs_window.is_some_and(|(sent, answered)| {
                broker_away
                    .iter()
                    .any(|(down, up)| sent <= *up + RECONNECT_MARGIN && answered >= *down)
            });
            if during_outage {
                group.during_outage += 1;
            }
            if r.acs_posts > 1 {
                group.reposted += 1;
            }
            let mine = events.get(&r.key).unwrap_or(&empty);
            let what = format!("login {} ({}, {:?})", r.key, r.federation.name(), r.intent);
            if mine.len() > 1 {
                let kinds: Vec<&str> = mine.values().map(|e| e.kind.as_str()).collect();
                verdict.report(format!("{what}: {} distinct events {kinds:?}", mine.len()));
                continue;
            }
            let event = mine.values().next();
            if r.intent == Intent::RefuseConsent
                && event.is_some_and(|e| e.kind == "identity.login.succeeded")
            {
                verdict.report(format!("{what}: consent refused, yet identity.login.succeeded"));
            }
            match &r.saw {
                BrowserSaw::LoggedIn { ticket } => {
                    group.logged_in += 1;
                    if r.acs_posts > 1 {
                        group.reposted_then_logged_in += 1;
                    }
                    if r.intent != Intent::Consent {
                        verdict.report(format!("{what}: consent refused, yet sent to the backend page"));
                    }
                    match event {
                        Some(e) if e.kind == "identity.login.succeeded" && e.tickets.contains(ticket) => {}
                        Some(e) => verdict.report(format!(
                            "{what}: 303 with a ticket, but the event is {} carrying {} other ticket(s)",
                            e.kind,
                            e.tickets.len()
                        )),
                        None => verdict.report(format!("{what}: 303 to the backend page, no event")),
                    }
                }
                BrowserSaw::Refused => {
                    group.refused += 1;
                    if r.intent != Intent::RefuseConsent {
                        verdict.report(format!("{what}: the citizen consented, yet was shown a refusal"));
                    }
                    match event {
                        Some(e)
                            if e.kind == "identity.login.failed"
                                && e.spid_error_code == Some(super::logins::CONSENT_DENIED) => {}
                        Some(e) => verdict.report(format!(
                            "{what}: refused, but the event is {} (SPID code {:?})",
                            e.kind, e.spid_error_code
                        )),
                        // The SP shows a refusal only once its event is confirmed (503 before).
                        None => {
                            verdict.report(format!("{what}: shown a refusal, yet no identity.login.failed"))
                        }
                    }
                }
                BrowserSaw::Failed(why) => {
                    // Where and how, without the page's text: "acs HTTP 403 after 2 posts".
                    let how = why.split(':').next().unwrap_or(why);
                    *group.failed.entry(how.to_owned()).or_default() += 1;
                    if r.intent == Intent::Consent && why.starts_with("acs HTTP 403 after 1 posts") {
                        verdict.report(format!(
                            "{what}: a valid Response refused at its first post: {why}"
                        ));
                    }
                    match event {
                        Some(e) if e.kind == "identity.login.succeeded" => confirmed_unanswered += 1,
                        Some(_) => failed_with_event += 1,
                        None => {}
                    }
                }
            }
        }
        for (name, g) in &groups {
            verdict.lines.push(format!(
                "logins {name:<13} {:>4} (SPID {}, CIE ID {}): 303 to the backend page {}, refused at the IdP {}, \
                 failed for the browser {} {:?}; ACS posted again {} (then 303: {}); \
                 ACS while RabbitMQ was away (or within 10 s of its return) {}",
                g.logins,
                g.spid,
                g.logins - g.spid,
                g.logged_in,
                g.refused,
                g.failed.values().sum::<u64>(),
                g.failed,
                g.reposted,
                g.reposted_then_logged_in,
                g.during_outage
            ));
        }
        let made: HashSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
        for key in events.keys().filter(|k| !made.contains(k.as_str())) {
            verdict.report(format!(
                "an identity.login.* event for login {key}, which nobody made"
            ));
        }
        let distinct = |kind: &str| {
            events
                .values()
                .flat_map(|m| m.values())
                .filter(|e| e.kind == kind)
                .count()
        };
        let copies: u64 = events
            .values()
            .flat_map(|m| m.values())
            .map(|e| u64::from(e.copies))
            .sum();
        verdict.lines.push(format!(
            "login events: {} identity.login.succeeded, {} identity.login.failed (distinct), {copies} copies received",
            distinct("identity.login.succeeded"),
            distinct("identity.login.failed"),
        ));
        verdict.lines.push(format!(
            "failed for the browser but with an event: {confirmed_unanswered} succeeded (confirmed, the answer lost \
             with its instance), {failed_with_event} failed"
        ));
        verdict
    }
}

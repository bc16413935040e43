//! ANPR pushing a notification (N010, N015, N030, …) to a comune that exposes an endpoint, with ANPR's
//! retry policy: up to 5 attempts, 5 minutes apart, on the simulator clock (so a test speeds it up
//! through the admin API). The contract is Sogei's draft `N000` (platform notes §1.2): a
//! `RichiestaN000` with `testataNotifica` and the notification as base64 `contenuto`, answered by a
//! `RispostaN000` whose `codiceEsito` 0 means stored. Anything else — an HTTP error, a fault, a
//! dropped connection, another code — is a failed attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use openssl::base64::encode_block;
use parking_lot::Mutex;
use serde::Serialize;
use snodo_mappings::soap::{EnvelopeBuilder, escape_text};

use crate::framework::SimClock;

/// Namespace of the draft push service (`cie-anpr/proposta_sogei_*`, as the connector reads it).
pub const NOTIFICATION_NAMESPACE: &str = "http://sogei.it/ANPR/N000AnprService";

/// ANPR's retry policy.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub every: TimeDelta,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            every: TimeDelta::minutes(5),
        }
    }
}

/// A notification to push.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// The comune (ISTAT) it is for: `codDestinatario` and the `{tenant}` of the URL.
    pub comune: String,
    /// `N010`, `N030`, …
    pub kind: String,
    pub id_operazione_anpr: String,
    /// The notification's own XML.
    pub content: String,
}

/// One attempt, as `GET /admin/anpr/pushes` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PushAttempt {
    pub kind: String,
    pub id_operazione_anpr: String,
    pub comune: String,
    pub attempt: u32,
    /// Simulator time of the attempt.
    pub at: DateTime<Utc>,
    pub delivered: bool,
    /// What went wrong, or the `codiceEsito` received.
    pub outcome: String,
}

/// Where and how notifications are pushed.
pub struct Pusher {
    /// Base URL of the comune's inbound listener (`https://127.0.0.1:7443`); `None` disables pushes.
    pub base_url: Option<String>,
    /// Set when the simulator runs beside `snodo up` (or `snodo simulate`): every listener is moved
    /// by the same `--listener-offset`, so the port the simulator is reached on (its default port +
    /// n) tells how far the comune's inbound listener moved too (`base_url`'s port + n).
    pub port_offset: Option<PortOffset>,
    pub client: reqwest::Client,
    pub policy: RetryPolicy,
    pub clock: SimClock,
    pub attempts: Mutex<Vec<PushAttempt>>,
}

impl Pusher {
    /// Pushes `notification` from simulator time `first` on, retrying by the policy, in the background.
    pub fn schedule(self: &Arc<Self>, notification: Notification, first: DateTime<Utc>) {
        let Some(base) = self.base_url.clone() else {
            return;
        };
        let base = match &self.port_offset {
            Some(offset) => offset.shift(&base),
            None => base,
        };
        let this = self.clone();
        tokio::spawn(async move {
            let url = format!(
                "{}/anpr/{}/notifications",
                base.trim_end_matches('/'),
                notification.comune
            );
            let body = envelope(&notification);
            let mut due = first;
            for attempt in 1..=this.policy.attempts {
                sleep_until(&this.clock, due).await;
                let (delivered, outcome) = this.attempt(&url, &body).await;
                this.attempts.lock().push(PushAttempt {
                    kind: notification.kind.clone(),
                    id_operazione_anpr: notification.id_operazione_anpr.clone(),
                    comune: notification.comune.clone(),
                    attempt,
                    at: this.clock.now(),
                    delivered,
                    outcome,
                });
                if delivered {
                    return;
                }
                due = this.clock.now() + this.policy.every;
            }
            tracing::info!(
                kind = %notification.kind,
                "ANPR simulator gave up pushing a notification after its last attempt."
            );
        });
    }

    async fn attempt(&self, url: &str, body: &str) -> (bool, String) {
        let sent = self
            .client
            .post(url)
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", "\"\"")
            .body(body.to_owned())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return (false, format!("not delivered: {e}")),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let code = between(&text, "<codiceEsito>", "</codiceEsito>");
        match (status.is_success(), code) {
            (true, Some("0")) => (true, "codiceEsito 0".into()),
            (true, Some(other)) => (false, format!("codiceEsito {other}")),
            _ => (false, format!("HTTP {}", status.as_u16())),
        }
    }
}

/// How far the simulator's listener is from its default port, as learnt from the requests that
/// reach it (the `Host` they name).
pub struct PortOffset {
    default_port: u16,
    seen: AtomicU32,
}

/// No request has named a port yet.
const UNSEEN: u32 = u32::MAX;

impl PortOffset {
    pub fn new(default_port: u16) -> PortOffset {
        PortOffset {
            default_port,
            seen: AtomicU32::new(UNSEEN),
        }
    }

    /// Notes the port of a request's `Host` header (`127.0.0.1:9442`).
    pub fn observe(&self, host: Option<&str>) {
        let port = host
            .and_then(|h| h.rsplit_once(':'))
            .and_then(|(_, p)| p.parse::<u16>().ok());
        if let Some(offset) = port.and_then(|p| p.checked_sub(self.default_port)) {
            self.seen.store(u32::from(offset), Ordering::Relaxed);
        }
    }

    /// `base` with its port moved by the offset seen (unchanged before any request named one).
    pub fn shift(&self, base: &str) -> String {
        let offset = self.seen.load(Ordering::Relaxed);
        let Ok(offset) = u16::try_from(offset) else {
            return base.to_owned();
        };
        let Ok(mut url) = reqwest::Url::parse(base) else {
            return base.to_owned();
        };
        match url.port_or_known_default().and_then(|p| p.checked_add(offset)) {
            Some(port) if url.set_port(Some(port)).is_ok() => url.as_str().trim_end_matches('/').to_owned(),
            _ => base.to_owned(),
        }
    }
}

fn between<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim())
}

fn envelope(n: &Notification) -> String {
    EnvelopeBuilder::new().body(&format!(
        "<n:RichiestaN000 xmlns:n=\"{NOTIFICATION_NAMESPACE}\"><testataNotifica>\
         <tipoNotifica>{}</tipoNotifica><codMittente>ANPR</codMittente>\
         <codDestinatario>{}</codDestinatario><idOperazioneANPR>{}</idOperazioneANPR>\
         </testataNotifica><contenuto>{}</contenuto></n:RichiestaN000>",
        escape_text(&n.kind),
        escape_text(&n.comune),
        escape_text(&n.id_operazione_anpr),
        encode_block(n.content.as_bytes())
    ))
}

/// Waits until the simulator clock reads `due`, whatever its speed (re-reading it, since a test may
/// move or speed it up meanwhile; a frozen clock waits until it moves).
pub async fn sleep_until(clock: &SimClock, due: DateTime<Utc>) {
    loop {
        let left = due - clock.now();
        if left <= TimeDelta::zero() {
            return;
        }
        let speed = clock.status().speed;
        let real = if speed > 0.0 {
            Duration::from_secs_f64((left.num_milliseconds() as f64 / 1000.0) / speed)
        } else {
            Duration::from_millis(100)
        };
        tokio::time::sleep(real.min(Duration::from_millis(100))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_target_moves_with_the_simulators_own_port() {
        let offset = PortOffset::new(9441);
        assert_eq!(offset.shift("https://127.0.0.1:7443"), "https://127.0.0.1:7443");
        offset.observe(Some("127.0.0.1:9441"));
        assert_eq!(offset.shift("https://127.0.0.1:7443"), "https://127.0.0.1:7443");
        offset.observe(Some("localhost:9451"));
        assert_eq!(offset.shift("https://127.0.0.1:7443"), "https://127.0.0.1:7453");
        // A Host without a port, or below the default, teaches nothing.
        offset.observe(Some("anpr.example"));
        offset.observe(Some("127.0.0.1:80"));
        assert_eq!(offset.shift("https://127.0.0.1:7443/"), "https://127.0.0.1:7453");
    }
}

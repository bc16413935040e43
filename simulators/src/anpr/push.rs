//! ANPR pushing a notification (N010, N015, N030, …) to a comune that exposes an endpoint, with ANPR's
//! retry policy: up to 5 attempts, 5 minutes apart, on the simulator clock (so a test speeds it up
//! through the admin API). The contract is Sogei's draft `N000` (platform notes §1.2): a
//! `RichiestaN000` with `testataNotifica` and the notification as base64 `contenuto`, answered by a
//! `RispostaN000` whose `codiceEsito` 0 means stored. Anything else — an HTTP error, a fault, a
//! dropped connection, another code — is a failed attempt.

use std::sync::Arc;
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
    /// Where the notification was pushed (`https://127.0.0.1:7443/anpr/015146/notifications`),
    /// delivered or not: with listeners moved by an offset, the port says which instance it was for.
    pub url: String,
    pub attempt: u32,
    /// Simulator time of the attempt.
    pub at: DateTime<Utc>,
    pub delivered: bool,
    /// What went wrong, or the `codiceEsito` received.
    pub outcome: String,
}

/// Where and how notifications are pushed.
pub struct Pusher {
    /// Base URL of the comune's inbound listener (`https://127.0.0.1:7443`, or moved by the launch's
    /// offset); `None` disables pushes.
    pub base_url: Option<String>,
    pub client: reqwest::Client,
    pub policy: RetryPolicy,
    pub clock: SimClock,
    pub attempts: Mutex<Vec<PushAttempt>>,
}

impl Pusher {
    /// Pushes `notification` from simulator time `first` on, retrying by the policy, in the background.
    pub fn schedule(self: &Arc<Self>, notification: Notification, first: DateTime<Utc>) {
        let Some(url) = self.target(&notification) else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let body = envelope(&notification);
            let mut due = first;
            for attempt in 1..=this.policy.attempts {
                sleep_until(&this.clock, due).await;
                let (delivered, outcome) = this.attempt(&url, &body).await;
                this.attempts.lock().push(PushAttempt {
                    kind: notification.kind.clone(),
                    id_operazione_anpr: notification.id_operazione_anpr.clone(),
                    comune: notification.comune.clone(),
                    url: url.clone(),
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

    /// The comune's notification endpoint: `{base}/anpr/{comune}/notifications`.
    fn target(&self, notification: &Notification) -> Option<String> {
        let base = self.base_url.as_deref()?;
        Some(format!(
            "{}/anpr/{}/notifications",
            base.trim_end_matches('/'),
            notification.comune
        ))
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
    use axum::Router;
    use axum::routing::post;

    use super::*;

    fn pusher(base_url: String) -> Arc<Pusher> {
        Arc::new(Pusher {
            base_url: Some(base_url),
            client: reqwest::Client::new(),
            policy: RetryPolicy {
                attempts: 1,
                every: TimeDelta::minutes(5),
            },
            clock: SimClock::new(),
            attempts: Mutex::new(Vec::new()),
        })
    }

    fn n010(id: &str) -> Notification {
        Notification {
            comune: "015146".into(),
            kind: "N010".into(),
            id_operazione_anpr: id.into(),
            content: "<notifica/>".into(),
        }
    }

    async fn first_attempt(pusher: &Pusher) -> PushAttempt {
        for _ in 0..200 {
            if let Some(attempt) = pusher.attempts.lock().first() {
                return attempt.clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no push attempt within 5 s");
    }

    #[tokio::test]
    async fn every_attempt_names_where_it_went_delivered_or_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let comune = Router::new().route(
            "/anpr/{tenant}/notifications",
            post(|| async { "<RispostaN000><codiceEsito>0</codiceEsito></RispostaN000>" }),
        );
        tokio::spawn(async move { axum::serve(listener, comune).await });
        let delivering = pusher(format!("http://127.0.0.1:{port}/"));
        delivering.schedule(n010("1"), delivering.clock.now());
        let delivered = first_attempt(&delivering).await;
        assert!(delivered.delivered, "{delivered:?}");
        assert_eq!(
            delivered.url,
            format!("http://127.0.0.1:{port}/anpr/015146/notifications")
        );

        // A port nobody listens on any more: the failed attempt names its target just the same.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let failing = pusher(format!("http://127.0.0.1:{closed_port}"));
        failing.schedule(n010("2"), failing.clock.now());
        let failed = first_attempt(&failing).await;
        assert!(!failed.delivered, "{failed:?}");
        assert_eq!(
            failed.url,
            format!("http://127.0.0.1:{closed_port}/anpr/015146/notifications")
        );
        let shown = serde_json::to_value(&failed).unwrap();
        assert_eq!(
            shown["url"],
            failed.url.as_str(),
            "the admin JSON carries it: {shown}"
        );
    }
}

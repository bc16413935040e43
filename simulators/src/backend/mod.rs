//! The demo municipal backend: what a Comune's own software would do on the other side of the queues.
//! It consumes Snodo's events from its durable inbox, answers Snodo's synchronous requests from seeded
//! data, and shows at `/demo` what happened. Clearly labelled as a demo: it is not part of a deployment.
//!
//! Connectors that ask the backend something register an answer for their request type in
//! [`Answers`]; a request of a type with no answer gets a `.failed` reply saying so.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use snodo_queue::envelope::{Envelope, MessageType, Outcome};
use snodo_queue::request::reply_to;
use snodo_queue::{ConsumeOptions, Delivery, SharedTransport, TransportError};
use tokio_util::sync::CancellationToken;

pub mod anpr;
pub mod cie_booking;
mod desk;
pub mod identity;
mod page;
pub mod pagopa;

/// How many recent events the page keeps.
const KEEP: usize = 200;

/// An answer to one request type: the request body in, the reply body or an error text out.
pub type Answer = Arc<dyn Fn(&serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync>;

/// Seeded answers by request type.
#[derive(Clone, Default)]
pub struct Answers(BTreeMap<String, Answer>);

impl Answers {
    pub fn insert(&mut self, kind: &str, answer: Answer) {
        self.0.insert(kind.to_owned(), answer);
    }

    pub fn kinds(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

/// One thing the demo backend saw or did.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// `event` (received from Snodo) or `request` (answered).
    pub direction: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub correlation_id: Option<String>,
    pub tenant: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Clone)]
pub struct DemoBackend {
    transport: SharedTransport,
    events_queue: String,
    requests_queue: Option<String>,
    answers: Answers,
    log: Arc<Mutex<VecDeque<Entry>>>,
    pagopa_node: Option<pagopa::NodeLink>,
    identity: Option<Arc<identity::IdentityDemo>>,
    cie_booking: Option<Arc<cie_booking::BookingDemo>>,
    anpr: Option<Arc<anpr::AnprDemo>>,
}

impl DemoBackend {
    pub fn new(
        transport: SharedTransport,
        events_queue: impl Into<String>,
        requests_queue: Option<String>,
        answers: Answers,
    ) -> Self {
        DemoBackend {
            transport,
            events_queue: events_queue.into(),
            requests_queue,
            answers,
            log: Arc::default(),
            pagopa_node: None,
            identity: None,
            cie_booking: None,
            anpr: None,
        }
    }

    /// Adds "Entra con SPID / CIE" to `/demo` and the landing page that redeems the ticket.
    pub fn with_identity(mut self, link: Option<identity::IdentityLink>) -> Self {
        self.identity = link.map(|l| Arc::new(identity::IdentityDemo::new(l)));
        self
    }

    /// Adds the CIE appointment desk (`/demo/cie`), whose actions are `cie_booking.*` commands.
    pub fn with_cie_booking(mut self, link: Option<cie_booking::BookingLink>) -> Self {
        self.cie_booking = link.map(|l| Arc::new(cie_booking::BookingDemo::new(l)));
        self
    }

    /// Adds the registry desk (`/demo/anpr`), whose actions are `anpr.*` commands.
    pub fn with_anpr(mut self, link: Option<anpr::AnprLink>) -> Self {
        self.anpr = link.map(|l| Arc::new(anpr::AnprDemo::new(l)));
        self
    }

    /// Seeds the demo's pagoPA positions and lets `/demo` ask the node simulator (when there is
    /// one) to pay them.
    pub fn with_pagopa(mut self, node: Option<pagopa::NodeLink>) -> Self {
        pagopa::seed(&mut self.answers);
        self.pagopa_node = node;
        self
    }

    /// Recent entries, newest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.log.lock().iter().rev().cloned().collect()
    }

    /// The `/demo` page and `/demo/entries.json`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/demo", get(demo_page))
            .route(
                "/demo/entries.json",
                get(|State(b): State<DemoBackend>| async move { axum::Json(b.entries()) }),
            )
            .with_state(self.clone())
            .merge(pagopa::router(self.pagopa_node.clone()))
            .merge(identity::router(self.clone()))
            .merge(cie_booking::router(self.clone()))
            .merge(anpr::router(self.clone()))
    }

    /// Consumes the inbox (and the request queue) until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), TransportError> {
        let mut events = self
            .transport
            .consume(&self.events_queue, ConsumeOptions { prefetch: 64 })
            .await?;
        let mut requests = match &self.requests_queue {
            Some(q) => Some(self.transport.consume(q, ConsumeOptions { prefetch: 16 }).await?),
            None => None,
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                d = events.next() => match d {
                    Some(d) => self.on_event(d).await,
                    None => break,
                },
                d = async { match requests.as_mut() { Some(r) => r.next().await, None => std::future::pending().await } } => match d {
                    Some(d) => self.on_request(d).await,
                    None => break,
                },
            }
        }
        Ok(())
    }

    fn record(&self, entry: Entry) {
        let mut log = self.log.lock();
        if log.len() == KEEP {
            log.pop_front();
        }
        log.push_back(entry);
    }

    async fn on_event(&self, delivery: Delivery) {
        let m = &delivery.message;
        self.record(Entry {
            at: Utc::now(),
            direction: "event",
            kind: m.properties.kind.clone().unwrap_or_default(),
            correlation_id: m.properties.correlation_id.clone(),
            tenant: m
                .header_str(snodo_queue::envelope::HEADER_TENANT)
                .map(str::to_owned),
            body: serde_json::from_slice(&m.body).unwrap_or(serde_json::Value::Null),
        });
        if let Err(e) = delivery.ack().await {
            tracing::warn!(error = %e, "Demo backend: ack failed.");
        }
    }

    async fn on_request(&self, delivery: Delivery) {
        let request = delivery.message.clone();
        let kind = request.properties.kind.clone().unwrap_or_default();
        let body: serde_json::Value =
            serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
        let (outcome, reply_body) = match self.answers.0.get(&kind) {
            Some(answer) => match answer(&body) {
                Ok(v) => (Outcome::Completed, v),
                Err(e) => (Outcome::Failed, serde_json::json!({ "error": e })),
            },
            None => (
                Outcome::Failed,
                serde_json::json!({
                    "error": format!("the demo backend has no seeded answer for {kind}"),
                    "answers": self.answers.kinds(),
                }),
            ),
        };
        let reply_kind: MessageType = kind
            .parse::<MessageType>()
            .map(|k| k.outcome(outcome))
            .unwrap_or_else(|_| "demo.request.failed".parse().expect("a valid constant type"));
        let mut envelope = Envelope::command(reply_kind);
        envelope.tenant = request
            .header_str(snodo_queue::envelope::HEADER_TENANT)
            .map(str::to_owned);
        envelope.app_id = Some("snodo-demo-backend".into());
        let reply = envelope.to_message(serde_json::to_vec(&reply_body).expect("JSON"));
        if let Err(e) = reply_to(&self.transport, &request, reply).await {
            tracing::warn!(error = %e, "Demo backend: reply not sent.");
        }
        self.record(Entry {
            at: Utc::now(),
            direction: "request",
            kind,
            correlation_id: request.properties.message_id.clone(),
            tenant: envelope.tenant.clone(),
            body: serde_json::json!({ "request": body, "reply": reply_body }),
        });
        if let Err(e) = delivery.ack().await {
            tracing::warn!(error = %e, "Demo backend: ack failed.");
        }
    }
}

async fn demo_page(State(backend): State<DemoBackend>) -> Html<String> {
    let identity = identity::section(backend.identity.as_deref())
        + &cie_booking::section(backend.cie_booking.as_deref())
        + &anpr::section(backend.anpr.as_deref());
    Html(page::render(&backend.entries(), &identity))
}

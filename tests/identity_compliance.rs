//! The identity connector through the shared suites, and its state on Redis.
//!
//! - `identity.ticket.redeem` passes the connector compliance suite. Its "platform" is the
//!   coordination store it takes tickets from, faked here by a store that fails transiently or
//!   stalls on request; the idempotency key of a redemption is its ticket.
//! - The ACS passes the inbound compliance suite: a login is answered with the ticket redirect only
//!   after `identity.login.succeeded` is confirmed; with the broker unreachable or blocked it answers
//!   503 within the citizen's patience, and the browser re-submitting the same form then succeeds
//!   with the same `message_id`. A second post of a Response that was consumed is a replay and is
//!   refused (`duplicate_is_a_replay`). The RabbitMQ variant is in `inbound_faults`.
//! - On Redis (`SNODO_TEST_REDIS_URL`, started by `scripts/test`): a login's request, the Assertion
//!   replay cache and the ticket, shared by two SP instances as behind a load balancer.

mod identity_common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use identity_common::*;
use parking_lot::Mutex;
use serde_json::{Value, json};
use snodo_connectors::identity::contract::TICKET_REDEEM;
use snodo_connectors::identity::{IdentitySettings, TicketRedeemer};
use snodo_connectors::state::{Lease, MemoryStore, SharedStore, StateError, StateSettings, StateStore};
use snodo_queue::runtime::{Command, CommandHandler, ErrorCode, SharedHandler};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::compliance::{ComplianceSubject, FakePlatform, assert_connector_compliance};
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::inbound::{
    InboundAnswer, InboundEndpoint, InboundSubject, assert_inbound_compliance,
};
use snodo_queue::{Names, SharedTransport};
use snodo_security::saml::Federation;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// identity.ticket.redeem and the connector compliance suite

/// The coordination store as the redeemer's platform: `take_token` can be made to fail as an
/// unreachable Redis does (before touching anything) or to answer late; every call is recorded.
struct ScriptedStore {
    inner: SharedStore,
    failures: AtomicUsize,
    stall: Mutex<Option<Duration>>,
    taken: Mutex<Vec<String>>,
}

#[async_trait]
impl StateStore for ScriptedStore {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    async fn allocate(&self, counter: &str, tenant: &str, message_id: Uuid) -> Result<u64, StateError> {
        self.inner.allocate(counter, tenant, message_id).await
    }
    async fn put_token(
        &self,
        kind: &str,
        token: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.inner.put_token(kind, token, value, ttl).await
    }
    async fn take_token(&self, kind: &str, token: &str) -> Result<Option<Bytes>, StateError> {
        self.taken.lock().push(token.to_owned());
        let stall = self.stall.lock().take();
        if let Some(stall) = stall {
            tokio::time::sleep(stall).await;
        }
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StateError::Unavailable {
                reason: "scripted: connection refused".into(),
            });
        }
        self.inner.take_token(kind, token).await
    }
    async fn remember_once(&self, kind: &str, id: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        self.inner.remember_once(kind, id, until).await
    }
    async fn cursor(&self, name: &str) -> Result<Option<String>, StateError> {
        self.inner.cursor(name).await
    }
    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StateError> {
        self.inner.set_cursor(name, value).await
    }
    async fn compare_and_set_cursor(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StateError> {
        self.inner.compare_and_set_cursor(name, expected, value).await
    }
    async fn set_cursor_fenced(&self, name: &str, value: &str, lease: &Lease) -> Result<(), StateError> {
        self.inner.set_cursor_fenced(name, value, lease).await
    }
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StateError> {
        self.inner.acquire(name, holder, ttl).await
    }
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError> {
        self.inner.renew(lease, ttl).await
    }
    async fn release(&self, lease: &Lease) -> Result<bool, StateError> {
        self.inner.release(lease).await
    }
}

struct Redemption {
    store: Arc<ScriptedStore>,
}

impl Redemption {
    fn new() -> Redemption {
        Redemption {
            store: Arc::new(ScriptedStore {
                inner: Arc::new(MemoryStore::new(StateSettings::with_prefix(
                    "identity-compliance",
                ))),
                failures: AtomicUsize::new(0),
                stall: Mutex::new(None),
                taken: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A ticket as the ACS stores it, for the suite's test tenant (the redeemer compares the two).
    fn issue_ticket(&self) -> String {
        let ticket = Uuid::new_v4().simple().to_string();
        let stored = json!({
            "tenant": snodo_queue::testing::harness::TEST_TENANT,
            "login": {
                "federation": "spid",
                "idp": "https://idp.example.it",
                "level": 2,
                "name_id": "_transient-1",
                "name_qualifier": "https://idp.example.it",
                "attributes": { "fiscalNumber": "RSSMRA80A01F205X" },
                "authenticated_at": "2026-12-01T10:00:00Z",
                "assertion_id": "_assertion-1",
                "request_id": "_request-1",
                "return_url": RETURN,
            }
        });
        let store = self.store.inner.clone();
        let ticket_for_store = ticket.clone();
        // The suite asks for commands synchronously; the in-process store completes at once.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                store
                    .put_token(
                        "identity-ticket",
                        &ticket_for_store,
                        serde_json::to_vec(&stored).unwrap().into(),
                        Duration::from_secs(600),
                    )
                    .await
                    .expect("ticket stored")
            })
        });
        ticket
    }
}

impl FakePlatform for Redemption {
    fn fail_transiently(&self, n: usize) {
        self.store.failures.store(n, Ordering::SeqCst);
    }
    fn stall_next(&self, d: Duration) {
        *self.store.stall.lock() = Some(d);
    }
    fn idempotency_keys(&self) -> Vec<Option<String>> {
        self.store.taken.lock().iter().cloned().map(Some).collect()
    }
    fn calls(&self) -> usize {
        self.store.taken.lock().len()
    }
}

impl ComplianceSubject for Redemption {
    fn handler(&self) -> SharedHandler {
        Arc::new(TicketRedeemer {
            store: self.store.clone(),
        })
    }
    fn valid_command(&self) -> (String, Value) {
        (TICKET_REDEEM.into(), json!({ "ticket": self.issue_ticket() }))
    }
    fn invalid_command(&self) -> (String, Value) {
        (TICKET_REDEEM.into(), json!({ "ticket": 42, "remember_me": true }))
    }
    fn platform(&self) -> Option<&dyn FakePlatform> {
        Some(self)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_redemption_passes_the_connector_compliance_suite() {
    assert_connector_compliance(&EmbeddedTestBroker::new(), &Redemption::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_unavailable_and_another_command_type_unknown() {
    let subject = Redemption::new();
    let handler = subject.handler();
    let (_, body) = subject.valid_command();
    let command = |kind: &str, body: Value| {
        let (envelope, message) = snodo_queue::testing::harness::command(kind, body);
        Command {
            envelope,
            body: message.body,
        }
    };
    subject.fail_transiently(1);
    let error = handler
        .handle(&command(TICKET_REDEEM, body.clone()))
        .await
        .expect_err("store down");
    assert_eq!(error.code, ErrorCode::Unavailable);
    assert!(
        handler.handle(&command(TICKET_REDEEM, body)).await.is_ok(),
        "the ticket survived"
    );
    let error = handler
        .handle(&command("identity.login.start", json!({})))
        .await
        .expect_err("not a command");
    assert_eq!(error.code, ErrorCode::UnknownType);
}

// ---------------------------------------------------------------------------------------------
// The ACS and the inbound compliance suite

struct Acs;

struct RunningAcs {
    sp: Sp,
    /// The form the IdP gave for each fact: a repeated call re-posts it, as a browser re-submits.
    forms: tokio::sync::Mutex<HashMap<String, Value>>,
}

#[async_trait]
impl InboundEndpoint for RunningAcs {
    async fn call(&self, platform_id: &str) -> InboundAnswer {
        let mut forms = self.forms.lock().await;
        let form = match forms.get(platform_id) {
            Some(form) => form.clone(),
            None => {
                let answer = self.sp.start_login(Federation::Spid, "redirect").await;
                let form = self.sp.through_idp(Federation::Spid, answer, "success").await;
                forms.insert(platform_id.to_owned(), form.clone());
                form
            }
        };
        drop(forms);
        let answer = self.sp.post_to_acs(&form).await;
        match answer.status().as_u16() {
            303 => InboundAnswer::Stored,
            503 => InboundAnswer::RetryLater,
            other => InboundAnswer::Other(format!(
                "HTTP {other}: {}",
                answer.text().await.unwrap_or_default()
            )),
        }
    }
}

#[async_trait]
impl InboundSubject for Acs {
    async fn start(&self, transport: SharedTransport, names: &Names) -> Box<dyn InboundEndpoint> {
        let settings = IdentitySettings {
            // Well inside the citizen's patience, short enough for the suite.
            store_budget: Duration::from_secs(2),
            ..IdentitySettings::default()
        };
        let sp = Sp::start(
            transport,
            None,
            SpOptions {
                settings,
                names: Some(names.clone()),
                ..SpOptions::default()
            },
        )
        .await;
        Box::new(RunningAcs {
            sp,
            forms: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    fn event_kind(&self) -> &str {
        "identity.login.succeeded"
    }

    /// A browser waits minutes; a citizen looking at a spinner, not much more than this.
    fn platform_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn duplicate_is_a_replay(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acs_is_inbound_compliant_on_the_embedded_transport() {
    assert_inbound_compliance(&EmbeddedTestBroker::new(), &Acs).await;
}

mod inbound_faults {
    use super::*;
    use snodo_queue::testing::rabbit::RabbitTestBroker;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_acs_is_inbound_compliant_on_rabbitmq() {
        let broker = RabbitTestBroker::private()
            .await
            .with_publish_timeout(Duration::from_secs(30));
        assert_inbound_compliance(&broker, &Acs).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Redis

fn redeem(ticket: &str) -> Command {
    let (mut envelope, message) =
        snodo_queue::testing::harness::command(TICKET_REDEEM, json!({ "ticket": ticket }));
    envelope.tenant = Some(TENANT.into());
    Command {
        envelope,
        body: message.body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_login_is_consumed_once_and_its_ticket_redeemed_once() {
    let prefix = unique_redis_prefix();
    let sp = Sp::start(
        EmbeddedTestBroker::new().connect().await,
        Some(redis_store(&prefix).await),
        SpOptions::default(),
    )
    .await;
    let answer = sp.start_login(Federation::Spid, "post").await;
    let form = sp.through_idp(Federation::Spid, answer, "success").await;
    assert_eq!(sp.post_to_acs(&form).await.status(), 303);
    let events = sp.events().await;
    let ticket = events[0].2["ticket"].as_str().unwrap().to_owned();

    // The same Response again: its request is gone and the Assertion is remembered in Redis.
    assert_eq!(sp.post_to_acs(&form).await.status(), 403);

    // Another instance (its own connection to the same Redis) redeems; then nobody can.
    let other = TicketRedeemer {
        store: redis_store(&prefix).await,
    };
    let login = other.handle(&redeem(&ticket)).await.expect("first redemption");
    assert_eq!(login["federation"], "spid");
    let mine = TicketRedeemer {
        store: sp.store.clone(),
    };
    let again = mine
        .handle(&redeem(&ticket))
        .await
        .expect_err("second redemption");
    assert_eq!(again.code, ErrorCode::Rejected);
}

/// A login whose event could not be stored (broker unreachable) leaves its request in Redis for the
/// browser's retry, which succeeds once — and only for that Response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_login_refused_for_an_unreachable_broker_succeeds_on_the_retry() {
    let prefix = unique_redis_prefix();
    let (sp, gated) = Sp::start_behind_gate(Some(redis_store(&prefix).await)).await;
    let answer = sp.start_login(Federation::Spid, "redirect").await;
    let form = sp.through_idp(Federation::Spid, answer, "success").await;
    gated.set_down(true);
    assert_eq!(sp.post_to_acs(&form).await.status(), 503);
    gated.set_down(false);
    let retried = sp.post_to_acs(&form).await;
    assert_eq!(retried.status(), 303, "{}", retried.text().await.unwrap());
    let events = sp.events().await;
    assert_eq!(events.len(), 1, "the failed attempt published nothing");
    assert_eq!(events[0].0, "identity.login.succeeded");
    assert_eq!(
        sp.post_to_acs(&form).await.status(),
        403,
        "consumed: a replay now"
    );
}

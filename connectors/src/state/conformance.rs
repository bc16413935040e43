//! The coordination-store conformance suite: one set of cases that the Redis store and the in-process
//! store must both pass, so that the embedded development mode behaves as production does. Expand it with
//! [`state_conformance_tests!`] (`connectors/tests/state_redis.rs`, `state_in_process.rs`).
//!
//! Expiry is exercised with TTLs of a few hundred milliseconds and waits that poll until the effect shows,
//! bounded by [`WAIT`]: a slow machine makes a case slower, never wrong.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::future::join_all;
use uuid::Uuid;

use super::testing::{TestBackend, TestNamespace};
use super::{Lease, MAX_ID_LEN, SharedStore, StateError, StateSettings};

/// Upper bound of any wait for something that must happen.
pub const WAIT: Duration = Duration::from_secs(10);
/// A TTL short enough to wait out in a test.
const SHORT: Duration = Duration::from_millis(200);
/// A TTL no test outlives.
const LONG: Duration = Duration::from_secs(600);

fn namespace(backend: &TestBackend) -> TestNamespace {
    backend.namespace(StateSettings::default())
}

/// Polls `check` every 25 ms until it returns `Some`, for at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn allocation_is_idempotent_by_message_id(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.connect().await, ns.connect().await);
    let (m1, m2, m3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(a.allocate("anpr-op", "015146", m1).await.unwrap(), 1);
    assert_eq!(a.allocate("anpr-op", "015146", m2).await.unwrap(), 2);
    // A redelivered command, possibly on another instance, gets its number again.
    assert_eq!(b.allocate("anpr-op", "015146", m1).await.unwrap(), 1);
    assert_eq!(a.allocate("anpr-op", "015146", m2).await.unwrap(), 2);
    assert_eq!(b.allocate("anpr-op", "015146", m3).await.unwrap(), 3);
    // Counters are per tenant and per counter name.
    assert_eq!(a.allocate("anpr-op", "058091", m1).await.unwrap(), 1);
    assert_eq!(a.allocate("other", "015146", m1).await.unwrap(), 1);
    assert_eq!(a.allocate("anpr-op", "015146", Uuid::new_v4()).await.unwrap(), 4);
}

/// Many tasks over several connections: every number is handed out once, none is skipped, each caller
/// sees its numbers grow, and a repeated message_id never takes a new number.
pub async fn concurrent_allocations_are_unique_gapless_and_monotonic(backend: &TestBackend) {
    const TASKS: usize = 16;
    const EACH: usize = 25;
    let ns = namespace(backend);
    let mut connections = Vec::new();
    for _ in 0..4 {
        connections.push(ns.connect().await);
    }
    let tasks = (0..TASKS).map(|t| {
        let store = connections[t % connections.len()].clone();
        tokio::spawn(async move {
            let mut mine = Vec::with_capacity(EACH);
            for _ in 0..EACH {
                let id = Uuid::new_v4();
                let n = store.allocate("anpr-op", "015146", id).await.unwrap();
                let again = store.allocate("anpr-op", "015146", id).await.unwrap();
                assert_eq!(n, again, "a repeated message_id got another number");
                mine.push(n);
            }
            mine
        })
    });
    let mut all = BTreeSet::new();
    for result in join_all(tasks).await {
        let mine = result.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "not monotonic for one caller: {mine:?}"
        );
        for n in mine {
            assert!(all.insert(n), "number {n} was handed out twice");
        }
    }
    let expected: BTreeSet<u64> = (1..=(TASKS * EACH) as u64).collect();
    assert_eq!(all, expected, "numbers were skipped");
}

pub async fn allocations_expire_after_the_retention(backend: &TestBackend) {
    let ns = backend.namespace(StateSettings {
        allocation_retention: SHORT,
        ..StateSettings::default()
    });
    let store = ns.connect().await;
    let id = Uuid::new_v4();
    assert_eq!(store.allocate("anpr-op", "015146", id).await.unwrap(), 1);
    // After the retention the message_id is forgotten; the counter is not, so the number is new and greater.
    let n = eventually("the allocation record expires", || async {
        let n = store.allocate("anpr-op", "015146", id).await.unwrap();
        (n != 1).then_some(n)
    })
    .await;
    assert_eq!(n, 2);
}

pub async fn tokens_are_taken_exactly_once(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.connect().await, ns.connect().await);
    let value = Bytes::from_static(b"\x00\xffrelay state \xe2\x82\xac");
    a.put_token("saml-request", "_a1b2", value.clone(), LONG)
        .await
        .unwrap();
    assert_eq!(b.take_token("saml-request", "_a1b2").await.unwrap(), Some(value));
    assert_eq!(a.take_token("saml-request", "_a1b2").await.unwrap(), None);
    assert_eq!(a.take_token("saml-request", "never-stored").await.unwrap(), None);

    // A token is not overwritten; kinds are separate.
    a.put_token("login-ticket", "t1", Bytes::from_static(b"first"), LONG)
        .await
        .unwrap();
    let clash = b
        .put_token("login-ticket", "t1", Bytes::from_static(b"second"), LONG)
        .await;
    assert!(matches!(clash, Err(StateError::TokenExists { .. })), "{clash:?}");
    a.put_token("saml-request", "t1", Bytes::from_static(b"other kind"), LONG)
        .await
        .unwrap();
    assert_eq!(
        b.take_token("login-ticket", "t1").await.unwrap(),
        Some(Bytes::from_static(b"first"))
    );

    // Racing takers: exactly one wins.
    a.put_token("login-ticket", "raced", Bytes::from_static(b"v"), LONG)
        .await
        .unwrap();
    let takers = (0..8).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move { store.take_token("login-ticket", "raced").await.unwrap() })
    });
    let won = join_all(takers)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_some())
        .count();
    assert_eq!(won, 1);
}

pub async fn tokens_expire(backend: &TestBackend) {
    let ns = namespace(backend);
    let store = ns.connect().await;
    store
        .put_token("saml-request", "short", Bytes::from_static(b"s"), SHORT)
        .await
        .unwrap();
    store
        .put_token("saml-request", "long", Bytes::from_static(b"l"), LONG)
        .await
        .unwrap();
    eventually("the short token expires", || async {
        // Looked at without taking: a put succeeds only once the old token is gone.
        store
            .put_token("saml-request", "short", Bytes::from_static(b"again"), LONG)
            .await
            .is_ok()
            .then_some(())
    })
    .await;
    assert_eq!(
        store.take_token("saml-request", "short").await.unwrap(),
        Some(Bytes::from_static(b"again"))
    );
    assert_eq!(
        store.take_token("saml-request", "long").await.unwrap(),
        Some(Bytes::from_static(b"l"))
    );
}

pub async fn replay_cache_remembers_once_until_expiry(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.connect().await, ns.connect().await);
    let until = Utc::now() + chrono::Duration::minutes(10);
    assert!(a.remember_once("saml-assertion", "_id1", until).await.unwrap());
    assert!(!b.remember_once("saml-assertion", "_id1", until).await.unwrap());
    assert!(a.remember_once("saml-response", "_id1", until).await.unwrap());

    let racers = (0..8).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store
                .remember_once("saml-assertion", "_raced", until)
                .await
                .unwrap()
        })
    });
    let first = join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(first, 1, "exactly one caller sees an id first");

    // Past `until` (and the minimum memory) the id may be used again.
    let soon = Utc::now() + chrono::Duration::milliseconds(100);
    assert!(a.remember_once("saml-assertion", "_short", soon).await.unwrap());
    eventually("the replay entry expires", || async {
        a.remember_once("saml-assertion", "_short", soon)
            .await
            .unwrap()
            .then_some(())
    })
    .await;
}

pub async fn cursors_set_and_compare_and_set(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.connect().await, ns.connect().await);
    assert_eq!(a.cursor("feed").await.unwrap(), None);
    assert!(!a.compare_and_set_cursor("feed", Some("x"), "1").await.unwrap());
    assert!(a.compare_and_set_cursor("feed", None, "1").await.unwrap());
    assert_eq!(b.cursor("feed").await.unwrap().as_deref(), Some("1"));
    assert!(!b.compare_and_set_cursor("feed", None, "2").await.unwrap());
    assert!(b.compare_and_set_cursor("feed", Some("1"), "2").await.unwrap());
    a.set_cursor("feed", "").await.unwrap();
    assert_eq!(b.cursor("feed").await.unwrap().as_deref(), Some(""));
    a.set_cursor("feed", "2024-01-01T00:00:00Z/17").await.unwrap();

    let racers = (0..8).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store
                .compare_and_set_cursor("feed", Some("2024-01-01T00:00:00Z/17"), &format!("next-{i}"))
                .await
                .unwrap()
        })
    });
    let won = join_all(racers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1);
}

async fn acquire(store: &SharedStore, name: &str, holder: &str, ttl: Duration) -> Option<Lease> {
    store.acquire(name, holder, ttl).await.unwrap()
}

pub async fn lease_is_exclusive_and_only_its_holder_renews_or_releases(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.connect().await, ns.connect().await);
    let lease = acquire(&a, "poller", "instance-a", LONG)
        .await
        .expect("a free lease is taken");
    assert!(lease.fence >= 1);
    assert_eq!(acquire(&b, "poller", "instance-b", LONG).await, None);
    // The holder asking again keeps its token.
    assert_eq!(
        acquire(&a, "poller", "instance-a", LONG).await,
        Some(lease.clone())
    );

    let impostor = Lease {
        holder: "instance-b".into(),
        ..lease.clone()
    };
    assert!(!b.renew(&impostor, LONG).await.unwrap());
    assert!(!b.release(&impostor).await.unwrap());
    let stale = Lease {
        fence: lease.fence + 1,
        ..lease.clone()
    };
    assert!(!b.renew(&stale, LONG).await.unwrap());
    assert!(a.renew(&lease, LONG).await.unwrap());
    assert_eq!(acquire(&b, "poller", "instance-b", LONG).await, None);

    // Many instances starting at once: one wins.
    let racers = (0..8).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store
                .acquire("raced", &format!("instance-{i}"), LONG)
                .await
                .unwrap()
        })
    });
    let won = join_all(racers)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_some())
        .count();
    assert_eq!(won, 1);
}

pub async fn expired_lease_is_taken_over_with_a_greater_fence(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.connect().await, ns.connect().await);
    let old = acquire(&a, "poller", "instance-a", SHORT).await.unwrap();
    a.set_cursor_fenced("feed", "from-a", &old).await.unwrap();
    let new = eventually("the lease expires and instance-b takes it", || async {
        acquire(&b, "poller", "instance-b", LONG).await
    })
    .await;
    assert!(new.fence > old.fence, "fence {} after {}", new.fence, old.fence);

    // The old holder finds out: no renewal, no release, and its late writes are refused.
    assert!(!a.renew(&old, LONG).await.unwrap());
    assert!(!a.release(&old).await.unwrap());
    let late = a.set_cursor_fenced("feed", "late-from-a", &old).await;
    assert!(matches!(late, Err(StateError::LeaseLost { .. })), "{late:?}");
    assert_eq!(b.cursor("feed").await.unwrap().as_deref(), Some("from-a"));
    b.set_cursor_fenced("feed", "from-b", &new).await.unwrap();
    assert_eq!(a.cursor("feed").await.unwrap().as_deref(), Some("from-b"));
    assert_eq!(acquire(&a, "poller", "instance-a", LONG).await, None);
}

pub async fn released_lease_is_free_at_once_and_fences_keep_growing(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.connect().await, ns.connect().await);
    let mut last = 0;
    for round in 0..3 {
        let (store, holder) = if round % 2 == 0 {
            (&a, "instance-a")
        } else {
            (&b, "instance-b")
        };
        let lease = acquire(store, "poller", holder, LONG)
            .await
            .expect("a released lease is free");
        assert!(lease.fence > last, "fence {} after {last}", lease.fence);
        last = lease.fence;
        assert!(store.release(&lease).await.unwrap());
        let refused = store.set_cursor_fenced("feed", "after-release", &lease).await;
        assert!(
            matches!(refused, Err(StateError::LeaseLost { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(a.cursor("feed").await.unwrap(), None);
}

pub async fn malformed_arguments_are_refused_without_echoing_ids(backend: &TestBackend) {
    let ns = namespace(backend);
    let store = ns.connect().await;
    let id = Uuid::new_v4();
    for (counter, tenant) in [("a:b", "015146"), ("anpr-op", ""), ("anpr op", "015146")] {
        let e = store.allocate(counter, tenant, id).await.unwrap_err();
        assert!(matches!(e, StateError::InvalidName { .. }), "{e}");
        assert!(!e.is_retryable());
    }
    let secret = format!("RSSMRA80A01F205X{}", "x".repeat(MAX_ID_LEN));
    let e = store.take_token("saml-request", &secret).await.unwrap_err();
    assert!(matches!(e, StateError::InvalidLength { .. }), "{e}");
    assert!(!e.to_string().contains("RSSMRA80A01F205X"), "{e}");
    let e = store
        .remember_once("saml-assertion", "", Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::InvalidLength { .. }), "{e}");

    let too_big = "c".repeat(ns.settings().max_value_len + 1);
    let e = store.set_cursor("feed", &too_big).await.unwrap_err();
    assert!(matches!(e, StateError::InvalidLength { .. }), "{e}");
    let e = store
        .put_token("saml-request", "t", Bytes::from(too_big.into_bytes()), LONG)
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::InvalidLength { .. }), "{e}");
    let e = store.acquire("poller", "a", Duration::ZERO).await.unwrap_err();
    assert!(matches!(e, StateError::InvalidTtl { .. }), "{e}");
    let e = store
        .put_token("saml-request", "t", Bytes::new(), Duration::from_micros(10))
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::InvalidTtl { .. }), "{e}");
}

/// The consumer runtime's settled-attempts ledger: an attempt recorded through one connection is seen
/// through another (another instance), and only that attempt of that message_id.
pub async fn settled_attempts_are_shared_and_distinct(backend: &TestBackend) {
    let ns = namespace(backend);
    let (a, b) = (ns.ledger().await, ns.ledger().await);
    let (m1, m2) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(!b.is_settled(m1, 1).await.unwrap());
    a.record_settled(m1, 1).await.unwrap();
    assert!(b.is_settled(m1, 1).await.unwrap());
    assert!(
        !b.is_settled(m1, 2).await.unwrap(),
        "another attempt of the same command"
    );
    assert!(!b.is_settled(m2, 1).await.unwrap(), "another command");
    // Recording again (a second instance settling a duplicate) is harmless.
    b.record_settled(m1, 1).await.unwrap();
    b.record_settled(m1, 2).await.unwrap();
    assert!(a.is_settled(m1, 1).await.unwrap());
    assert!(a.is_settled(m1, 2).await.unwrap());
}

pub async fn settled_attempts_expire_after_the_retention(backend: &TestBackend) {
    let ns = backend.namespace(StateSettings {
        settled_retention: SHORT,
        ..StateSettings::default()
    });
    let ledger = ns.ledger().await;
    let id = Uuid::new_v4();
    ledger.record_settled(id, 3).await.unwrap();
    assert!(ledger.is_settled(id, 3).await.unwrap());
    eventually("the settled record expires", || async {
        (!ledger.is_settled(id, 3).await.unwrap()).then_some(())
    })
    .await;
}

/// Expands every conformance case as a `#[tokio::test]` against `$backend` (a
/// [`TestBackend`](super::testing::TestBackend) expression).
#[macro_export]
macro_rules! state_conformance_tests {
    ($backend:expr) => {
        $crate::state_conformance_tests!(@cases $backend;
            allocation_is_idempotent_by_message_id,
            concurrent_allocations_are_unique_gapless_and_monotonic,
            allocations_expire_after_the_retention,
            tokens_are_taken_exactly_once,
            tokens_expire,
            replay_cache_remembers_once_until_expiry,
            cursors_set_and_compare_and_set,
            lease_is_exclusive_and_only_its_holder_renews_or_releases,
            expired_lease_is_taken_over_with_a_greater_fence,
            released_lease_is_free_at_once_and_fences_keep_growing,
            malformed_arguments_are_refused_without_echoing_ids,
            settled_attempts_are_shared_and_distinct,
            settled_attempts_expire_after_the_retention,
        );
    };
    (@cases $backend:expr; $($case:ident),+ $(,)?) => {
        mod state_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::state::conformance::$case(&$backend).await;
                }
            )+
        }
    };
}

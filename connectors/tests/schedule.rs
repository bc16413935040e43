//! The polling scheduler end to end: two instances (each with its own store connection and broker
//! connection, as two Snodo processes would have) on one feed, against Redis and against the in-process
//! store, with the embedded transport. Exactly one polls; when it is killed the other takes over; no item
//! is lost and every event of one item carries one `message_id`.
//!
//! Durations are milliseconds so that lease expiry and takeover take well under a second; every wait is
//! bounded and polls until what it waits for shows, so a slow machine only makes the tests slower.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use snodo_connectors::schedule::{
    Feed, FeedError, FeedItem, FeedMetrics, Poll, Scheduler, SchedulerSettings, item_message_id,
};
use snodo_connectors::state::testing::{TestBackend, TestNamespace};
use snodo_connectors::state::{Lease, SharedStore, StateSettings};
use snodo_queue::envelope::Envelope;
use snodo_queue::envelope::MessageType;
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::embedded::EmbeddedTestBroker;
use snodo_queue::testing::harness::unique_names;
use snodo_queue::topology::SubscriberQueue;
use snodo_queue::{ConsumeOptions, Consumer, Names, SharedTransport, Topology};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const FEED: &str = "anpr-notifications.015146";
const KIND: &str = "anpr.notification.received";
const TENANT: &str = "015146";
const WAIT: Duration = Duration::from_secs(15);

/// The platform behind the feed: items in order, and who polled when.
#[derive(Default)]
struct Platform {
    items: Mutex<Vec<String>>,
    polls: Mutex<Vec<String>>,
    polling_now: AtomicUsize,
    most_at_once: AtomicUsize,
}

impl Platform {
    fn publish(&self, n: usize) {
        let mut items = self.items.lock();
        let start = items.len();
        items.extend((start..start + n).map(|i| format!("N-{i:04}")));
    }

    fn all(&self) -> BTreeSet<String> {
        self.items.lock().iter().cloned().collect()
    }

    fn polls(&self) -> Vec<String> {
        self.polls.lock().clone()
    }
}

/// One instance's view of the platform; pages of three items, the cursor is the index of the next item.
struct TestFeed {
    platform: Arc<Platform>,
    instance: String,
}

#[async_trait]
impl Feed for TestFeed {
    fn name(&self) -> &str {
        FEED
    }

    async fn poll(&self, cursor: Option<&str>) -> Result<Poll, FeedError> {
        let from: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| FeedError::Invalid(format!("cursor {c:?}")))?,
        };
        let now = self.platform.polling_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.platform.most_at_once.fetch_max(now, Ordering::SeqCst);
        self.platform.polls.lock().push(self.instance.clone());
        // A poll takes a little while, as a platform call does, so overlapping pollers would show.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let items = self.platform.items.lock();
        let to = items.len().min(from + 3);
        let page = items[from.min(to)..to]
            .iter()
            .map(|id| FeedItem {
                platform_id: id.clone(),
                kind: KIND.parse().unwrap(),
                tenant: Some(TENANT.into()),
                body: serde_json::json!({ "notification": id }),
            })
            .collect();
        let more = to < items.len();
        drop(items);
        self.platform.polling_now.fetch_sub(1, Ordering::SeqCst);
        Ok(Poll {
            items: page,
            next_cursor: to.to_string(),
            more,
        })
    }
}

fn settings(names: &Names, holder: &str) -> SchedulerSettings {
    SchedulerSettings {
        holder: holder.into(),
        interval: Duration::from_millis(40),
        lease_ttl: Duration::from_millis(500),
        renew_every: Duration::from_millis(120),
        acquire_every: Duration::from_millis(40),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..SchedulerSettings::new(names.clone())
    }
}

struct Instance {
    join: JoinHandle<()>,
    metrics: Arc<FeedMetrics>,
    shutdown: CancellationToken,
}

fn start(
    platform: &Arc<Platform>,
    store: SharedStore,
    transport: SharedTransport,
    names: &Names,
    holder: &str,
) -> Instance {
    let feed = Arc::new(TestFeed {
        platform: platform.clone(),
        instance: holder.into(),
    });
    let scheduler = Scheduler::new(feed, store, transport, settings(names, holder)).expect("valid settings");
    let metrics = scheduler.metrics();
    let shutdown = CancellationToken::new();
    let join = tokio::spawn(scheduler.run(shutdown.clone()));
    Instance {
        join,
        metrics,
        shutdown,
    }
}

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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The events exchange with one tap queue bound to everything.
async fn declare_with_tap(transport: &SharedTransport, names: &Names) -> EventTap {
    let tap = format!("{}.tap", names.prefix);
    let topology = Topology::snodo(
        names,
        &[],
        &[SubscriberQueue {
            queue: tap.clone(),
            patterns: vec!["#".into()],
        }],
        &[],
    );
    transport
        .declare(&topology)
        .await
        .expect("declare the test topology");
    let consumer = transport
        .consume(&tap, ConsumeOptions { prefetch: 256 })
        .await
        .expect("consume the tap");
    EventTap(consumer)
}

/// The events on the tap queue.
struct EventTap(Consumer);

impl EventTap {
    async fn next(&mut self, within: Duration) -> Option<(Envelope, serde_json::Value)> {
        let delivery = tokio::time::timeout(within, self.0.next()).await.ok()??;
        let message = delivery.message.clone();
        delivery.ack().await.expect("ack a tapped event");
        let envelope = Envelope::parse(&message).expect("feed events have valid envelopes");
        let body = serde_json::from_slice(&message.body).expect("feed events are JSON");
        Some((envelope, body))
    }
}

/// Every event seen, by platform id: the message ids it came with.
#[derive(Default)]
struct Seen(BTreeMap<String, Vec<String>>);

impl Seen {
    async fn drain(&mut self, tap: &mut EventTap, within: Duration) -> bool {
        let Some((envelope, body)) = tap.next(within).await else {
            return false;
        };
        assert_eq!(envelope.kind.as_str(), KIND);
        assert_eq!(envelope.tenant.as_deref(), Some(TENANT));
        let id = body["notification"]
            .as_str()
            .expect("the body names the item")
            .to_owned();
        self.0
            .entry(id)
            .or_default()
            .push(envelope.message_id.to_string());
        true
    }

    async fn until_all(&mut self, tap: &mut EventTap, platform: &Platform) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.0.keys().cloned().collect::<BTreeSet<_>>() != platform.all() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                self.drain(tap, left).await,
                "events missing after {WAIT:?}: saw {} of {} items",
                self.0.len(),
                platform.all().len()
            );
        }
    }
}

async fn one_poller_and_takeover(backend: TestBackend) {
    let broker = EmbeddedTestBroker::new();
    let names = unique_names();
    let ns: TestNamespace = backend.namespace(StateSettings::default());
    let mut tap = declare_with_tap(&broker.connect().await, &names).await;
    let platform = Arc::new(Platform::default());
    platform.publish(10);

    let a = start(
        &platform,
        ns.connect().await,
        broker.connect().await,
        &names,
        "instance-a",
    );
    let b = start(
        &platform,
        ns.connect().await,
        broker.connect().await,
        &names,
        "instance-b",
    );
    let mut seen = Seen::default();
    seen.until_all(&mut tap, &platform).await;
    platform.publish(5);
    seen.until_all(&mut tap, &platform).await;

    // Exactly one of them holds the lease and has polled.
    let (leader, follower, leader_name, follower_name) = if a.metrics.holds_lease() {
        (a, b, "instance-a", "instance-b")
    } else {
        (b, a, "instance-b", "instance-a")
    };
    assert!(leader.metrics.holds_lease() && !follower.metrics.holds_lease());
    assert!(
        platform.polls().iter().all(|p| p == leader_name),
        "{:?}",
        platform.polls()
    );
    assert_eq!(follower.metrics.polls.load(Ordering::SeqCst), 0);

    // Kill the poller without letting it release its lease, as a crash would.
    leader.join.abort();
    let _ = leader.join.await;
    let polls_by_leader = platform.polls().len();
    platform.publish(5);
    eventually("the other instance takes the lease over", || async {
        follower.metrics.holds_lease().then_some(())
    })
    .await;
    platform.publish(5);
    seen.until_all(&mut tap, &platform).await;
    // Re-polled items may come twice; let them arrive before judging.
    while seen.drain(&mut tap, Duration::from_millis(300)).await {}

    let polls = platform.polls();
    assert!(
        polls[polls_by_leader..].iter().all(|p| p == follower_name),
        "{polls:?}"
    );
    assert!(polls.len() > polls_by_leader, "the new poller polled");
    assert_eq!(
        platform.most_at_once.load(Ordering::SeqCst),
        1,
        "two polls overlapped"
    );
    assert_eq!(
        seen.0.keys().cloned().collect::<BTreeSet<_>>(),
        platform.all(),
        "an item was lost"
    );
    let kind: MessageType = KIND.parse().unwrap();
    for (platform_id, ids) in &seen.0 {
        let expected = item_message_id(&kind, Some(TENANT), platform_id).to_string();
        assert!(ids.iter().all(|id| *id == expected), "{platform_id}: {ids:?}");
    }
    let cursor = ns.connect().await.cursor(FEED).await.unwrap();
    assert_eq!(cursor.as_deref(), Some("25"));
    assert_eq!(follower.metrics.lease_acquired.load(Ordering::SeqCst), 1);

    follower.shutdown.cancel();
    tokio::time::timeout(WAIT, follower.join)
        .await
        .expect("stops on shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poller_at_a_time_and_takeover_on_redis() {
    one_poller_and_takeover(TestBackend::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poller_at_a_time_and_takeover_in_process() {
    one_poller_and_takeover(TestBackend::InProcess).await;
}

/// Until the broker confirms the items' events the cursor stays where it was: here the events exchange
/// does not exist at first, so every publish fails and the same page is polled again, with backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_moves_only_after_the_broker_confirms() {
    let broker = EmbeddedTestBroker::new();
    let names = unique_names();
    let ns = TestBackend::redis().namespace(StateSettings::default());
    let store = ns.connect().await;
    let platform = Arc::new(Platform::default());
    platform.publish(4);
    let instance = start(
        &platform,
        store.clone(),
        broker.connect().await,
        &names,
        "instance-a",
    );
    eventually("publishing fails a few times", || async {
        (instance.metrics.errors.load(Ordering::SeqCst) >= 3).then_some(())
    })
    .await;
    assert_eq!(store.cursor(FEED).await.unwrap(), None);
    assert_eq!(instance.metrics.items.load(Ordering::SeqCst), 0);

    let mut tap = declare_with_tap(&broker.connect().await, &names).await;
    let mut seen = Seen::default();
    seen.until_all(&mut tap, &platform).await;
    eventually("the cursor moves past every item", || async {
        (store.cursor(FEED).await.unwrap().as_deref() == Some("4")).then_some(())
    })
    .await;
    instance.shutdown.cancel();
    tokio::time::timeout(WAIT, instance.join)
        .await
        .expect("stops on shutdown")
        .unwrap();
    // A clean stop releases the lease: another instance gets it at once, with the next fencing token.
    let next = store
        .acquire(FEED, "instance-b", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(next.map(|l| l.fence), Some(2));
}

/// A poller whose lease is taken from it (it expired during a partition and another instance took it)
/// stops before its next poll, and polls again only once it holds the lease again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_that_loses_its_lease_stops_polling() {
    let broker = EmbeddedTestBroker::new();
    let names = unique_names();
    let ns = TestBackend::redis().namespace(StateSettings::default());
    let store = ns.connect().await;
    let _tap = declare_with_tap(&broker.connect().await, &names).await;
    let platform = Arc::new(Platform::default());
    platform.publish(2);
    let instance = start(
        &platform,
        ns.connect().await,
        broker.connect().await,
        &names,
        "instance-a",
    );
    eventually("the instance polls", || async {
        (instance.metrics.polls.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;

    // What a partition longer than the TTL looks like from the store: the lease is gone and taken.
    let stolen = Lease {
        name: FEED.into(),
        holder: "instance-a".into(),
        fence: 1,
    };
    assert!(store.release(&stolen).await.unwrap());
    let intruder = store
        .acquire(FEED, "instance-b", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the released lease is free");
    eventually("the instance notices", || async {
        (instance.metrics.lease_lost.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    assert!(!instance.metrics.holds_lease());
    let polls = instance.metrics.polls.load(Ordering::SeqCst);
    // Several poll intervals and acquire attempts pass without a poll.
    let attempts_seen = platform.polls().len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(instance.metrics.polls.load(Ordering::SeqCst), polls);
    assert_eq!(platform.polls().len(), attempts_seen);

    assert!(store.release(&intruder).await.unwrap());
    eventually("the instance polls again once the lease is free", || async {
        (instance.metrics.polls.load(Ordering::SeqCst) > polls).then_some(())
    })
    .await;
    assert_eq!(instance.metrics.lease_acquired.load(Ordering::SeqCst), 2);
    instance.shutdown.cancel();
    tokio::time::timeout(WAIT, instance.join)
        .await
        .expect("stops on shutdown")
        .unwrap();
}

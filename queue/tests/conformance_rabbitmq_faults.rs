//! The RabbitMQ transport through broker restarts and resource alarms, on the private test node
//! (`scripts/rabbitmq-private-node`, started on first use; never the shared node).
//!
//! The node's alarms and restarts affect every vhost on it, so these tests run one at a time:
//! [`RabbitTestBroker::private`] waits for a process-wide lock that the broker value holds until it is
//! dropped, and the test script runs this binary with `--test-threads=1` too.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use snodo_queue::message::{Message, Properties};
use snodo_queue::testing::TestBroker;
use snodo_queue::testing::harness::{declare_queue, next_within};
use snodo_queue::testing::rabbit::RabbitTestBroker;
use snodo_queue::{AckOutcome, ConsumeOptions, Publish, PublishError};

snodo_queue::transport_fault_tests!(RabbitTestBroker::private().await);

fn message(id: &str) -> Message {
    Message {
        properties: Properties {
            message_id: Some(id.to_owned()),
            kind: Some("snodo.test.sent".into()),
            delivery_mode: Some(2),
            ..Properties::default()
        },
        body: Bytes::from_static(b"{}"),
        ..Message::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_keeps_delivering_across_a_broker_restart() {
    let broker = RabbitTestBroker::private()
        .await
        .with_publish_timeout(Duration::from_secs(30));
    let t = broker.connect().await;
    declare_queue(&t, "q").await;
    t.publish(Publish::to_queue("q", message("before")))
        .await
        .unwrap();
    let mut consumer = t.consume("q", ConsumeOptions::default()).await.unwrap();
    let held = next_within(&mut consumer, Duration::from_secs(5)).await;
    assert_eq!(held.message.properties.message_id.as_deref(), Some("before"));

    broker.restart().await;

    // The delivery came on a channel that died with the connection: its ack cannot count, and RabbitMQ
    // delivers the message again.
    assert_eq!(held.ack().await.unwrap(), AckOutcome::ChannelLost);
    t.publish(Publish::to_queue("q", message("after")))
        .await
        .expect("publish after the restart");
    let mut seen = HashSet::new();
    while seen.len() < 2 {
        let d = next_within(&mut consumer, Duration::from_secs(30)).await;
        let id = d.message.properties.message_id.clone().unwrap();
        if id == "before" {
            assert!(d.redelivered, "the requeued message is marked redelivered");
        }
        assert_eq!(d.ack().await.unwrap(), AckOutcome::Settled);
        seen.insert(id);
    }
    assert!(t.status().connected);
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_in_flight_during_a_restart_are_confirmed_after_it_and_none_is_lost() {
    let broker = RabbitTestBroker::private()
        .await
        .with_publish_timeout(Duration::from_secs(40));
    let t = broker.connect().await;
    declare_queue(&t, "q").await;
    let n = 300;
    let publishing = tokio::spawn({
        let t = t.clone();
        async move {
            join_all((0..n).map(|i| {
                let t = t.clone();
                async move {
                    // Spread over the restart.
                    tokio::time::sleep(Duration::from_millis(i * 10)).await;
                    t.publish(Publish::to_queue("q", message(&format!("m{i}")))).await
                }
            }))
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart().await;
    let results = publishing.await.unwrap();
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "publish m{i}: {r:?}");
    }
    // Every confirmed message is in the queue (possibly twice: re-published after the restart).
    let mut consumer = t.consume("q", ConsumeOptions { prefetch: 100 }).await.unwrap();
    let mut seen = HashSet::new();
    while seen.len() < n as usize {
        let d = next_within(&mut consumer, Duration::from_secs(10)).await;
        seen.insert(d.message.properties.message_id.clone().unwrap());
        d.ack().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_broker_times_publishes_out_with_its_reason_while_consumers_go_on() {
    let broker = RabbitTestBroker::private()
        .await
        .with_publish_timeout(Duration::from_secs(3));
    let t = broker.connect().await;
    declare_queue(&t, "q").await;
    for i in 0..3 {
        t.publish(Publish::to_queue("q", message(&format!("pre{i}"))))
            .await
            .unwrap();
    }
    let mut consumer = t.consume("q", ConsumeOptions::default()).await.unwrap();

    broker.block_publishers().await;
    let outcome = t.publish(Publish::to_queue("q", message("blocked"))).await;
    match outcome {
        Err(PublishError::Timeout {
            blocked: Some(reason),
            ..
        }) => {
            assert!(reason.contains("memory"), "{reason}")
        }
        other => panic!("expected a timeout naming the alarm, got {other:?}"),
    }
    assert!(t.status().blocked.is_some());
    // Consuming and acknowledging go on: they use the other connection.
    for _ in 0..3 {
        let d = next_within(&mut consumer, Duration::from_secs(5)).await;
        assert_eq!(d.ack().await.unwrap(), AckOutcome::Settled);
    }

    broker.unblock_publishers().await;
    t.publish(Publish::to_queue("q", message("after")))
        .await
        .expect("publish after the alarm");
    assert_eq!(t.status().blocked, None);
    // The blocked publish may have gone through late; "after" must be there in any case.
    let mut ids = HashSet::new();
    while !ids.contains("after") {
        let d = next_within(&mut consumer, Duration::from_secs(5)).await;
        ids.insert(d.message.properties.message_id.clone().unwrap());
        d.ack().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_queue_comes_back_after_a_restart() {
    let broker = RabbitTestBroker::private()
        .await
        .with_publish_timeout(Duration::from_secs(30));
    let requester = broker.connect().await;
    let responder = broker.connect().await;
    let name = format!("snodo.reply.{}", uuid::Uuid::new_v4());
    let mut replies = requester.consume_replies(&name).await.unwrap();
    broker.restart().await;
    // The exclusive queue died with the connection; the reply consumer re-declares it. Until then a
    // best-effort reply may be dropped, so retry until one arrives.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        responder
            .publish(Publish::to_queue(name.clone(), message("reply")).best_effort())
            .await
            .unwrap();
        if let Ok(Some(reply)) = tokio::time::timeout(Duration::from_millis(500), replies.next()).await {
            assert_eq!(reply.message.properties.message_id.as_deref(), Some("reply"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reply after the restart"
        );
    }
}

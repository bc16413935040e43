//! Conformance cases that disturb the whole broker (restart, resource alarm); expanded by
//! [`transport_fault_tests!`](crate::transport_fault_tests).

#[allow(unused_imports)]
use super::*;

/// A broker restart keeps durable queues and their messages; consumers resume by themselves; unsettled
/// deliveries come back; a publish issued right after the restart succeeds once the broker is back.
pub async fn restart_keeps_messages_and_resumes_consumers(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (kept, consumed) = (format!("{p}.kept"), format!("{p}.consumed"));
    declare(
        &t,
        &Topology {
            queues: vec![QueueSpec::quorum(&kept), QueueSpec::quorum(&consumed)],
            ..Topology::default()
        },
    )
    .await;
    publish(&t, Publish::to_queue(&kept, test_message("before-1"))).await;
    publish(&t, Publish::to_queue(&kept, test_message("before-2"))).await;
    let mut consumer = within("consume", WAIT, t.consume(&consumed, ConsumeOptions::default()))
        .await
        .expect("consume");
    publish(&t, Publish::to_queue(&consumed, test_message("unsettled"))).await;
    let held = next(&mut consumer, "delivery before the restart").await;

    within("restart", RECOVERY, broker.restart()).await;
    within(
        "publish after restart",
        RECOVERY,
        t.publish(Publish::to_queue(&kept, test_message("after"))),
    )
    .await
    .expect("a publish right after the restart succeeds once the broker is back");
    within(
        "publish after restart",
        RECOVERY,
        t.publish(Publish::to_queue(&consumed, test_message("new"))),
    )
    .await
    .expect("publish to the consumed queue");

    let mut got = Vec::new();
    while got.len() < 2 {
        let delivery = within("delivery after restart", RECOVERY, consumer.next())
            .await
            .expect("the consumer resumes after the restart");
        let id = id_of(&delivery);
        assert!(
            id != "unsettled" || delivery.redelivered,
            "the unsettled message comes back redelivered"
        );
        if !got.contains(&id) {
            got.push(id);
        }
        ack(delivery).await;
    }
    got.sort();
    assert_eq!(got, ["new", "unsettled"]);
    let late = within("late ack", WAIT, held.ack()).await;
    assert!(
        !matches!(late, Ok(AckOutcome::Settled)),
        "an ack from before the restart cannot settle: {late:?}"
    );

    let mut ids = drain(&t, &kept).await;
    ids.sort();
    ids.dedup(); // a publish in flight during the restart may be confirmed twice (at least once)
    assert_eq!(ids, ["after", "before-1", "before-2"]);
}

/// While a resource alarm blocks publishers, a publish fails with `Timeout` after the connection's
/// publish timeout and the status says blocked; after the alarm clears, publishing works again.
pub async fn blocked_broker_times_out_publishes(broker: &dyn TestBroker) {
    let timeout = Duration::from_millis(500);
    let t = broker.connect_with_publish_timeout(timeout).await;
    let q = format!("{}.q", unique_prefix());
    declare(
        &t,
        &Topology {
            queues: vec![QueueSpec::quorum(&q)],
            ..Topology::default()
        },
    )
    .await;
    publish(&t, Publish::to_queue(&q, test_message("before"))).await;

    broker.block_publishers().await;
    let result = within(
        "a publish while blocked (does connect_with_publish_timeout set the publish timeout?)",
        WAIT * 2,
        t.publish(Publish::to_queue(&q, test_message("blocked"))),
    )
    .await;
    assert!(
        matches!(result, Err(PublishError::Timeout { .. })),
        "publish while blocked: {result:?}"
    );
    let started = Instant::now();
    while t.status().blocked.is_none() {
        assert!(
            started.elapsed() < WAIT,
            "status().blocked stayed None while the broker blocks publishers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    broker.unblock_publishers().await;
    let started = Instant::now();
    while t.status().blocked.is_some() {
        assert!(
            started.elapsed() < WAIT,
            "status().blocked stayed set after the alarm cleared"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publish(&t, Publish::to_queue(&q, test_message("after"))).await;
    let ids = drain(&t, &q).await;
    assert!(
        ids.contains(&"before".to_owned()) && ids.contains(&"after".to_owned()),
        "got {ids:?}"
    );
}

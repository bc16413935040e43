//! Conformance cases about what happens after delivery: ack, nack, reject, redelivery when a consumer
//! dies, TTL and dead-lettering (`x-death`), the delivery limit.

#[allow(unused_imports)]
use super::*;

/// ack removes; nack with requeue redelivers (redelivered, `x-delivery-count` raised); nack without
/// requeue dead-letters with `x-death` reason `rejected`.
pub async fn ack_nack_and_reject(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (work, dead) = (format!("{p}.work"), format!("{p}.dead"));
    let topology = Topology {
        queues: vec![dead_lettering(&work, &dead), QueueSpec::quorum(&dead)],
        ..Topology::default()
    };
    declare(&t, &topology).await;
    let mut consumer = within("consume", WAIT, t.consume(&work, ConsumeOptions { prefetch: 10 }))
        .await
        .expect("consume");

    publish(&t, Publish::to_queue(&work, test_message("acked"))).await;
    let delivery = next(&mut consumer, "first delivery").await;
    assert_eq!(
        (id_of(&delivery).as_str(), delivery.redelivered),
        ("acked", false)
    );
    ack(delivery).await;
    assert_quiet(&mut consumer, "an acked message").await;

    publish(&t, Publish::to_queue(&work, test_message("nacked"))).await;
    let delivery = next(&mut consumer, "delivery to nack").await;
    assert!(!delivery.redelivered);
    assert_eq!(
        within("nack", WAIT, delivery.nack(true)).await.expect("nack"),
        AckOutcome::Settled
    );
    let delivery = next(&mut consumer, "redelivery after nack").await;
    assert_eq!(
        (id_of(&delivery).as_str(), delivery.redelivered),
        ("nacked", true)
    );
    assert_eq!(
        delivery
            .message
            .header("x-delivery-count")
            .and_then(HeaderValue::as_i64),
        Some(1)
    );
    within("reject", WAIT, delivery.nack(false))
        .await
        .expect("nack without requeue");

    let dead_letter = get_eventually(&t, &dead).await;
    assert_eq!(id_of(&dead_letter), "nacked");
    let deaths = deaths(&dead_letter.message);
    assert_eq!(field(&deaths[0], "queue"), Some(work.as_str()));
    assert_eq!(field(&deaths[0], "reason"), Some("rejected"));
    assert_eq!(count(&deaths[0]), Some(1));
    assert_eq!(
        dead_letter.message.header_str("x-first-death-reason"),
        Some("rejected")
    );
    ack(dead_letter).await;
    assert_quiet(&mut consumer, "a rejected message").await;
}

/// A consumer that goes away without settling gives its message to another consumer, marked
/// redelivered: whether its connection is dropped or closed. A delivery dropped unsettled is requeued.
pub async fn redelivery_when_a_consumer_dies(broker: &dyn TestBroker) {
    let p = unique_prefix();
    let (q, solo) = (format!("{p}.q"), format!("{p}.solo"));
    let b = broker.connect().await;
    declare(
        &b,
        &Topology {
            queues: vec![QueueSpec::quorum(&q), QueueSpec::quorum(&solo)],
            ..Topology::default()
        },
    )
    .await;

    // The delivery and the consumer are dropped with the connection, unsettled.
    let a = broker.connect().await;
    let mut consumer_a = within("consume", WAIT, a.consume(&q, ConsumeOptions::default()))
        .await
        .expect("consume");
    publish(&b, Publish::to_queue(&q, test_message("dropped"))).await;
    let taken = next(&mut consumer_a, "A's delivery").await;
    let mut consumer_b = within("consume", WAIT, b.consume(&q, ConsumeOptions::default()))
        .await
        .expect("consume");
    assert_quiet(&mut consumer_b, "A still holds the message").await;
    drop(consumer_a);
    drop(taken);
    drop(a);
    let delivery = next(&mut consumer_b, "redelivery to B after A dropped").await;
    assert_eq!(
        (id_of(&delivery).as_str(), delivery.redelivered),
        ("dropped", true)
    );
    ack(delivery).await;

    // The connection is closed while its consumer holds the delivery.
    let a = broker.connect().await;
    let mut consumer_a = within("consume", WAIT, a.consume(&q, ConsumeOptions::default()))
        .await
        .expect("consume");
    drop(consumer_b);
    publish(&b, Publish::to_queue(&q, test_message("closed"))).await;
    let held = next(&mut consumer_a, "A's second delivery").await;
    let mut consumer_b = within("consume", WAIT, b.consume(&q, ConsumeOptions::default()))
        .await
        .expect("consume");
    within("close", WAIT, a.close()).await;
    let delivery = next(&mut consumer_b, "redelivery to B after A closed").await;
    assert_eq!(
        (id_of(&delivery).as_str(), delivery.redelivered),
        ("closed", true)
    );
    ack(delivery).await;
    let late = within("late ack", WAIT, held.ack()).await;
    assert!(
        !matches!(late, Ok(AckOutcome::Settled)),
        "an ack after the channel closed cannot settle: {late:?}"
    );
    assert!(!a.status().connected, "a closed transport says so");

    // A delivery dropped unsettled comes back to the same (only) consumer.
    let mut consumer = within("consume", WAIT, b.consume(&solo, ConsumeOptions::default()))
        .await
        .expect("consume");
    publish(&b, Publish::to_queue(&solo, test_message("released"))).await;
    drop(next(&mut consumer, "delivery to drop").await);
    let delivery = next(&mut consumer, "redelivery after drop").await;
    assert_eq!(
        (id_of(&delivery).as_str(), delivery.redelivered),
        ("released", true)
    );
    ack(delivery).await;
}

/// DESIGN §3 retry pattern: a TTL queue dead-letters through the default exchange to the command queue,
/// with `x-death`. A retry copy with the broker headers stripped goes through the same delay queue again.
///
/// What a kept `x-death` does: RabbitMQ drops a dead letter for every target queue that already appears
/// in its `x-death` when no death in between was `rejected`. Here the target (the command queue) never
/// appears — the message only ever died in the delay queue — so even a copy that keeps `x-death` gets
/// through (its `expired` entry's count rises). It is lost once the message has died in the command
/// queue itself (a dead letter after the delivery limit, replayed with its headers and retried): then
/// `x-death` names the command queue with reason `delivery_limit` and the next expiry in the delay queue
/// closes an automatic cycle. The runtime strips the headers from every copy so that never happens; the
/// embedded broker's unit tests cover the drop.
pub async fn ttl_dead_letters_to_the_retry_target(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (commands, delay) = (format!("{p}.commands"), format!("{p}.retry.300ms"));
    let ttl = Duration::from_millis(300);
    let topology = Topology {
        queues: vec![
            QueueSpec::quorum(&commands),
            QueueSpec {
                message_ttl: Some(ttl),
                delivery_limit: Some(20),
                ..dead_lettering(&delay, &commands)
            },
        ],
        ..Topology::default()
    };
    declare(&t, &topology).await;

    let started = Instant::now();
    publish(&t, Publish::to_queue(&delay, test_message("retry"))).await;
    let first = get_eventually(&t, &commands).await;
    assert!(
        started.elapsed() >= ttl - Duration::from_millis(50),
        "expired early: {:?}",
        started.elapsed()
    );
    assert_eq!(id_of(&first), "retry");
    let deaths = deaths(&first.message);
    assert_eq!(deaths.len(), 1);
    assert_eq!(field(&deaths[0], "queue"), Some(delay.as_str()));
    assert_eq!(field(&deaths[0], "reason"), Some("expired"));
    assert_eq!(field(&deaths[0], "exchange"), Some(""));
    assert_eq!(count(&deaths[0]), Some(1));
    let keys = deaths[0]
        .get("routing-keys")
        .and_then(HeaderValue::as_array)
        .expect("routing-keys");
    assert_eq!(keys.first().and_then(HeaderValue::as_str), Some(delay.as_str()));
    assert_eq!(
        first.message.header_str("x-first-death-queue"),
        Some(delay.as_str())
    );
    assert_eq!(first.message.header_str("x-first-death-reason"), Some("expired"));

    // Kept x-death: still delivered here, see the doc comment.
    let mut kept = first.message.clone();
    kept.properties.message_id = Some("kept".into());
    publish(&t, Publish::to_queue(&delay, kept)).await;
    let kept = get_eventually(&t, &commands).await;
    assert_eq!(id_of(&kept), "kept");
    ack(kept).await;

    let mut copy = first.message.clone();
    copy.strip_broker_headers();
    copy.properties.message_id = Some("stripped".into());
    ack(first).await;
    publish(&t, Publish::to_queue(&delay, copy)).await;
    let second = get_eventually(&t, &commands).await;
    assert_eq!(id_of(&second), "stripped");
    let deaths = self::deaths(&second.message);
    assert_eq!(
        (deaths.len(), count(&deaths[0])),
        (1, Some(1)),
        "a stripped copy starts a fresh x-death"
    );
    ack(second).await;
}

/// `x-delivery-limit` is a backstop: a message returned more often than the limit is dead-lettered.
pub async fn delivery_limit_dead_letters(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (work, dead) = (format!("{p}.work"), format!("{p}.dead"));
    let limit = 2;
    let topology = Topology {
        queues: vec![
            QueueSpec {
                delivery_limit: Some(limit),
                ..dead_lettering(&work, &dead)
            },
            QueueSpec::quorum(&dead),
        ],
        ..Topology::default()
    };
    declare(&t, &topology).await;
    let mut consumer = within("consume", WAIT, t.consume(&work, ConsumeOptions { prefetch: 1 }))
        .await
        .expect("consume");
    publish(&t, Publish::to_queue(&work, test_message("poison"))).await;
    // Delivered once, then returned `limit` times; the return past the limit dead-letters it.
    for returned in 0..=i64::from(limit) {
        let delivery = next(&mut consumer, "delivery of the poison message").await;
        let header = delivery
            .message
            .header("x-delivery-count")
            .and_then(HeaderValue::as_i64);
        assert_eq!(header.unwrap_or(0), returned, "x-delivery-count");
        within("nack", WAIT, delivery.nack(true)).await.expect("nack");
    }
    let dead_letter = get_eventually(&t, &dead).await;
    assert_eq!(id_of(&dead_letter), "poison");
    assert_eq!(
        field(&deaths(&dead_letter.message)[0], "reason"),
        Some("delivery_limit")
    );
    ack(dead_letter).await;
    assert_quiet(&mut consumer, "a dead-lettered message").await;
}

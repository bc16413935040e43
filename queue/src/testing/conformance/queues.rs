//! Conformance cases about message fidelity, consumers sharing a queue, queue operations and reply
//! queues.

#[allow(unused_imports)]
use super::*;

/// A 1 MiB body comes back byte for byte, and every property and header kind survives the trip.
pub async fn large_messages_properties_and_headers_round_trip(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let q = format!("{}.q", unique_prefix());
    declare(
        &t,
        &Topology {
            queues: vec![QueueSpec::quorum(&q)],
            ..Topology::default()
        },
    )
    .await;
    // Not compressible, not uniform: catches truncation and frame-splitting bugs.
    let body: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let nested: Headers = BTreeMap::from([
        ("inner".to_owned(), HeaderValue::String("x".into())),
        (
            "list".to_owned(),
            HeaderValue::Array(vec![HeaderValue::Int(1), HeaderValue::Table(Headers::new())]),
        ),
    ]);
    let headers: Headers = BTreeMap::from([
        ("x-bool".to_owned(), HeaderValue::Bool(true)),
        ("x-int".to_owned(), HeaderValue::Int(-42_000_000_000)),
        ("x-float".to_owned(), HeaderValue::Float(1.5)),
        ("x-string".to_owned(), HeaderValue::String("àè — ünïcode".into())),
        (
            "x-bytes".to_owned(),
            HeaderValue::Bytes(vec![0, 159, 146, 150, 255]),
        ),
        ("x-timestamp".to_owned(), HeaderValue::Timestamp(1_700_000_000)),
        ("x-void".to_owned(), HeaderValue::Void),
        ("x-table".to_owned(), HeaderValue::Table(nested.clone())),
        (
            "x-array".to_owned(),
            HeaderValue::Array(vec![HeaderValue::String("a".into()), HeaderValue::Table(nested)]),
        ),
    ]);
    let properties = Properties {
        message_id: Some(Uuid::new_v4().to_string()),
        correlation_id: Some(Uuid::new_v4().to_string()),
        kind: Some("anpr.resident.lookup".into()),
        content_type: Some("application/octet-stream".into()),
        delivery_mode: Some(2),
        timestamp: Some(1_700_000_123),
        app_id: Some("snodo-conformance".into()),
        reply_to: Some("some.reply.queue".into()),
        expiration: None,
    };
    let sent = Message {
        properties,
        headers,
        body: Bytes::from(body),
    };
    publish(&t, Publish::to_queue(&q, sent.clone())).await;
    let delivery = get_eventually(&t, &q).await;
    assert_eq!(delivery.message.body.len(), sent.body.len());
    assert!(delivery.message.body == sent.body, "the body came back changed");
    assert_eq!(delivery.message.properties, sent.properties);
    let mut headers = delivery.message.headers.clone();
    // RabbitMQ's quorum queues add `x-delivery-count` (0 on a first `basic.get`).
    headers.retain(|name, _| !is_broker_header(name));
    assert_eq!(headers, sent.headers);
    assert_eq!(delivery.queue, q);
    ack(delivery).await;
}

/// A consumer never holds more unsettled deliveries than its prefetch.
pub async fn prefetch_limits_unsettled_deliveries(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let q = format!("{}.q", unique_prefix());
    declare(
        &t,
        &Topology {
            queues: vec![QueueSpec::quorum(&q)],
            ..Topology::default()
        },
    )
    .await;
    for id in ["one", "two", "three"] {
        publish(&t, Publish::to_queue(&q, test_message(id))).await;
    }
    let mut consumer = within("consume", WAIT, t.consume(&q, ConsumeOptions { prefetch: 1 }))
        .await
        .expect("consume");
    let first = next(&mut consumer, "first delivery").await;
    assert_quiet(&mut consumer, "prefetch 1 with one delivery unsettled").await;
    stats_until(&t, &q, "two wait", |s| s.messages == 2 && s.consumers == 1).await;
    assert_eq!(id_of(&first), "one");
    ack(first).await;
    let second = next(&mut consumer, "after the ack").await;
    assert_eq!(id_of(&second), "two");
    ack(second).await;
}

/// 8 consumers on 2 connections share 2,000 messages: each is processed exactly once, every ack
/// settles, and no consumer exceeds its prefetch.
pub async fn concurrent_consumers_process_each_message_once(broker: &dyn TestBroker) {
    const MESSAGES: usize = 2000;
    let p = unique_prefix();
    let q = format!("{p}.q");
    let connections = [broker.connect().await, broker.connect().await];
    declare(
        &connections[0],
        &Topology {
            queues: vec![QueueSpec::quorum(&q)],
            ..Topology::default()
        },
    )
    .await;
    let seen = Arc::new(Mutex::new(Vec::<String>::with_capacity(MESSAGES)));
    let violation = Arc::new(AtomicBool::new(false));
    let unsettled_acks = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for (i, prefetch) in [1u16, 2, 3, 4, 8, 16, 32, 1].into_iter().enumerate() {
        let transport = connections[i % 2].clone();
        let mut consumer = within(
            "consume",
            WAIT,
            transport.consume(&q, ConsumeOptions { prefetch }),
        )
        .await
        .expect("consume");
        let (seen, violation, unsettled_acks) = (seen.clone(), violation.clone(), unsettled_acks.clone());
        tasks.push(tokio::spawn(async move {
            let held = Arc::new(AtomicU32::new(0));
            while let Some(delivery) = consumer.next().await {
                if held.fetch_add(1, Ordering::SeqCst) + 1 > u32::from(prefetch) {
                    violation.store(true, Ordering::SeqCst);
                }
                seen.lock().push(id_of(&delivery));
                let (held, unsettled_acks) = (held.clone(), unsettled_acks.clone());
                // Settle concurrently and a little later, so consumers really hold several deliveries.
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    held.fetch_sub(1, Ordering::SeqCst);
                    if !matches!(delivery.ack().await, Ok(AckOutcome::Settled)) {
                        unsettled_acks.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        }));
    }
    let publishers: Vec<_> = (0..4)
        .map(|k| {
            let (transport, q) = (connections[k % 2].clone(), q.clone());
            tokio::spawn(async move {
                for n in (k..MESSAGES).step_by(4) {
                    let result = transport
                        .publish(Publish::to_queue(&q, test_message(&format!("m{n}"))))
                        .await;
                    result.unwrap_or_else(|e| panic!("publish m{n}: {e}"));
                }
            })
        })
        .collect();
    for publisher in publishers {
        within("publishers", WAIT * 4, publisher)
            .await
            .expect("publisher task");
    }
    let started = Instant::now();
    while seen.lock().len() < MESSAGES && started.elapsed() < WAIT * 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stats_until(&connections[0], &q, "all settled", |s| s.messages == 0).await;
    tokio::time::sleep(QUIET).await; // duplicates, if any, would show up now
    for task in &tasks {
        task.abort();
    }
    let seen = seen.lock().clone();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), MESSAGES, "every message was delivered");
    assert_eq!(seen.len(), MESSAGES, "no message was delivered twice");
    assert!(
        !violation.load(Ordering::SeqCst),
        "a consumer held more deliveries than its prefetch"
    );
    assert_eq!(unsettled_acks.load(Ordering::SeqCst), 0, "every ack settled");
}

/// `queue_stats` counts ready messages and consumers; purge empties the ready messages only; delete
/// removes the queue.
pub async fn queue_stats_purge_and_delete(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let q = format!("{}.q", unique_prefix());
    declare(
        &t,
        &Topology {
            queues: vec![QueueSpec::quorum(&q)],
            ..Topology::default()
        },
    )
    .await;
    for id in ["a", "b", "c"] {
        publish(&t, Publish::to_queue(&q, test_message(id))).await;
    }
    stats_until(&t, &q, "three ready", |s| s.messages == 3 && s.consumers == 0).await;
    let mut consumer = within("consume", WAIT, t.consume(&q, ConsumeOptions { prefetch: 1 }))
        .await
        .expect("consume");
    let held = next(&mut consumer, "one delivery").await;
    stats_until(&t, &q, "one held, two ready", |s| {
        s.messages == 2 && s.consumers == 1
    })
    .await;
    assert_eq!(within("purge", WAIT, t.purge_queue(&q)).await.expect("purge"), 2);
    stats_until(&t, &q, "purged", |s| s.messages == 0).await;
    drop(consumer);
    drop(held); // unsettled: back in the queue, purge does not touch deliveries in flight
    stats_until(&t, &q, "the held message is back", |s| {
        s.messages == 1 && s.consumers == 0
    })
    .await;

    within("delete", WAIT, t.delete_queue(&q)).await.expect("delete");
    let stats = within("queue_stats", WAIT, t.queue_stats(&q)).await;
    assert!(
        matches!(stats, Err(TransportError::QueueNotFound { .. })),
        "stats of a deleted queue: {stats:?}"
    );
    let consume = within("consume", WAIT, t.consume(&q, ConsumeOptions::default())).await;
    assert!(
        matches!(consume, Err(TransportError::QueueNotFound { .. })),
        "consume a deleted queue"
    );
    let missing = try_publish(&t, Publish::to_queue(&q, test_message("x"))).await;
    assert!(
        matches!(missing, Err(PublishError::Unroutable { .. })),
        "publish to a deleted queue: {missing:?}"
    );
}

/// The reply queue of request/reply: messages sent to its name arrive without settlement, and it
/// disappears with its consumer.
pub async fn reply_queue_lives_with_its_consumer(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let name = format!("{}.reply.{}", unique_prefix(), Uuid::new_v4().simple());
    let mut replies = within("consume_replies", WAIT, t.consume_replies(&name))
        .await
        .expect("consume_replies");
    let sender = broker.connect().await;
    publish(&sender, Publish::to_queue(&name, test_message("reply-1"))).await;
    let reply = next(&mut replies, "a reply").await;
    assert_eq!(id_of(&reply), "reply-1");
    drop(reply); // no settlement needed: dropping it must not requeue it
    publish(&sender, Publish::to_queue(&name, test_message("reply-2"))).await;
    assert_eq!(id_of(&next(&mut replies, "a second reply").await), "reply-2");
    assert_quiet(&mut replies, "replies are not redelivered").await;
    drop(replies);
    let started = Instant::now();
    loop {
        match try_publish(&sender, Publish::to_queue(&name, test_message("late"))).await {
            Err(PublishError::Unroutable { .. }) => break,
            Ok(()) => assert!(started.elapsed() < WAIT, "the reply queue outlived its consumer"),
            Err(other) => panic!("publish to a deleted reply queue: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

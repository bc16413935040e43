//! Delivery limits, per-message expiration, blocked publishers, connection isolation and queue deletion.

#[allow(unused_imports)]
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_limit_counts_releases_and_consumer_deaths() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    let spec = queues(vec![
        QueueSpec {
            delivery_limit: Some(2),
            ..to("work", "dead")
        },
        QueueSpec::quorum("dead"),
    ]);
    t.declare(&spec).await.expect("declare");
    t.publish(Publish::to_queue("work", message("m")))
        .await
        .expect("publish");
    drop(t.get("work").await.expect("get").expect("first")); // release: count 1
    let mut consumer = broker
        .connect()
        .consume("work", ConsumeOptions::default())
        .await
        .expect("consume");
    let delivery = next(&mut consumer).await;
    assert_eq!(
        delivery.message.header("x-delivery-count"),
        Some(&HeaderValue::Int(1))
    );
    drop(consumer); // the consumer dies holding it: count 2
    let delivery_again = t.get("work").await.expect("get").expect("back");
    assert_eq!(
        delivery_again.message.header("x-delivery-count"),
        Some(&HeaderValue::Int(2))
    );
    assert!(
        !matches!(delivery.ack().await, Ok(AckOutcome::Settled)),
        "the dead consumer's ack is lost"
    );
    delivery_again.nack(true).await.expect("nack"); // count 3 > 2: dead-lettered
    let dead = get_within(&t, "dead", WAIT).await.expect("dead-lettered");
    // A new life in the dead queue (`get` on a quorum queue reports 0, as RabbitMQ 3.10 does).
    assert_eq!(
        dead.message.header("x-delivery-count"),
        Some(&HeaderValue::Int(0))
    );
    assert_eq!(t.queue_stats("work").await.expect("stats").messages, 0);

    // Without a dead-letter target the message is dropped.
    t.declare(&queues(vec![QueueSpec {
        delivery_limit: Some(0),
        ..QueueSpec::quorum("nodlx")
    }]))
    .await
    .expect("declare");
    t.publish(Publish::to_queue("nodlx", message("m")))
        .await
        .expect("publish");
    t.get("nodlx")
        .await
        .expect("get")
        .expect("it")
        .nack(true)
        .await
        .expect("nack");
    assert_eq!(t.queue_stats("nodlx").await.expect("stats").messages, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_expiration_dead_letters_and_is_validated() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    t.declare(&queues(vec![to("short", "dead"), QueueSpec::quorum("dead")]))
        .await
        .expect("declare");
    let mut expiring = message("m");
    expiring.properties.expiration = Some("40".into());
    t.publish(Publish::to_queue("short", expiring))
        .await
        .expect("publish");
    let dead = get_within(&t, "dead", WAIT)
        .await
        .expect("expired without a consumer");
    assert_eq!(dead.message.properties.expiration, None);
    let deaths = dead
        .message
        .header("x-death")
        .and_then(HeaderValue::as_array)
        .expect("x-death");
    let first = deaths[0].as_table().expect("table");
    assert_eq!(first.get("reason").and_then(HeaderValue::as_str), Some("expired"));
    assert_eq!(
        first.get("original-expiration").and_then(HeaderValue::as_str),
        Some("40")
    );

    let mut invalid = message("bad");
    invalid.properties.expiration = Some("soon".into());
    let result = t.publish(Publish::to_queue("short", invalid)).await;
    assert!(matches!(
        result,
        Err(PublishError::Transport(TransportError::PreconditionFailed { .. }))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_publish_times_out_with_the_reason() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect_with(ConnectionOptions {
        publish_timeout: Duration::from_millis(50),
    });
    t.declare(&queues(vec![QueueSpec::quorum("q")]))
        .await
        .expect("declare");
    broker.set_blocked(Some("disk alarm".into()));
    match t.publish(Publish::to_queue("q", message("m"))).await {
        Err(PublishError::Timeout { after, blocked }) => {
            assert_eq!(after, Duration::from_millis(50));
            assert_eq!(blocked.as_deref(), Some("disk alarm"));
        }
        other => panic!("{other:?}"),
    }
    // A publish waiting when the alarm clears goes through.
    let waiting = {
        let t = broker.connect();
        tokio::spawn(async move { t.publish(Publish::to_queue("q", message("waited"))).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    broker.set_blocked(None);
    waiting
        .await
        .expect("task")
        .expect("published after the alarm cleared");
    assert_eq!(t.queue_stats("q").await.expect("stats").messages, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_isolated() {
    let broker = EmbeddedBroker::new();
    let (a, b) = (broker.connect(), broker.connect());
    a.declare(&queues(vec![QueueSpec::quorum("q")]))
        .await
        .expect("declare");
    let mut replies = a.consume_replies("reply").await.expect("replies");
    let locked = b.consume("reply", ConsumeOptions::default()).await;
    assert!(
        matches!(locked, Err(TransportError::Broker(_))),
        "another connection's exclusive queue"
    );
    b.publish(Publish::to_queue("q", message("held-by-a")))
        .await
        .expect("publish");
    b.publish(Publish::to_queue("q", message("held-by-b")))
        .await
        .expect("publish");
    let held_a = a.get("q").await.expect("get").expect("a's");
    let held_b = b.get("q").await.expect("get").expect("b's");
    a.close().await;
    assert!(
        tokio::time::timeout(WAIT, replies.next())
            .await
            .expect("ends")
            .is_none(),
        "consumers end"
    );
    assert!(matches!(a.get("q").await, Err(TransportError::Closed)));
    assert_eq!(
        b.queue_stats("q").await.expect("stats").messages,
        1,
        "only a's delivery came back"
    );
    assert!(matches!(
        b.queue_stats("reply").await,
        Err(TransportError::QueueNotFound { .. })
    ));
    assert_eq!(held_b.ack().await.expect("ack"), AckOutcome::Settled);
    assert_eq!(held_a.ack().await.expect("ack"), AckOutcome::ChannelLost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_queue_ends_its_consumers() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    t.declare(&queues(vec![QueueSpec::quorum("q")]))
        .await
        .expect("declare");
    let mut consumer = t.consume("q", ConsumeOptions::default()).await.expect("consume");
    t.delete_queue("q").await.expect("delete");
    assert!(
        tokio::time::timeout(WAIT, consumer.next())
            .await
            .expect("ends")
            .is_none()
    );
    assert!(matches!(
        t.delete_queue("q").await,
        Err(TransportError::QueueNotFound { .. })
    ));
    let redeclared = t
        .declare(&queues(vec![QueueSpec {
            message_ttl: Some(Duration::from_secs(1)),
            ..QueueSpec::quorum("q")
        }]))
        .await;
    assert!(redeclared.is_ok(), "a deleted queue's arguments are forgotten");
}

//! Conformance cases about where messages go: exchange kinds, alternate exchanges, confirms and
//! `mandatory`, and (re)declaration.

#[allow(unused_imports)]
use super::*;

/// Topic bindings with `*` (one word) and `#` (zero or more words) deliver one copy to every matching
/// queue.
pub async fn topic_routing_with_wildcards(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let x = format!("{p}.topic");
    let queues = ["star", "hash", "tail", "b"].map(|q| format!("{p}.{q}"));
    let patterns = ["a.*.c", "a.#", "#.c", "b.*"];
    let mut topology = Topology {
        exchanges: vec![exchange(&x, ExchangeKind::Topic)],
        ..Topology::default()
    };
    for (queue, pattern) in queues.iter().zip(patterns) {
        topology.queues.push(QueueSpec::quorum(queue));
        topology.bindings.push(bind(&x, queue, pattern));
    }
    // Bound twice with two matching patterns: still one copy.
    topology.bindings.push(bind(&x, &queues[1], "a.b.*"));
    declare(&t, &topology).await;
    for key in ["a.b.c", "a", "a.x.y.c", "b.z", "c"] {
        publish(&t, Publish::new(&x, key, test_message(key))).await;
    }
    assert_eq!(drain_sorted(&t, &queues[0]).await, sorted(&["a.b.c"]));
    assert_eq!(
        drain_sorted(&t, &queues[1]).await,
        sorted(&["a", "a.b.c", "a.x.y.c"])
    );
    assert_eq!(
        drain_sorted(&t, &queues[2]).await,
        sorted(&["a.b.c", "a.x.y.c", "c"])
    );
    assert_eq!(drain_sorted(&t, &queues[3]).await, sorted(&["b.z"]));
}

/// Direct exchanges match keys exactly, fanout exchanges ignore them, and the default exchange routes to
/// the queue the key names.
pub async fn direct_fanout_and_default_exchange(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (direct, fanout) = (format!("{p}.direct"), format!("{p}.fanout"));
    let q: Vec<String> = (1..=5).map(|i| format!("{p}.q{i}")).collect();
    let topology = Topology {
        exchanges: vec![
            exchange(&direct, ExchangeKind::Direct),
            exchange(&fanout, ExchangeKind::Fanout),
        ],
        queues: q.iter().map(QueueSpec::quorum).collect(),
        bindings: vec![
            bind(&direct, &q[0], "red"),
            bind(&direct, &q[2], "red"),
            bind(&direct, &q[2], "blue"),
            bind(&direct, &q[1], "green"),
            bind(&fanout, &q[3], "ignored"),
            bind(&fanout, &q[4], ""),
        ],
    };
    declare(&t, &topology).await;
    publish(&t, Publish::new(&direct, "red", test_message("red"))).await;
    publish(&t, Publish::new(&direct, "blue", test_message("blue"))).await;
    let unroutable = try_publish(&t, Publish::new(&direct, "red.x", test_message("red.x"))).await;
    assert!(
        matches!(unroutable, Err(PublishError::Unroutable { .. })),
        "direct keys match exactly: {unroutable:?}"
    );
    publish(&t, Publish::new(&fanout, "anything", test_message("fan"))).await;
    publish(&t, Publish::to_queue(&q[1], test_message("default"))).await;
    let missing = try_publish(&t, Publish::to_queue(format!("{p}.missing"), test_message("x"))).await;
    assert!(
        matches!(missing, Err(PublishError::Unroutable { .. })),
        "no such queue: {missing:?}"
    );

    assert_eq!(drain(&t, &q[0]).await, ["red"]);
    assert_eq!(drain(&t, &q[1]).await, ["default"]);
    assert_eq!(drain(&t, &q[2]).await, ["red", "blue"]);
    assert_eq!(drain(&t, &q[3]).await, ["fan"]);
    assert_eq!(drain(&t, &q[4]).await, ["fan"]);
}

/// DESIGN §3: commands and events that no binding matches land in the alternate exchange's queue, so a
/// mandatory publish to `snodo.commands` or `snodo.events` is never returned.
pub async fn alternate_exchange_takes_unmatched(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let names = Names::new(unique_prefix());
    let inbox = format!("{}.backend.inbox", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[ConnectorQueues {
            connector: "anpr".into(),
            families: vec!["anpr".into()],
            retry_delays: vec![Duration::from_secs(1)],
        }],
        &[SubscriberQueue {
            queue: inbox.clone(),
            patterns: vec!["anpr.#.completed".into()],
        }],
        &[],
    );
    declare(&t, &topology).await;
    let commands = names.commands_exchange();
    let events = names.events_exchange();
    publish(
        &t,
        Publish::new(&commands, "anpr.resident.lookup", test_message("known")),
    )
    .await;
    publish(
        &t,
        Publish::new(&commands, "nobody.thing.do", test_message("unknown")),
    )
    .await;
    publish(
        &t,
        Publish::new(&events, "anpr.resident.lookup.completed", test_message("done")),
    )
    .await;
    publish(
        &t,
        Publish::new(&events, "anpr.resident.lookup.failed", test_message("failed")),
    )
    .await;
    // `snodo.requests` has no alternate exchange: an unmatched mandatory publish comes back.
    let returned = try_publish(
        &t,
        Publish::new(names.requests_exchange(), "x.y", test_message("r")),
    )
    .await;
    assert!(
        matches!(returned, Err(PublishError::Unroutable { .. })),
        "requests: {returned:?}"
    );

    assert_eq!(drain(&t, &names.command_queue("anpr")).await, ["known"]);
    assert_eq!(drain(&t, &names.commands_unrouted()).await, ["unknown"]);
    assert_eq!(drain(&t, &inbox).await, ["done"]);
    assert_eq!(drain(&t, &names.events_unrouted()).await, ["failed"]);
}

/// A confirmed publish is in the queue; a mandatory unroutable one is returned; a best-effort one is
/// confirmed and dropped; a publish to a missing exchange fails without breaking the transport.
pub async fn publish_confirms_and_mandatory(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let p = unique_prefix();
    let (x, q) = (format!("{p}.x"), format!("{p}.q"));
    let topology = Topology {
        exchanges: vec![exchange(&x, ExchangeKind::Topic)],
        queues: vec![QueueSpec::quorum(&q)],
        bindings: vec![bind(&x, &q, "k")],
    };
    declare(&t, &topology).await;
    publish(&t, Publish::new(&x, "k", test_message("m1"))).await;
    // No polling: the confirm means the queue already holds it.
    let delivery = within("get", WAIT, t.get(&q))
        .await
        .expect("get")
        .expect("the confirmed message is there");
    assert_eq!(id_of(&delivery), "m1");
    assert!(!delivery.redelivered);
    ack(delivery).await;

    match try_publish(&t, Publish::new(&x, "other", test_message("m2"))).await {
        Err(PublishError::Unroutable {
            exchange,
            routing_key,
        }) => {
            assert_eq!((exchange.as_str(), routing_key.as_str()), (x.as_str(), "other"));
        }
        other => panic!("mandatory unroutable publish: {other:?}"),
    }
    publish(&t, Publish::new(&x, "other", test_message("m3")).best_effort()).await;
    stats_until(&t, &q, "nothing routed", |s| s.messages == 0).await;

    let missing = try_publish(&t, Publish::new(format!("{p}.missing"), "k", test_message("m4"))).await;
    assert!(
        matches!(
            missing,
            Err(PublishError::Transport(TransportError::ExchangeNotFound { .. }))
        ),
        "publish to a missing exchange: {missing:?}"
    );
    publish(&t, Publish::new(&x, "k", test_message("m5"))).await;
    assert_eq!(
        drain(&t, &q).await,
        ["m5"],
        "the transport works after the failed publish"
    );
}

/// Declaring the same topology twice is a no-op; declaring a queue or exchange with other settings is
/// PreconditionFailed naming the object, and the transport stays usable (RabbitMQ closes the channel on a
/// 406: the transport must open a new one).
pub async fn redeclaration_is_idempotent_and_conflicts_fail(broker: &dyn TestBroker) {
    let t = broker.connect().await;
    let names = Names::new(unique_prefix());
    let connectors = [ConnectorQueues {
        connector: "anpr".into(),
        families: vec!["anpr".into()],
        retry_delays: vec![Duration::from_secs(1), Duration::from_secs(5)],
    }];
    let topology = Topology::snodo(&names, &connectors, &[], &[]);
    declare(&t, &topology).await;
    declare(&t, &topology).await;

    let retry = names.retry_queue("anpr", Duration::from_secs(1));
    let mut changed = topology
        .queues
        .iter()
        .find(|q| q.name == retry)
        .expect("a retry queue")
        .clone();
    changed.message_ttl = Some(Duration::from_secs(2));
    let conflict = Topology {
        queues: vec![changed],
        ..Topology::default()
    };
    match within("declare", WAIT, t.declare(&conflict)).await {
        Err(error @ TransportError::PreconditionFailed { .. }) => {
            assert!(
                error.to_string().contains(&retry),
                "the error names the queue: {error}"
            );
        }
        other => panic!("redeclaring {retry} with another TTL: {other:?}"),
    }
    let commands = names.command_queue("anpr");
    publish(&t, Publish::to_queue(&commands, test_message("after-queue-406"))).await;
    assert_eq!(drain(&t, &commands).await, ["after-queue-406"]);

    let conflict = Topology {
        exchanges: vec![exchange(&names.commands_exchange(), ExchangeKind::Fanout)],
        ..Topology::default()
    };
    let result = within("declare", WAIT, t.declare(&conflict)).await;
    assert!(
        matches!(result, Err(TransportError::PreconditionFailed { .. })),
        "exchange kind: {result:?}"
    );
    declare(&t, &topology).await;
    publish(
        &t,
        Publish::new(
            names.commands_exchange(),
            "anpr.x",
            test_message("after-exchange-406"),
        ),
    )
    .await;
    assert_eq!(drain(&t, &commands).await, ["after-exchange-406"]);
}

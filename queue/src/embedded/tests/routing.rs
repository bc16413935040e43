//! The route cache following topology changes, and alternate-exchange chains and loops.

#[allow(unused_imports)]
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_cache_follows_bindings_and_deletions() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    let x = ExchangeSpec {
        name: "x".into(),
        kind: ExchangeKind::Topic,
        alternate_exchange: None,
    };
    t.declare(&Topology {
        exchanges: vec![x],
        ..queues(vec![QueueSpec::quorum("q")])
    })
    .await
    .expect("declare");
    let send = || t.publish(Publish::new("x", "a.b", message("m")));
    assert!(
        matches!(send().await, Err(PublishError::Unroutable { .. })),
        "no binding yet (route cached empty)"
    );
    let binding = BindingSpec {
        exchange: "x".into(),
        queue: "q".into(),
        pattern: "a.*".into(),
    };
    t.declare(&Topology {
        bindings: vec![binding.clone()],
        ..Topology::default()
    })
    .await
    .expect("bind");
    send().await.expect("the new binding is seen");
    assert_eq!(t.queue_stats("q").await.expect("stats").messages, 1);
    t.delete_queue("q").await.expect("delete");
    assert!(
        matches!(send().await, Err(PublishError::Unroutable { .. })),
        "the deleted queue left the route"
    );
    t.declare(&Topology {
        bindings: vec![binding],
        ..queues(vec![QueueSpec::quorum("q")])
    })
    .await
    .expect("again");
    send().await.expect("routed to the new queue");
    assert_eq!(t.queue_stats("q").await.expect("stats").messages, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_exchange_chains_and_loops() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    let ex = |name: &str, kind, ae: Option<&str>| ExchangeSpec {
        name: name.into(),
        kind,
        alternate_exchange: ae.map(str::to_owned),
    };
    let topology = Topology {
        exchanges: vec![
            ex("a", ExchangeKind::Topic, Some("b")),
            ex("b", ExchangeKind::Direct, Some("c")),
            ex("c", ExchangeKind::Fanout, None),
            ex("loop1", ExchangeKind::Topic, Some("loop2")),
            ex("loop2", ExchangeKind::Topic, Some("loop1")),
        ],
        queues: vec![QueueSpec::quorum("last")],
        bindings: vec![BindingSpec {
            exchange: "c".into(),
            queue: "last".into(),
            pattern: String::new(),
        }],
    };
    t.declare(&topology).await.expect("declare");
    t.publish(Publish::new("a", "k", message("chained")))
        .await
        .expect("a → b → c → last");
    assert_eq!(id(&t.get("last").await.expect("get").expect("routed")), "chained");
    let looped = t.publish(Publish::new("loop1", "k", message("m"))).await;
    assert!(
        matches!(looped, Err(PublishError::Unroutable { .. })),
        "{looped:?}"
    );
    let changed = Topology {
        exchanges: vec![ex("a", ExchangeKind::Topic, Some("c"))],
        ..Topology::default()
    };
    let conflict = t.declare(&changed).await;
    assert!(
        matches!(conflict, Err(TransportError::PreconditionFailed { .. })),
        "another AE: {conflict:?}"
    );
}

//! `x-death` bookkeeping and RabbitMQ's dead-letter cycle detection, checked against the scenarios
//! RabbitMQ 3.10 was observed to drop or deliver.

#[allow(unused_imports)]
use super::*;

#[test]
fn cycle_needs_the_target_in_x_death() {
    let headers = with_deaths(vec![death("retry", "expired")]);
    assert!(
        !is_cycle("commands", &headers),
        "the command queue never died: no cycle"
    );
    assert!(
        is_cycle("retry", &headers),
        "dead-lettering into the queue it expired in"
    );
    assert!(!is_cycle("commands", &Headers::new()));
}

#[test]
fn a_rejection_in_the_cycle_breaks_it() {
    let automatic = with_deaths(vec![
        death("retry", "expired"),
        death("commands", "delivery_limit"),
    ]);
    assert!(is_cycle("commands", &automatic));
    let rejected = with_deaths(vec![death("retry", "expired"), death("commands", "rejected")]);
    assert!(!is_cycle("commands", &rejected));
    // Only the deaths up to the target's count: an older rejection does not help.
    let older = with_deaths(vec![
        death("retry", "expired"),
        death("commands", "expired"),
        death("x", "rejected"),
    ]);
    assert!(is_cycle("commands", &older));
    // Something a client put there counts as a rejection.
    let foreign = with_deaths(vec![HeaderValue::Int(3), death("commands", "expired")]);
    assert!(!is_cycle("commands", &foreign));
}

#[test]
fn x_death_moves_the_repeated_entry_first_and_counts() {
    let entry = |message| Entry::new(message, String::new(), "retry".into(), None);
    let first = dead_letter_message(entry(message("m")), "retry", DeathReason::Expired);
    let mut second = dead_letter_message(entry(first), "commands", DeathReason::Rejected);
    second.properties.expiration = Some("250".into());
    let third = dead_letter_message(entry(second), "retry", DeathReason::Expired);
    let deaths = third
        .header("x-death")
        .and_then(HeaderValue::as_array)
        .expect("x-death");
    let fields: Vec<(Option<&str>, Option<&str>, Option<i64>)> = deaths
        .iter()
        .map(|d| {
            let t = d.as_table().expect("table");
            let get = |name: &str| t.get(name);
            (
                get("queue").and_then(HeaderValue::as_str),
                get("reason").and_then(HeaderValue::as_str),
                get("count").and_then(HeaderValue::as_i64),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (Some("retry"), Some("expired"), Some(2)),
            (Some("commands"), Some("rejected"), Some(1))
        ]
    );
    assert_eq!(third.header_str("x-first-death-queue"), Some("retry"));
    assert_eq!(third.header_str("x-first-death-reason"), Some("expired"));
    assert_eq!(third.properties.expiration, None, "expiration moves into x-death");
}

/// The scenario DESIGN §3 warns about: a message that died in the command queue (delivery limit) and
/// goes through a delay queue back into it, `x-death` kept, is silently dropped, as RabbitMQ drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_dead_letter_cycle_drops_the_message() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    let spec = Topology {
        queues: vec![
            QueueSpec {
                delivery_limit: Some(0),
                ..to("commands", "retry")
            },
            QueueSpec {
                message_ttl: Some(Duration::from_millis(30)),
                ..to("retry", "commands")
            },
        ],
        ..Topology::default()
    };
    t.declare(&spec).await.expect("declare");
    t.publish(Publish::to_queue("commands", message("poison")))
        .await
        .expect("publish");
    let delivery = t.get("commands").await.expect("get").expect("the message");
    // Returned once with a limit of 0: dead-lettered (delivery_limit) to the delay queue, which expires
    // it back into `commands`, where it already died without a rejection: dropped.
    delivery.nack(true).await.expect("nack");
    assert!(
        get_within(&t, "commands", Duration::from_millis(300))
            .await
            .is_none(),
        "the cycle was not detected"
    );
    assert_eq!(t.queue_stats("retry").await.expect("stats").messages, 0);

    // The same message with the broker headers stripped is delivered.
    t.publish(Publish::to_queue("retry", message("stripped")))
        .await
        .expect("publish");
    let delivery = get_within(&t, "commands", WAIT)
        .await
        .expect("the stripped copy arrives");
    assert_eq!(id(&delivery), "stripped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_may_cycle_back() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    let spec = queues(vec![
        to("commands", "retry"),
        QueueSpec {
            message_ttl: Some(Duration::from_millis(30)),
            ..to("retry", "commands")
        },
    ]);
    t.declare(&spec).await.expect("declare");
    t.publish(Publish::to_queue("commands", message("m")))
        .await
        .expect("publish");
    let delivery = t.get("commands").await.expect("get").expect("the message");
    delivery.nack(false).await.expect("reject");
    let back = get_within(&t, "commands", WAIT)
        .await
        .expect("back after the delay");
    let deaths = back
        .message
        .header("x-death")
        .and_then(HeaderValue::as_array)
        .expect("x-death");
    assert_eq!(deaths.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_into_itself_is_dropped() {
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    let spec = queues(vec![QueueSpec {
        message_ttl: Some(Duration::from_millis(20)),
        ..to("loop", "loop")
    }]);
    t.declare(&spec).await.expect("declare");
    t.publish(Publish::to_queue("loop", message("m")))
        .await
        .expect("publish");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.queue_stats("loop").await.expect("stats").messages, 0);
}

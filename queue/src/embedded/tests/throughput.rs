//! A timing check of the embedded broker on the consumer runtime's hot path.

#[allow(unused_imports)]
use super::*;

/// Not a test with a threshold: prints publish → consume → publish event → ack throughput, the path of
/// one command through the consumer runtime. Run with
/// `cargo test -p snodo-queue --release --lib embedded::tests::throughput::throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing check, run by hand"]
async fn throughput() {
    const COMMANDS: usize = 400_000;
    let broker = EmbeddedBroker::new();
    let t = broker.connect();
    let events = ExchangeSpec {
        name: "events".into(),
        kind: ExchangeKind::Topic,
        alternate_exchange: None,
    };
    let topology = Topology {
        exchanges: vec![events],
        queues: vec![
            to("commands", "dead"),
            QueueSpec::quorum("dead"),
            QueueSpec::quorum("inbox"),
        ],
        bindings: vec![BindingSpec {
            exchange: "events".into(),
            queue: "inbox".into(),
            pattern: "#.completed".into(),
        }],
    };
    t.declare(&topology).await.expect("declare");
    let started = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let t = broker.connect();
            tokio::spawn(async move {
                let mut consumer = t
                    .consume("commands", ConsumeOptions { prefetch: 64 })
                    .await
                    .expect("consume");
                let mut done = 0usize;
                while let Some(delivery) = consumer.next().await {
                    let mut event = delivery.message.clone();
                    event.properties.correlation_id = event.properties.message_id.take();
                    t.publish(Publish::new("events", "anpr.x.completed", event))
                        .await
                        .expect("event");
                    delivery.ack().await.expect("ack");
                    done += 1;
                    if done % 1024 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                done
            })
        })
        .collect();
    let drainer = {
        let t = broker.connect();
        tokio::spawn(async move {
            let mut consumer = t
                .consume("inbox", ConsumeOptions { prefetch: 256 })
                .await
                .expect("consume");
            for _ in 0..COMMANDS {
                let delivery = consumer.next().await.expect("event");
                delivery.ack().await.expect("ack");
            }
        })
    };
    let publisher = {
        let t = broker.connect();
        tokio::spawn(async move {
            let mut command = message("c");
            command.properties.kind = Some("anpr.x".into());
            for n in 0..COMMANDS {
                t.publish(Publish::to_queue("commands", command.clone()))
                    .await
                    .expect("command");
                if n % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    publisher.await.expect("publisher");
    drainer.await.expect("drainer");
    let elapsed = started.elapsed();
    println!(
        "{COMMANDS} commands in {elapsed:?}: {:.0} commands/s (publish, deliver, publish event, ack; events consumed)",
        COMMANDS as f64 / elapsed.as_secs_f64()
    );
    for worker in workers {
        worker.abort();
    }
}

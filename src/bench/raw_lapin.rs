//! The baseline: the same work as the runtime, done by hand with lapin — consume a command, publish its
//! event with `mandatory` and wait for the confirm, ack — with the same prefetch, concurrency and queues.
//! It does none of the runtime's checks (envelope, tenant, deadline, JSON), which is exactly the overhead
//! the ratio measures.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use snodo_queue::topology::{ConnectorQueues, SubscriberQueue};
use snodo_queue::{ConsumeOptions, Names, SharedTransport, Topology};
use tokio::sync::Semaphore;

use super::load::{Figures, drive};

pub async fn run(
    url: &str,
    load_side: SharedTransport,
    n: u64,
    prefetch: u16,
    concurrency: usize,
    window: usize,
) -> anyhow::Result<Figures> {
    let names = Names::new(format!("raw{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let events_queue = format!("{}.bench.events", names.prefix);
    let topology = Topology::snodo(
        &names,
        &[ConnectorQueues {
            connector: "raw".into(),
            families: vec!["snodo".into()],
            retry_delays: vec![Duration::from_secs(1)],
        }],
        &[SubscriberQueue {
            queue: events_queue.clone(),
            patterns: vec!["snodo.ping.#".into()],
        }],
        &[],
    );
    load_side
        .declare(&topology)
        .await
        .context("declaring the baseline topology")?;

    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .context("lapin connect")?;
    let consume_channel = connection.create_channel().await?;
    consume_channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let publish_channel = connection.create_channel().await?;
    publish_channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut consumer = consume_channel
        .basic_consume(
            names.command_queue("raw").into(),
            "raw-baseline".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let events_exchange = names.events_exchange();
    let worker = tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut handled = 0u64;
        let mut tasks = tokio::task::JoinSet::new();
        while handled < n {
            let Some(delivery) = consumer.next().await else {
                bail!("baseline consumer closed")
            };
            let delivery = delivery?;
            let slot = slots.clone().acquire_owned().await?;
            let channel = publish_channel.clone();
            let exchange = events_exchange.clone();
            tasks.spawn(async move {
                let props = BasicProperties::default()
                    .with_message_id(uuid::Uuid::new_v4().to_string().into())
                    .with_correlation_id(delivery.properties.message_id().clone().unwrap_or_default())
                    .with_type("snodo.ping.completed".into())
                    .with_content_type("application/json".into())
                    .with_delivery_mode(2);
                let confirm = channel
                    .basic_publish(
                        exchange.into(),
                        "snodo.ping.completed".into(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..Default::default()
                        },
                        &delivery.data,
                        props,
                    )
                    .await?
                    .await?;
                match confirm {
                    Confirmation::Ack(None) => {}
                    other => bail!("event not confirmed: {other:?}"),
                }
                delivery.ack(BasicAckOptions::default()).await?;
                drop(slot);
                Ok(())
            });
            while let Some(done) = tasks.try_join_next() {
                done??;
            }
            handled += 1;
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok::<(), anyhow::Error>(())
    });
    let events = load_side
        .consume(
            &events_queue,
            ConsumeOptions {
                prefetch: prefetch.max(256),
            },
        )
        .await
        .context("consuming baseline events")?;
    let figures = drive(
        "raw lapin baseline",
        load_side.clone(),
        names.commands_exchange(),
        events,
        n,
        window,
        "015146",
    )
    .await?;
    worker.await.context("baseline worker")??;
    let _ = connection.close(200, "done".into()).await;
    for q in topology.queue_names() {
        let _ = load_side.delete_queue(q).await;
    }
    Ok(figures)
}

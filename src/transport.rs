//! Choosing the transport: RabbitMQ when a URL is configured, else the embedded in-process broker.

use anyhow::Context;
use snodo_connectors::config::Config;
use snodo_queue::SharedTransport;
use snodo_queue::embedded::EmbeddedBroker;
use snodo_queue::rabbit::{RabbitConfig, RabbitTransport};

pub async fn connect(config: &Config, connection_name: &str) -> anyhow::Result<SharedTransport> {
    match &config.transport.amqp_url {
        Some(url) => {
            let rabbit = RabbitTransport::connect(RabbitConfig {
                publish_timeout: config.transport.publish_timeout,
                connection_name: connection_name.to_owned(),
                publisher_channels: config.transport.publisher_channels,
                ..RabbitConfig::new(url)
            })
            .await
            .context("connecting to RabbitMQ")?;
            Ok(rabbit as SharedTransport)
        }
        None => {
            let broker = EmbeddedBroker::new();
            Ok(broker.connect())
        }
    }
}

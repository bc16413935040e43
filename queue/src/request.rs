//! Request/reply over the broker: publish with `reply_to` pointing at this process's private reply queue,
//! and wait, up to a timeout, for the message whose `correlation_id` is the request's `message_id`.
//!
//! Used by `snodo send` (the terminal event comes back as the reply) and by connectors that must ask a
//! backend something synchronously on `snodo.requests` (a pagoPA debt position). One reply queue per
//! process serves every request in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::message::Message;
use crate::transport::{Publish, PublishError, SharedTransport, TransportError};

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request has no message_id to correlate its reply with")]
    MissingMessageId,
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("the reply queue closed before the reply arrived")]
    ReplyQueueClosed,
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Message>>>>;

/// Sends requests and routes their replies back to the callers waiting for them.
pub struct Requester {
    transport: SharedTransport,
    reply_queue: String,
    pending: Pending,
    stop: CancellationToken,
}

impl Requester {
    /// Declares the reply queue `<prefix>.reply.<uuid>` and starts routing replies.
    pub async fn start(transport: SharedTransport, prefix: &str) -> Result<Requester, TransportError> {
        let reply_queue = format!("{prefix}.reply.{}", Uuid::new_v4());
        let mut replies = transport.consume_replies(&reply_queue).await?;
        let pending: Pending = Arc::default();
        let stop = CancellationToken::new();
        let routes = pending.clone();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let delivery = tokio::select! {
                    _ = stopped.cancelled() => break,
                    d = replies.next() => d,
                };
                let Some(delivery) = delivery else { break };
                let waiter = delivery
                    .message
                    .properties
                    .correlation_id
                    .as_deref()
                    .and_then(|c| routes.lock().remove(c));
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(delivery.message.clone());
                    }
                    // A late reply after its caller timed out, or a duplicate: nobody waits for it.
                    None => tracing::debug!("Reply without a waiting request dropped."),
                }
            }
            // Waiters see their sender dropped: ReplyQueueClosed.
            routes.lock().clear();
        });
        Ok(Requester {
            transport,
            reply_queue,
            pending,
            stop,
        })
    }

    pub fn reply_queue(&self) -> &str {
        &self.reply_queue
    }

    /// Publishes `message` (which must carry a `message_id`) with `reply_to` set to this requester's queue
    /// and waits for the correlated reply.
    pub async fn request(
        &self,
        exchange: &str,
        routing_key: &str,
        mut message: Message,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let id = message
            .properties
            .message_id
            .clone()
            .ok_or(RequestError::MissingMessageId)?;
        message.properties.reply_to = Some(self.reply_queue.clone());
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id.clone(), tx);
        let result = async {
            self.transport
                .publish(Publish::new(exchange, routing_key, message))
                .await?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(_)) => Err(RequestError::ReplyQueueClosed),
                Err(_) => Err(RequestError::Timeout(timeout)),
            }
        };
        let outcome = result.await;
        self.pending.lock().remove(&id);
        outcome
    }
}

impl Drop for Requester {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Answers a request: publishes `reply` to the request's `reply_to` with `correlation_id` set to the
/// request's `message_id`. Best effort, as AMQP's reply-to is: the requester may have gone.
pub async fn reply_to(
    transport: &SharedTransport,
    request: &Message,
    mut reply: Message,
) -> Result<(), RequestError> {
    let Some(reply_to) = request.properties.reply_to.clone().filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    reply.properties.correlation_id = request.properties.message_id.clone();
    transport
        .publish(Publish::to_queue(reply_to, reply).best_effort())
        .await?;
    Ok(())
}

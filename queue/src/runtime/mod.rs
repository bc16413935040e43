//! The consumer runtime: runs one connector's [`CommandHandler`] over its command queue with the delivery
//! guarantees of DESIGN §4 — terminal event or retry copy or dead letter confirmed before the ack,
//! deadlines, idempotency keys bound at the first attempt, a concurrency limit, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub mod error;
pub mod handler;
pub mod journal;
pub mod metrics;
mod process;
pub mod retry;
pub mod settled;

pub use error::{CommandError, ErrorCode, ErrorReport};
pub use handler::{Command, CommandHandler, SharedHandler, TenantDirectory};
pub use metrics::ConnectorMetrics;
pub use retry::{RetryDecision, RetrySchedule};
pub use settled::{LedgerUnavailable, MemoryLedger, SettledLedger, SharedLedger};

use crate::topology::{ConnectorQueues, Names};
use crate::transport::{ConsumeOptions, SharedTransport, TransportError};

/// How long released commands may take to return after the grace period, before the runtime stops
/// without them.
pub const ABANDON_WAIT: Duration = Duration::from_secs(5);

/// How one connector's runtime behaves.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub names: Names,
    /// `app_id` of the events Snodo publishes.
    pub app_id: String,
    /// Unacknowledged deliveries the broker may push to this instance.
    pub prefetch: u16,
    /// Commands handled at the same time.
    pub concurrency: usize,
    pub retry: RetrySchedule,
    /// Consume this queue instead of the connector's command queue (the unrouted-commands consumer).
    pub queue_override: Option<String>,
    /// How long shutdown waits for in-flight commands before releasing them back to the broker.
    pub shutdown_grace: Duration,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            names: Names::default(),
            app_id: "snodo".into(),
            prefetch: 64,
            concurrency: 32,
            retry: RetrySchedule::default(),
            queue_override: None,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("connector {connector} cannot consume {queue}: {source}")]
    Consume {
        connector: String,
        queue: String,
        #[source]
        source: TransportError,
    },
}

struct Inner {
    transport: SharedTransport,
    handler: SharedHandler,
    tenants: Arc<dyn TenantDirectory>,
    settings: RuntimeSettings,
    metrics: Arc<ConnectorMetrics>,
    events_exchange: String,
    dead_queue: String,
    journal: Option<journal::SharedJournalSink>,
    /// Where settled attempts are recorded; without one, a redelivered settled attempt is handled again.
    settled: Option<SharedLedger>,
}

impl Inner {
    fn label(&self) -> String {
        let name = self.handler.name();
        match &self.settings.queue_override {
            Some(q) => format!("{name}:{}", q.rsplit('.').next().unwrap_or(q)),
            None => name.to_owned(),
        }
    }
}

/// One connector, consuming its queue.
pub struct ConnectorRuntime {
    inner: Arc<Inner>,
    queue: String,
}

impl ConnectorRuntime {
    pub fn new(
        transport: SharedTransport,
        handler: SharedHandler,
        tenants: Arc<dyn TenantDirectory>,
        settings: RuntimeSettings,
    ) -> Self {
        let name = handler.name().to_owned();
        let queue = settings
            .queue_override
            .clone()
            .unwrap_or_else(|| settings.names.command_queue(&name));
        let inner = Inner {
            events_exchange: settings.names.events_exchange(),
            dead_queue: settings.names.dead_queue(&name),
            transport,
            handler,
            tenants,
            settings,
            metrics: Arc::new(ConnectorMetrics::default()),
            journal: None,
            settled: None,
        };
        ConnectorRuntime {
            inner: Arc::new(inner),
            queue,
        }
    }

    /// Reports every command to `sink` (see [`journal`]). Call before [`ConnectorRuntime::run`].
    pub fn with_journal(mut self, sink: journal::SharedJournalSink) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("the runtime is not shared before it runs")
            .journal = Some(sink);
        self
    }

    /// Records settled attempts in `ledger` and acknowledges, without handling, a redelivery of an
    /// attempt recorded there (see [`settled`]). Call before [`ConnectorRuntime::run`].
    pub fn with_settled_ledger(mut self, ledger: SharedLedger) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("the runtime is not shared before it runs")
            .settled = Some(ledger);
        self
    }

    /// The queues this connector needs declared (DESIGN §3).
    pub fn queues(&self) -> ConnectorQueues {
        ConnectorQueues {
            connector: self.inner.handler.name().to_owned(),
            families: self.inner.handler.families(),
            retry_delays: self.inner.settings.retry.delays.clone(),
        }
    }

    pub fn name(&self) -> &str {
        self.inner.handler.name()
    }

    /// The `connector` label of this runtime's metrics: the connector name, qualified by the queue when it
    /// consumes another queue than its own (`core:unrouted`).
    pub fn label(&self) -> String {
        self.inner.label()
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    pub fn metrics(&self) -> Arc<ConnectorMetrics> {
        self.inner.metrics.clone()
    }

    /// Consumes until `shutdown` is cancelled, then stops taking deliveries, lets in-flight commands finish
    /// (up to the grace period) and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RuntimeError> {
        let connector = self.label();
        let inner = self.inner;
        let mut consumer = inner
            .transport
            .consume(
                &self.queue,
                ConsumeOptions {
                    prefetch: inner.settings.prefetch,
                },
            )
            .await
            .map_err(|source| RuntimeError::Consume {
                connector: connector.clone(),
                queue: self.queue.clone(),
                source,
            })?;
        tracing::info!(connector = %connector, queue = %self.queue, "Consuming.");
        inner
            .metrics
            .consuming
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let slots = Arc::new(Semaphore::new(inner.settings.concurrency.max(1)));
        let tasks = TaskTracker::new();
        // In-flight work gets its own token: it is cancelled only when the grace period runs out, so that
        // a shutdown lets commands finish instead of abandoning them mid-call.
        let abandon = CancellationToken::new();
        loop {
            let slot = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            let delivery = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                d = consumer.next() => d,
            };
            let Some(delivery) = delivery else {
                tracing::warn!(connector = %connector, "The transport closed the consumer.");
                break;
            };
            let span = tracing::info_span!("command", connector = %connector,
                message_id = tracing::field::Empty, correlation_id = tracing::field::Empty,
                r#type = tracing::field::Empty, tenant = tracing::field::Empty);
            let inner = inner.clone();
            let abandon = abandon.clone();
            // Boxed once here: spawning moves the future through several layers, and this one is large.
            let work = Box::pin(async move {
                process::process(inner, delivery, abandon).await;
                drop(slot);
            });
            tasks.spawn(work.instrument(span));
        }
        inner
            .metrics
            .consuming
            .store(false, std::sync::atomic::Ordering::Relaxed);
        tasks.close();
        if tokio::time::timeout(inner.settings.shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(connector = %connector, "Grace period over; releasing unfinished commands.");
            abandon.cancel();
            // Abandoned work returns at its next await; should one still hang (a wait no cancellation
            // reaches), the runtime returns without it: its delivery goes back to the broker when the
            // connection closes, and a shutdown never outlasts the grace period by more than this.
            if tokio::time::timeout(ABANDON_WAIT, tasks.wait()).await.is_err() {
                tracing::error!(connector = %connector, unfinished = tasks.len(), wait = ?ABANDON_WAIT,
                    "Commands did not release after the grace period; stopping without them (they come back).");
            }
        }
        // Deliveries prefetched but never started go back to the queue with the consumer.
        drop(consumer);
        tracing::info!(connector = %connector, "Stopped.");
        Ok(())
    }
}

//! One AMQP connection that stays up: lapin's automatic recovery, plus what Snodo adds around it.
//!
//! lapin (4.x, `enable_auto_recover`) reconnects by itself after an I/O error, a missed heartbeat or a
//! `connection.close` from the broker (e.g. 320 CONNECTION_FORCED when a node restarts), then re-opens
//! every channel it knows and replays on it what was done there: `confirm.select`, `basic.qos`,
//! declarations and consumers. What it does not do, and [`Link`] does:
//!
//! - fail fast on a bad address or bad credentials: with recovery on, lapin retries the first connection
//!   too. A short probe connection without recovery runs first and reports the broker's answer;
//! - keep retrying for as long as the broker is down: lapin's default is 16 attempts, after which the
//!   connection is silently abandoned. The backoff here has no attempt limit (100 ms doubling to 2 s);
//! - replace a connection lapin gave up on (state `Error`: a non-recoverable error such as a parse
//!   failure) or whose recovery is stuck (see [`supervise`]): a supervisor task opens a new one and bumps
//!   the link's generation, which consumers and the publisher channel pool watch to rebuild their
//!   channels;
//! - remember `connection.blocked`/`unblocked` and the broker's reason, for `status()` and for the
//!   `Timeout { blocked }` error of a publish that waited on a resource alarm.
//!
//! The connection's password never leaves this module: errors and logs use [`redact`]ed addresses.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use backon::ExponentialBuilder;
use futures::StreamExt;
use lapin::{Channel, Connection, ConnectionProperties, Event};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::error::{self, OpError};
use crate::transport::TransportError;

/// How long one attempt to open a connection (probe and real one, TCP + TLS + AMQP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the supervisor looks for a connection lapin gave up on.
const SUPERVISE_EVERY: Duration = Duration::from_millis(500);
/// The longest pause between two reconnection attempts (lapin adds up to as much again as jitter).
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long a connection may stay `Reconnecting` before the supervisor considers lapin's I/O loop stuck:
/// well beyond the longest backoff pause with jitter, `2 × MAX_BACKOFF`. Getting it wrong costs little:
/// an abandoned connection that recovers after all is closed (see `Link::sweep_abandoned`).
const WEDGED_AFTER: Duration = Duration::from_secs(8);
/// How long a closed transport keeps watching a connection lapin is still recovering, to close it.
const CLOSE_RECOVERED_WITHIN: Duration = Duration::from_secs(600);

/// The live connection of a [`Link`] and its generation (incremented when the link opens a new
/// connection itself; lapin's own recoveries keep the generation).
pub(crate) struct Live {
    pub(crate) connection: Connection,
    pub(crate) generation: u64,
    /// Stops this connection's event listener once it is replaced.
    events_stop: CancellationToken,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.events_stop.cancel();
    }
}

/// A self-healing connection to the broker. See the module documentation.
pub(crate) struct Link {
    uri: String,
    address: String,
    connection_name: String,
    current: RwLock<Arc<Live>>,
    /// Connections replaced while lapin was (apparently) still recovering them. Should one come back
    /// after all, it is closed: its recovered consumers would otherwise hold messages nobody reads.
    abandoned: Mutex<Vec<Arc<Live>>>,
    generations: watch::Sender<u64>,
    blocked: Arc<Mutex<Option<String>>>,
    shutdown: CancellationToken,
}

impl Link {
    /// Connects (failing fast when the broker refuses) and starts the supervisor.
    pub(crate) async fn open(uri: &str, connection_name: String) -> Result<Arc<Link>, TransportError> {
        let address = redact(uri);
        let blocked = Arc::new(Mutex::new(None));
        let connection = connect(uri, &address, &connection_name).await?;
        let events_stop = CancellationToken::new();
        listen_for_events(&connection, &blocked, &address, events_stop.clone());
        let (generations, _) = watch::channel(0);
        let link = Arc::new(Link {
            uri: uri.to_owned(),
            address,
            connection_name,
            abandoned: Mutex::new(Vec::new()),
            current: RwLock::new(Arc::new(Live {
                connection,
                generation: 0,
                events_stop,
            })),
            generations,
            blocked,
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(supervise(Arc::downgrade(&link), link.shutdown.clone()));
        Ok(link)
    }

    /// The broker address without the password.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    pub(crate) fn live(&self) -> Arc<Live> {
        self.current.read().clone()
    }

    pub(crate) fn generation(&self) -> u64 {
        *self.generations.borrow()
    }

    /// Changes whenever the link replaces its connection.
    pub(crate) fn generations(&self) -> watch::Receiver<u64> {
        self.generations.subscribe()
    }

    /// Cancelled when the transport is closed or dropped.
    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    pub(crate) fn connected(&self) -> bool {
        self.live().connection.status().connected()
    }

    /// The broker's reason while it blocks this connection's publishers.
    pub(crate) fn blocked(&self) -> Option<String> {
        self.blocked.lock().clone()
    }

    /// A new channel, waiting (until `deadline`) for the connection to be up.
    pub(crate) async fn channel(&self, deadline: Instant) -> Result<(Channel, u64), TransportError> {
        let mut pause = Duration::from_millis(10);
        loop {
            if self.is_shut_down() {
                return Err(TransportError::Closed);
            }
            let live = self.live();
            if live.connection.status().connected() {
                let opened = self.unless_replaced(live.generation, live.connection.create_channel());
                match timeout_at(deadline, opened).await {
                    Ok(Some(Ok(channel))) => return Ok((channel, live.generation)),
                    // The connection failed between the check and the open: wait for it below.
                    Ok(Some(Err(err))) => {
                        debug!(address = %self.address, error = %err, "opening a channel failed")
                    }
                    Ok(None) | Err(_) => {}
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TransportError::Connect {
                    address: self.address.clone(),
                    reason: "the connection is down and did not recover in time".into(),
                });
            }
            tokio::select! {
                _ = sleep(pause.min(deadline - now)) => {}
                _ = self.shutdown.cancelled() => {}
            }
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// `work`'s output, or `None` if the link replaces the connection of `generation` first. Every wait
    /// on a lapin future goes through here: on a connection whose recovery is stuck, lapin resolves
    /// nothing any more, and the replacement is the only way out.
    pub(crate) async fn unless_replaced<T>(
        &self,
        generation: u64,
        work: impl Future<Output = T>,
    ) -> Option<T> {
        let mut generations = self.generations.subscribe();
        tokio::select! {
            done = work => Some(done),
            _ = generations.wait_for(|g| *g != generation) => None,
        }
    }

    /// Runs an idempotent operation on a channel of its own, closed afterwards. When the connection drops
    /// under it, the operation runs again on a new channel once the connection is back, until `deadline`.
    ///
    /// A channel per operation, rather than one long-lived channel for all of them, because a refusal
    /// (404, 406) closes the channel it happens on, and because lapin replays on a recovered channel every
    /// declaration ever made on it: a passive declaration of a since-deleted queue would then fail the
    /// recovery of the whole connection.
    pub(crate) async fn run<T, F, Fut>(&self, deadline: Instant, op: F) -> Result<T, TransportError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, OpError>>,
    {
        loop {
            let (channel, generation) = self.channel(deadline).await?;
            match timeout_at(deadline, self.unless_replaced(generation, op(channel))).await {
                Ok(Some(Ok(value))) => return Ok(value),
                // The connection was replaced under the operation: run it again on the new one.
                Ok(None) => {}
                Ok(Some(Err(OpError::Refused(err)))) => return Err(err),
                Ok(Some(Err(OpError::Lost(err)))) => {
                    if Instant::now() >= deadline {
                        return Err(error::lost(&self.address, &err));
                    }
                    debug!(address = %self.address, error = %err, "the connection dropped under an operation; retrying");
                    sleep(Duration::from_millis(50)).await;
                }
                Err(_) => {
                    return Err(TransportError::Connect {
                        address: self.address.clone(),
                        reason: "the broker did not answer in time".into(),
                    });
                }
            }
        }
    }

    /// Closes the connection for good: consumers end, the broker requeues unsettled deliveries.
    pub(crate) async fn close(&self) {
        self.shutdown.cancel();
        self.sweep_abandoned(true).await;
        for live in std::mem::take(&mut *self.abandoned.lock()) {
            tokio::spawn(close_once_recovered(live));
        }
        let live = self.live();
        if !live.connection.status().connected() {
            tokio::spawn(close_once_recovered(live));
        } else {
            // While the broker blocks the connection lapin writes nothing, not even connection.close:
            // don't wait for it forever.
            match timeout(
                Duration::from_secs(5),
                live.connection.close(200, "closed by Snodo".into()),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) => debug!(address = %self.address, error = %err, "closing the connection"),
                Err(_) => warn!(address = %self.address, "the broker did not answer connection.close in 5s"),
            }
        }
    }

    fn install(&self, connection: Connection) {
        let generation = self.generation() + 1;
        *self.blocked.lock() = None;
        let events_stop = CancellationToken::new();
        listen_for_events(&connection, &self.blocked, &self.address, events_stop.clone());
        let old = std::mem::replace(
            &mut *self.current.write(),
            Arc::new(Live {
                connection,
                generation,
                events_stop,
            }),
        );
        old.events_stop.cancel();
        if old.connection.status().reconnecting() {
            self.abandoned.lock().push(old);
        }
        self.generations.send_replace(generation);
        info!(address = %self.address, generation, "opened a new connection to the broker");
    }
}

impl Link {
    /// Closes abandoned connections that lapin managed to recover after all, and forgets those that
    /// ended.
    async fn sweep_abandoned(&self, closing_all: bool) {
        let revived: Vec<Arc<Live>> = {
            let mut abandoned = self.abandoned.lock();
            abandoned.retain(|live| {
                let status = live.connection.status();
                !(status.errored() || status.closed())
            });
            let (revived, still_down) = std::mem::take(&mut *abandoned)
                .into_iter()
                .partition(|live| live.connection.status().connected());
            *abandoned = still_down;
            revived
        };
        for live in revived {
            if !closing_all {
                warn!(address = %self.address, "an abandoned connection recovered after all; closing it");
            }
            let closed = timeout(
                Duration::from_secs(5),
                live.connection.close(200, "replaced".into()),
            )
            .await;
            if let Ok(Err(err)) = closed {
                debug!(address = %self.address, error = %err, "closing an abandoned connection");
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // A connected connection closes by itself once its last handle is gone; one that lapin is still
        // recovering would come back, replay its consumers and hold their messages with nobody reading.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let current = self.current.read().clone();
            for live in std::mem::take(&mut *self.abandoned.lock())
                .into_iter()
                .chain([current])
            {
                let status = live.connection.status();
                if status.reconnecting() || status.connecting() {
                    runtime.spawn(close_once_recovered(live));
                }
            }
        }
    }
}

/// Closes a connection of a closed or dropped transport as soon as lapin has recovered it, if it ever
/// does within [`CLOSE_RECOVERED_WITHIN`].
async fn close_once_recovered(live: Arc<Live>) {
    let give_up = Instant::now() + CLOSE_RECOVERED_WITHIN;
    while Instant::now() < give_up {
        let status = live.connection.status();
        if status.connected() {
            if let Err(err) = live.connection.close(200, "closed by Snodo".into()).await {
                debug!(error = %err, "closing a recovered connection of a closed transport");
            }
            return;
        }
        if status.errored() || status.closed() {
            return;
        }
        sleep(Duration::from_millis(250)).await;
    }
}

/// Opens a recovering connection after a probe without recovery has shown that the broker accepts us.
async fn connect(uri: &str, address: &str, name: &str) -> Result<Connection, TransportError> {
    let failed = |reason: String| TransportError::Connect {
        address: address.to_owned(),
        reason,
    };
    // Without recovery lapin makes exactly one attempt, so a refused connection, a bad password or an
    // unknown vhost come back at once with the broker's reason.
    let probe_props = ConnectionProperties::default().with_connection_name(format!("{name} (probe)").into());
    let probe = timeout(CONNECT_TIMEOUT, Connection::connect(uri, probe_props))
        .await
        .map_err(|_| failed(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|err| failed(err.to_string()))?;
    if let Err(err) = probe.close(200, "probe".into()).await {
        debug!(address, error = %err, "closing the probe connection");
    }
    let props = ConnectionProperties::default()
        .with_connection_name(name.to_owned().into())
        .with_backoff(
            ExponentialBuilder::new()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(MAX_BACKOFF)
                .with_jitter()
                .without_max_times(),
        )
        .enable_auto_recover();
    timeout(CONNECT_TIMEOUT, Connection::connect(uri, props))
        .await
        .map_err(|_| failed(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|err| failed(err.to_string()))
}

/// Tracks `connection.blocked`/`unblocked` (RabbitMQ sends them to connections that publish while a
/// memory or disk alarm is in effect).
fn listen_for_events(
    connection: &Connection,
    blocked: &Arc<Mutex<Option<String>>>,
    address: &str,
    stop: CancellationToken,
) {
    let mut events = connection.events_listener();
    let blocked = blocked.clone();
    let address = address.to_owned();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.next() => event,
            };
            match event {
                None => return,
                Some(Event::ConnectionBlocked(reason)) => {
                    warn!(address = %address, reason = %reason, "the broker blocks publishing");
                    *blocked.lock() = Some(reason);
                }
                Some(Event::ConnectionUnblocked) => {
                    info!(address = %address, "the broker unblocked publishing");
                    *blocked.lock() = None;
                }
                // A recovered connection starts unblocked; the broker blocks it again if the alarm holds.
                Some(Event::Connected) => {
                    info!(address = %address, "connected to the broker");
                    *blocked.lock() = None;
                }
                Some(Event::Error(err)) => warn!(address = %address, error = %err, "broker connection error"),
                Some(_) => {}
            }
        }
    });
}

/// Replaces connections that lapin stopped recovering. Holds only a weak reference so that dropping the
/// transport ends it.
///
/// Two cases:
/// - the connection is in state `Error` (a failure lapin does not recover from) or `Closed` without our
///   close();
/// - the connection has been `Reconnecting` for [`WEDGED_AFTER`]. A healthy lapin I/O loop leaves that
///   state after one backoff pause (at most twice [`MAX_BACKOFF`] with jitter) and then stays
///   `Connecting` while it retries. It stays `Reconnecting` forever when an I/O error hit it in the middle
///   of writing a frame (lapin 4.12: the partly written frame keeps the loop alive, and it waits for
///   socket events that a dead socket never sends) — which is what a broker restart under publish load
///   does, seen in the restart tests. That loop cannot be stopped from outside: its thread is abandoned
///   with the old connection.
async fn supervise(link: Weak<Link>, shutdown: CancellationToken) {
    let mut reconnecting_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = sleep(SUPERVISE_EVERY) => {}
        }
        let Some(strong) = link.upgrade() else { return };
        if strong.is_shut_down() {
            return;
        }
        strong.sweep_abandoned(false).await;
        let status = strong.live().connection.status().clone();
        if status.reconnecting() {
            let since = *reconnecting_since.get_or_insert_with(Instant::now);
            if since.elapsed() < WEDGED_AFTER {
                continue;
            }
        } else {
            reconnecting_since = None;
            if !(status.errored() || status.closed()) {
                continue;
            }
        }
        let wedged = status.reconnecting();
        let (uri, address, name) = (
            strong.uri.clone(),
            strong.address.clone(),
            strong.connection_name.clone(),
        );
        drop(strong);
        if wedged {
            // Only replace it once the broker answers again: while it is down, lapin may be right to wait.
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => return,
                attempt = connect(&uri, &address, &name) => attempt,
            };
            match attempt {
                Ok(connection) => {
                    warn!(
                        address = %address,
                        "lapin stopped recovering the connection (its I/O loop is stuck); replaced it with a new one"
                    );
                    if let Some(strong) = link.upgrade() {
                        strong.install(connection);
                    }
                    reconnecting_since = None;
                }
                Err(err) => debug!(address = %address, error = %err, "the broker is still unreachable"),
            }
            continue;
        }
        warn!(address = %address, "the broker connection failed for good; opening a new one");
        let mut pause = Duration::from_millis(100);
        loop {
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => return,
                attempt = connect(&uri, &address, &name) => attempt,
            };
            match attempt {
                Ok(connection) => {
                    let Some(strong) = link.upgrade() else { return };
                    strong.install(connection);
                    break;
                }
                Err(err) => {
                    warn!(error = %err, retry_in = ?pause, "reconnecting to the broker failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// `amqp://user:secret@host:5672/vhost` → `amqp://user@host:5672/vhost`: the form that may appear in
/// errors and logs.
pub fn redact(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_owned();
    };
    let rest = &uri[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return uri.to_owned();
    };
    let user = authority[..at].split(':').next().unwrap_or_default();
    format!(
        "{}{}@{}{}",
        &uri[..scheme_end + 3],
        user,
        &authority[at + 1..],
        &rest[authority_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_removes_the_password_only() {
        assert_eq!(
            redact("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact("amqps://snodo:p%40ss:w@rd@mq.example.it/prod?heartbeat=10"),
            "amqps://snodo@mq.example.it/prod?heartbeat=10"
        );
        assert_eq!(redact("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(redact("amqp://user@host"), "amqp://user@host");
        assert_eq!(redact("not a url"), "not a url");
    }
}

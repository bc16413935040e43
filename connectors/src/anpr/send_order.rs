//! One comune's line to ANPR: its requests leave lowest `idOperazioneComune` first, at most a
//! configured number of them in flight.
//!
//! Why: ANPR refuses a new `idOperazioneComune` lower than the last one it received from the comune
//! (the `testataRichiesta` documentation in `tipoDato.xsd`: "se non esiste ed e' inferiore all'ultimo
//! inviato, l'elaborazione termina con errore"). Numbers are allocated in order, but 32 commands
//! handled at once sign and send in whatever order the scheduler runs them. So the next request to
//! leave is always the lowest number waiting — including numbers this process allocated whose command
//! has not reached the line yet (`announce`), waited for at most [`LATE_ARRIVAL`] so that a number
//! whose command stopped before sending (a bad payload, a cancelled attempt) cannot stall the comune.
//!
//! How many may be in flight together is the comune's choice (`[tenants.anpr] sends_in_flight`).
//! With one, requests reach ANPR strictly in order and the refusal never comes from this process; but
//! the comune then does at most one operation per round trip — about ten a second against a remote
//! ANPR answering in 100 ms, whatever the load. With more, requests leave in order but two in flight
//! may be judged by ANPR in the other order, and the lower one is refused; that refusal is harmless
//! (ANPR performed nothing under the refused number) and the exchange renumbers (`super::soap`), at
//! the cost of one more round trip for that one request. Another Snodo instance sending for the same
//! comune meets the same refusal, handled the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// How long an announced number may keep higher ones waiting before its command reaches the line:
/// far above the few milliseconds between allocation and signing, short enough that a number
/// whose command never comes costs the comune little.
pub const LATE_ARRIVAL: Duration = Duration::from_millis(500);

/// How often a waiting request re-checks the line for announced numbers that came too late.
const RECHECK: Duration = Duration::from_millis(100);

/// How many of a comune's requests may be in flight together unless configured: one, strictly in
/// order. Against the simulator on two cores, two in flight were judged in the other order for a
/// third of the requests and did fewer lookups per second than one (`snodo bench anpr`); more only
/// pays where ANPR's round trip is long and its order of judging close to the order of sending.
pub const DEFAULT_SENDS_IN_FLIGHT: usize = 1;

/// One comune's line; clones share it.
#[derive(Clone)]
pub struct SendLine {
    state: Arc<Mutex<LineState>>,
}

impl Default for SendLine {
    fn default() -> Self {
        SendLine::new(DEFAULT_SENDS_IN_FLIGHT)
    }
}

impl std::fmt::Debug for SendLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("SendLine")
            .field("waiting", &state.entries.len())
            .field("sending", &state.holders.len())
            .field("capacity", &state.capacity)
            .finish()
    }
}

/// A place in the line: a number, and a ticket that tells apart two places with the same number
/// (the same command handled twice at once after a redelivery).
type Key = (u64, u64);

struct LineState {
    entries: BTreeMap<Key, Entry>,
    /// The places whose requests are in flight.
    holders: BTreeSet<Key>,
    /// How many may be in flight together (at least one).
    capacity: usize,
    next_ticket: u64,
}

struct Entry {
    announced: Instant,
    /// Set once the command is at the line, waiting for its turn.
    waiter: Option<oneshot::Sender<()>>,
}

impl LineState {
    fn key(&mut self, number: u64) -> Key {
        self.next_ticket += 1;
        (number, self.next_ticket)
    }

    /// Gives free places in flight to the lowest numbers, as long as they are waiting; forgets
    /// announced numbers that never came.
    fn dispatch(&mut self, now: Instant) {
        self.entries
            .retain(|_, e| e.waiter.is_some() || now.duration_since(e.announced) < LATE_ARRIVAL);
        while self.holders.len() < self.capacity {
            let Some(mut first) = self.entries.first_entry() else {
                return;
            };
            let Some(waiter) = first.get_mut().waiter.take() else {
                // The lowest number is announced but its command is not here yet: everyone waits.
                return;
            };
            let key = *first.key();
            first.remove();
            if waiter.send(()).is_ok() {
                self.holders.insert(key);
            }
            // Otherwise its command gave up between the check and now; the next one goes.
        }
    }
}

impl SendLine {
    /// A line letting at most `in_flight` requests (at least one) be sent together.
    pub fn new(in_flight: usize) -> SendLine {
        SendLine {
            state: Arc::new(Mutex::new(LineState {
                entries: BTreeMap::new(),
                holders: BTreeSet::new(),
                capacity: in_flight.max(1),
                next_ticket: 0,
            })),
        }
    }

    /// How many requests may be in flight together.
    pub fn capacity(&self) -> usize {
        self.state.lock().capacity
    }

    /// Notes that this process allocated `number` and will send it soon: higher numbers wait for
    /// it (at most [`LATE_ARRIVAL`]).
    pub fn announce(&self, number: u64) {
        let mut state = self.state.lock();
        let key = state.key(number);
        state.entries.insert(
            key,
            Entry {
                announced: Instant::now(),
                waiter: None,
            },
        );
    }

    /// Waits until `number` may be sent: a free place in flight, and no lower number waiting or
    /// announced. The returned place holds its place in flight until dropped.
    pub async fn turn(&self, number: u64) -> Place {
        let (tx, mut granted) = oneshot::channel();
        let key = {
            let mut state = self.state.lock();
            let announced = state
                .entries
                .range((number, 0)..=(number, u64::MAX))
                .find(|(_, e)| e.waiter.is_none())
                .map(|(k, _)| *k);
            let key = match announced {
                Some(key) => key,
                None => {
                    let key = state.key(number);
                    state.entries.insert(
                        key,
                        Entry {
                            announced: Instant::now(),
                            waiter: None,
                        },
                    );
                    key
                }
            };
            state
                .entries
                .get_mut(&key)
                .expect("the entry was just found or inserted")
                .waiter = Some(tx);
            state.dispatch(Instant::now());
            key
        };
        // From here on, dropping the place (a cancelled attempt) gives the line back.
        let place = Place {
            state: self.state.clone(),
            key,
        };
        loop {
            let answer = tokio::time::timeout(RECHECK, &mut granted).await;
            let mut state = self.state.lock();
            if let Ok(Ok(())) = answer {
                return place;
            }
            state.dispatch(Instant::now());
            if state.holders.contains(&key) {
                return place;
            }
            if answer.is_ok() {
                // The grant's sender is gone without a grant (only if the entry was lost): wait
                // again under the same key.
                let (tx, rx) = oneshot::channel();
                granted = rx;
                state.entries.insert(
                    key,
                    Entry {
                        announced: Instant::now(),
                        waiter: Some(tx),
                    },
                );
                state.dispatch(Instant::now());
                if state.holders.contains(&key) {
                    return place;
                }
            }
        }
    }
}

/// A request's place in flight in its comune's line; while the places are all taken, the comune's
/// other requests wait.
pub struct Place {
    state: Arc<Mutex<LineState>>,
    key: Key,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        if !state.holders.remove(&self.key) {
            state.entries.remove(&self.key);
        }
        state.dispatch(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_leave_lowest_number_first_and_one_at_a_time() {
        let line = SendLine::new(1);
        for n in 1..=5 {
            line.announce(n);
        }
        let order = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        // The commands reach the line in the reverse order of their numbers.
        for n in (1..=5).rev() {
            let (line, order, in_flight) = (line.clone(), order.clone(), in_flight.clone());
            tasks.push(tokio::spawn(async move {
                let _place = line.turn(n).await;
                let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert_eq!(now, 0, "two requests of one comune in flight");
                order.lock().push(n);
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock(), [1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn several_in_flight_leave_in_number_order_and_never_more_than_allowed() {
        let line = SendLine::new(3);
        for n in 1..=12 {
            line.announce(n);
        }
        let order = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        // Reaching the line in reverse order: the highest numbers must wait for the lowest.
        for n in (1..=12).rev() {
            let (line, order, in_flight, most) =
                (line.clone(), order.clone(), in_flight.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let _place = line.turn(n).await;
                let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                order.lock().push(n);
                tokio::time::sleep(Duration::from_millis(10)).await;
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock(), (1..=12).collect::<Vec<u64>>());
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_line_of_one_is_never_shared_and_zero_means_one() {
        assert_eq!(SendLine::new(0).capacity(), 1);
        let line = SendLine::new(1);
        let first = line.turn(1).await;
        let second = tokio::time::timeout(Duration::from_millis(150), line.turn(2)).await;
        assert!(
            second.is_err(),
            "a second request went while the first was in flight"
        );
        drop(first);
        let _second = tokio::time::timeout(Duration::from_secs(1), line.turn(2))
            .await
            .expect("the line is free again");
    }

    #[tokio::test]
    async fn a_number_that_never_comes_holds_the_line_only_briefly() {
        let line = SendLine::new(1);
        line.announce(1);
        line.announce(2);
        let started = Instant::now();
        let _place = line.turn(2).await;
        assert!(started.elapsed() >= LATE_ARRIVAL, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_cancelled_wait_or_send_gives_the_line_back() {
        let line = SendLine::new(1);
        let first = line.turn(1).await;
        let waiting = tokio::spawn({
            let line = line.clone();
            async move { line.turn(2).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiting.abort();
        let _ = waiting.await;
        drop(first);
        let _third = tokio::time::timeout(Duration::from_secs(1), line.turn(3))
            .await
            .expect("the line is free again");
    }
}

//! One comune's line to ANPR: its requests leave one at a time, lowest `idOperazioneComune` first.
//!
//! Why: ANPR refuses a new `idOperazioneComune` lower than the last one it received from the comune
//! (the `testataRichiesta` documentation in `tipoDato.xsd`: "se non esiste ed e' inferiore all'ultimo
//! inviato, l'elaborazione termina con errore"). Numbers are allocated in order, but 32 commands
//! handled at once sign and send in whatever order the scheduler runs them, and two HTTP requests in
//! flight together reach ANPR in any order. So a comune has at most one request in flight, and the
//! next to go is the lowest number waiting — including numbers this process allocated whose command
//! has not reached the line yet (`announce`), waited for at most [`LATE_ARRIVAL`] so that a number
//! whose command stopped before sending (a bad payload, a cancelled attempt) cannot stall the comune.
//!
//! The line orders one process. Another Snodo instance sending for the same comune can still make
//! ANPR refuse a number as lower; that refusal is harmless (ANPR did not perform the operation) and
//! the exchange renumbers (`super::soap`).

use std::collections::BTreeMap;
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

/// One comune's line; clones share it.
#[derive(Clone, Default)]
pub struct SendLine {
    state: Arc<Mutex<LineState>>,
}

impl std::fmt::Debug for SendLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("SendLine")
            .field("waiting", &state.entries.len())
            .field("sending", &state.holder.is_some())
            .finish()
    }
}

/// A place in the line: a number, and a ticket that tells apart two places with the same number
/// (the same command handled twice at once after a redelivery).
type Key = (u64, u64);

#[derive(Default)]
struct LineState {
    entries: BTreeMap<Key, Entry>,
    /// The place whose request is in flight.
    holder: Option<Key>,
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

    /// Gives the line to the lowest number, if it is waiting; forgets announced numbers that
    /// never came.
    fn dispatch(&mut self, now: Instant) {
        if self.holder.is_some() {
            return;
        }
        self.entries
            .retain(|_, e| e.waiter.is_some() || now.duration_since(e.announced) < LATE_ARRIVAL);
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
            self.holder = Some(key);
        } else {
            // Its command gave up between the check and now; the next one goes.
            self.dispatch(now);
        }
    }
}

impl SendLine {
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

    /// Waits until `number` may be sent: nothing else of this comune in flight, and no lower number
    /// waiting or announced. The returned place holds the line until dropped.
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
            if state.holder == Some(key) {
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
                if state.holder == Some(key) {
                    return place;
                }
            }
        }
    }
}

/// A request's place in its comune's line; while it is the holder, the comune's other requests
/// wait.
pub struct Place {
    state: Arc<Mutex<LineState>>,
    key: Key,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        if state.holder == Some(self.key) {
            state.holder = None;
        } else {
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
        let line = SendLine::default();
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
    async fn a_number_that_never_comes_holds_the_line_only_briefly() {
        let line = SendLine::default();
        line.announce(1);
        line.announce(2);
        let started = Instant::now();
        let _place = line.turn(2).await;
        assert!(started.elapsed() >= LATE_ARRIVAL, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_cancelled_wait_or_send_gives_the_line_back() {
        let line = SendLine::default();
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

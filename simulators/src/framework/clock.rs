//! The simulator clock: the one notion of "now" every component of a simulator reads, so that a test
//! can move a simulator — a separate process that `tokio::time::pause` cannot reach — through notice
//! due dates, document expiry and token lifetimes by asking its admin API.
//!
//! `now()` = the instant of the last rebase + real time elapsed since then × speed. Real elapsed time
//! comes from the monotonic [`Instant`], never from the wall clock, so an NTP step on the host does
//! not move a simulator backwards. Changing the speed rebases first, so the simulated time is
//! continuous across the change; advancing only adds. Only an explicit `set` (or offset) and a reset
//! may move the clock backwards, because that is what the caller asked for.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use serde::Serialize;

/// The fastest a simulator may run: a year passes in about half a minute. Faster makes every
/// millisecond of scheduling noise hours of simulated time, which no test can reason about.
pub const MAX_SPEED: f64 = 1_000_000.0;

/// How far one `advance`, `set` or offset may move the clock from real time: beyond this chrono's
/// range is near and no platform date (a notice due date, a document expiry) is meaningful.
pub const MAX_SHIFT: TimeDelta = TimeDelta::days(365 * 200);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClockError {
    #[error("speed must be a finite number between 0 and {MAX_SPEED}, got {speed}")]
    InvalidSpeed { speed: f64 },
    #[error("the clock cannot be moved to or by {requested}: it stays within 200 years of real time")]
    TooFar { requested: String },
    #[error("advance must not be negative; to go back in time set the clock explicitly")]
    NegativeAdvance,
    #[error("give set or offset, not both")]
    SetAndOffset,
}

/// A change of the clock, as `POST /admin/clock` asks for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClockChange {
    /// Simulated time from now on (may be in the past).
    pub set: Option<DateTime<Utc>>,
    /// Simulated time = real time + this.
    pub offset: Option<TimeDelta>,
    pub speed: Option<f64>,
    /// Forward by this much (never negative).
    pub advance: Option<TimeDelta>,
}

fn too_far(requested: String) -> ClockError {
    ClockError::TooFar { requested }
}

/// A clock shared (cheaply cloned) by a simulator's components and its admin API.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<ClockState>>,
}

#[derive(Debug, Clone, Copy)]
struct ClockState {
    /// Real instant of the last rebase.
    base_real: Instant,
    /// Simulated time at `base_real`.
    base_sim: DateTime<Utc>,
    speed: f64,
}

/// What `GET /admin/clock` answers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClockStatus {
    /// The simulated time.
    pub now: DateTime<Utc>,
    /// The host's wall-clock time at the same moment.
    pub real_now: DateTime<Utc>,
    /// `now - real_now`, in milliseconds.
    pub offset_ms: i64,
    pub speed: f64,
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock::new()
    }
}

impl SimClock {
    /// A clock at real time, running at real speed.
    pub fn new() -> SimClock {
        SimClock {
            state: Arc::new(Mutex::new(ClockState {
                base_real: Instant::now(),
                base_sim: Utc::now(),
                speed: 1.0,
            })),
        }
    }

    /// The simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        let state = *self.state.lock();
        state.at(Instant::now())
    }

    pub fn status(&self) -> ClockStatus {
        let now = self.now();
        let real_now = Utc::now();
        ClockStatus {
            now,
            real_now,
            offset_ms: (now - real_now).num_milliseconds(),
            speed: self.state.lock().speed,
        }
    }

    /// Runs the clock `speed` times faster than real time from now on (0 freezes it). The simulated
    /// time is continuous across the change.
    pub fn set_speed(&self, speed: f64) -> Result<(), ClockError> {
        self.apply(&ClockChange {
            speed: Some(speed),
            ..ClockChange::default()
        })
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: TimeDelta) -> Result<DateTime<Utc>, ClockError> {
        self.apply(&ClockChange {
            advance: Some(by),
            ..ClockChange::default()
        })?;
        Ok(self.now())
    }

    /// Sets the simulated time to `at` (which may be in the past), keeping the speed.
    pub fn set(&self, at: DateTime<Utc>) -> Result<(), ClockError> {
        self.apply(&ClockChange {
            set: Some(at),
            ..ClockChange::default()
        })
    }

    /// Sets the simulated time to real time + `offset`, keeping the speed.
    pub fn set_offset(&self, offset: TimeDelta) -> Result<(), ClockError> {
        self.apply(&ClockChange {
            offset: Some(offset),
            ..ClockChange::default()
        })
    }

    /// Applies a change as one step: `set` or `offset`, then `speed`, then `advance`. Everything is
    /// checked first, so a refused change leaves the clock as it was.
    pub fn apply(&self, change: &ClockChange) -> Result<(), ClockError> {
        if let Some(speed) = change.speed
            && (!speed.is_finite() || !(0.0..=MAX_SPEED).contains(&speed))
        {
            return Err(ClockError::InvalidSpeed { speed });
        }
        if change.advance.is_some_and(|by| by < TimeDelta::zero()) {
            return Err(ClockError::NegativeAdvance);
        }
        let mut state = self.state.lock();
        let real = Instant::now();
        let real_wall = Utc::now();
        let mut sim = match (change.set, change.offset) {
            (Some(_), Some(_)) => return Err(ClockError::SetAndOffset),
            (Some(at), None) => at,
            (None, Some(offset)) => real_wall
                .checked_add_signed(offset)
                .ok_or_else(|| too_far(format!("{} ms", offset.num_milliseconds())))?,
            (None, None) => state.at(real),
        };
        if let Some(by) = change.advance {
            sim = sim
                .checked_add_signed(by)
                .ok_or_else(|| too_far(format!("{} s", by.num_seconds())))?;
        }
        if (sim - real_wall).abs() > MAX_SHIFT {
            return Err(too_far(sim.to_rfc3339()));
        }
        *state = ClockState {
            base_real: real,
            base_sim: sim,
            speed: change.speed.unwrap_or(state.speed),
        };
        Ok(())
    }

    /// Back to real time at real speed.
    pub fn reset(&self) {
        *self.state.lock() = ClockState {
            base_real: Instant::now(),
            base_sim: Utc::now(),
            speed: 1.0,
        };
    }
}

impl ClockState {
    fn at(&self, real: Instant) -> DateTime<Utc> {
        let elapsed = real.saturating_duration_since(self.base_real);
        // Nanoseconds in f64 lose precision only past ~104 days of real elapsed time, and then by
        // nanoseconds: irrelevant to every date a platform compares.
        let scaled = elapsed.as_nanos() as f64 * self.speed;
        let scaled = TimeDelta::nanoseconds(scaled.min(i64::MAX as f64) as i64);
        self.base_sim.checked_add_signed(scaled).unwrap_or(self.base_sim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_forward_and_refuses_negative() {
        let clock = SimClock::new();
        let before = clock.now();
        let after = clock.advance(TimeDelta::days(30)).unwrap();
        assert!(after - before >= TimeDelta::days(30));
        assert_eq!(
            clock.advance(TimeDelta::seconds(-1)),
            Err(ClockError::NegativeAdvance)
        );
        assert!(matches!(
            clock.advance(TimeDelta::days(365 * 300)),
            Err(ClockError::TooFar { .. })
        ));
    }

    #[test]
    fn speed_changes_never_move_the_clock_backwards() {
        let clock = SimClock::new();
        clock.set_speed(MAX_SPEED).unwrap();
        let mut last = clock.now();
        for speed in [0.0, 1.0, 1000.0, 0.5, 0.0, MAX_SPEED, 1.0] {
            clock.set_speed(speed).unwrap();
            let now = clock.now();
            assert!(now >= last, "went back from {last} to {now} at speed {speed}");
            last = now;
        }
    }

    #[test]
    fn frozen_clock_stands_still_and_invalid_speeds_are_refused() {
        let clock = SimClock::new();
        clock.set_speed(0.0).unwrap();
        let a = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), a);
        for bad in [-1.0, f64::NAN, f64::INFINITY, MAX_SPEED * 2.0] {
            assert!(matches!(
                clock.set_speed(bad),
                Err(ClockError::InvalidSpeed { .. })
            ));
        }
    }

    #[test]
    fn set_and_offset_may_go_back_on_request() {
        let clock = SimClock::new();
        let past = Utc::now() - TimeDelta::days(10);
        clock.set(past).unwrap();
        assert!(clock.now() - past < TimeDelta::seconds(5));
        clock.set_offset(TimeDelta::hours(-2)).unwrap();
        let offset = clock.status().offset_ms;
        assert!((offset + 2 * 3_600_000).abs() < 5_000, "{offset}");
        clock.reset();
        assert!(clock.status().offset_ms.abs() < 5_000);
    }
}

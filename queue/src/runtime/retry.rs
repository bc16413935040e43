//! The retry schedule (DESIGN §5): fixed delays, each served by a broker delay queue, then a dead letter.
//!
//! Delays are broker-side (TTL queues) rather than in-process sleeps so that a retry survives a crash of
//! the instance that scheduled it and does not hold a consumer slot while it waits.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    pub delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    /// 1 s, 5 s, 30 s, 2 min, 10 min, 1 h.
    fn default() -> Self {
        RetrySchedule {
            delays: [1, 5, 30, 120, 600, 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }
}

/// What to do after attempt `attempt` failed transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send a retry copy through the delay queue of `delay`; it becomes attempt `next_attempt`.
    RetryAfter { delay: Duration, next_attempt: u32 },
    /// No steps left.
    Exhausted,
    /// The next step would end after the command's deadline: fail now.
    PastDeadline { delay: Duration },
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        RetrySchedule { delays }
    }

    /// Total attempts a command gets: the first plus one per step.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    pub fn decide(&self, attempt: u32, deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> RetryDecision {
        let Some(delay) = self.delays.get(attempt.saturating_sub(1) as usize).copied() else {
            return RetryDecision::Exhausted;
        };
        if let Some(deadline) = deadline {
            let wake = chrono::Duration::from_std(delay)
                .map(|d| now + d)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if wake >= deadline {
                return RetryDecision::PastDeadline { delay };
            }
        }
        RetryDecision::RetryAfter {
            delay,
            next_attempt: attempt + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn walks_the_steps_then_is_exhausted() {
        let s = RetrySchedule::new(vec![ms(10), ms(20)]);
        let now = Utc::now();
        assert_eq!(
            s.decide(1, None, now),
            RetryDecision::RetryAfter {
                delay: ms(10),
                next_attempt: 2
            }
        );
        assert_eq!(
            s.decide(2, None, now),
            RetryDecision::RetryAfter {
                delay: ms(20),
                next_attempt: 3
            }
        );
        assert_eq!(s.decide(3, None, now), RetryDecision::Exhausted);
        assert_eq!(s.max_attempts(), 3);
    }

    #[test]
    fn a_step_never_outlives_the_deadline() {
        let s = RetrySchedule::default();
        let now = Utc::now();
        let deadline = now + chrono::Duration::seconds(3);
        assert!(matches!(
            s.decide(1, Some(deadline), now),
            RetryDecision::RetryAfter { .. }
        ));
        assert_eq!(
            s.decide(2, Some(deadline), now),
            RetryDecision::PastDeadline {
                delay: Duration::from_secs(5)
            }
        );
    }
}

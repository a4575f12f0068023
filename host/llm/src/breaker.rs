//! A provider's circuit breaker: after `threshold` calls in a row failed
//! past their retries, the circuit opens and failover passes the provider
//! over for `cooldown`; after that the next call tries it again (one more
//! failure opens it again at once, a success closes it).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker of one provider, shared by every agent calling it.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Calls in a row that failed.
    failures: u32,
    /// Until when the circuit is open.
    open_until: Option<Instant>,
}

/// The circuit is open: the provider is passed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Open {
    /// Calls in a row that failed.
    pub failures: u32,
    /// How long it stays open.
    pub remaining: Duration,
}

impl std::fmt::Display for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "its circuit is open after {} failed calls in a row; it is tried again in {} ms",
            self.failures,
            self.remaining.as_millis()
        )
    }
}

impl Breaker {
    /// A closed breaker opening after `threshold` (at least 1) failures in
    /// a row, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go to the provider now (`Err` while open).
    pub fn check(&self) -> Result<(), Open> {
        self.check_at(Instant::now())
    }

    fn check_at(&self, now: Instant) -> Result<(), Open> {
        let s = self.state();
        match s.open_until {
            Some(until) if until > now => Err(Open {
                failures: s.failures,
                remaining: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// A call succeeded: the circuit closes.
    pub fn succeeded(&self) {
        let mut s = self.state();
        s.failures = 0;
        s.open_until = None;
    }

    /// A call failed past its retries; true when this opened the circuit.
    pub fn failed(&self) -> bool {
        self.failed_at(Instant::now())
    }

    fn failed_at(&self, now: Instant) -> bool {
        let mut s = self.state();
        s.failures = s.failures.saturating_add(1);
        if s.failures >= self.threshold {
            s.open_until = Some(now + self.cooldown);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_closes_after_a_success() {
        let b = Breaker::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(b.check_at(t0).is_ok());
        assert!(!b.failed_at(t0));
        assert!(b.check_at(t0).is_ok(), "one failure does not open it");
        assert!(b.failed_at(t0));
        let open = b.check_at(t0 + Duration::from_secs(1)).unwrap_err();
        assert_eq!(open.failures, 2);
        assert_eq!(open.remaining, Duration::from_secs(9));
        assert!(open.to_string().contains("2 failed calls"), "{open}");
        // After the cool-down it is tried again; one more failure reopens it.
        let later = t0 + Duration::from_secs(11);
        assert!(b.check_at(later).is_ok());
        assert!(b.failed_at(later));
        assert!(b.check_at(later + Duration::from_secs(1)).is_err());
        // A success closes it for good.
        b.succeeded();
        assert!(b.check_at(later + Duration::from_secs(1)).is_ok());
        assert!(!b.failed_at(later), "the count started over");
    }

    #[test]
    fn a_zero_threshold_means_one() {
        let b = Breaker::new(0, Duration::from_secs(1));
        let t0 = Instant::now();
        assert!(b.failed_at(t0));
        assert!(b.check_at(t0).is_err());
    }
}

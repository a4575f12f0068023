//! Retry policy of the model client: the per-agent [`RetryBudget`], the
//! exponential backoff with jitter, and `Retry-After` parsing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// Retries an agent may still spend over its life. Clones share the same
/// count, so one budget can be handed to every request of an agent.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    remaining: Arc<AtomicU32>,
}

impl RetryBudget {
    /// A budget of `n` retries.
    pub fn new(n: u32) -> RetryBudget {
        RetryBudget {
            remaining: Arc::new(AtomicU32::new(n)),
        }
    }

    /// Retries left.
    pub fn remaining(&self) -> u32 {
        self.remaining.load(Ordering::Acquire)
    }

    /// Takes one retry; `false` when none is left.
    pub fn try_take(&self) -> bool {
        self.remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The backoff settings of one provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait, before jitter.
    pub initial_ms: u64,
    /// The longest single wait (also caps a server's `Retry-After`).
    pub max_ms: u64,
}

/// How long to wait before retry number `retry` (1 = the first retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    /// The wait.
    pub ms: u64,
    /// The server asked for longer than `max_ms`; the wait was cut to it.
    pub capped_retry_after: Option<u64>,
}

impl Backoff {
    /// The exponential wait for retry number `retry` (1-based) before jitter:
    /// `initial_ms * 2^(retry-1)`, capped at `max_ms`.
    pub fn base_ms(&self, retry: u32) -> u64 {
        let shift = retry.saturating_sub(1).min(40);
        self.initial_ms
            .saturating_mul(1u64 << shift)
            .min(self.max_ms)
    }

    /// The wait before retry number `retry`. Without a `Retry-After`, "equal
    /// jitter": a uniform draw from `[base/2, base]`, so waits still grow but
    /// agents hit by the same outage spread out. A server's `Retry-After` is
    /// honoured as a floor (plus up to 10% jitter), capped at `max_ms`.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Wait {
        use rand::Rng as _;
        let mut rng = rand::rng();
        match retry_after {
            Some(ra) => {
                let asked = u64::try_from(ra.as_millis()).unwrap_or(u64::MAX);
                if asked > self.max_ms {
                    Wait {
                        ms: self.max_ms,
                        capped_retry_after: Some(asked),
                    }
                } else {
                    let extra = rng.random_range(0..=asked / 10);
                    Wait {
                        ms: (asked + extra).min(self.max_ms),
                        capped_retry_after: None,
                    }
                }
            }
            None => {
                let base = self.base_ms(retry);
                Wait {
                    ms: rng.random_range(base / 2..=base),
                    capped_retry_after: None,
                }
            }
        }
    }
}

/// Parses a `Retry-After` value: delay seconds (possibly fractional, as
/// some providers send) or an HTTP date (a date in the past means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_down_and_is_shared() {
        let b = RetryBudget::new(2);
        let c = b.clone();
        assert!(b.try_take());
        assert!(c.try_take());
        assert!(!b.try_take());
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let b = Backoff {
            initial_ms: 100,
            max_ms: 1000,
        };
        assert_eq!(b.base_ms(1), 100);
        assert_eq!(b.base_ms(2), 200);
        assert_eq!(b.base_ms(4), 800);
        assert_eq!(b.base_ms(5), 1000);
        assert_eq!(b.base_ms(200), 1000);
        let mut seen = std::collections::BTreeSet::new();
        for retry in 1..=6 {
            let base = b.base_ms(retry);
            for _ in 0..200 {
                let w = b.wait(retry, None);
                assert!(w.ms >= base / 2 && w.ms <= base, "{retry}: {w:?}");
                assert_eq!(w.capped_retry_after, None);
                seen.insert(w.ms);
            }
        }
        assert!(seen.len() > 20, "jitter should spread the waits");
    }

    #[test]
    fn retry_after_is_a_floor_and_capped() {
        let b = Backoff {
            initial_ms: 100,
            max_ms: 5000,
        };
        for _ in 0..100 {
            let w = b.wait(1, Some(Duration::from_secs(2)));
            assert!((2000..=2200).contains(&w.ms), "{w:?}");
        }
        let w = b.wait(1, Some(Duration::from_secs(60)));
        assert_eq!(w.ms, 5000);
        assert_eq!(w.capped_retry_after, Some(60_000));
    }
}

//! How often a caller may knock: the request rate of each credential (a
//! token bucket per personal access token, service token or dashboard
//! session: `[server] rate_limit_per_minute`) and the failed password
//! sign-ins per user name ([`SIGN_IN_FAILURES`] per
//! [`SIGN_IN_WINDOW`]). Both answer 429 `rate_limited` with
//! `Retry-After`.
//!
//! Cheap on the hot path: a bucket is found by hashing its key into one of
//! [`SHARDS`] mutex'd maps and looked up by `&str` (a key is allocated
//! once, when its credential is first seen); nothing else is allocated per
//! request.

use super::error::ApiError;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many maps the buckets are spread over (fewer requests wait on one
/// lock).
pub const SHARDS: usize = 16;

/// Past this many buckets in a shard, full ones (idle credentials) are
/// dropped when a new one is added.
const PRUNE_ABOVE: usize = 4096;

/// The default of `[server] rate_limit_per_minute`.
pub const DEFAULT_PER_MINUTE: u32 = 1200;

/// Failed password sign-ins allowed per user name within
/// [`SIGN_IN_WINDOW`]; the next is refused until the oldest leaves it.
pub const SIGN_IN_FAILURES: usize = 10;

/// The window failed sign-ins are counted in.
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// 429 `rate_limited` with `Retry-After: secs`.
pub fn rate_limited(message: impl Into<String>, secs: u64) -> ApiError {
    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
    e.retry_after = Some(u32::try_from(secs.max(1)).unwrap_or(u32::MAX));
    e
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per credential: `per_minute` requests a minute, in
/// bursts of up to `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    /// A limiter of `per_minute` requests a minute per credential (0: no
    /// limit).
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The limit, per minute (0: none).
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one request of credential `key` at `now`: `Err(secs)` (when
    /// to retry) when its bucket is empty.
    pub fn take_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        // A poisoned lock only means a panic elsewhere mid-update: the
        // buckets are still numbers, keep using them.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = match map.get_mut(key) {
            Some(b) => b,
            None => {
                if map.len() >= PRUNE_ABOVE {
                    map.retain(|_, b| {
                        let refilled =
                            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
                        refilled < capacity
                    });
                }
                map.entry(key.to_string()).or_insert(Bucket {
                    tokens: capacity,
                    at: now,
                })
            }
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_sec).ceil() as u64)
        }
    }

    /// [`RateLimiter::take_at`] now, as the API's error.
    pub fn take(&self, key: &str) -> Result<(), ApiError> {
        self.take_at(key, Instant::now()).map_err(|secs| {
            rate_limited(
                format!(
                    "too many requests with this credential (more than {} a minute); retry in {secs} s",
                    self.per_minute
                ),
                secs,
            )
        })
    }
}

/// Failed password sign-ins per user name.
#[derive(Debug, Default)]
pub struct SignInFailures {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Past this many names, the ones with no failure in the window are
/// dropped when another fails.
const FAILURE_NAMES: usize = 10_000;

impl SignInFailures {
    fn key(name: &str) -> String {
        name.trim().to_lowercase()
    }

    /// Whether `name` may try a password at `now`: `Err(secs)` when it
    /// failed [`SIGN_IN_FAILURES`] times in the last [`SIGN_IN_WINDOW`].
    pub fn check_at(&self, name: &str, now: Instant) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = map.get(&Self::key(name)) else {
            return Ok(());
        };
        let recent: Vec<&Instant> = times
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < SIGN_IN_WINDOW)
            .collect();
        if recent.len() < SIGN_IN_FAILURES {
            return Ok(());
        }
        let oldest = recent.iter().min().map_or(now, |t| **t);
        let wait = SIGN_IN_WINDOW.saturating_sub(now.saturating_duration_since(oldest));
        Err(wait.as_secs().max(1))
    }

    /// Records a failure of `name` at `now`.
    pub fn fail_at(&self, name: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= FAILURE_NAMES {
            map.retain(|_, times| {
                times
                    .iter()
                    .any(|t| now.saturating_duration_since(*t) < SIGN_IN_WINDOW)
            });
        }
        let times = map.entry(Self::key(name)).or_default();
        times.retain(|t| now.saturating_duration_since(*t) < SIGN_IN_WINDOW);
        times.push(now);
    }

    /// Forgets the failures of `name` (it signed in).
    pub fn clear(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::key(name));
    }

    /// [`SignInFailures::check_at`] now, as the API's error.
    pub fn check(&self, name: &str) -> Result<(), ApiError> {
        self.check_at(name, Instant::now()).map_err(|secs| {
            rate_limited(
                format!(
                    "too many failed sign-ins for this name ({SIGN_IN_FAILURES} in {} minutes); retry in {secs} s",
                    SIGN_IN_WINDOW.as_secs() / 60
                ),
                secs,
            )
        })
    }

    /// [`SignInFailures::fail_at`] now.
    pub fn fail(&self, name: &str) {
        self.fail_at(name, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_refills_and_says_when() {
        let l = RateLimiter::new(60); // one a second, bursts of 60
        let t0 = Instant::now();
        for i in 0..60 {
            assert!(l.take_at("a", t0).is_ok(), "request {i}");
        }
        assert_eq!(l.take_at("a", t0), Err(1));
        // Another credential has its own bucket.
        assert!(l.take_at("b", t0).is_ok());
        // A second later, one more.
        let t1 = t0 + Duration::from_secs(1);
        assert!(l.take_at("a", t1).is_ok());
        assert!(l.take_at("a", t1).is_err());
        // Refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..60 {
            assert!(l.take_at("a", later).is_ok());
        }
        assert!(l.take_at("a", later).is_err());
    }

    #[test]
    fn a_slow_limit_says_how_long_to_wait() {
        let l = RateLimiter::new(2); // one every 30 s
        let t0 = Instant::now();
        assert!(l.take_at("k", t0).is_ok());
        assert!(l.take_at("k", t0).is_ok());
        assert_eq!(l.take_at("k", t0), Err(30));
        let e = l
            .take("k2")
            .and_then(|_| l.take("k2"))
            .and_then(|_| l.take("k2"));
        let e = e.unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        assert!(e.retry_after.is_some_and(|s| s >= 1));
    }

    #[test]
    fn zero_is_no_limit() {
        let l = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(l.take_at("a", t0).is_ok());
        }
    }

    #[test]
    fn idle_buckets_are_pruned() {
        let l = RateLimiter::new(60);
        let t0 = Instant::now();
        for i in 0..(PRUNE_ABOVE * SHARDS * 2) {
            let _ = l.take_at(&format!("k{i}"), t0 + Duration::from_secs(i as u64));
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= PRUNE_ABOVE * SHARDS + SHARDS, "{total}");
    }

    #[test]
    fn failed_sign_ins_lock_a_name_for_the_window() {
        let f = SignInFailures::default();
        let t0 = Instant::now();
        for _ in 0..SIGN_IN_FAILURES {
            assert!(f.check_at("Alice", t0).is_ok());
            f.fail_at("alice", t0);
        }
        let wait = f.check_at(" ALICE ", t0).unwrap_err();
        assert_eq!(wait, SIGN_IN_WINDOW.as_secs());
        assert!(f.check_at("bob", t0).is_ok(), "other names are not locked");
        assert!(
            f.check_at("alice", t0 + SIGN_IN_WINDOW).is_ok(),
            "failures leave the window"
        );
        f.clear("alice");
        assert!(f.check_at("alice", t0).is_ok());
        let e = {
            for _ in 0..SIGN_IN_FAILURES {
                f.fail("carol");
            }
            f.check("carol").unwrap_err()
        };
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
    }
}

//! Request limits beyond the body size: how deep parameters may nest, and a
//! per-user submission rate (off unless `[api] submit_rate_per_minute` is set).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::Value;

/// Deepest accepted nesting of `parameters` (objects and arrays).
pub const MAX_PARAMETERS_DEPTH: usize = 32;

/// How deep a JSON value nests (a scalar is 0, `{}` is 1).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Users remembered by the limiter before idle ones are forgotten.
const REMEMBERED_USERS: usize = 10_000;

/// A token bucket per user: `per_minute` submissions a minute, up to `burst`
/// at once.
#[derive(Debug)]
pub struct SubmitRateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl SubmitRateLimit {
    /// `None` when `per_minute` is 0 (no limit).
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        Some(SubmitRateLimit {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        })
    }

    /// `Err(wait)` when `user` must wait before submitting again.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        if self.limiter.len() > REMEMBERED_USERS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&user.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_objects_and_arrays() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": []}]})), 4);
    }

    #[test]
    fn each_user_has_their_own_bucket() {
        let limit = SubmitRateLimit::new(60, 2).expect("on");
        assert!(limit.check("alice").is_ok());
        assert!(limit.check("alice").is_ok());
        let wait = limit.check("alice").expect_err("third in a row");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limit.check("bob").is_ok());
        assert!(SubmitRateLimit::new(0, 5).is_none());
    }
}

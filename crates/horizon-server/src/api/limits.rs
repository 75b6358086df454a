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

/// The middleware that reads a request's body within `[api]
/// body_read_timeout_ms` of its headers: a client that trickles its body
/// gets 408 and its connection is closed, instead of holding it (and a
/// task) for as long as it likes. The body is then handed on whole (it is
/// at most `[api] body_limit_bytes`).
pub async fn body_deadline(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let timeout = Duration::from_millis(state.settings.api.body_read_timeout_ms);
    let no_body = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0")
        || (!request
            .headers()
            .contains_key(axum::http::header::CONTENT_LENGTH)
            && !request
                .headers()
                .contains_key(axum::http::header::TRANSFER_ENCODING));
    if timeout.is_zero() || no_body {
        return next.run(request).await;
    }
    let limit = state.settings.api.body_limit_bytes;
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Ok(Err(err)) => {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                super::problem::ApiError::PayloadTooLarge(format!(
                    "the request body is larger than {limit} bytes"
                ))
                .into_response()
            } else {
                super::problem::ApiError::BadRequest(format!("cannot read the request body: {err}"))
                    .into_response()
            }
        }
        Err(_) => {
            let mut response = super::problem::ApiError::RequestTimeout(format!(
                "the request body did not arrive within {timeout:?}"
            ))
            .into_response();
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            response
        }
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

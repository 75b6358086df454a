//! CORS: which other origins' web pages may call the API from a browser
//! (`[api] cors_origins`, none by default), and what they may send and read.

/// The origins allowed to call the API from a browser, as header values;
/// why not, when one is not an origin.
pub fn origins(origins: &[String]) -> Result<Vec<axum::http::HeaderValue>, String> {
    origins
        .iter()
        .map(|origin| {
            let bad = || {
                format!(
                    "[api] cors_origins: {origin:?} is not an origin (scheme://host[:port], \
                     no path; list each origin, '*' is not accepted)"
                )
            };
            let url = reqwest::Url::parse(origin).map_err(|_| bad())?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.path() == "/"
                && !origin.ends_with('/')
                && url.query().is_none()
                && url.username().is_empty();
            if !plain {
                return Err(bad());
            }
            axum::http::HeaderValue::from_str(origin).map_err(|_| bad())
        })
        .collect()
}

/// CORS for the configured origins: what a gateway's own page needs to
/// submit, follow and cancel jobs (bearer tokens, the request ids, event
/// streams), and the response headers it may read.
pub fn layer(origins: Vec<axum::http::HeaderValue>) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-correlation-id"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-correlation-id"),
            HeaderName::from_static("idempotent-replayed"),
            HeaderName::from_static("x-log-size"),
            HeaderName::from_static("x-log-start"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_origins_are_accepted() {
        let ok = ["https://gateway.example.org", "http://127.0.0.1:4100"];
        assert_eq!(
            super::origins(&ok.map(String::from)).map(|v| v.len()),
            Ok(2)
        );
        for bad in [
            "*",
            "gateway.example.org",
            "https://gateway.example.org/",
            "https://gateway.example.org/app",
            "ftp://gateway.example.org",
            "https://user@gateway.example.org",
        ] {
            let err = super::origins(&[bad.to_owned()]).expect_err(bad);
            assert!(err.contains("cors_origins"), "{err}");
        }
    }
}

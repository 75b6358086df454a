//! The dashboard: the bundle `web/` builds into `crates/horizon-server/ui/`,
//! embedded in the binary (so `cargo run` serves it with only the Rust
//! toolchain), at `/` and `/ui/…`. Every `/ui/` path that is not a file is
//! the page itself (its routes live in the URL's hash). The page calls the
//! API with the token the user signs in with, like any other client.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "ui/"]
struct Bundle;

/// What a page may load and talk to: this server only.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                      script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn serve(path: &str) -> Response {
    let (file, name) = match Bundle::get(path) {
        Some(file) => (file, path),
        None => match Bundle::get("index.html") {
            Some(file) => (file, "index.html"),
            None => return (StatusCode::NOT_FOUND, "the dashboard was not built").into_response(),
        },
    };
    let kind = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    // the page itself is checked every time; its assets are named by
    // their content, so they never change
    let cache = if name == "index.html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    // the embedded bytes as they are (no copy per request in a release build)
    let mut response = (StatusCode::OK, axum::body::Body::from(file.data)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `/` and `/ui/`: the page.
pub async fn page() -> Response {
    serve("index.html")
}

/// `/ui/<path>`: a file of the bundle, or the page.
pub async fn file(Path(path): Path<String>) -> Response {
    serve(&path)
}

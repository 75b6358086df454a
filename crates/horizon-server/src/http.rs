//! Serving the API over HTTP/1.1, with the protections `axum::serve` does
//! not give: a client that opens a connection and sends nothing (or sends
//! its headers byte by byte) is dropped after `[api] header_read_timeout_ms`;
//! at most `[api] max_connections` are served at once (more wait to be
//! accepted); the open file limit is raised to what the system allows, so thousands of
//! idle connections do not starve the others; and shutdown drains in-flight
//! requests for at most `[api] shutdown_grace_ms`.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;
use tracing::{info, warn};

/// How the HTTP side is tuned (from `[api]`).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

/// Raise the soft limit on open files to the hard limit (what Go and
/// systemd services do): each connection costs one.
pub fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => info!("open file limit raised from {soft} to {hard}"),
            Err(err) => warn!("cannot raise the open file limit from {soft}: {err}"),
        },
        Ok(_) => {}
        Err(err) => warn!("cannot read the open file limit: {err}"),
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then stop accepting,
/// let in-flight requests finish (at most `shutdown_grace`) and return.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // every connection task holds a receiver; `closed()` says all are gone
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_errors = 0u64;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut full = 0u64;
    loop {
        // a free slot first: past the limit, connections wait to be accepted
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                full += 1;
                if full.is_power_of_two() {
                    warn!(
                        "{} connections open ([api] max_connections): new ones wait ({full} time(s) so far)",
                        limits.max_connections
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // out of file descriptors, or the peer left before accept:
                    // log now and then, back off a little, go on
                    accept_errors += 1;
                    if accept_errors.is_power_of_two() {
                        warn!("accepting a connection failed ({accept_errors} so far): {err}");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
        });
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
                    // finish the request in flight, then close
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(open);
            drop(slot);
        });
    }
    drop(listener);
    drop(open_rx);
    let _ = stop_tx.send(true);
    info!("no longer accepting connections; finishing requests in flight");
    if tokio::time::timeout(limits.shutdown_grace, open_tx.closed())
        .await
        .is_err()
    {
        warn!(
            "requests still in flight after {:?}; stopping anyway",
            limits.shutdown_grace
        );
    }
}

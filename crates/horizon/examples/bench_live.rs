//! Live-delivery benchmark, run by `scripts/bench.sh live` against a
//! release `horizon serve` with the Kafka relay on:
//!
//! 1. `streams`: N Server-Sent Event clients on `/v1/events/stream`, then
//!    jobs submitted at a steady rate; each client's latency per event is
//!    its receive time minus the event's commit time (the envelope's
//!    `timestamp`, taken in the committing transaction), next to the
//!    server's own commit → Kafka acknowledgement histogram of the same run
//!    (`horizon_event_publish_latency_seconds`); and the server's resident
//!    memory per open stream.
//! 2. `webhooks`: deliveries per second to a local receiver (answering 204)
//!    for a burst of jobs, next to a bare HTTP client loop posting the same
//!    bodies to the same receiver with the same concurrency.
//!
//! ```text
//! bench_live streams URL TOKEN PID CLIENTS JOBS
//! bench_live webhooks URL TOKEN JOBS CONCURRENCY
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

async fn submit(http: &reqwest::Client, url: &str, token: &str, agent: &str) {
    let r = http
        .post(format!("{url}/v1/jobs"))
        .bearer_auth(token)
        .json(&json!({"agent": agent, "dataset_id": "bench", "parameters": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

/// The quantile of a Prometheus histogram, interpolated in its bucket.
fn histogram_quantile(metrics: &str, name: &str, q: f64) -> f64 {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix(&format!("{name}_bucket{{le=\"")) {
            let (le, count) = rest.split_once("\"} ").unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            buckets.push((le, count.trim().parse().unwrap()));
        }
    }
    let total = buckets.last().map(|b| b.1).unwrap_or(0.0);
    let want = total * q;
    let mut previous = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= want {
            if le.is_infinite() {
                return previous.0;
            }
            let share = if count > previous.1 {
                (want - previous.1) / (count - previous.1)
            } else {
                0.0
            };
            return previous.0 + (le - previous.0) * share;
        }
        previous = (le, count);
    }
    f64::NAN
}

async fn streams(url: String, token: String, pid: String, clients: usize, jobs: usize) {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let before = rss_kib(&pid);
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let response = http
            .get(format!("{url}/v1/events/stream"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (latencies, received) = (latencies.clone(), received.clone());
        tasks.push(tokio::spawn(async move {
            let mut events = response.bytes_stream().eventsource();
            let mut mine = Vec::new();
            while let Some(Ok(event)) = events.next().await {
                if event.data.is_empty() {
                    continue;
                }
                let at = now_ms();
                let envelope: Value = serde_json::from_str(&event.data).unwrap();
                let committed =
                    horizon_core::timestamp::parse(envelope["timestamp"].as_str().unwrap())
                        .unwrap();
                mine.push(at - committed.unix_timestamp_nanos() as f64 / 1e6);
                received.fetch_add(1, Ordering::Relaxed);
                if mine.len() >= 2 * jobs {
                    break;
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open = rss_kib(&pid);
    // two events a job (submitted, queued): 2 * jobs per client
    let start = Instant::now();
    for _ in 0..jobs {
        submit(&http, &url, &token, "Noop").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let want = (2 * jobs * clients) as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let mut all = latencies.lock().await.clone();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let name = "horizon_event_publish_latency_seconds";
    println!(
        "streams: {clients} clients, {jobs} jobs in {:.1} s, {} of {want} events received",
        start.elapsed().as_secs_f64(),
        all.len()
    );
    println!(
        "  commit → SSE client  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  commit → Kafka ack   p50 {:.1} ms  p99 {:.1} ms  (server histogram, interpolated)",
        histogram_quantile(&metrics, name, 0.5) * 1000.0,
        histogram_quantile(&metrics, name, 0.99) * 1000.0
    );
    println!(
        "  server memory: {} MiB before, {} MiB with {clients} streams open: {:.1} KiB per stream",
        before / 1024,
        open / 1024,
        (open.saturating_sub(before)) as f64 / clients as f64
    );
}

async fn webhooks(url: String, token: String, jobs: usize, concurrency: usize) {
    // the receiver: 204 to everything, counting
    let count = Arc::new(AtomicU64::new(0));
    let first: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let last: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let app = {
        let (count, first, last) = (count.clone(), first.clone(), last.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |_body: axum::body::Bytes| {
                let (count, first, last) = (count.clone(), first.clone(), last.clone());
                async move {
                    let now = Instant::now();
                    first.lock().await.get_or_insert(now);
                    *last.lock().await = Some(now);
                    count.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let sub: Value = http
        .post(format!("{url}/v1/subscriptions"))
        .bearer_auth(&token)
        .json(&json!({"url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["job.submitted", "job.queued"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sub["id"].is_string(), "{sub}");
    let want = (2 * jobs) as u64;
    for _ in 0..jobs {
        submit(&http, &url, &token, "Noop").await;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while count.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = count.load(Ordering::Relaxed);
    let span = match (*first.lock().await, *last.lock().await) {
        (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-3),
        _ => f64::NAN,
    };
    let rate = delivered as f64 / span;
    // the baseline: the same number of bodies posted by a bare client loop
    let body = json!({"type": "job.queued", "timestamp": "2026-12-07T00:00:00.000Z", "data": {"pad": "x".repeat(600)}}).to_string();
    count.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut loops = Vec::new();
    for _ in 0..concurrency {
        let (http, body, next) = (http.clone(), body.clone(), next.clone());
        let target = format!("http://127.0.0.1:{port}/hook");
        loops.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < want {
                http.post(&target)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    for l in loops {
        l.await.unwrap();
    }
    let bare = want as f64 / started.elapsed().as_secs_f64();
    println!(
        "webhooks: {delivered} of {want} deliveries in {span:.2} s: {rate:.0}/s; a bare client loop ({concurrency} at once): {bare:.0}/s; ratio {:.2}",
        rate / bare
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("streams") => {
            streams(
                args[2].clone(),
                args[3].clone(),
                args[4].clone(),
                args[5].parse().unwrap(),
                args[6].parse().unwrap(),
            )
            .await
        }
        Some("webhooks") => {
            webhooks(
                args[2].clone(),
                args[3].clone(),
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
            )
            .await
        }
        _ => eprintln!(
            "usage: bench_live streams URL TOKEN PID CLIENTS JOBS | webhooks URL TOKEN JOBS CONCURRENCY"
        ),
    }
}

//! Relay benchmark: throughput and commit→ack latency of the outbox relay,
//! next to a plain rdkafka producer sending the same messages to the same
//! broker in the same run. Needs a broker: `scripts/bench.sh` starts one.
//!
//!   HORIZON_BENCH_KAFKA_BROKERS (default 127.0.0.1:9092)
//!   HORIZON_BENCH_EVENTS        backlog size (default 20000)
//!   HORIZON_BENCH_RATE          steady-state events per second (default 500)
//!   HORIZON_BENCH_BATCH         the relay's batch size (default: the relay's default)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use horizon_core::BackendKind;
use horizon_kafka::{Headers, KafkaSettings, Relay, ensure_topics, record_headers};
use horizon_store::{CreateJobParams, SqliteStore, Store};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Map, json};
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn job(i: usize) -> CreateJobParams {
    let mut parameters = Map::new();
    parameters.insert("alpha".into(), json!(0.5));
    parameters.insert("iteration".into(), json!(i));
    CreateJobParams {
        id: Uuid::now_v7(),
        user_id: "bench".into(),
        agent: "AlphaCal".into(),
        dataset_id: format!("dataset-{i}"),
        parameters,
        backend: BackendKind::Local,
        resources: Default::default(),
        correlation_id: Uuid::now_v7().to_string(),
        created_at: OffsetDateTime::now_utc(),
        idempotency: None,
        audit: None,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Bench {
    brokers: String,
    dir: tempfile::TempDir,
}

impl Bench {
    async fn store(&self, name: &str) -> (Arc<dyn Store>, String) {
        let url = format!(
            "sqlite://{}",
            self.dir.path().join(format!("{name}.db")).display()
        );
        (Arc::new(SqliteStore::connect(&url).await.unwrap()), url)
    }

    fn settings(&self) -> KafkaSettings {
        let unique = Uuid::now_v7().simple().to_string();
        KafkaSettings {
            brokers: self.brokers.clone(),
            lifecycle_topic: format!("bench-lifecycle-{unique}"),
            metrics_topic: format!("bench-metrics-{unique}"),
            // created by the bench itself, so both sides start with the same work
            create_topics: false,
            batch_size: env_or("HORIZON_BENCH_BATCH", KafkaSettings::default().batch_size),
            ..KafkaSettings::default()
        }
    }
}

/// Latencies (ms) from commit to marked published, read from the store.
async fn commit_to_ack_ms(url: &str, after_position: i64) -> Vec<f64> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows: Vec<(f64,)> = sqlx::query_as(
        "SELECT (julianday(published_at) - julianday(created_at)) * 86400000.0 FROM events
         WHERE published_at IS NOT NULL AND position > ?",
    )
    .bind(after_position)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut ms: Vec<f64> = rows.into_iter().map(|(v,)| v).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

async fn wait_drained(store: &dyn Store) {
    // one indexed row, not a count: the check must not slow the relay down
    while !store.unpublished_events(0, 1).await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A relay on a store of its own that has delivered one warm-up event (the
/// first event written): producer id, metadata and connections in place.
async fn connected_relay(
    b: &Bench,
    name: &str,
) -> (
    Arc<dyn Store>,
    String,
    Arc<Notify>,
    tokio::task::JoinHandle<()>,
) {
    let (store, url) = b.store(name).await;
    let settings = b.settings();
    ensure_topics(&settings).await.unwrap();
    let wake = Arc::new(Notify::new());
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Relay::new(store.clone(), settings, wake.clone()).run(stop));
    store.create_job(job(usize::MAX)).await.unwrap();
    wake.notify_one();
    wait_drained(store.as_ref()).await;
    (store, url, wake, task)
}

/// Relay: a backlog of `n` committed events, drained by a relay that is
/// already connected (its start-up is measured apart, in `relay_first_ack`).
async fn relay_backlog(b: &Bench, n: usize) -> f64 {
    // the backlog is written to another database first, then copied in at once
    let (source, _) = b.store("backlog-source").await;
    for i in 0..n {
        source.create_job(job(i)).await.unwrap();
    }
    let (store, url, wake, task) = connected_relay(b, "backlog").await;

    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let source_path = b.dir.path().join("backlog-source.db");
    sqlx::query("ATTACH DATABASE ? AS src")
        .bind(source_path.display().to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
    sqlx::query("INSERT INTO jobs SELECT * FROM src.jobs")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
         SELECT event_id, job_id, stream, sequence, event_type, envelope, created_at FROM src.events ORDER BY position",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();

    let started = Instant::now();
    wake.notify_one();
    wait_drained(store.as_ref()).await;
    let elapsed = started.elapsed().as_secs_f64();
    task.abort();
    n as f64 / elapsed
}

/// Relay: from start to the first event acknowledged (connection, producer id).
async fn relay_first_ack(b: &Bench) -> f64 {
    let (store, _) = b.store("first-ack").await;
    store.create_job(job(0)).await.unwrap();
    let settings = b.settings();
    ensure_topics(&settings).await.unwrap();
    let started = Instant::now();
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Relay::new(store.clone(), settings, Arc::new(Notify::new())).run(stop));
    wait_drained(store.as_ref()).await;
    task.abort();
    started.elapsed().as_secs_f64() * 1000.0
}

/// Relay: events committed one by one at `rate`/s while it runs.
async fn relay_steady(b: &Bench, n: usize, rate: f64) -> Vec<f64> {
    let (store, url, wake, task) = connected_relay(b, "steady").await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    for i in 0..n {
        tick.tick().await;
        store.create_job(job(i)).await.unwrap();
        wake.notify_one();
    }
    wait_drained(store.as_ref()).await;
    task.abort();
    // the warm-up event was the first one written
    commit_to_ack_ms(&url, 1).await
}

/// The messages the relay would send, for the plain producer.
async fn messages(b: &Bench, n: usize) -> Vec<(String, String, Headers)> {
    let (store, _) = b.store(&format!("plain-{}", Uuid::now_v7().simple())).await;
    for i in 0..n {
        store.create_job(job(i)).await.unwrap();
    }
    store
        .unpublished_events(0, n as u32)
        .await
        .unwrap()
        .into_iter()
        .map(|o| {
            let headers = Headers::of(&o.event).unwrap();
            (o.event.job_id.to_string(), o.event.envelope, headers)
        })
        .collect()
}

fn plain_producer(settings: &KafkaSettings) -> FutureProducer {
    settings.producer_config().create().unwrap()
}

/// One acknowledged message, so the producer is connected and has its id.
async fn warm_up(
    producer: &FutureProducer,
    settings: &KafkaSettings,
    msg: &(String, String, Headers),
) {
    let (key, value, headers) = msg;
    let record = FutureRecord::to(&settings.lifecycle_topic)
        .key(key)
        .payload(value)
        .headers(record_headers(headers, &settings.source));
    producer
        .send_result(record)
        .map_err(|(e, _)| e)
        .unwrap()
        .await
        .unwrap()
        .map_err(|(e, _)| e)
        .unwrap();
}

/// Plain producer: the same `n` messages enqueued at once, all acknowledged.
async fn plain_backlog(b: &Bench, n: usize) -> f64 {
    let msgs = messages(b, n).await;
    let settings = b.settings();
    ensure_topics(&settings).await.unwrap();
    let producer = plain_producer(&settings);
    warm_up(&producer, &settings, &msgs[0]).await;
    let started = Instant::now();
    let mut futures = Vec::with_capacity(n);
    for (key, value, headers) in &msgs {
        let record = FutureRecord::to(&settings.lifecycle_topic)
            .key(key)
            .payload(value)
            .headers(record_headers(headers, &settings.source));
        futures.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for f in futures {
        f.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Plain producer: one message every 1/rate s, send→ack per message.
async fn plain_steady(b: &Bench, n: usize, rate: f64) -> Vec<f64> {
    let msgs = messages(b, n).await;
    let settings = b.settings();
    ensure_topics(&settings).await.unwrap();
    let producer = plain_producer(&settings);
    warm_up(&producer, &settings, &msgs[0]).await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut tasks = Vec::with_capacity(n);
    for (key, value, headers) in &msgs {
        tick.tick().await;
        let record = FutureRecord::to(&settings.lifecycle_topic)
            .key(key)
            .payload(value)
            .headers(record_headers(headers, &settings.source));
        let sent = Instant::now();
        let future = producer.send_result(record).map_err(|(e, _)| e).unwrap();
        tasks.push(tokio::spawn(async move {
            future.await.unwrap().map_err(|(e, _)| e).unwrap();
            sent.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut ms = Vec::with_capacity(n);
    for t in tasks {
        ms.push(t.await.unwrap());
    }
    ms.sort_by(f64::total_cmp);
    ms
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists; nothing to list
    }
    let brokers =
        std::env::var("HORIZON_BENCH_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let n: usize = env_or("HORIZON_BENCH_EVENTS", 20_000);
    let rate: f64 = env_or("HORIZON_BENCH_RATE", 500.0);
    let steady_n = (rate * 4.0) as usize;
    let dir = tempfile::Builder::new()
        .prefix("horizon-bench")
        .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .unwrap();
    let b = Bench { brokers, dir };
    // the broker may still be starting: wait until it answers an admin request
    for attempt in 1.. {
        match ensure_topics(&b.settings()).await {
            Ok(()) => break,
            Err(err) if attempt < 10 => eprintln!("broker not ready ({err}); retrying"),
            Err(err) => panic!("broker not ready: {err}"),
        }
    }
    eprintln!(
        "relay benchmark against {} ({n} backlog events; {steady_n} events at {rate}/s)",
        b.brokers
    );

    let first_ack = relay_first_ack(&b).await;
    let relay_tput = relay_backlog(&b, n).await;
    let plain_tput = plain_backlog(&b, n).await;
    let relay_lat = relay_steady(&b, steady_n, rate).await;
    let plain_lat = plain_steady(&b, steady_n, rate).await;

    println!(
        "| | throughput, backlog of {n} (events/s) | latency at {rate}/s: p50 | p99 | max (ms) |"
    );
    println!("|---|---|---|---|---|");
    for (name, tput, lat) in [
        (
            "outbox relay (commit → Kafka ack → marked published)",
            relay_tput,
            &relay_lat,
        ),
        (
            "plain rdkafka FutureProducer (send → ack)",
            plain_tput,
            &plain_lat,
        ),
    ] {
        println!(
            "| {name} | {tput:.0} | {:.1} | {:.1} | {:.1} |",
            percentile(lat, 0.5),
            percentile(lat, 0.99),
            percentile(lat, 1.0)
        );
    }
    println!();
    println!("relay start-up to first acknowledged event: {first_ack:.0} ms");
}

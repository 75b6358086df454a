//! Relay benchmark: throughput and latency of the outbox relay, exactly once
//! (transactional) and at least once (idempotent), next to a plain rdkafka
//! producer sending the same messages to the same broker in the same run.
//! Needs a broker: `scripts/bench.sh` starts one.
//!
//! Latency, relay: from the event's commit to its arrival at a
//! `read_committed` consumer (both relays). Plain producer: send → ack.
//!
//!   HORIZON_BENCH_KAFKA_BROKERS (default 127.0.0.1:9092)
//!   HORIZON_BENCH_EVENTS        backlog size (default 20000)
//!   HORIZON_BENCH_RATES         steady-state events per second (default 500,2000)
//!   HORIZON_BENCH_BATCH         the relay's batch size (default: the relay's default)
//!   HORIZON_BENCH_TRANSACTION   exactly once: events per transaction at most (default: the relay's)
//!   HORIZON_BENCH_MODES         the relays measured, of eos, eos-page (one store page per
//!                               transaction, as before session 15), alo (default eos,alo)
//!   HORIZON_BENCH_ROUNDS        measured rounds after one warm-up round (default 3)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use horizon_core::BackendKind;
use horizon_kafka::{Headers, KafkaSettings, Relay, ensure_topics, record_headers};
use horizon_store::{CreateJobParams, SqliteStore, Store};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
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
        account: None,
        traceparent: None,
        cloned_from: None,
        retry: None,
        depends_on: Vec::new(),
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
    exactly_once: bool,
    /// A transaction carries one store page at most (the relay before
    /// `transaction_events`).
    one_page: bool,
}

impl Bench {
    /// A store of its own (every phase and mode gets a new database).
    async fn store(&self, name: &str) -> (Arc<dyn Store>, String) {
        let path = self.db_path(name);
        let url = format!("sqlite://{}", path.display());
        (Arc::new(SqliteStore::connect(&url).await.unwrap()), url)
    }

    fn db_path(&self, name: &str) -> std::path::PathBuf {
        self.dir
            .path()
            .join(format!("{name}-{}.db", self.exactly_once))
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
            transaction_events: if self.one_page {
                0 // (at least one page)
            } else {
                env_or(
                    "HORIZON_BENCH_TRANSACTION",
                    KafkaSettings::default().transaction_events,
                )
            },
            exactly_once: self.exactly_once,
            transactional_id: format!("bench-relay-{unique}"),
            position_topic: format!("bench-positions-{unique}"),
            ..KafkaSettings::default()
        }
    }
}

/// A `read_committed` consumer of `topic`, in a thread of its own: for
/// every record, when it arrived (wall clock), by `ce_id`, until `n` came.
/// It is assigned every partition (no group to join) and answers `ready`
/// once it has read the topic's first record (the warm-up event): records
/// sent while a consumer still joins its group would be measured as late.
fn arrivals(
    brokers: &str,
    topic: &str,
    n: usize,
) -> (
    std::thread::JoinHandle<std::collections::HashMap<String, OffsetDateTime>>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-{}", Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "5")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut partitions = rdkafka::TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        partitions
            .add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&partitions).unwrap();
    let (ready, ready_rx) = tokio::sync::oneshot::channel();
    let handle = std::thread::spawn(move || {
        let mut ready = Some(ready);
        let mut seen = std::collections::HashMap::with_capacity(n);
        let deadline = Instant::now() + Duration::from_secs(300);
        while seen.len() < n && Instant::now() < deadline {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let at = OffsetDateTime::now_utc();
            if let Some(id) = message.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == "ce_id")
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            }) {
                seen.entry(id).or_insert(at);
            }
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
        }
        seen
    });
    (handle, ready_rx)
}

/// Latencies (ms) from each event's commit (its `created_at`, stamped just
/// before the commit) to its arrival at the consumer.
async fn commit_to_visible_ms(
    url: &str,
    after_position: i64,
    seen: &std::collections::HashMap<String, OffsetDateTime>,
) -> Vec<f64> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT event_id, created_at FROM events WHERE position > ?")
            .bind(after_position)
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut ms = Vec::with_capacity(rows.len());
    for (id, created) in rows {
        let created =
            OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339)
                .unwrap();
        let at = seen
            .get(&id)
            .unwrap_or_else(|| panic!("event {id} never reached the consumer"));
        ms.push((*at - created).as_seconds_f64() * 1000.0);
    }
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
    String,
) {
    let (store, url) = b
        .store(&format!("{name}-{}", Uuid::now_v7().simple()))
        .await;
    let settings = b.settings();
    let topic = settings.lifecycle_topic.clone();
    ensure_topics(&settings).await.unwrap();
    let wake = Arc::new(Notify::new());
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Relay::new(store.clone(), settings, wake.clone()).run(stop));
    store.create_job(job(usize::MAX)).await.unwrap();
    wake.notify_one();
    wait_drained(store.as_ref()).await;
    (store, url, wake, task, topic)
}

/// Relay: a backlog of `n` committed events, drained by a relay that is
/// already connected (its start-up is measured apart, in `relay_first_ack`).
async fn relay_backlog(b: &Bench, n: usize) -> f64 {
    // the backlog is written to another database first, then copied in at once
    let source_name = format!("backlog-source-{}", Uuid::now_v7().simple());
    let (source, _) = b.store(&source_name).await;
    for i in 0..n {
        source.create_job(job(i)).await.unwrap();
    }
    let (store, url, wake, task, _) = connected_relay(b, "backlog").await;

    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let source_path = b.db_path(&source_name);
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
    let (store, _) = b
        .store(&format!("first-ack-{}", Uuid::now_v7().simple()))
        .await;
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

/// Relay: events committed one by one at `rate`/s while it runs; from
/// commit to a `read_committed` consumer.
async fn relay_steady(b: &Bench, n: usize, rate: f64) -> Vec<f64> {
    let (store, url, wake, task, topic) = connected_relay(b, "steady").await;
    let (consumer, ready) = arrivals(&b.brokers, &topic, n + 1);
    ready.await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    for i in 0..n {
        tick.tick().await;
        store.create_job(job(i)).await.unwrap();
        wake.notify_one();
    }
    wait_drained(store.as_ref()).await;
    let seen = tokio::task::spawn_blocking(move || consumer.join().unwrap())
        .await
        .unwrap();
    task.abort();
    // the warm-up event was the first one written
    commit_to_visible_ms(&url, 1, &seen).await
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
    let rates: Vec<f64> = std::env::var("HORIZON_BENCH_RATES")
        .unwrap_or_else(|_| "500,2000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let dir = tempfile::Builder::new()
        .prefix("horizon-bench")
        .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .unwrap();
    let mut b = Bench {
        brokers,
        dir,
        exactly_once: true,
        one_page: false,
    };
    // the broker may still be starting: wait until it answers an admin request
    for attempt in 1.. {
        match ensure_topics(&b.settings()).await {
            Ok(()) => break,
            Err(err) if attempt < 10 => eprintln!("broker not ready ({err}); retrying"),
            Err(err) => panic!("broker not ready: {err}"),
        }
    }
    eprintln!(
        "relay benchmark against {} ({n} backlog events; 4 s of events at each of {rates:?}/s)",
        b.brokers
    );
    // A fresh broker is slow at first: on a new broker the first
    // exactly-once round measured 4–6× slower than the next ones (not its
    // heap: the same with 1 GiB and nine collections). One round warms it
    // up and is not printed; then `HORIZON_BENCH_ROUNDS` rounds, each with
    // its own plain-producer baseline.
    let rounds: usize = env_or("HORIZON_BENCH_ROUNDS", 3);
    round(&mut b, n, &rates).await;
    for r in 1..=rounds {
        println!("\nround {r} of {rounds}");
        print_round(&round(&mut b, n, &rates).await, n, &rates);
    }
}

/// One row: its name, backlog events/s, latencies per rate, start (ms).
type Row = (String, f64, Vec<Vec<f64>>, Option<f64>);

async fn round(b: &mut Bench, n: usize, rates: &[f64]) -> Vec<Row> {
    let mut rows = Vec::new();
    let modes = std::env::var("HORIZON_BENCH_MODES").unwrap_or_else(|_| "eos,alo".into());
    for mode in modes.split(',').map(str::trim) {
        let (exactly_once, one_page, name) = match mode {
            "eos" => (
                true,
                false,
                "relay, exactly once (transactions; commit → read_committed consumer)",
            ),
            "eos-page" => (
                true,
                true,
                "relay, exactly once, one store page per transaction (before session 15)",
            ),
            "alo" => (
                false,
                false,
                "relay, at least once (idempotent; commit → read_committed consumer)",
            ),
            other => panic!("HORIZON_BENCH_MODES: unknown mode {other:?} (eos, eos-page, alo)"),
        };
        b.exactly_once = exactly_once;
        b.one_page = one_page;
        let first_ack = relay_first_ack(b).await;
        let tput = relay_backlog(b, n).await;
        let mut lats = Vec::new();
        for rate in rates {
            lats.push(relay_steady(b, (rate * 4.0) as usize, *rate).await);
        }
        rows.push((name.to_owned(), tput, lats, Some(first_ack)));
    }
    // (the plain producer: idempotent, not transactional)
    b.exactly_once = false;
    b.one_page = false;
    let tput = plain_backlog(b, n).await;
    let mut lats = Vec::new();
    for rate in rates {
        lats.push(plain_steady(b, (rate * 4.0) as usize, *rate).await);
    }
    rows.push((
        "plain rdkafka FutureProducer, idempotent (send → ack)".to_owned(),
        tput,
        lats,
        None,
    ));
    rows
}

fn print_round(rows: &[Row], n: usize, rates: &[f64]) {
    let plain = rows.last().map_or(f64::NAN, |r| r.1);
    print!("| | backlog of {n} (events/s) | × plain |");
    for rate in rates {
        print!(" {rate}/s p50 | p99 (ms) |");
    }
    println!(" start → first event (ms) |");
    print!("|---|---|---|");
    for _ in rates {
        print!("---|---|");
    }
    println!("---|");
    for (name, tput, lats, first) in rows {
        print!("| {name} | {tput:.0} | {:.2} |", tput / plain);
        for lat in lats {
            print!(
                " {:.1} | {:.1} |",
                percentile(lat, 0.5),
                percentile(lat, 0.99)
            );
        }
        println!(
            " {} |",
            first.map_or_else(|| "–".to_owned(), |f| format!("{f:.0}"))
        );
    }
}

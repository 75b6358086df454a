//! The store's write path against its baselines, in one run:
//!
//! (a) a bare loop: the job row and its event in one SQLite transaction per
//!     submission (rusqlite, WAL, `synchronous=FULL`, the store's own schema
//!     and SQL);
//! (b) the same rows, 100 submissions per transaction;
//! (c) `Store::create_job` one at a time (one writer request per commit);
//! (d) `Store::create_job` with 16 (and 64) in flight: group commit.
//!
//! `HORIZON_BENCH_JOBS` (default 3000) submissions each; the database lives
//! in `HORIZON_BENCH_DIR` (default: the system's temp directory).
//! `HORIZON_BENCH_ONLY=bare100`: (b) alone (the sweep benchmark's baseline).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use horizon_core::BackendKind;
use horizon_store::{CreateJobParams, SqliteStore, Store};
use serde_json::{Map, json};
use time::OffsetDateTime;
use uuid::Uuid;

fn jobs() -> usize {
    std::env::var("HORIZON_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn params(i: usize) -> CreateJobParams {
    let mut parameters = Map::new();
    parameters.insert("i".into(), json!(i));
    parameters.insert("alpha".into(), json!(0.3));
    CreateJobParams {
        id: Uuid::now_v7(),
        user_id: "bench".into(),
        agent: "Noop".into(),
        dataset_id: format!("bench-{i}"),
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

async fn fresh(name: &str) -> (tempfile::TempDir, String) {
    let base = std::env::var("HORIZON_BENCH_DIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let dir = tempfile::tempdir_in(base).unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join(format!("{name}.db")).display()
    );
    // the store creates the schema
    SqliteStore::connect(&url).await.unwrap();
    (dir, url)
}

/// (a) and (b): raw inserts, `per_tx` submissions per transaction, with
/// rusqlite (the driver the store itself uses) and cached statements.
async fn bare(per_tx: usize) -> f64 {
    let (dir, _url) = fresh("bare").await;
    let path = dir.path().join("bare.db");
    let n = jobs();
    tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        let envelope = "x".repeat(600);
        let started = Instant::now();
        let mut i = 0;
        while i < n {
            let tx = conn.transaction().unwrap();
            for _ in 0..per_tx.min(n - i) {
                let p = params(i);
                let id = p.id.to_string();
                let now = horizon_core::timestamp::format(p.created_at);
                tx.prepare_cached(
                    "INSERT INTO jobs (id, user_id, agent, dataset_id, parameters, backend, status,
                                       correlation_id, created_at, updated_at, lifecycle_sequence)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                )
                .unwrap()
                .execute(rusqlite::params![
                    &id,
                    &p.user_id,
                    &p.agent,
                    &p.dataset_id,
                    serde_json::to_string(&p.parameters).unwrap(),
                    "local",
                    "SUBMITTED",
                    &p.correlation_id,
                    &now,
                    &now,
                ])
                .unwrap();
                tx.prepare_cached(
                    "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
                     VALUES (?, ?, 'lifecycle', 1, 'job.submitted', ?, ?)",
                )
                .unwrap()
                .execute(rusqlite::params![Uuid::now_v7().to_string(), &id, &envelope, &now])
                .unwrap();
                i += 1;
            }
            tx.commit().unwrap();
        }
        n as f64 / started.elapsed().as_secs_f64()
    })
    .await
    .unwrap()
}

/// (c) and (d): through the store, `in_flight` at once.
async fn store(in_flight: usize) -> (f64, f64) {
    let (_dir, url) = fresh("store").await;
    let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
    let n = jobs();
    let commits_before = store.commits();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    store.create_job(params(i)).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let commits = (store.commits() - commits_before) as f64;
    (rate, n as f64 / commits)
}

#[tokio::main]
async fn main() {
    let n = jobs();
    // only the 100-per-transaction baseline (scripts/bench.sh sweep)
    if std::env::var("HORIZON_BENCH_ONLY").as_deref() == Ok("bare100") {
        let b = bare(100).await;
        println!(
            "bare loop, 100 per transaction: {n} in {:.3} s ({b:.0} /s)",
            n as f64 / b
        );
        return;
    }
    println!("store write path, {n} submissions each (job row + job.submitted event)");
    let a = bare(1).await;
    println!("(a) bare loop, 1 per transaction:   {a:>9.0} /s  (baseline)");
    let b = bare(100).await;
    println!(
        "(b) bare loop, 100 per transaction: {b:>9.0} /s  ({:.1}x a)",
        b / a
    );
    let (c, _) = store(1).await;
    println!(
        "(c) Store::create_job, 1 in flight: {c:>9.0} /s  ({:.2}x a)",
        c / a
    );
    for in_flight in [16, 64] {
        let (d, per_commit) = store(in_flight).await;
        println!(
            "(d) Store::create_job, {in_flight:>2} in flight:{d:>9.0} /s  ({:.2}x a; {per_commit:.1} writes per commit)",
            d / a
        );
    }
}

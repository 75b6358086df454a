//! Group commit: every write of the SQLite store goes through one writer task
//! that gathers what callers sent while it was busy and commits it in one
//! transaction — one fsync for the whole batch.
//!
//! - A lone request commits at once: the writer takes whatever is waiting
//!   (`recv_many`), never waits for more.
//! - One request that is refused (an illegal transition, an unknown job, a
//!   reused idempotency key) fails alone and the others of its batch commit:
//!   every operation checks before it writes. A database error in the middle
//!   of a request rolls the batch back and each request runs again alone.
//! - A caller hears back only after its batch's COMMIT returned, so "done"
//!   means durable (WAL, `synchronous=FULL`). If the COMMIT itself fails,
//!   every request of the batch hears that error and nothing of it is kept.
//! - Requests run one after another on the one connection, in arrival order,
//!   each seeing the writes of those before it: compare-and-set, per-job
//!   sequences and idempotency keys hold inside a batch exactly as across
//!   batches (two requests with the same key in one batch make one job).
//!
//! The PostgreSQL store can do the same with one writer per process;
//! nothing here is SQLite-specific but the SQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use horizon_core::{Command, MetricsSample};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};
use uuid::Uuid;

use super::events;
use crate::StoreError;
use crate::params::{Applied, CreateJobParams, Created, StoredEvent};

/// Requests committed together, at most.
const MAX_BATCH: usize = 1024;
/// Requests waiting for the writer, at most, before senders wait.
const QUEUE: usize = 8192;

#[derive(Clone)]
pub(super) enum Op {
    CreateJob(CreateJobParams),
    Apply(Uuid, Command),
    RecordMetrics(Uuid, MetricsSample),
    MarkPublished(Vec<i64>),
    Park(Vec<i64>, String),
    Unpark(Option<Uuid>),
    CreateToken {
        hash: String,
        user: String,
        admin: bool,
    },
}

pub(super) enum Done {
    Created(Box<Created>),
    Applied(Box<Applied>),
    Event(StoredEvent),
    Count(u64),
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Request>,
    /// Batches committed (or attempted) so far.
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Start the writer task on its own connection.
    pub(super) fn spawn(conn: SqliteConnection) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(conn, rx, commits.clone()));
        Writer { tx, commits }
    }

    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Send one write and wait until its batch is durable.
    pub(super) async fn write(&self, op: Op) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { op, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Request>, commits: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&mut conn, std::mem::take(&mut batch)).await;
        commits.fetch_add(1, Ordering::Relaxed);
    }
}

async fn commit(conn: &mut SqliteConnection, requests: Vec<Request>) {
    // Fast path: the whole batch in one transaction, no savepoints. Every
    // operation makes its checks (transition, compare-and-set, idempotency,
    // job ended) before its first write, so a refused request has written
    // nothing and the others go on. Only a database error in the middle of
    // a request can leave part of it behind: then the batch is rolled back
    // and each request runs again in a transaction of its own.
    let ops: Vec<Op> = requests.iter().map(|r| r.op.clone()).collect();
    match batch(conn, ops).await {
        Ok(results) => {
            for (request, result) in requests.into_iter().zip(results) {
                let _ = request.reply.send(result);
            }
        }
        Err(err) if requests.len() > 1 => {
            warn!(
                "a batch of {} writes failed ({err}); retrying each alone",
                requests.len()
            );
            for request in requests {
                let result = match batch(conn, vec![request.op]).await {
                    Ok(mut results) => results
                        .pop()
                        .unwrap_or_else(|| Err(StoreError::Unavailable("no result".into()))),
                    Err(err) => Err(err),
                };
                let _ = request.reply.send(result);
            }
        }
        Err(err) => {
            // a single request: its own error
            if let Some(request) = requests.into_iter().next() {
                let _ = request.reply.send(Err(err));
            }
        }
    }
}

/// Run `ops` in one transaction and commit it. `Err` when the batch as a
/// whole failed (begin, commit, or a database error inside a request), in
/// which case nothing of it was kept.
async fn batch(
    conn: &mut SqliteConnection,
    ops: Vec<Op>,
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let mut tx = conn.begin().await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match run_op(&mut tx, op).await {
            Err(err) if !is_refusal(&err) => {
                // may have written part of itself: keep nothing of the batch
                if let Err(rollback) = tx.rollback().await {
                    error!("rolling back a failed batch failed: {rollback}");
                }
                return Err(err);
            }
            other => results.push(other),
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// Refusals are decided before an operation writes anything.
fn is_refusal(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::NotFound(_)
            | StoreError::Transition(_)
            | StoreError::Conflict(_)
            | StoreError::IdempotencyMismatch { .. }
            | StoreError::Ended(_)
            | StoreError::UnknownEvent { .. }
    )
}

async fn run_op(conn: &mut SqliteConnection, op: Op) -> Result<Done, StoreError> {
    match op {
        Op::CreateJob(params) => events::create_job(conn, params)
            .await
            .map(|c| Done::Created(Box::new(c))),
        Op::Apply(id, command) => events::apply(conn, id, command)
            .await
            .map(|a| Done::Applied(Box::new(a))),
        Op::RecordMetrics(id, sample) => events::record_metrics(conn, id, sample)
            .await
            .map(Done::Event),
        Op::MarkPublished(positions) => events::mark_published(conn, &positions)
            .await
            .map(|()| Done::Count(0)),
        Op::Park(positions, reason) => events::park(conn, &positions, &reason)
            .await
            .map(|()| Done::Count(0)),
        Op::Unpark(job) => events::unpark(conn, job).await.map(Done::Count),
        Op::CreateToken { hash, user, admin } => events::create_token(conn, &hash, &user, admin)
            .await
            .map(|()| Done::Count(1)),
    }
}

//! Group commit: every write of the SQLite store goes through one writer task
//! that gathers what callers sent while it was busy and commits it in one
//! transaction — one fsync for the whole batch.
//!
//! - A lone request commits at once: the writer takes whatever is waiting
//!   (`recv_many`), never waits for more.
//! - Each request runs inside its own savepoint: one that fails (an illegal
//!   transition, an unknown job, a constraint) is rolled back alone and the
//!   others of its batch commit.
//! - A caller hears back only after its batch's COMMIT returned, so "done"
//!   means durable (WAL, `synchronous=FULL`). If the COMMIT itself fails,
//!   every request of the batch hears that error and nothing of it is kept.
//! - Requests run one after another on the one connection, in arrival order,
//!   each seeing the writes of those before it: compare-and-set, per-job
//!   sequences and idempotency keys hold inside a batch exactly as across
//!   batches (two requests with the same key in one batch make one job).
//!
//! The PostgreSQL store can do the same with one writer per process and
//! `SAVEPOINT`s; nothing here is SQLite-specific but the SQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use horizon_core::{Command, MetricsSample};
use sqlx::{Connection, Sqlite, SqliteConnection, Transaction};
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
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(err) => {
            warn!("cannot begin a write transaction: {err}");
            let message = err.to_string();
            for request in requests {
                let _ = request
                    .reply
                    .send(Err(StoreError::Unavailable(message.clone())));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(requests.len());
    let mut broken = None;
    for request in requests {
        if broken.is_some() {
            results.push((request.reply, Err(StoreError::Unavailable(String::new()))));
            continue;
        }
        match item(&mut tx, request.op).await {
            Ok(result) => results.push((request.reply, result)),
            Err(err) => {
                // a savepoint could not be released or rolled back: nothing
                // of this batch can be trusted, so none of it is committed
                broken = Some(err.to_string());
                results.push((request.reply, Err(StoreError::Unavailable(String::new()))));
            }
        }
    }
    if let Some(reason) = broken {
        error!("a write batch of {} was abandoned: {reason}", results.len());
        if let Err(err) = tx.rollback().await {
            error!("rolling back an abandoned batch failed: {err}");
        }
        for (reply, _) in results {
            let _ = reply.send(Err(StoreError::Unavailable(reason.clone())));
        }
        return;
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, result) in results {
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            error!(
                "committing a batch of {} writes failed: {err}",
                results.len()
            );
            let message = err.to_string();
            for (reply, _) in results {
                let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
            }
        }
    }
}

/// One request in its own savepoint. The outer error means the savepoint
/// itself failed, and with it the batch.
async fn item(
    tx: &mut Transaction<'_, Sqlite>,
    op: Op,
) -> Result<Result<Done, StoreError>, sqlx::Error> {
    let mut savepoint = tx.begin().await?;
    let result = match op {
        Op::CreateJob(params) => events::create_job(&mut savepoint, params)
            .await
            .map(|c| Done::Created(Box::new(c))),
        Op::Apply(id, command) => events::apply(&mut savepoint, id, command)
            .await
            .map(|a| Done::Applied(Box::new(a))),
        Op::RecordMetrics(id, sample) => events::record_metrics(&mut savepoint, id, sample)
            .await
            .map(Done::Event),
        Op::MarkPublished(positions) => events::mark_published(&mut savepoint, &positions)
            .await
            .map(|()| Done::Count(0)),
        Op::Park(positions, reason) => events::park(&mut savepoint, &positions, &reason)
            .await
            .map(|()| Done::Count(0)),
        Op::Unpark(job) => events::unpark(&mut savepoint, job).await.map(Done::Count),
        Op::CreateToken { hash, user, admin } => {
            events::create_token(&mut savepoint, &hash, &user, admin)
                .await
                .map(|()| Done::Count(1))
        }
    };
    match result {
        Ok(done) => {
            savepoint.commit().await?;
            Ok(Ok(done))
        }
        Err(err) => {
            savepoint.rollback().await?;
            Ok(Err(err))
        }
    }
}

//! Group commit: every write of a store goes through one writer that
//! gathers what callers sent while it was busy and commits it in one
//! transaction — one fsync for the whole batch.
//!
//! - A lone request commits at once: the writer takes whatever is waiting,
//!   never waits for more.
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
//! Two runners share the gathering, the answers and the fallback (`settle`,
//! `answer_alone`): PostgreSQL's is a tokio task over sqlx, an `Engine`
//! supplying the SQL of each operation and a step before each batch;
//! SQLite's is an OS thread over rusqlite (`spawn_blocking`), handed a
//! function that runs a whole batch synchronously.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use horizon_core::{Command, MetricsSample};
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};
use uuid::Uuid;

use crate::StoreError;
use crate::params::{Applied, CreateJobParams, Created, StoredEvent};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A database's side of the writer.
pub(crate) trait Engine: Send + Sync + 'static {
    type Db: sqlx::Database<Connection = Self::Conn>;
    type Conn: Connection<Database = Self::Db>;

    /// Run one operation inside the batch's transaction.
    fn run_op(conn: &mut Self::Conn, op: Op) -> BoxFuture<'_, Result<Done, StoreError>>;

    /// After a batch that wrote events committed (and not for a failed
    /// one): PostgreSQL tells the other processes.
    fn after_commit(_conn: &mut Self::Conn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    /// First thing in a batch's transaction.
    fn before_batch<'a>(
        _conn: &'a mut Self::Conn,
        _ops: &'a [Op],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// How the writer (re)opens its connection.
pub(crate) type Connect<C> =
    Arc<dyn Fn() -> BoxFuture<'static, Result<C, StoreError>> + Send + Sync>;

/// Longest wait for a new connection; past it the batch is answered 503.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection idle for longer is pinged before its next batch.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Requests committed together, at most.
const MAX_BATCH: usize = 1024;
/// Requests waiting for the writer, at most, before senders wait.
const QUEUE: usize = 8192;

#[derive(Clone)]
pub(crate) enum Op {
    CreateJob(Box<CreateJobParams>),
    Apply(Uuid, Command, Option<crate::Fence>),
    RecordMetrics(Uuid, MetricsSample),
    MarkPublished(Vec<i64>),
    MarkPublishedThrough(i64),
    Park(Vec<i64>, String),
    Unpark(Option<Uuid>),
    /// A job's dependencies are met, or handed to its scheduler (the
    /// dependency given): it may be handed over.
    StopWaiting(Uuid, Option<String>),
    CreateToken {
        hash: String,
        user: String,
        admin: bool,
        expires_at: Option<time::OffsetDateTime>,
    },
    RevokeToken(String),
    Audit(Box<horizon_core::AuditRecord>),
    /// The process about to hand the jobs over (it must own them), and the jobs.
    MarkHandingOver(Uuid, Vec<(Uuid, i64)>),
    /// Retention: ended jobs finished before, published only, at most.
    PruneJobs(time::OffsetDateTime, bool, u32),
    /// Retention: audit records older than, published only, at most.
    PruneAudit(time::OffsetDateTime, bool, u32),
    Webhook(Box<crate::webhooks::WebhookOp>),
    /// A sweep and all its jobs.
    CreateSweep(Box<crate::params::CreateSweepParams>),
    /// Release gated jobs, complete ended sweeps.
    TendSweeps,
}

pub(crate) enum Done {
    Created(Box<Created>),
    Applied(Box<Applied>),
    Event(StoredEvent),
    Count(u64),
    Ids(Vec<Uuid>),
    Due(Vec<crate::webhooks::DueDelivery>),
    SweepCreated(Box<crate::params::SweepCreated>),
    Tended(crate::params::SweepsTended),
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Request>,
    /// Batches committed (or attempted) so far.
    commits: Arc<AtomicU64>,
    /// Rung after each batch that wrote events (see `ring_on_commit`).
    bell: Bell,
}

/// The bell a writer rings after a batch that wrote events, once set.
type Bell = Arc<std::sync::OnceLock<Arc<tokio::sync::Notify>>>;

impl Op {
    /// Whether the relay has something new to read once it commits.
    fn rings(&self) -> bool {
        matches!(
            self,
            Op::CreateJob(_)
                | Op::Apply(..)
                | Op::RecordMetrics(..)
                | Op::Audit(_)
                | Op::Unpark(_)
                | Op::CreateSweep(_)
        )
    }
}

/// Ring `bell` (if set) when any of `requests` wrote events.
fn rings(requests: &[Request]) -> bool {
    requests.iter().any(|r| r.op.rings())
}

fn ring(bell: &Bell) {
    if let Some(bell) = bell.get() {
        bell.notify_one();
    }
}

impl Writer {
    /// Start the writer task on its own connection; `connect` opens a new
    /// one after the database went away.
    pub(crate) fn spawn<E: Engine>(conn: E::Conn, connect: Connect<E::Conn>) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let bell = Bell::default();
        tokio::spawn(run::<E>(conn, connect, rx, commits.clone(), bell.clone()));
        Writer { tx, commits, bell }
    }

    /// Ring `bell` after every batch that wrote events, from now on (the
    /// relay then publishes within milliseconds instead of at its next
    /// poll). Set once.
    pub(crate) fn ring_on_commit(&self, bell: Arc<tokio::sync::Notify>) {
        let _ = self.bell.set(bell);
    }

    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// About to hand `jobs` over (see `Store::mark_handing_over`): the ones
    /// the mark took.
    /// Retention: ended jobs finished before `before` (see `Store::prune_jobs`).
    pub(crate) async fn prune_jobs(
        &self,
        before: time::OffsetDateTime,
        published_only: bool,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        match self
            .write(Op::PruneJobs(before, published_only, limit))
            .await?
        {
            Done::Ids(ids) => Ok(ids),
            _ => Err(wrong_kind()),
        }
    }

    /// Retention: audit records older than `before` (see `Store::prune_audit`).
    pub(crate) async fn prune_audit(
        &self,
        before: time::OffsetDateTime,
        published_only: bool,
        limit: u32,
    ) -> Result<u64, StoreError> {
        match self
            .write(Op::PruneAudit(before, published_only, limit))
            .await?
        {
            Done::Count(n) => Ok(n),
            _ => Err(wrong_kind()),
        }
    }

    pub(crate) async fn mark_handing_over(
        &self,
        process: Uuid,
        jobs: &[(Uuid, i64)],
    ) -> Result<Vec<Uuid>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .write(Op::MarkHandingOver(process, jobs.to_vec()))
            .await?
        {
            Done::Ids(marked) => Ok(marked),
            _ => Err(wrong_kind()),
        }
    }

    /// Send one write and wait until its batch is durable.
    pub(crate) async fn write(&self, op: Op) -> Result<Done, StoreError> {
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

async fn run<E: Engine>(
    conn: E::Conn,
    connect: Connect<E::Conn>,
    mut rx: mpsc::Receiver<Request>,
    commits: Arc<AtomicU64>,
    bell: Bell,
) {
    let mut conn = Some(conn);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_used = std::time::Instant::now();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let requests = std::mem::take(&mut batch);
        // a connection that sat idle may have died meanwhile (the database
        // restarted, a proxy cut it): check before trusting it with a batch,
        // so the first write after an outage does not fail for nothing.
        // Under load batches follow each other and this costs nothing.
        if last_used.elapsed() > IDLE_CHECK
            && let Some(current) = conn.as_mut()
            && current.ping().await.is_err()
        {
            conn = None;
        }
        last_used = std::time::Instant::now();
        // after the database went away: a new connection, or every request
        // of this batch hears "unavailable" (and the next batch tries again)
        if conn.is_none() {
            match tokio::time::timeout(CONNECT_TIMEOUT, connect()).await {
                Ok(Ok(new)) => {
                    tracing::info!("the database writer is connected again");
                    conn = Some(new);
                }
                Ok(Err(err)) => {
                    refuse_all(requests, &err.to_string());
                    continue;
                }
                Err(_) => {
                    refuse_all(requests, "connecting timed out");
                    continue;
                }
            }
        }
        let Some(current) = conn.as_mut() else {
            continue;
        };
        let wrote_events = rings(&requests);
        if commit::<E>(current, requests).await == Link::Broken {
            warn!("the database writer lost its connection; reconnecting on the next write");
            conn = None;
        } else if wrote_events && let Err(err) = E::after_commit(current).await {
            // (the relays also look on their own every few seconds)
            warn!("telling the other processes about a commit failed: {err}");
        }
        commits.fetch_add(1, Ordering::Relaxed);
        if wrote_events {
            ring(&bell);
        }
    }
}

fn wrong_kind() -> StoreError {
    StoreError::Corrupt("the database writer answered with the wrong kind of result".into())
}

fn refuse_all(requests: Vec<Request>, why: &str) {
    for request in requests {
        let _ = request.reply.send(Err(StoreError::Unavailable(format!(
            "cannot reach the database: {why}"
        ))));
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Link {
    Fine,
    Broken,
}

/// What became of a batch's first attempt.
enum Settled {
    /// Every request has its answer.
    Answered(Link),
    /// A database error in the middle of a request of a batch of several:
    /// nothing of the batch was kept; each request runs again alone.
    RetryAlone(Vec<Request>),
}

/// Answer a batch's requests from its first attempt, the whole batch in one
/// transaction with no savepoints. Every operation makes its checks
/// (transition, compare-and-set, idempotency, job ended) before its first
/// write, so a refused request has written nothing and the others go on.
/// Only a database error in the middle of a request can leave part of it
/// behind: then the batch was rolled back and each request runs again in a
/// transaction of its own.
fn settle(
    requests: Vec<Request>,
    first: Result<Vec<Result<Done, StoreError>>, StoreError>,
) -> Settled {
    match first {
        Ok(results) => {
            for (request, result) in requests.into_iter().zip(results) {
                let _ = request.reply.send(result);
            }
            Settled::Answered(Link::Fine)
        }
        Err(err) if err.is_unavailable() => {
            // the database is away: nothing of the batch was kept, every
            // request hears it, and the connection is not trusted again
            refuse_all(requests, &err.to_string());
            Settled::Answered(Link::Broken)
        }
        Err(err) if requests.len() > 1 => {
            warn!(
                "a batch of {} writes failed ({err}); retrying each alone",
                requests.len()
            );
            Settled::RetryAlone(requests)
        }
        Err(err) => {
            // a single request: its own error (not the database's absence:
            // that was handled above)
            if let Some(request) = requests.into_iter().next() {
                let _ = request.reply.send(Err(err));
            }
            Settled::Answered(Link::Fine)
        }
    }
}

/// Answer one request that ran again alone.
fn answer_alone(
    request: Request,
    outcome: Result<Vec<Result<Done, StoreError>>, StoreError>,
) -> Link {
    let (result, link) = match outcome {
        Ok(mut results) => (
            results
                .pop()
                .unwrap_or_else(|| Err(StoreError::Unavailable("no result".into()))),
            Link::Fine,
        ),
        Err(err) => {
            let link = if err.is_unavailable() {
                Link::Broken
            } else {
                Link::Fine
            };
            (Err(err), link)
        }
    };
    let _ = request.reply.send(result);
    link
}

async fn commit<E: Engine>(conn: &mut E::Conn, requests: Vec<Request>) -> Link {
    let ops: Vec<Op> = requests.iter().map(|r| r.op.clone()).collect();
    let first = batch::<E>(conn, ops).await;
    match settle(requests, first) {
        Settled::Answered(link) => link,
        Settled::RetryAlone(requests) => {
            let mut link = Link::Fine;
            for request in requests {
                let outcome = batch::<E>(conn, vec![request.op.clone()]).await;
                if answer_alone(request, outcome) == Link::Broken {
                    link = Link::Broken;
                }
            }
            link
        }
    }
}

/// A writer on its own OS thread with a synchronous connection (SQLite
/// through rusqlite): the whole batch runs there, statement after statement,
/// with no hop between threads per statement.
pub(crate) type BlockingBatch<C> =
    fn(&mut C, Vec<Op>) -> Result<Vec<Result<Done, StoreError>>, StoreError>;

impl Writer {
    /// Start a writer thread owning `conn`; `connect` opens a new connection
    /// after the database failed (disk full, I/O error), `batch` runs a
    /// batch's operations in one transaction and commits it.
    pub(crate) fn spawn_blocking<C: Send + 'static>(
        conn: C,
        connect: impl Fn() -> Result<C, StoreError> + Send + 'static,
        batch: BlockingBatch<C>,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let bell = Bell::default();
        let rung = bell.clone();
        std::thread::Builder::new()
            .name("horizon-writer".into())
            .spawn(move || run_blocking(conn, connect, batch, rx, counter, rung))
            .map_err(|err| StoreError::Unavailable(format!("cannot start the writer: {err}")))?;
        Ok(Writer { tx, commits, bell })
    }
}

fn run_blocking<C>(
    conn: C,
    connect: impl Fn() -> Result<C, StoreError>,
    batch: BlockingBatch<C>,
    mut rx: mpsc::Receiver<Request>,
    commits: Arc<AtomicU64>,
    bell: Bell,
) {
    let mut conn = Some(conn);
    let mut requests = Vec::with_capacity(MAX_BATCH);
    // a lone request commits at once; under load, whatever arrived while
    // the last batch was committing forms the next one
    while let Some(first) = rx.blocking_recv() {
        requests.push(first);
        while requests.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => requests.push(request),
                Err(_) => break,
            }
        }
        let requests = std::mem::take(&mut requests);
        if conn.is_none() {
            match connect() {
                Ok(new) => {
                    tracing::info!("the database writer is connected again");
                    conn = Some(new);
                }
                Err(err) => {
                    refuse_all(requests, &err.to_string());
                    continue;
                }
            }
        }
        let Some(current) = conn.as_mut() else {
            continue;
        };
        let ops: Vec<Op> = requests.iter().map(|r| r.op.clone()).collect();
        let wrote_events = rings(&requests);
        let first = batch(current, ops);
        let link = match settle(requests, first) {
            Settled::Answered(link) => link,
            Settled::RetryAlone(requests) => {
                let mut link = Link::Fine;
                for request in requests {
                    let outcome = batch(current, vec![request.op.clone()]);
                    if answer_alone(request, outcome) == Link::Broken {
                        link = Link::Broken;
                    }
                }
                link
            }
        };
        if link == Link::Broken {
            warn!("the database writer lost its connection; reopening it on the next write");
            conn = None;
        }
        commits.fetch_add(1, Ordering::Relaxed);
        if wrote_events {
            ring(&bell);
        }
    }
}

/// Run `ops` in one transaction and commit it. `Err` when the batch as a
/// whole failed (begin, commit, or a database error inside a request), in
/// which case nothing of it was kept.
async fn batch<E: Engine>(
    conn: &mut E::Conn,
    ops: Vec<Op>,
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let mut tx = conn.begin().await?;
    if let Err(err) = E::before_batch(&mut tx, &ops).await {
        let _ = tx.rollback().await;
        return Err(err);
    }
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match E::run_op(&mut tx, op).await {
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
pub(crate) fn is_refusal(err: &StoreError) -> bool {
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

//! The PostgreSQL store: the same promises as the SQLite one, for gateways
//! that run several `horizon serve` processes on one database.
//!
//! Writes are group-committed by one writer task per process (the shared
//! `writer.rs`), each batch in one transaction. Processes' batches commit
//! side by side: nothing but the rows they change is locked between them.
//! A job's row is locked (`FOR UPDATE`) by the batch that changes it and
//! updated with compare-and-set. The relay's order (positions in commit
//! order, across processes) is given after the commit by the sequencing
//! step in `outbox.rs`; a batch that writes events takes its transaction
//! id first (what that step relies on), and after its commit tells every
//! process's relay (NOTIFY, in a transaction of its own that waits for no
//! disk flush: a NOTIFY inside the batch would queue every process's commit
//! behind one lock).

mod cluster;
mod events;
mod lease;
mod outbox;
mod prune;
mod sweeps;
mod webhooks;

use crate::webhooks::WebhookOp;
use crate::{Delivery, DueDelivery, NewDelivery, Outcome, Subscription};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use horizon_core::{AuditRecord, BackendKind, Command, Job, JobStatus, MetricsSample};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool, Row};
use uuid::Uuid;

use crate::params::{
    Applied, AuditFilter, CreateJobParams, CreateSweepParams, Created, JobTiming, ListJobsParams,
    OutboxEvent, ParkedEvent, ReplayFilter, ReplaySpan, StoredEvent, SweepCreated, SweepsTended,
    TokenInfo, TokenOwner,
};
use crate::writer::{BoxFuture, Done, Engine, Op, Writer};
use crate::{Fence, Leadership, Store, StoreError};
use events::job_from_row;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    writer: Writer,
    /// For connections of their own (the relay's leadership).
    options: PgConnectOptions,
    /// The heartbeat's connection of its own (a busy pool must not make a
    /// live process look dead to the others).
    heartbeat: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::PgConnection>>>,
    /// Numbers committed events in the relay's order (`outbox.rs`).
    sequencer: std::sync::Arc<outbox::Sequencer>,
    /// The process this store serves (its first heartbeat says), recorded
    /// with the relay's lease when it takes it.
    process: std::sync::Arc<std::sync::OnceLock<Uuid>>,
}

/// How long a session may sit idle inside a transaction before PostgreSQL
/// ends it (and its locks): shorter than the relay lease and the process
/// timeout, so a frozen process's locks are gone before its work is taken
/// over.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "4s";

/// A connection refused at start, said once and plainly: where, and why
/// (the server's own message, the TLS or network error).
fn cannot_connect(options: &PgConnectOptions, err: &sqlx::Error) -> StoreError {
    let reason = match err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(tls) => format!("TLS: {tls}"),
        sqlx::Error::PoolTimedOut => "no answer (timed out)".to_owned(),
        other => other.to_string(),
    };
    StoreError::Unavailable(format!(
        "cannot connect to PostgreSQL at {}:{}/{} as {}: {reason}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)"),
        options.get_username(),
    ))
}

fn unexpected() -> StoreError {
    StoreError::Corrupt("the database writer answered with the wrong kind of result".into())
}

/// How a process connects to PostgreSQL, besides its URL (whose `sslmode`,
/// `sslrootcert`, `sslcert` and `sslkey` parameters set up TLS).
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the shared pool (reads, the sequencing step); the
    /// writer, the heartbeat, the relay's lease and the listener have one
    /// each besides.
    pub max_connections: u32,
    /// Longest wait for a pooled connection (then: unavailable, 503).
    pub acquire_timeout: Duration,
    /// The password, instead of one in the URL.
    pub password: Option<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            password: None,
        }
    }
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db`) and migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PgOptions::default()).await
    }

    /// Connect with `settings` and migrate.
    pub async fn connect_with(url: &str, settings: &PgOptions) -> Result<Self, StoreError> {
        // a process frozen mid-transaction (SIGSTOP, a hung VM) must not
        // hold its locks (rows, the relay's lease) for as long as its TCP
        // session lives: the server ends such a session after a few seconds
        // of silence inside a transaction (Horizon's own transactions never
        // wait on anything but the database)
        let mut options = PgConnectOptions::from_str(url)?.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        )]);
        if let Some(password) = &settings.password {
            options = options.password(password);
        }
        // the writer's connection first: a refusal says why (the pool's
        // own retries would only say that they timed out)
        let first = match tokio::time::timeout(settings.acquire_timeout, options.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(cannot_connect(&options, &err)),
            Err(_) => {
                return Err(cannot_connect(&options, &sqlx::Error::PoolTimedOut));
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(2))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(|err| cannot_connect(&options, &err))?;
        let before = crate::migrations::applied_pg(&pool).await;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|err| crate::migrations::refused(&MIGRATOR, "PostgreSQL", err))?;
        let after = crate::migrations::applied_pg(&pool).await;
        crate::migrations::log_applied(&MIGRATOR, "PostgreSQL", &before, &after);
        let connect: crate::writer::Connect<_> = {
            let options = options.clone();
            std::sync::Arc::new(move || {
                let options = options.clone();
                Box::pin(async move { options.connect().await.map_err(StoreError::from) })
            })
        };
        let writer = Writer::spawn::<PgEngine>(first, connect);
        Ok(PgStore {
            pool,
            writer,
            options,
            heartbeat: Default::default(),
            sequencer: Default::default(),
            process: Default::default(),
        })
    }

    /// Write transactions committed so far.
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }
}

struct PgEngine;

impl Engine for PgEngine {
    type Db = sqlx::Postgres;
    type Conn = sqlx::PgConnection;

    fn before_batch<'a>(
        conn: &'a mut Self::Conn,
        ops: &'a [Op],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let writes_events = ops.iter().any(|op| {
                matches!(
                    op,
                    Op::CreateJob(_)
                        | Op::Apply(..)
                        | Op::RecordMetrics(..)
                        | Op::Audit(_)
                        | Op::CreateSweep(_)
                        | Op::TendSweeps
                )
            });
            if writes_events {
                // the transaction id before the first position (the
                // sequencing step's bound on positions still in flight)
                sqlx::query("SELECT pg_current_xact_id()")
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    }

    fn after_commit(conn: &mut Self::Conn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // delivered to every listening process; no disk flush waited
            // for while holding PostgreSQL's notification lock
            sqlx::raw_sql(NOTIFY_COMMIT).execute(&mut *conn).await?;
            Ok(())
        })
    }

    fn run_op(conn: &mut Self::Conn, op: Op) -> BoxFuture<'_, Result<Done, StoreError>> {
        Box::pin(async move {
            match op {
                Op::CreateJob(mut params) => {
                    let audit = params.audit.take();
                    let created = events::create_job(conn, *params).await?;
                    if let Some(mut record) = audit {
                        record.target = Some(created.job().id.to_string());
                        events::insert_audit(conn, &record).await?;
                    }
                    Ok(Done::Created(Box::new(created)))
                }
                Op::Apply(id, command, fence) => events::apply(conn, id, command, fence)
                    .await
                    .map(|a| Done::Applied(Box::new(a))),
                Op::RecordMetrics(id, sample) => events::record_metrics(conn, id, sample)
                    .await
                    .map(Done::Event),
                Op::MarkPublished(positions) => outbox::mark_published(conn, &positions)
                    .await
                    .map(|()| Done::Count(0)),
                Op::MarkPublishedThrough(position) => {
                    outbox::mark_published_through(conn, position)
                        .await
                        .map(Done::Count)
                }
                Op::Park(positions, reason) => outbox::park(conn, &positions, &reason)
                    .await
                    .map(|()| Done::Count(0)),
                Op::Unpark(job) => events::unpark(conn, job).await.map(Done::Count),
                Op::StopWaiting(id, dependency) => sqlx::query(
                    "UPDATE jobs SET waiting = false, scheduler_dependency = $2
                      WHERE id = $1 AND waiting AND status = 'SUBMITTED'",
                )
                .bind(id)
                .bind(dependency)
                .execute(&mut *conn)
                .await
                .map(|done| Done::Count(done.rows_affected()))
                .map_err(Into::into),
                Op::CreateToken {
                    hash,
                    user,
                    admin,
                    expires_at,
                } => events::create_token(conn, &hash, &user, admin, expires_at)
                    .await
                    .map(|()| Done::Count(1)),
                Op::RevokeToken(id) => events::revoke_token(conn, &id).await.map(Done::Count),
                Op::Audit(record) => events::insert_audit(conn, &record)
                    .await
                    .map(|()| Done::Count(1)),
                Op::Webhook(op) => webhooks::run(conn, *op).await,
                Op::PruneJobs(before, published_only, limit) => {
                    prune::prune_jobs(conn, before, published_only, limit)
                        .await
                        .map(Done::Ids)
                }
                Op::PruneAudit(before, published_only, limit) => {
                    prune::prune_audit(conn, before, published_only, limit)
                        .await
                        .map(Done::Count)
                }
                Op::MarkHandingOver(process, jobs) => {
                    events::mark_handing_over(conn, process, &jobs)
                        .await
                        .map(Done::Ids)
                }
                Op::CreateSweep(params) => sweeps::create_sweep(conn, *params)
                    .await
                    .map(|c| Done::SweepCreated(Box::new(c))),
                Op::TendSweeps => sweeps::tend_sweeps(conn).await.map(Done::Tended),
            }
        })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_job(&self, p: CreateJobParams) -> Result<Created, StoreError> {
        match self.writer.write(Op::CreateJob(Box::new(p))).await? {
            Done::Created(created) => Ok(*created),
            _ => Err(unexpected()),
        }
    }

    async fn create_sweep(&self, p: CreateSweepParams) -> Result<SweepCreated, StoreError> {
        match self.writer.write(Op::CreateSweep(Box::new(p))).await? {
            Done::SweepCreated(created) => Ok(*created),
            _ => Err(unexpected()),
        }
    }

    async fn get_sweep(&self, id: Uuid) -> Result<Option<horizon_core::sweep::Sweep>, StoreError> {
        sweeps::get_sweep(&self.pool, id).await
    }

    async fn tend_sweeps(&self) -> Result<SweepsTended, StoreError> {
        match self.writer.write(Op::TendSweeps).await? {
            Done::Tended(tended) => Ok(tended),
            _ => Err(unexpected()),
        }
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, p: ListJobsParams) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM jobs
             WHERE ($1::text IS NULL OR user_id = $1)
               AND ($2::text[] IS NULL OR status = ANY($2))
               AND ($3::uuid IS NULL OR id < $3)
               AND ($5::text IS NULL OR agent = $5)
               AND ($6::text IS NULL OR dataset_id = $6)
               AND ($7::timestamptz IS NULL OR created_at >= $7)
               AND ($8::timestamptz IS NULL OR created_at < $8)
               AND ($9::uuid IS NULL OR cloned_from = $9)
               AND ($10::uuid IS NULL OR sweep_id = $10)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(p.user_id)
        .bind((!p.statuses.is_empty()).then(|| {
            p.statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect::<Vec<String>>()
        }))
        .bind(p.before)
        .bind(i64::from(p.limit))
        .bind(p.agent)
        .bind(p.dataset_id)
        .bind(p.created_after)
        .bind(p.created_before)
        .bind(p.cloned_from)
        .bind(p.sweep_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn job_timings(
        &self,
        user: Option<&str>,
        since: time::OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<JobTiming>, StoreError> {
        let rows = sqlx::query(
            "SELECT agent, status, queued_at, started_at, finished_at FROM jobs
             WHERE ($1::text IS NULL OR user_id = $1) AND created_at >= $2
             ORDER BY id DESC LIMIT $3",
        )
        .bind(user)
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobTiming {
                    agent: row.try_get("agent")?,
                    status: JobStatus::from_str(&row.try_get::<String, _>("status")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    queued_at: row.try_get("queued_at")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            })
            .collect()
    }

    async fn apply_fenced(
        &self,
        id: Uuid,
        command: Command,
        fence: Option<Fence>,
    ) -> Result<Applied, StoreError> {
        match self.writer.write(Op::Apply(id, command, fence)).await? {
            Done::Applied(applied) => Ok(*applied),
            _ => Err(unexpected()),
        }
    }

    async fn record_metrics(
        &self,
        id: Uuid,
        sample: MetricsSample,
    ) -> Result<StoredEvent, StoreError> {
        match self.writer.write(Op::RecordMetrics(id, sample)).await? {
            Done::Event(event) => Ok(event),
            _ => Err(unexpected()),
        }
    }

    async fn job_events(
        &self,
        id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        events::job_events(&self.pool, id, after, limit).await
    }

    async fn jobs_in_status(
        &self,
        backend: BackendKind,
        statuses: &[JobStatus],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let rows = sqlx::query(
            "SELECT * FROM jobs WHERE backend = $1 AND status = ANY($2)
               AND ($3::uuid IS NULL OR id > $3) AND NOT (status = 'SUBMITTED' AND (waiting OR gated))
             ORDER BY id LIMIT $4",
        )
        .bind(backend.as_str())
        .bind(&wanted)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let n: i64 = row.try_get("n")?;
                let status = JobStatus::from_str(&status)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                Ok((status, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    async fn unpublished_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        outbox::unpublished(&self.pool, &self.sequencer, after, limit).await
    }

    async fn mark_published(&self, positions: &[i64]) -> Result<(), StoreError> {
        if positions.is_empty() {
            return Ok(());
        }
        self.writer
            .write(Op::MarkPublished(positions.to_vec()))
            .await
            .map(|_| ())
    }

    async fn replay_events(
        &self,
        filter: &ReplayFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        outbox::replay(&self.pool, &self.sequencer, filter, after, limit).await
    }

    async fn replay_span(&self, filter: &ReplayFilter) -> Result<ReplaySpan, StoreError> {
        outbox::replay_span(&self.pool, &self.sequencer, filter).await
    }

    async fn last_position(&self) -> Result<i64, StoreError> {
        // (at most one round a second: the numbering must not fall behind
        // when nothing else reads the outbox)
        self.sequencer
            .round_if_older_than(&self.pool, std::time::Duration::from_secs(1))
            .await?;
        Ok(
            sqlx::query_scalar("SELECT COALESCE(max(seq), 0) FROM event_order")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn unparked_events(
        &self,
        through: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        outbox::unparked(&self.pool, through, limit).await
    }

    async fn mark_published_through(&self, position: i64) -> Result<u64, StoreError> {
        match self
            .writer
            .write(Op::MarkPublishedThrough(position))
            .await?
        {
            Done::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn prune_jobs(
        &self,
        before: time::OffsetDateTime,
        published_only: bool,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        self.writer.prune_jobs(before, published_only, limit).await
    }

    async fn prune_audit(
        &self,
        before: time::OffsetDateTime,
        published_only: bool,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.writer.prune_audit(before, published_only, limit).await
    }

    async fn backup(&self, _to: &std::path::Path) -> Result<(), StoreError> {
        Err(StoreError::Incompatible(
            "on PostgreSQL use pg_dump (`pg_dump --format=custom --file=horizon.dump <database url>`; \
             restore with pg_restore into an empty database) or your server's own backups"
                .into(),
        ))
    }

    async fn database_id(&self) -> Result<String, StoreError> {
        let id: Uuid = sqlx::query_scalar("SELECT id FROM horizon_database")
            .fetch_one(&self.pool)
            .await?;
        Ok(id.to_string())
    }

    async fn outbox_oldest(&self) -> Result<Option<time::OffsetDateTime>, StoreError> {
        cluster::outbox_oldest(&self.pool).await
    }

    async fn cluster(&self) -> Result<crate::Cluster, StoreError> {
        cluster::cluster(&self.pool).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE published_at IS NULL AND parked_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn park_events(&self, positions: &[i64], reason: &str) -> Result<(), StoreError> {
        self.writer
            .write(Op::Park(positions.to_vec(), reason.to_owned()))
            .await
            .map(|_| ())
    }

    async fn parked_events(&self, after: i64, limit: u32) -> Result<Vec<ParkedEvent>, StoreError> {
        outbox::parked(&self.pool, after, limit).await
    }

    async fn record_audit(&self, record: AuditRecord) -> Result<(), StoreError> {
        self.writer
            .write(Op::Audit(Box::new(record)))
            .await
            .map(|_| ())
    }

    async fn audit_records(
        &self,
        after: i64,
        limit: u32,
        filter: &AuditFilter,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        events::audit_records(&self.pool, after, limit, filter).await
    }

    async fn parked_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE published_at IS NULL AND parked_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn unpark_events(&self, job: Option<Uuid>) -> Result<u64, StoreError> {
        match self.writer.write(Op::Unpark(job)).await? {
            Done::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        admin: bool,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Op::CreateToken {
                hash: token_hash.to_owned(),
                user: user_id.to_owned(),
                admin,
                expires_at,
            })
            .await
            .map(|_| ())
    }

    async fn revoke_token(&self, id: &str) -> Result<u64, StoreError> {
        match self.writer.write(Op::RevokeToken(id.to_owned())).await? {
            Done::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, admin, expires_at FROM api_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TokenOwner {
                user_id: row.try_get("user_id")?,
                admin: row.try_get("admin")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at DESC, token_hash")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let hash: String = row.try_get("token_hash")?;
                Ok(TokenInfo {
                    id: hash.chars().take(12).collect(),
                    user_id: row.try_get("user_id")?,
                    admin: row.try_get("admin")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_subscription(&self, subscription: Subscription) -> Result<(), StoreError> {
        self.webhook(WebhookOp::Create(Box::new(subscription)))
            .await
            .map(|_| ())
    }

    async fn subscriptions(&self, user: Option<&str>) -> Result<Vec<Subscription>, StoreError> {
        webhooks::subscriptions(&self.pool, user).await
    }

    async fn delete_subscription(&self, id: Uuid) -> Result<u64, StoreError> {
        self.webhook_count(WebhookOp::Delete(id)).await
    }

    async fn rotate_subscription(
        &self,
        id: Uuid,
        secret: String,
        previous_until: time::OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.webhook_count(WebhookOp::Rotate {
            id,
            secret,
            previous_until,
        })
        .await
    }

    async fn set_subscription_disabled(
        &self,
        id: Uuid,
        disabled: Option<(time::OffsetDateTime, String)>,
    ) -> Result<u64, StoreError> {
        self.webhook_count(WebhookOp::SetDisabled(id, disabled))
            .await
    }

    async fn fan_out(
        &self,
        id: Uuid,
        from: i64,
        to: i64,
        deliveries: Vec<NewDelivery>,
    ) -> Result<u64, StoreError> {
        self.webhook_count(WebhookOp::FanOut {
            id,
            from,
            to,
            deliveries,
            at: time::OffsetDateTime::now_utc(),
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        process: Uuid,
        until: time::OffsetDateTime,
        limit: u32,
        mail_only: bool,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        match self
            .webhook(WebhookOp::Claim {
                process,
                now: time::OffsetDateTime::now_utc(),
                until,
                limit,
                mail_only,
            })
            .await?
        {
            Done::Due(due) => Ok(due),
            _ => Err(unexpected()),
        }
    }

    async fn finish_delivery(
        &self,
        id: Uuid,
        process: Uuid,
        outcome: Outcome,
    ) -> Result<u64, StoreError> {
        self.webhook_count(WebhookOp::Finish {
            id,
            process,
            outcome,
            at: time::OffsetDateTime::now_utc(),
        })
        .await
    }

    async fn deliveries(
        &self,
        subscription: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        webhooks::deliveries(&self.pool, subscription, after, limit).await
    }

    async fn redeliver(&self, subscription: Uuid, from: Uuid, to: Uuid) -> Result<u64, StoreError> {
        self.webhook_count(WebhookOp::Redeliver {
            subscription,
            from,
            to,
            at: time::OffsetDateTime::now_utc(),
        })
        .await
    }

    async fn heartbeat(&self, process: Uuid) -> Result<(), StoreError> {
        let _ = self.process.set(process);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let mut conn = self.heartbeat.lock().await;
        let beat = async {
            if conn.is_none() {
                *conn = Some(lease::connect(&self.options).await?);
            }
            let Some(c) = conn.as_mut() else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO processes (id, host, pid, started_at, heartbeat_at)
                 VALUES ($1, $2, $3, now(), now())
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
            )
            .bind(process)
            .bind(host)
            .bind(i32::try_from(std::process::id()).unwrap_or(0))
            .execute(c)
            .await?;
            Ok::<(), StoreError>(())
        };
        let done = tokio::time::timeout(lease::STATEMENT_TIMEOUT * 2, beat).await;
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                *conn = None;
                Err(err)
            }
            Err(_) => {
                *conn = None;
                Err(StoreError::Unavailable("the heartbeat timed out".into()))
            }
        }
    }

    async fn register_process(&self, process: Uuid, local_scope: &str) -> Result<(), StoreError> {
        self.heartbeat(process).await?;
        sqlx::query("UPDATE processes SET local_scope = $2, gone_at = NULL WHERE id = $1")
            .bind(process)
            .bind(local_scope)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn host_gone(&self, host: &str) -> Result<u64, StoreError> {
        let timeout = crate::PROCESS_TIMEOUT.as_secs_f64();
        let done = sqlx::query(
            "UPDATE processes SET gone_at = now()
              WHERE host = $1 AND gone_at IS NULL
                AND heartbeat_at <= now() - make_interval(secs => $2)",
        )
        .bind(host)
        .bind(timeout)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn claim_jobs(
        &self,
        process: Uuid,
        backend: BackendKind,
        statuses: &[JobStatus],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let timeout = crate::PROCESS_TIMEOUT.as_secs_f64();
        // claim what no live process owns (rows another claimer holds are
        // skipped, not waited for), then read what is ours. Each claim looks
        // jobs up by owner (the index on backend, status, owner): its cost
        // follows what there is to claim, not the jobs live processes hold
        // (every owner is a row of `processes`, never deleted)
        sqlx::query(
            "UPDATE jobs SET owner = $1, claim_epoch = claim_epoch + 1
             WHERE id IN (
                SELECT id FROM jobs
                WHERE backend = $2 AND status = ANY($3) AND ($4::uuid IS NULL OR id > $4)
                  AND owner IS NULL AND NOT (status = 'SUBMITTED' AND (waiting OR gated))
                ORDER BY id LIMIT $5
                FOR UPDATE SKIP LOCKED)",
        )
        .bind(process)
        .bind(backend.as_str())
        .bind(&wanted)
        .bind(after)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        let silent: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM processes WHERE heartbeat_at <= now() - make_interval(secs => $1)",
        )
        .bind(timeout)
        .fetch_all(&self.pool)
        .await?;
        if !silent.is_empty() {
            let taken: Vec<(Uuid, String)> = sqlx::query_as(
                "UPDATE jobs SET owner = $1, claim_epoch = claim_epoch + 1
                 WHERE id IN (
                    SELECT id FROM jobs
                    WHERE backend = $2 AND status = ANY($3) AND ($4::uuid IS NULL OR id > $4)
                      AND owner = ANY($6)
                      -- and still silent (it may have come back since)
                      AND owner IN (SELECT id FROM processes
                                     WHERE heartbeat_at <= now() - make_interval(secs => $7))
                      -- a silent process's local jobs past SUBMITTED: only by
                      -- a process that sees its jobs directory, or once its
                      -- host is declared gone
                      AND ($2 <> 'local' OR status = 'SUBMITTED'
                           OR EXISTS (SELECT 1 FROM processes p, processes me
                                       WHERE p.id = jobs.owner AND me.id = $1
                                         AND (p.gone_at IS NOT NULL
                                              OR p.local_scope IS NOT DISTINCT FROM me.local_scope)))
                    ORDER BY id LIMIT $5
                    FOR UPDATE SKIP LOCKED)
                 RETURNING id, status",
            )
            .bind(process)
            .bind(backend.as_str())
            .bind(&wanted)
            .bind(after)
            .bind(i64::from(limit))
            .bind(&silent)
            .bind(timeout)
            .fetch_all(&self.pool)
            .await?;
            if !taken.is_empty() {
                TAKEN_OVER.fetch_add(taken.len() as u64, std::sync::atomic::Ordering::Relaxed);
                let ids: Vec<String> = taken
                    .iter()
                    .map(|(id, status)| format!("{id} ({status})"))
                    .collect();
                tracing::warn!(
                    process = %process,
                    "took over {} {} job(s) of silent process(es): {}",
                    taken.len(),
                    backend.as_str(),
                    ids.join(", ")
                );
            }
        }
        let rows = sqlx::query(
            "SELECT * FROM jobs WHERE backend = $1 AND status = ANY($2)
               AND ($3::uuid IS NULL OR id > $3) AND owner = $4
               AND NOT (status = 'SUBMITTED' AND (waiting OR gated))
             ORDER BY id LIMIT $5",
        )
        .bind(backend.as_str())
        .bind(&wanted)
        .bind(after)
        .bind(process)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    fn ring_on_commit(&self, bell: std::sync::Arc<tokio::sync::Notify>) {
        self.writer.ring_on_commit(bell);
    }

    async fn waiting_jobs(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM jobs WHERE waiting AND status = 'SUBMITTED'
               AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn scheduler_dependent_jobs(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM jobs
              WHERE scheduler_dependency IS NOT NULL AND status IN ('SUBMITTED', 'QUEUED')
                AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn stop_waiting(
        &self,
        id: Uuid,
        scheduler_dependency: Option<String>,
    ) -> Result<bool, StoreError> {
        match self
            .writer
            .write(Op::StopWaiting(id, scheduler_dependency))
            .await?
        {
            Done::Count(n) => Ok(n > 0),
            _ => Err(unexpected()),
        }
    }

    async fn due_attempts(
        &self,
        process: Uuid,
        backend: BackendKind,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM jobs
              WHERE backend = $1 AND status = 'QUEUED' AND next_attempt_at <= now()
                AND NOT held AND owner = $2
              ORDER BY next_attempt_at LIMIT $3",
        )
        .bind(backend.as_str())
        .bind(process)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn mark_handing_over(
        &self,
        process: Uuid,
        jobs: &[(Uuid, i64)],
    ) -> Result<Vec<Uuid>, StoreError> {
        self.writer.mark_handing_over(process, jobs).await
    }

    fn listen_for_commits(&self, bell: std::sync::Arc<tokio::sync::Notify>) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(listener) => listener,
                    Err(err) => {
                        tracing::warn!("cannot LISTEN for commits yet: {err}");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue;
                    }
                };
                if let Err(err) = listener.listen(COMMITS_CHANNEL).await {
                    tracing::warn!("cannot LISTEN for commits yet: {err}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
                // (after a lost connection the listener reconnects and
                // listens again by itself; commits missed meanwhile are found
                // by the relay's and workers' own slow polls)
                loop {
                    match listener.recv().await {
                        Ok(_) => {
                            NOTIFICATIONS_HEARD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            bell.notify_one();
                        }
                        Err(err) => {
                            tracing::warn!("LISTEN for commits: {err}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    }
                }
            }
        });
    }

    async fn relay_leadership(&self) -> Result<Option<Box<dyn Leadership>>, StoreError> {
        lease::acquire(&self.options, self.process.get().copied()).await
    }
}

/// The LISTEN/NOTIFY channel every transaction that writes events notifies.
const COMMITS_CHANNEL: &str = "hzn_outbox_commits";
const NOTIFY_COMMIT: &str =
    "BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY hzn_outbox_commits; COMMIT";

/// How many commit notifications this process heard from the database.
pub static NOTIFICATIONS_HEARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Jobs this process took over from silent processes.
pub static TAKEN_OVER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl PgStore {
    async fn webhook(&self, op: WebhookOp) -> Result<Done, StoreError> {
        self.writer.write(Op::Webhook(Box::new(op))).await
    }

    async fn webhook_count(&self, op: WebhookOp) -> Result<u64, StoreError> {
        match self.webhook(op).await? {
            Done::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }
}

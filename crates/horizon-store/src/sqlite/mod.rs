//! The SQLite store: the embedded default, one file under the data directory.
//!
//! WAL journal with `synchronous=FULL`, so a committed change survives a crash
//! of the process or the machine. Writes are group-committed by one writer
//! thread (`writer.rs`, `write.rs`): concurrent writes share one transaction
//! and one fsync. Reads run on a small pool of connections from tokio's
//! blocking threads (`read.rs`). Both use rusqlite; sqlx only runs the
//! migrations.

mod prune;
mod read;
mod rows;
mod sweeps;
mod webhooks;
mod write;

use crate::webhooks::WebhookOp;
use crate::{Delivery, DueDelivery, NewDelivery, Outcome, Subscription};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use horizon_core::{AuditRecord, BackendKind, Command, Job, JobStatus, MetricsSample};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use uuid::Uuid;

use crate::params::{
    Applied, AuditFilter, CreateJobParams, Created, JobTiming, ListJobsParams, OutboxEvent,
    ParkedEvent, ReplayFilter, ReplaySpan, StoredEvent, TokenInfo, TokenOwner,
};
use crate::writer::{Done, Op, Writer, is_refusal};
use crate::{Fence, Store, StoreError};
use read::Readers;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Reads go through a pool of connections (WAL lets them run beside the
/// writer); every write goes through the one group-committing writer.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: Readers,
    writer: Writer,
}

fn unexpected() -> StoreError {
    StoreError::Corrupt("the database writer answered with the wrong kind of result".into())
}

impl SqliteStore {
    /// Open (creating if missing) and migrate the database at `url`
    /// (`sqlite://path/to/horizon.db`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // the migrations, on a connection of their own
        let migrations = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let before = crate::migrations::applied_sqlite(&migrations).await;
        MIGRATOR
            .run(&migrations)
            .await
            .map_err(|err| crate::migrations::refused(&MIGRATOR, "SQLite", err))?;
        let after = crate::migrations::applied_sqlite(&migrations).await;
        crate::migrations::log_applied(&MIGRATOR, "SQLite", &before, &after);
        migrations.close().await;
        let path = options.get_filename().to_owned();
        let readers = Readers::new(path.clone());
        let open = move || open_connection(&path);
        let writer = Writer::spawn_blocking(open()?, open, batch)?;
        Ok(SqliteStore { readers, writer })
    }

    /// Write transactions committed so far (each holds one or more writes).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }
}

/// A connection with the store's settings: WAL, `synchronous=FULL`, foreign
/// keys, a busy timeout, cached prepared statements.
fn open_connection(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The bundled SQLite is built with STAT4, which re-plans a statement
    // each time a parameter of a range condition (`position > ?`) is bound
    // anew: the outbox and job reads were parsed again on every call. The
    // query-planner stability guarantee keeps one plan per statement.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Run a batch's operations in one transaction (`BEGIN IMMEDIATE`: the
/// write lock is taken first, so a batch never fails to upgrade a read
/// lock) and commit it. `Err` when the batch as a whole failed, in which
/// case nothing of it was kept.
fn batch(
    conn: &mut rusqlite::Connection,
    ops: Vec<Op>,
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    // A batch that only marks events published is not fsynced on its own:
    // it is in the WAL (a crash of the process keeps it) and becomes durable
    // with the next fsynced commit. Only a power loss in between can undo
    // it, and then those events are published again with the same ids,
    // which the at-least-once contract already allows (README, Kafka). It
    // spares the relay's marks an fsync each, which job writes waited behind.
    let marks_only = ops
        .iter()
        .all(|op| matches!(op, Op::MarkPublished(_) | Op::MarkPublishedThrough(_)));
    let synchronous = if marks_only { "NORMAL" } else { "FULL" };
    conn.pragma_update(None, "synchronous", synchronous)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match write::run_op(&tx, op) {
            // may have written part of itself: keep nothing of the batch
            // (dropping the transaction rolls it back)
            Err(err) if !is_refusal(&err) => return Err(err),
            other => results.push(other),
        }
    }
    tx.commit()?;
    Ok(results)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_job(&self, p: CreateJobParams) -> Result<Created, StoreError> {
        match self.writer.write(Op::CreateJob(Box::new(p))).await? {
            Done::Created(created) => Ok(*created),
            _ => Err(unexpected()),
        }
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        self.readers.run(move |c| read::get_job(c, id)).await
    }

    async fn create_sweep(
        &self,
        p: crate::params::CreateSweepParams,
    ) -> Result<crate::params::SweepCreated, StoreError> {
        match self.writer.write(Op::CreateSweep(Box::new(p))).await? {
            Done::SweepCreated(created) => Ok(*created),
            _ => Err(unexpected()),
        }
    }

    async fn get_sweep(&self, id: Uuid) -> Result<Option<horizon_core::sweep::Sweep>, StoreError> {
        self.readers.run(move |c| sweeps::get_sweep(c, id)).await
    }

    async fn tend_sweeps(&self) -> Result<crate::params::SweepsTended, StoreError> {
        match self.writer.write(Op::TendSweeps).await? {
            Done::Tended(tended) => Ok(tended),
            _ => Err(unexpected()),
        }
    }

    async fn job_timings(
        &self,
        user: Option<&str>,
        since: time::OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<JobTiming>, StoreError> {
        let user = user.map(str::to_owned);
        self.readers
            .run(move |c| read::job_timings(c, user.as_deref(), since, limit))
            .await
    }

    async fn list_jobs(&self, p: ListJobsParams) -> Result<Vec<Job>, StoreError> {
        self.readers.run(move |c| read::list_jobs(c, p)).await
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
        self.readers
            .run(move |c| read::job_events(c, id, after, limit))
            .await
    }

    async fn jobs_in_status(
        &self,
        backend: BackendKind,
        statuses: &[JobStatus],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let wanted = serde_json::to_string(&wanted)?;
        self.readers
            .run(move |c| read::jobs_in_status(c, backend.as_str(), &wanted, after, limit))
            .await
    }

    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>, StoreError> {
        self.readers.run(read::count_by_status).await
    }

    fn ring_on_commit(&self, bell: std::sync::Arc<tokio::sync::Notify>) {
        self.writer.ring_on_commit(bell);
    }

    async fn waiting_jobs(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Job>, StoreError> {
        self.readers
            .run(move |c| read::waiting_jobs(c, after, limit))
            .await
    }

    async fn scheduler_dependent_jobs(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        self.readers
            .run(move |c| read::scheduler_dependent_jobs(c, after, limit))
            .await
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
        _process: Uuid,
        backend: BackendKind,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let now = rows::format_time(time::OffsetDateTime::now_utc());
        self.readers
            .run(move |c| read::due_attempts(c, backend.as_str(), &now, limit))
            .await
    }

    async fn mark_handing_over(
        &self,
        process: Uuid,
        jobs: &[(Uuid, i64)],
    ) -> Result<Vec<Uuid>, StoreError> {
        self.writer.mark_handing_over(process, jobs).await
    }

    async fn unpublished_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.readers
            .run(move |c| read::unpublished(c, after, limit))
            .await
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
        let filter = filter.clone();
        self.readers
            .run(move |c| read::replay(c, &filter, after, limit))
            .await
    }

    async fn replay_span(&self, filter: &ReplayFilter) -> Result<ReplaySpan, StoreError> {
        let filter = filter.clone();
        self.readers
            .run(move |c| read::replay_span(c, &filter))
            .await
    }

    async fn last_position(&self) -> Result<i64, StoreError> {
        self.readers
            .run(|c| {
                Ok(
                    c.prepare_cached("SELECT COALESCE(max(position), 0) FROM events")?
                        .query_row([], |row| row.get(0))?,
                )
            })
            .await
    }

    async fn unparked_events(
        &self,
        through: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.readers
            .run(move |c| read::unparked(c, through, limit))
            .await
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

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.readers.run(read::outbox_depth).await
    }

    async fn outbox_oldest(&self) -> Result<Option<time::OffsetDateTime>, StoreError> {
        self.readers.run(read::outbox_oldest).await
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

    async fn backup(&self, to: &std::path::Path) -> Result<(), StoreError> {
        if to.exists() {
            return Err(StoreError::Incompatible(format!(
                "{} exists: a backup goes to a new file",
                to.display()
            )));
        }
        let to = to.display().to_string();
        self.readers
            .run(move |conn| {
                conn.execute("VACUUM INTO ?1", [&to])?;
                Ok(())
            })
            .await
    }

    async fn database_id(&self) -> Result<String, StoreError> {
        self.readers.run(read::database_id).await
    }

    async fn park_events(&self, positions: &[i64], reason: &str) -> Result<(), StoreError> {
        self.writer
            .write(Op::Park(positions.to_vec(), reason.to_owned()))
            .await
            .map(|_| ())
    }

    async fn parked_events(&self, after: i64, limit: u32) -> Result<Vec<ParkedEvent>, StoreError> {
        self.readers
            .run(move |c| read::parked(c, after, limit))
            .await
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
        let filter = filter.clone();
        self.readers
            .run(move |c| read::audit_records(c, after, limit, &filter))
            .await
    }

    async fn parked_count(&self) -> Result<u64, StoreError> {
        self.readers.run(read::parked_count).await
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
        let hash = token_hash.to_owned();
        self.readers.run(move |c| read::find_token(c, &hash)).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.readers.run(read::list_tokens).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers.run(read::ping).await
    }

    async fn create_subscription(&self, subscription: Subscription) -> Result<(), StoreError> {
        self.webhook(WebhookOp::Create(Box::new(subscription)))
            .await
            .map(|_| ())
    }

    async fn subscriptions(&self, user: Option<&str>) -> Result<Vec<Subscription>, StoreError> {
        let user = user.map(str::to_owned);
        self.readers
            .run(move |c| webhooks::subscriptions(c, user.as_deref()))
            .await
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
        self.readers
            .run(move |c| webhooks::deliveries(c, subscription, after, limit))
            .await
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
}

impl SqliteStore {
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

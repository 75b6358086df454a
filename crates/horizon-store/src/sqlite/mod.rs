//! The SQLite store: the embedded default, one file under the data directory.
//!
//! WAL journal with `synchronous=FULL`, so a committed change survives a crash
//! of the process or the machine. Writes are group-committed by one writer
//! task (`writer.rs`): concurrent writes share one transaction and one fsync.

mod events;
mod rows;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use horizon_core::{AuditRecord, BackendKind, Command, Job, JobStatus, MetricsSample};
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::params::{
    Applied, CreateJobParams, Created, ListJobsParams, OutboxEvent, ParkedEvent, StoredEvent,
    TokenInfo, TokenOwner,
};
use crate::writer::{BoxFuture, Done, Engine, Op, Writer};
use crate::{Store, StoreError};
use rows::job_from_row;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Reads go through a pool of connections (WAL lets them run beside the
/// writer); every write goes through the one group-committing writer.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let connect: crate::writer::Connect<_> = {
            let options = options.clone();
            std::sync::Arc::new(move || {
                let options = options.clone();
                Box::pin(async move { options.connect().await.map_err(StoreError::from) })
            })
        };
        let writer = Writer::spawn::<SqliteEngine>(options.connect().await?, connect);
        Ok(SqliteStore { pool, writer })
    }

    /// Write transactions committed so far (each holds one or more writes).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }
}

/// The SQLite side of the group-committing writer.
struct SqliteEngine;

impl Engine for SqliteEngine {
    type Db = sqlx::Sqlite;
    type Conn = sqlx::SqliteConnection;

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
            }
        })
    }
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
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, p: ListJobsParams) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM jobs
             WHERE (?1 IS NULL OR user_id = ?1)
               AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR id < ?3)
               AND (?5 IS NULL OR agent = ?5)
               AND (?6 IS NULL OR dataset_id = ?6)
               AND (?7 IS NULL OR created_at >= ?7)
               AND (?8 IS NULL OR created_at < ?8)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(p.user_id)
        .bind(p.status.map(JobStatus::as_str))
        .bind(p.before.map(|id| id.to_string()))
        .bind(i64::from(p.limit))
        .bind(p.agent)
        .bind(p.dataset_id)
        .bind(p.created_after.map(rows::format_time))
        .bind(p.created_before.map(rows::format_time))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn apply(&self, id: Uuid, command: Command) -> Result<Applied, StoreError> {
        match self.writer.write(Op::Apply(id, command)).await? {
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
            "SELECT * FROM jobs WHERE backend = ? AND status IN (SELECT value FROM json_each(?))
               AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(backend.as_str())
        .bind(serde_json::to_string(&wanted)?)
        .bind(after.map_or_else(String::new, |id| id.to_string()))
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
        events::unpublished(&self.pool, after, limit).await
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
        events::parked(&self.pool, after, limit).await
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
        actor: Option<&str>,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        events::audit_records(&self.pool, after, limit, actor).await
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
             WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(token_hash)
        .bind(rows::format_time(time::OffsetDateTime::now_utc()))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TokenOwner {
                user_id: row.try_get("user_id")?,
                admin: row.try_get::<i64, _>("admin")? != 0,
                expires_at: row
                    .try_get::<Option<String>, _>("expires_at")?
                    .map(|t| rows::parse_time(&t))
                    .transpose()?,
            })
        })
        .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at DESC, token_hash")
            .fetch_all(&self.pool)
            .await?;
        let time = |row: &sqlx::sqlite::SqliteRow,
                    column: &str|
         -> Result<Option<time::OffsetDateTime>, StoreError> {
            row.try_get::<Option<String>, _>(column)?
                .map(|t| rows::parse_time(&t))
                .transpose()
        };
        rows.iter()
            .map(|row| {
                let hash: String = row.try_get("token_hash")?;
                Ok(TokenInfo {
                    id: hash.chars().take(12).collect(),
                    user_id: row.try_get("user_id")?,
                    admin: row.try_get::<i64, _>("admin")? != 0,
                    created_at: rows::parse_time(&row.try_get::<String, _>("created_at")?)?,
                    expires_at: time(row, "expires_at")?,
                    revoked_at: time(row, "revoked_at")?,
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

//! The SQLite store: the embedded default, one file under the data directory.
//!
//! WAL journal with `synchronous=FULL`, so a committed change survives a crash
//! of the process or the machine. Every write transaction starts with a write
//! (the compare-and-set update), so SQLite takes its write lock first and
//! concurrent writers queue on the busy timeout instead of failing.

mod events;
mod rows;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use horizon_core::{
    BackendKind, Command, EventEnvelope, EventPayload, Job, JobStatus, MetricsSample,
    SubmittedPayload,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::params::{
    Applied, CreateJobParams, Created, ListJobsParams, OutboxEvent, ParkedEvent, StoredEvent,
    TokenOwner,
};
use crate::{Store, StoreError};
use rows::{format_time, job_from_row};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_job(&self, p: CreateJobParams) -> Result<Created, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(idem) = &p.idempotency {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, job_id, created_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO NOTHING",
            )
            .bind(&p.user_id)
            .bind(&idem.key)
            .bind(&idem.request_hash)
            .bind(p.id.to_string())
            .bind(format_time(p.created_at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                let row = sqlx::query(
                    "SELECT request_hash, job_id FROM idempotency_keys WHERE user_id = ? AND key = ?",
                )
                .bind(&p.user_id)
                .bind(&idem.key)
                .fetch_one(&mut *tx)
                .await?;
                let hash: String = row.try_get("request_hash")?;
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyMismatch {
                        key: idem.key.clone(),
                    });
                }
                let job_id: String = row.try_get("job_id")?;
                let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
                    .bind(&job_id)
                    .fetch_one(&mut *tx)
                    .await?;
                return Ok(Created::Replayed(job_from_row(&row)?));
            }
        }
        let at = horizon_core::truncate_to_millis(p.created_at);
        let job = Job {
            id: p.id,
            user_id: p.user_id,
            agent: p.agent,
            dataset_id: p.dataset_id,
            parameters: p.parameters,
            backend: p.backend,
            status: JobStatus::Submitted,
            remote_job_id: None,
            correlation_id: p.correlation_id,
            error: None,
            created_at: at,
            updated_at: at,
            started_at: None,
            finished_at: None,
            lifecycle_sequence: 1,
            metrics_sequence: 0,
        };
        sqlx::query(
            "INSERT INTO jobs (id, user_id, agent, dataset_id, parameters, backend, status,
                               correlation_id, created_at, updated_at, lifecycle_sequence)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(job.id.to_string())
        .bind(&job.user_id)
        .bind(&job.agent)
        .bind(&job.dataset_id)
        .bind(serde_json::to_string(&job.parameters)?)
        .bind(job.backend.as_str())
        .bind(job.status.as_str())
        .bind(&job.correlation_id)
        .bind(format_time(at))
        .bind(format_time(at))
        .execute(&mut *tx)
        .await?;
        let payload = EventPayload::Submitted(SubmittedPayload {
            agent: job.agent.clone(),
            dataset_id: job.dataset_id.clone(),
            parameters: job.parameters.clone(),
            backend: job.backend,
        });
        let envelope = EventEnvelope::lifecycle(&job, None, payload, Uuid::now_v7(), at);
        events::insert_event(&mut tx, &envelope).await?;
        tx.commit().await?;
        Ok(Created::New(job))
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
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(p.user_id)
        .bind(p.status.map(JobStatus::as_str))
        .bind(p.before.map(|id| id.to_string()))
        .bind(i64::from(p.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn apply(&self, id: Uuid, command: Command) -> Result<Applied, StoreError> {
        events::apply(&self.pool, id, command).await
    }

    async fn record_metrics(
        &self,
        id: Uuid,
        sample: MetricsSample,
    ) -> Result<StoredEvent, StoreError> {
        events::record_metrics(&self.pool, id, sample).await
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
        events::mark_published(&self.pool, positions).await
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
        events::park(&self.pool, positions, reason).await
    }

    async fn parked_events(&self, after: i64, limit: u32) -> Result<Vec<ParkedEvent>, StoreError> {
        events::parked(&self.pool, after, limit).await
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
        let done = sqlx::query(
            "UPDATE events SET parked_at = NULL, park_reason = NULL
             WHERE published_at IS NULL AND parked_at IS NOT NULL AND (?1 IS NULL OR job_id = ?1)",
        )
        .bind(job.map(|id| id.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        admin: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, user_id, admin, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(i64::from(admin))
        .bind(format_time(time::OffsetDateTime::now_utc()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let row = sqlx::query("SELECT user_id, admin FROM api_tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(TokenOwner {
                user_id: row.try_get("user_id")?,
                admin: row.try_get::<i64, _>("admin")? != 0,
            })
        })
        .transpose()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

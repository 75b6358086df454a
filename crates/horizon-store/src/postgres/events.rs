//! The PostgreSQL store's writes and event reads: the same operations as
//! SQLite's (`sqlite/events.rs`), in PostgreSQL's SQL and native types.

use std::str::FromStr;

use horizon_core::{
    BackendKind, Command, EventEnvelope, EventPayload, EventStream, EventType, Job, JobError,
    JobStatus, MetricsSample, Resources, SubmittedPayload,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use tracing::debug;
use uuid::Uuid;

use crate::params::{Applied, AuditFilter, CreateJobParams, Created, StoredEvent};
use crate::{Fence, StoreError};

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(corrupt)
}

pub(super) fn job_from_row(row: &PgRow) -> Result<Job, StoreError> {
    let parameters: String = row.try_get("parameters")?;
    let error = match row.try_get::<Option<String>, _>("error_code")? {
        Some(code) => Some(JobError {
            code,
            message: row
                .try_get::<Option<String>, _>("error_message")?
                .unwrap_or_default(),
            exit_code: row.try_get("error_exit_code")?,
        }),
        None => None,
    };
    Ok(Job {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        agent: row.try_get("agent")?,
        dataset_id: row.try_get("dataset_id")?,
        parameters: serde_json::from_str(&parameters)?,
        backend: BackendKind::from_str(&row.try_get::<String, _>("backend")?).map_err(corrupt)?,
        resources: match row.try_get::<Option<String>, _>("resources")? {
            Some(text) => serde_json::from_str(&text)?,
            None => Resources::default(),
        },
        status: JobStatus::from_str(&row.try_get::<String, _>("status")?).map_err(corrupt)?,
        remote_job_id: row.try_get("remote_job_id")?,
        correlation_id: row.try_get("correlation_id")?,
        error,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        lifecycle_sequence: u64::try_from(row.try_get::<i64, _>("lifecycle_sequence")?)
            .map_err(corrupt)?,
        metrics_sequence: u64::try_from(row.try_get::<i64, _>("metrics_sequence")?)
            .map_err(corrupt)?,
        handed_over: row
            .try_get::<Option<OffsetDateTime>, _>("handed_over_at")?
            .is_some(),
        account: row.try_get("account")?,
        location: row.try_get("location")?,
        traceparent: row.try_get("traceparent")?,
        held: row.try_get("held")?,
        cloned_from: row.try_get("cloned_from")?,
        attempt: u32::try_from(row.try_get::<i32, _>("attempt")?).map_err(corrupt)?,
        max_attempts: u32::try_from(row.try_get::<i32, _>("max_attempts")?).map_err(corrupt)?,
        retry: match row.try_get::<Option<String>, _>("retry_policy")? {
            Some(text) => Some(serde_json::from_str(&text)?),
            None => None,
        },
        next_attempt_at: row.try_get("next_attempt_at")?,
        depends_on: match row.try_get::<Option<String>, _>("depends_on")? {
            Some(text) => serde_json::from_str(&text)?,
            None => Vec::new(),
        },
        waiting: row.try_get("waiting")?,
        sweep_id: row.try_get("sweep_id")?,
        sweep_index: row
            .try_get::<Option<i32>, _>("sweep_index")?
            .map(|i| u32::try_from(i).map_err(corrupt))
            .transpose()?,
        gated: row.try_get("gated")?,
        scheduler_dependency: row.try_get("scheduler_dependency")?,
        claim_epoch: row.try_get("claim_epoch")?,
        queued_at: row.try_get("queued_at")?,
        exit_code: row.try_get("exit_code")?,
    })
}

pub(super) fn event_from_row(row: &PgRow) -> Result<StoredEvent, StoreError> {
    let event_type: String = row.try_get("event_type")?;
    let stream: String = row.try_get("stream")?;
    let sequence: i64 = row.try_get("sequence")?;
    Ok(StoredEvent {
        event_id: row.try_get("event_id")?,
        job_id: row.try_get("job_id")?,
        event_type: EventType::from_str(&event_type).map_err(corrupt)?,
        stream: EventStream::from_str(&stream).map_err(corrupt)?,
        sequence: u64::try_from(sequence).map_err(corrupt)?,
        envelope: row.try_get("envelope")?,
        // (a column some reads leave out)
        traceparent: row.try_get("traceparent").ok().flatten(),
    })
}

pub(super) async fn insert_event(
    conn: &mut PgConnection,
    envelope: &EventEnvelope,
) -> Result<StoredEvent, StoreError> {
    let json = envelope.to_json()?;
    let stream = envelope.event_type.stream();
    sqlx::query(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at,
                             traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(envelope.event_id)
    .bind(envelope.job_id)
    .bind(stream.as_str())
    .bind(to_i64(envelope.sequence)?)
    .bind(envelope.event_type.as_str())
    .bind(&json)
    .bind(OffsetDateTime::now_utc())
    .bind(&envelope.traceparent)
    .execute(&mut *conn)
    .await?;
    Ok(StoredEvent {
        event_id: envelope.event_id,
        job_id: envelope.job_id,
        event_type: envelope.event_type,
        stream,
        sequence: envelope.sequence,
        envelope: json,
        traceparent: envelope.traceparent.clone(),
    })
}

pub(super) async fn create_job(
    conn: &mut PgConnection,
    p: CreateJobParams,
) -> Result<Created, StoreError> {
    if let Some(idem) = &p.idempotency {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, job_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING",
        )
        .bind(&p.user_id)
        .bind(&idem.key)
        .bind(&idem.request_hash)
        .bind(p.id)
        .bind(p.created_at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 0 {
            let row = sqlx::query(
                "SELECT request_hash, job_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            )
            .bind(&p.user_id)
            .bind(&idem.key)
            .fetch_one(&mut *conn)
            .await?;
            let hash: String = row.try_get("request_hash")?;
            if hash != idem.request_hash {
                return Err(StoreError::IdempotencyMismatch {
                    key: idem.key.clone(),
                });
            }
            let job_id: Uuid = row.try_get("job_id")?;
            let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
                .bind(job_id)
                .fetch_one(&mut *conn)
                .await?;
            return Ok(Created::Replayed(job_from_row(&row)?));
        }
    }
    let at = horizon_core::truncate_to_millis(p.created_at);
    let job = p.into_job(at, None);
    insert_job(conn, &job).await?;
    Ok(Created::New(job))
}

/// Insert a new job's row and its `job.submitted` event.
pub(super) async fn insert_job(conn: &mut PgConnection, job: &Job) -> Result<(), StoreError> {
    let at = job.created_at;
    sqlx::query(
        "INSERT INTO jobs (id, user_id, agent, dataset_id, parameters, backend, status,
                           correlation_id, created_at, updated_at, lifecycle_sequence, resources,
                           account, traceparent, cloned_from, max_attempts, retry_policy,
                           depends_on, waiting, sweep_id, sweep_index, gated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, $13, $14, $15, $16,
                 $17, $18, $19, $20, $21)",
    )
    .bind(job.id)
    .bind(&job.user_id)
    .bind(&job.agent)
    .bind(&job.dataset_id)
    .bind(serde_json::to_string(&job.parameters)?)
    .bind(job.backend.as_str())
    .bind(job.status.as_str())
    .bind(&job.correlation_id)
    .bind(at)
    .bind(at)
    .bind(serde_json::to_string(&job.resources)?)
    .bind(&job.account)
    .bind(&job.traceparent)
    .bind(job.cloned_from)
    .bind(i32::try_from(job.max_attempts).unwrap_or(i32::MAX))
    .bind(job.retry.as_ref().map(serde_json::to_string).transpose()?)
    .bind(
        (!job.depends_on.is_empty())
            .then(|| serde_json::to_string(&job.depends_on))
            .transpose()?,
    )
    .bind(job.waiting)
    .bind(job.sweep_id)
    .bind(
        job.sweep_index
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX)),
    )
    .bind(job.gated)
    .execute(&mut *conn)
    .await?;
    let payload = EventPayload::Submitted(SubmittedPayload {
        agent: job.agent.clone(),
        dataset_id: job.dataset_id.clone(),
        parameters: job.parameters.clone(),
        backend: job.backend,
    });
    let envelope = EventEnvelope::lifecycle(job, None, payload, Uuid::now_v7(), at);
    insert_event(conn, &envelope).await?;
    Ok(())
}

/// Decide and persist one command; the row is locked for the rest of the
/// transaction, and the update is a compare-and-set all the same.
pub(super) async fn apply(
    conn: &mut PgConnection,
    id: Uuid,
    command: Command,
    fence: Option<Fence>,
) -> Result<Applied, StoreError> {
    let row = sqlx::query("SELECT * FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound(id))?;
    let job = job_from_row(&row)?;
    if let Some(fence) = fence {
        let owner: Option<Uuid> = row.try_get("owner")?;
        if owner != Some(fence.process) || job.claim_epoch != fence.epoch {
            return Err(StoreError::Fenced(id));
        }
    }
    let crate::decide::Decided {
        previous,
        after,
        envelope,
    } = crate::decide::apply(&job, command)?;
    let error = after.error.as_ref();
    let updated = sqlx::query(
        "UPDATE jobs SET status = $1, remote_job_id = $2, error_code = $3, error_message = $4,
                error_exit_code = $5, updated_at = $6, started_at = $7, finished_at = $8,
                lifecycle_sequence = $9, location = $13, queued_at = $14, exit_code = $15,
                held = $16, resources = $17, attempt = $18, next_attempt_at = $19,
                handed_over_at = CASE WHEN $20 THEN handed_over_at ELSE NULL END
         WHERE id = $10 AND status = $11 AND lifecycle_sequence = $12",
    )
    .bind(after.status.as_str())
    .bind(&after.remote_job_id)
    .bind(error.map(|e| e.code.as_str()))
    .bind(error.map(|e| e.message.as_str()))
    .bind(error.and_then(|e| e.exit_code))
    .bind(after.updated_at)
    .bind(after.started_at)
    .bind(after.finished_at)
    .bind(to_i64(after.lifecycle_sequence)?)
    .bind(id)
    .bind(job.status.as_str())
    .bind(to_i64(job.lifecycle_sequence)?)
    .bind(&after.location)
    .bind(after.queued_at)
    .bind(after.exit_code)
    .bind(after.held)
    .bind(serde_json::to_string(&after.resources)?)
    .bind(i32::try_from(after.attempt).unwrap_or(i32::MAX))
    .bind(after.next_attempt_at)
    .bind(after.handed_over)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        debug!(job.id = %id, "compare-and-set on job {id} lost a race");
        return Err(StoreError::Conflict(id));
    }
    let event = insert_event(conn, &envelope).await?;
    Ok(Applied {
        previous,
        job: after,
        event,
    })
}

/// A metrics event, only while the job is active (a terminal event is a
/// job's last).
pub(super) async fn record_metrics(
    conn: &mut PgConnection,
    id: Uuid,
    sample: MetricsSample,
) -> Result<StoredEvent, StoreError> {
    let row = sqlx::query(
        "UPDATE jobs SET metrics_sequence = metrics_sequence + 1
         WHERE id = $1 AND status IN ('SUBMITTED', 'QUEUED', 'RUNNING') RETURNING *",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        return Err(match exists {
            Some(_) => StoreError::Ended(id),
            None => StoreError::NotFound(id),
        });
    };
    let job = job_from_row(&row)?;
    let envelope = EventEnvelope::metrics(&job, sample, Uuid::now_v7());
    insert_event(conn, &envelope).await
}

pub(super) async fn create_token(
    conn: &mut PgConnection,
    token_hash: &str,
    user_id: &str,
    admin: bool,
    expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, user_id, admin, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(admin)
    .bind(OffsetDateTime::now_utc())
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revoke the one live token whose hash starts with `id`; how many matched.
pub(super) async fn revoke_token(conn: &mut PgConnection, id: &str) -> Result<u64, StoreError> {
    if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(0);
    }
    let pattern = format!("{}%", id.to_ascii_lowercase());
    let matched: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE $1 AND revoked_at IS NULL",
    )
    .bind(&pattern)
    .fetch_one(&mut *conn)
    .await?;
    if matched == 1 {
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash LIKE $2 AND revoked_at IS NULL",
        )
        .bind(OffsetDateTime::now_utc())
        .bind(&pattern)
        .execute(&mut *conn)
        .await?;
    }
    Ok(u64::try_from(matched).unwrap_or(0))
}

pub(super) async fn unpark(conn: &mut PgConnection, job: Option<Uuid>) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE events SET parked_at = NULL
         WHERE published_at IS NULL AND parked_at IS NOT NULL AND ($1::uuid IS NULL OR job_id = $1)",
    )
    .bind(job)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// About to hand `jobs` to their scheduler: those still SUBMITTED and
/// owned by `process`.
pub(super) async fn mark_handing_over(
    conn: &mut PgConnection,
    process: Uuid,
    jobs: &[(Uuid, i64)],
) -> Result<Vec<Uuid>, StoreError> {
    let (ids, epochs): (Vec<Uuid>, Vec<i64>) = jobs.iter().copied().unzip();
    Ok(sqlx::query_scalar(
        "UPDATE jobs SET handed_over_at = COALESCE(handed_over_at, now())
          WHERE owner = $2 AND NOT held AND NOT waiting AND NOT gated
            AND (status = 'SUBMITTED' OR (status = 'QUEUED' AND next_attempt_at IS NOT NULL))
            AND (id, claim_epoch) IN (SELECT * FROM unnest($1::uuid[], $3::bigint[]))
         RETURNING id",
    )
    .bind(&ids)
    .bind(process)
    .bind(&epochs)
    .fetch_all(&mut *conn)
    .await?)
}

pub(super) async fn job_events(
    pool: &PgPool,
    id: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let after_position: i64 = match after {
        None => 0,
        Some(event) => {
            sqlx::query_scalar("SELECT position FROM events WHERE event_id = $1 AND job_id = $2")
                .bind(event)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::UnknownEvent { job: id, event })?
        }
    };
    let rows = sqlx::query(
        "SELECT * FROM events WHERE job_id = $1 AND position > $2 ORDER BY position LIMIT $3",
    )
    .bind(id)
    .bind(after_position)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// One audit record into the outbox: stream `audit`, its own id as job_id
/// (the Kafka key), sequence 1.
pub(super) async fn insert_audit(
    conn: &mut PgConnection,
    record: &horizon_core::AuditRecord,
) -> Result<(), StoreError> {
    let json = record.to_json()?;
    sqlx::query(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
         VALUES ($1, $1, 'audit', 1, $2, $3, now())",
    )
    .bind(record.event_id)
    .bind(EventType::AuditRecorded.as_str())
    .bind(&json)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn audit_records(
    pool: &PgPool,
    after: i64,
    limit: u32,
    filter: &AuditFilter,
) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, envelope FROM events
         WHERE stream = 'audit' AND position > $1
           AND ($2::text IS NULL OR envelope::jsonb ->> 'actor' = $2)
           AND ($4::text IS NULL OR envelope::jsonb ->> 'action' = $4)
           AND ($5::text IS NULL OR envelope::jsonb ->> 'target' = $5)
           AND ($6::text IS NULL OR envelope::jsonb ->> 'outcome' = $6)
           AND ($7::timestamptz IS NULL OR (envelope::jsonb ->> 'timestamp')::timestamptz >= $7)
           AND ($8::timestamptz IS NULL OR (envelope::jsonb ->> 'timestamp')::timestamptz < $8)
         ORDER BY position LIMIT $3",
    )
    .bind(after)
    .bind(&filter.actor)
    .bind(i64::from(limit))
    .bind(&filter.action)
    .bind(&filter.target)
    .bind(&filter.outcome)
    .bind(filter.since)
    .bind(filter.until)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("position")?, row.try_get("envelope")?)))
        .collect()
}

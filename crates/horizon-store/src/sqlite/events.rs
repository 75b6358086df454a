//! Status changes with compare-and-set, the event log, and the outbox.

use std::str::FromStr;

use horizon_core::{
    Command, EventEnvelope, EventPayload, EventStream, EventType, Job, JobStatus, MetricsSample,
    SubmittedPayload, transition,
};
use sqlx::{Row, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tracing::debug;
use uuid::Uuid;

use super::rows::{format_time, job_from_row, parse_time, parse_uuid};
use crate::StoreError;
use crate::params::{Applied, CreateJobParams, Created, OutboxEvent, ParkedEvent, StoredEvent};

pub(super) async fn insert_event(
    conn: &mut SqliteConnection,
    envelope: &EventEnvelope,
) -> Result<StoredEvent, StoreError> {
    let json = envelope.to_json()?;
    let stream = envelope.event_type.stream();
    sqlx::query(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(envelope.event_id.to_string())
    .bind(envelope.job_id.to_string())
    .bind(stream.as_str())
    .bind(i64::try_from(envelope.sequence).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .bind(envelope.event_type.as_str())
    .bind(&json)
    .bind(format_time(OffsetDateTime::now_utc()))
    .execute(&mut *conn)
    .await?;
    Ok(StoredEvent {
        event_id: envelope.event_id,
        job_id: envelope.job_id,
        event_type: envelope.event_type,
        stream,
        sequence: envelope.sequence,
        envelope: json,
    })
}

pub(super) async fn create_job(
    conn: &mut SqliteConnection,
    p: CreateJobParams,
) -> Result<Created, StoreError> {
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
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 0 {
            let row = sqlx::query(
                "SELECT request_hash, job_id FROM idempotency_keys WHERE user_id = ? AND key = ?",
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
            let job_id: String = row.try_get("job_id")?;
            let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
                .bind(&job_id)
                .fetch_one(&mut *conn)
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
        resources: p.resources,
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
                           correlation_id, created_at, updated_at, lifecycle_sequence,
                           resources)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
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
    .bind(serde_json::to_string(&job.resources)?)
    .execute(&mut *conn)
    .await?;
    let payload = EventPayload::Submitted(SubmittedPayload {
        agent: job.agent.clone(),
        dataset_id: job.dataset_id.clone(),
        parameters: job.parameters.clone(),
        backend: job.backend,
    });
    let envelope = EventEnvelope::lifecycle(&job, None, payload, Uuid::now_v7(), at);
    insert_event(conn, &envelope).await?;
    Ok(Created::New(job))
}

/// Decide and persist one command. The writer runs alone, so the row read
/// here is the row updated; the compare-and-set still guards against a
/// writer of another process.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    id: Uuid,
    command: Command,
) -> Result<Applied, StoreError> {
    let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound(id))?;
    let job = job_from_row(&row)?;
    let decided = transition(&job, command)?;
    let after = decided.apply_to(&job);
    let envelope = EventEnvelope::lifecycle(
        &after,
        Some(decided.from),
        decided.payload,
        Uuid::now_v7(),
        decided.at,
    );
    let error = after.error.as_ref();
    let updated = sqlx::query(
        "UPDATE jobs SET status = ?, remote_job_id = ?, error_code = ?, error_message = ?,
                error_exit_code = ?, updated_at = ?, started_at = ?, finished_at = ?,
                lifecycle_sequence = ?
         WHERE id = ? AND status = ? AND lifecycle_sequence = ?",
    )
    .bind(after.status.as_str())
    .bind(&after.remote_job_id)
    .bind(error.map(|e| e.code.as_str()))
    .bind(error.map(|e| e.message.as_str()))
    .bind(error.and_then(|e| e.exit_code))
    .bind(format_time(after.updated_at))
    .bind(after.started_at.map(format_time))
    .bind(after.finished_at.map(format_time))
    .bind(to_i64(after.lifecycle_sequence)?)
    .bind(id.to_string())
    .bind(job.status.as_str())
    .bind(to_i64(job.lifecycle_sequence)?)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        debug!(job.id = %id, "compare-and-set on job {id} lost a race");
        return Err(StoreError::Conflict(id));
    }
    let event = insert_event(conn, &envelope).await?;
    Ok(Applied {
        previous: decided.from,
        job: after,
        event,
    })
}

/// A metrics event, only while the job is active: a sample taken before the
/// job ended but written after it is refused (`Ended`), so a job's terminal
/// event is always its last.
pub(super) async fn record_metrics(
    conn: &mut SqliteConnection,
    id: Uuid,
    sample: MetricsSample,
) -> Result<StoredEvent, StoreError> {
    let row = sqlx::query(
        "UPDATE jobs SET metrics_sequence = metrics_sequence + 1
         WHERE id = ? AND status IN ('SUBMITTED', 'QUEUED', 'RUNNING') RETURNING *",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = ?")
            .bind(id.to_string())
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
    conn: &mut SqliteConnection,
    token_hash: &str,
    user_id: &str,
    admin: bool,
    expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, user_id, admin, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(i64::from(admin))
    .bind(format_time(OffsetDateTime::now_utc()))
    .bind(expires_at.map(format_time))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revoke the one live token whose hash starts with `id`; how many matched.
pub(super) async fn revoke_token(conn: &mut SqliteConnection, id: &str) -> Result<u64, StoreError> {
    if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(0);
    }
    let pattern = format!("{}%", id.to_ascii_lowercase());
    let matched: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE ? AND revoked_at IS NULL",
    )
    .bind(&pattern)
    .fetch_one(&mut *conn)
    .await?;
    if matched == 1 {
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_hash LIKE ? AND revoked_at IS NULL",
        )
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(&pattern)
        .execute(&mut *conn)
        .await?;
    }
    Ok(u64::try_from(matched).unwrap_or(0))
}

pub(super) async fn unpark(
    conn: &mut SqliteConnection,
    job: Option<Uuid>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE events SET parked_at = NULL, park_reason = NULL
         WHERE published_at IS NULL AND parked_at IS NOT NULL AND (?1 IS NULL OR job_id = ?1)",
    )
    .bind(job.map(|id| id.to_string()))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

fn event_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredEvent, StoreError> {
    let event_type: String = row.try_get("event_type")?;
    let stream: String = row.try_get("stream")?;
    let sequence: i64 = row.try_get("sequence")?;
    Ok(StoredEvent {
        event_id: parse_uuid(&row.try_get::<String, _>("event_id")?)?,
        job_id: parse_uuid(&row.try_get::<String, _>("job_id")?)?,
        event_type: EventType::from_str(&event_type)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        stream: EventStream::from_str(&stream).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        sequence: u64::try_from(sequence).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        envelope: row.try_get("envelope")?,
    })
}

pub(super) async fn job_events(
    pool: &SqlitePool,
    id: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let after_position: i64 = match after {
        None => 0,
        Some(event) => {
            sqlx::query_scalar("SELECT position FROM events WHERE event_id = ? AND job_id = ?")
                .bind(event.to_string())
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::UnknownEvent { job: id, event })?
        }
    };
    let rows = sqlx::query(
        "SELECT * FROM events WHERE job_id = ? AND position > ? ORDER BY position LIMIT ?",
    )
    .bind(id.to_string())
    .bind(after_position)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// Unpublished events after `after`, in commit order: the parked ones or
/// the others.
async fn outbox_rows(
    pool: &SqlitePool,
    parked: bool,
    after: i64,
    limit: u32,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
    let sql = if parked {
        "SELECT * FROM events WHERE published_at IS NULL AND parked_at IS NOT NULL AND position > ?
         ORDER BY position LIMIT ?"
    } else {
        "SELECT * FROM events WHERE published_at IS NULL AND parked_at IS NULL AND position > ?
         ORDER BY position LIMIT ?"
    };
    Ok(sqlx::query(sql)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?)
}

pub(super) async fn unpublished(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let rows = outbox_rows(pool, false, after, limit).await?;
    rows.iter()
        .map(|row| {
            Ok(OutboxEvent {
                position: row.try_get("position")?,
                created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
                event: event_from_row(row)?,
            })
        })
        .collect()
}

pub(super) async fn mark_published(
    conn: &mut SqliteConnection,
    positions: &[i64],
) -> Result<(), StoreError> {
    if positions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE events SET published_at = ? WHERE position IN (SELECT value FROM json_each(?))",
    )
    .bind(format_time(OffsetDateTime::now_utc()))
    .bind(serde_json::to_string(positions)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn park(
    conn: &mut SqliteConnection,
    positions: &[i64],
    reason: &str,
) -> Result<(), StoreError> {
    if positions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE events SET parked_at = ?, park_reason = ?
         WHERE published_at IS NULL AND position IN (SELECT value FROM json_each(?))",
    )
    .bind(format_time(OffsetDateTime::now_utc()))
    .bind(reason)
    .bind(serde_json::to_string(positions)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn parked(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<ParkedEvent>, StoreError> {
    let rows = outbox_rows(pool, true, after, limit).await?;
    rows.iter()
        .map(|row| {
            Ok(ParkedEvent {
                position: row.try_get("position")?,
                parked_at: parse_time(&row.try_get::<String, _>("parked_at")?)?,
                reason: row.try_get("park_reason")?,
                event: event_from_row(row)?,
            })
        })
        .collect()
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One audit record into the outbox: stream `audit`, its own id as job_id
/// (the Kafka key), sequence 1.
pub(super) async fn insert_audit(
    conn: &mut SqliteConnection,
    record: &horizon_core::AuditRecord,
) -> Result<(), StoreError> {
    let json = record.to_json()?;
    sqlx::query(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
         VALUES (?, ?, 'audit', 1, ?, ?, ?)",
    )
    .bind(record.event_id.to_string())
    .bind(record.event_id.to_string())
    .bind(EventType::AuditRecorded.as_str())
    .bind(&json)
    .bind(format_time(OffsetDateTime::now_utc()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn audit_records(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
    actor: Option<&str>,
) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, envelope FROM events
         WHERE stream = 'audit' AND position > ?1
           AND (?2 IS NULL OR json_extract(envelope, '$.actor') = ?2)
         ORDER BY position LIMIT ?3",
    )
    .bind(after)
    .bind(actor)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("position")?, row.try_get("envelope")?)))
        .collect()
}

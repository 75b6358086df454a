//! Status changes with compare-and-set, the event log, and the outbox.

use std::str::FromStr;

use horizon_core::{Command, EventEnvelope, EventStream, EventType, MetricsSample, transition};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;
use tracing::debug;
use uuid::Uuid;

use super::rows::{format_time, job_from_row, parse_time, parse_uuid};
use crate::StoreError;
use crate::params::{Applied, OutboxEvent, ParkedEvent, StoredEvent};

/// How often `apply` re-reads and re-decides when the job changed between its
/// read and its compare-and-set.
const CAS_ATTEMPTS: usize = 5;

pub(super) async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
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
    .execute(&mut **tx)
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

pub(super) async fn apply(
    pool: &SqlitePool,
    id: Uuid,
    command: Command,
) -> Result<Applied, StoreError> {
    for attempt in 1..=CAS_ATTEMPTS {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?
            .ok_or(StoreError::NotFound(id))?;
        let job = job_from_row(&row)?;
        let decided = transition(&job, command.clone())?;
        let after = decided.apply_to(&job);
        let envelope = EventEnvelope::lifecycle(
            &after,
            Some(decided.from),
            decided.payload,
            Uuid::now_v7(),
            decided.at,
        );
        let mut tx = pool.begin().await?;
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            debug!(job.id = %id, attempt, "compare-and-set on job {id} lost a race; re-reading");
            continue;
        }
        let event = insert_event(&mut tx, &envelope).await?;
        tx.commit().await?;
        return Ok(Applied {
            previous: decided.from,
            job: after,
            event,
        });
    }
    Err(StoreError::Conflict(id))
}

pub(super) async fn record_metrics(
    pool: &SqlitePool,
    id: Uuid,
    sample: MetricsSample,
) -> Result<StoredEvent, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "UPDATE jobs SET metrics_sequence = metrics_sequence + 1 WHERE id = ? RETURNING *",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound(id))?;
    let job = job_from_row(&row)?;
    let envelope = EventEnvelope::metrics(&job, sample, Uuid::now_v7());
    let event = insert_event(&mut tx, &envelope).await?;
    tx.commit().await?;
    Ok(event)
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

pub(super) async fn unpublished(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM events WHERE published_at IS NULL AND parked_at IS NULL AND position > ?
         ORDER BY position LIMIT ?",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
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

pub(super) async fn mark_published(pool: &SqlitePool, positions: &[i64]) -> Result<(), StoreError> {
    if positions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE events SET published_at = ? WHERE position IN (SELECT value FROM json_each(?))",
    )
    .bind(format_time(OffsetDateTime::now_utc()))
    .bind(serde_json::to_string(positions)?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn park(
    pool: &SqlitePool,
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
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn parked(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<ParkedEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM events WHERE published_at IS NULL AND parked_at IS NOT NULL AND position > ?
         ORDER BY position LIMIT ?",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
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

//! Retention on PostgreSQL: ended jobs with their events, outbox numbers
//! and idempotency keys, and old audit records, deleted a batch at a time
//! (writer operations, one statement each).
//!
//! The outbox number with the highest `seq` is never deleted, even when
//! its event is: the sequencer numbers new events after the highest `seq`
//! it finds, and a relay whose position is committed to Kafka goes on after
//! that position. Deleting it (retention taking the newest events of an
//! idle deployment) handed the same numbers out again, and the relay
//! skipped the new events they were given.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// Up to `limit` ended jobs that finished before `before` (none with an
/// event not yet published when `published_only`), deleted; their ids.
pub(super) async fn prune_jobs(
    conn: &mut PgConnection,
    before: OffsetDateTime,
    published_only: bool,
    limit: u32,
) -> Result<Vec<Uuid>, StoreError> {
    // (a job another transaction holds is left for the next batch)
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "WITH doomed AS (
            SELECT id FROM jobs j
             WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND finished_at < $1
               AND (NOT $2 OR NOT EXISTS (SELECT 1 FROM events e
                                           WHERE e.job_id = j.id AND e.published_at IS NULL))
             ORDER BY finished_at LIMIT $3
             FOR UPDATE SKIP LOCKED),
         numbers AS (DELETE FROM event_order o USING events e, doomed d
                      WHERE o.position = e.position AND e.job_id = d.id
                        AND o.seq < (SELECT max(seq) FROM event_order)),
         events AS (DELETE FROM events e USING doomed d WHERE e.job_id = d.id),
         keys AS (DELETE FROM idempotency_keys k USING doomed d WHERE k.job_id = d.id)
         DELETE FROM jobs j USING doomed d WHERE j.id = d.id RETURNING j.id",
    )
    .bind(before)
    .bind(published_only)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    // then the sweeps that completed before `before` and have no job left,
    // with their events (published ones only when `published_only`)
    sqlx::query(
        "WITH doomed AS (
            SELECT id FROM sweeps s
             WHERE completed_at < $1
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.sweep_id = s.id)
               AND (NOT $2 OR NOT EXISTS (SELECT 1 FROM events e
                                           WHERE e.job_id = s.id AND e.published_at IS NULL))
             LIMIT $3
             FOR UPDATE SKIP LOCKED),
         numbers AS (DELETE FROM event_order o USING events e, doomed d
                      WHERE o.position = e.position AND e.job_id = d.id
                        AND o.seq < (SELECT max(seq) FROM event_order)),
         events AS (DELETE FROM events e USING doomed d WHERE e.job_id = d.id)
         DELETE FROM sweeps s USING doomed d WHERE s.id = d.id",
    )
    .bind(before)
    .bind(published_only)
    .bind(i64::from(limit))
    .execute(&mut *conn)
    .await?;
    Ok(ids)
}

/// Up to `limit` audit records older than `before` (published ones only
/// when `published_only`), deleted; how many.
pub(super) async fn prune_audit(
    conn: &mut PgConnection,
    before: OffsetDateTime,
    published_only: bool,
    limit: u32,
) -> Result<u64, StoreError> {
    let done: Vec<i64> = sqlx::query_scalar(
        "WITH doomed AS (
            SELECT position FROM events
             WHERE stream = 'audit' AND created_at < $1 AND (NOT $2 OR published_at IS NOT NULL)
             ORDER BY position LIMIT $3),
         numbers AS (DELETE FROM event_order o USING doomed d WHERE o.position = d.position
                        AND o.seq < (SELECT max(seq) FROM event_order))
         DELETE FROM events e USING doomed d WHERE e.position = d.position RETURNING e.position",
    )
    .bind(before)
    .bind(published_only)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    Ok(done.len() as u64)
}

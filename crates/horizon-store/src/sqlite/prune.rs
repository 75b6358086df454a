//! Retention on SQLite: ended jobs with their events and idempotency keys,
//! and old audit records, deleted a batch at a time (writer operations).

use rusqlite::{Connection, params_from_iter};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::format_time;
use crate::StoreError;

/// Up to `limit` ended jobs that finished before `before` (none with an
/// event not yet published when `published_only`), deleted; their ids.
pub(super) fn prune_jobs(
    conn: &Connection,
    before: OffsetDateTime,
    published_only: bool,
    limit: u32,
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM jobs j
              WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND finished_at < ?1
                AND (?2 = 0 OR NOT EXISTS (SELECT 1 FROM events e
                                            WHERE e.job_id = j.id AND e.published_at IS NULL))
              ORDER BY finished_at LIMIT ?3",
        )?
        .query_map(
            rusqlite::params![format_time(before), published_only, limit],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        prune_sweeps(conn, before, published_only, limit)?;
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    for table in ["events", "idempotency_keys", "jobs"] {
        let column = if table == "jobs" { "id" } else { "job_id" };
        conn.execute(
            &format!("DELETE FROM {table} WHERE {column} IN ({marks})"),
            params_from_iter(ids.iter()),
        )?;
    }
    prune_sweeps(conn, before, published_only, limit)?;
    ids.iter()
        .map(|id| Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// Sweeps that completed before `before` and have no job left (retention
/// took them all), with their events (published ones only when
/// `published_only`).
fn prune_sweeps(
    conn: &Connection,
    before: OffsetDateTime,
    published_only: bool,
    limit: u32,
) -> Result<(), StoreError> {
    let doomed = "SELECT id FROM sweeps s
                   WHERE completed_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.sweep_id = s.id)
                     AND (?2 = 0 OR NOT EXISTS (SELECT 1 FROM events e
                                                 WHERE e.job_id = s.id AND e.published_at IS NULL))
                   LIMIT ?3";
    let args = rusqlite::params![format_time(before), published_only, limit];
    conn.prepare_cached(&format!("DELETE FROM events WHERE job_id IN ({doomed})"))?
        .execute(args)?;
    conn.prepare_cached(&format!("DELETE FROM sweeps WHERE id IN ({doomed})"))?
        .execute(args)?;
    Ok(())
}

/// Up to `limit` audit records older than `before` (published ones only
/// when `published_only`), deleted; how many.
pub(super) fn prune_audit(
    conn: &Connection,
    before: OffsetDateTime,
    published_only: bool,
    limit: u32,
) -> Result<u64, StoreError> {
    let done = conn
        .prepare_cached(
            "DELETE FROM events WHERE position IN (
                SELECT position FROM events
                 WHERE stream = 'audit' AND created_at < ?1
                   AND (?2 = 0 OR published_at IS NOT NULL)
                 ORDER BY position LIMIT ?3)",
        )?
        .execute(rusqlite::params![
            format_time(before),
            published_only,
            limit
        ])?;
    Ok(u64::try_from(done).unwrap_or(0))
}

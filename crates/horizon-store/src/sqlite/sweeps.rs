//! Sweeps on SQLite (see `postgres/sweeps.rs`): made in the writer's
//! transaction, read with their counts, tended by the one process.

use std::collections::BTreeMap;
use std::str::FromStr;

use horizon_core::JobStatus;
use horizon_core::sweep::{Sweep, SweepEnvelope};
use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{Columns, format_time, parse_time, parse_uuid};
use super::write::{insert_audit, insert_job, now};
use crate::StoreError;
use crate::params::{CreateSweepParams, SweepCreated, SweepPlace, SweepsTended};

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

/// The columns of a sweep's row, read before its counts.
struct SweepRow {
    sweep: Sweep,
    request_hash: Option<String>,
    /// Its unfinished jobs still gated.
    gated: u64,
}

fn sweep_from_row(row: &Row<'_>) -> Result<SweepRow, StoreError> {
    Ok(SweepRow {
        sweep: Sweep {
            id: parse_uuid(&row.required_text("id")?)?,
            user_id: row.required_text("user_id")?,
            agent: row.required_text("agent")?,
            size: u32::try_from(row.required_int("size")?).map_err(corrupt)?,
            concurrency_limit: row
                .int("concurrency_limit")?
                .map(u32::try_from)
                .transpose()
                .map_err(corrupt)?,
            correlation_id: row.required_text("correlation_id")?,
            created_at: parse_time(&row.required_text("created_at")?)?,
            completed_at: row
                .text("completed_at")?
                .map(|t| parse_time(&t))
                .transpose()?,
            counts: BTreeMap::new(),
        },
        request_hash: row.text("request_hash")?,
        gated: 0,
    })
}

/// How many of a sweep's jobs are in each status, and how many unfinished
/// ones are gated.
fn counts(conn: &Connection, id: Uuid) -> Result<(BTreeMap<JobStatus, u64>, u64), StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT status, gated, count(*) FROM jobs WHERE sweep_id = ? GROUP BY status, gated",
    )?;
    let mut rows = statement.query([id.to_string()])?;
    let mut counts = BTreeMap::new();
    let mut gated = 0;
    while let Some(row) = rows.next()? {
        let status = JobStatus::from_str(&row.get::<_, String>(0)?).map_err(corrupt)?;
        let is_gated: i64 = row.get(1)?;
        let n = u64::try_from(row.get::<_, i64>(2)?).map_err(corrupt)?;
        *counts.entry(status).or_insert(0) += n;
        if is_gated != 0 && !status.is_terminal() {
            gated += n;
        }
    }
    Ok((counts, gated))
}

fn read_sweep(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Option<SweepRow>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(p)?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut found = sweep_from_row(row)?;
    (found.sweep.counts, found.gated) = counts(conn, found.sweep.id)?;
    Ok(Some(found))
}

pub(super) fn get_sweep(conn: &Connection, id: Uuid) -> Result<Option<Sweep>, StoreError> {
    Ok(read_sweep(conn, "SELECT * FROM sweeps WHERE id = ?", [id.to_string()])?.map(|r| r.sweep))
}

pub(super) fn create_sweep(
    conn: &Connection,
    mut p: CreateSweepParams,
) -> Result<SweepCreated, StoreError> {
    if let Some(idem) = &p.idempotency {
        let found = read_sweep(
            conn,
            "SELECT * FROM sweeps WHERE user_id = ? AND idempotency_key = ?",
            params![&p.user_id, &idem.key],
        )?;
        if let Some(found) = found {
            if found.request_hash.as_deref() != Some(idem.request_hash.as_str()) {
                return Err(StoreError::IdempotencyMismatch {
                    key: idem.key.clone(),
                });
            }
            // (a replay is audited like the request that made it)
            if let Some(mut record) = p.audit.take() {
                record.target = Some(found.sweep.id.to_string());
                insert_audit(conn, &record)?;
            }
            return Ok(SweepCreated::Replayed(found.sweep));
        }
    }
    let at = horizon_core::truncate_to_millis(p.created_at);
    let size = u32::try_from(p.jobs.len()).map_err(corrupt)?;
    let sweep = Sweep {
        id: p.id,
        user_id: p.user_id.clone(),
        agent: p.agent.clone(),
        size,
        concurrency_limit: p.concurrency_limit,
        correlation_id: p.correlation_id.clone(),
        created_at: at,
        completed_at: None,
        counts: BTreeMap::from([(JobStatus::Submitted, u64::from(size))]),
    };
    conn.prepare_cached(
        "INSERT INTO sweeps (id, user_id, agent, size, concurrency_limit, correlation_id,
                             created_at, idempotency_key, request_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        sweep.id.to_string(),
        &sweep.user_id,
        &sweep.agent,
        size,
        sweep.concurrency_limit,
        &sweep.correlation_id,
        format_time(at),
        p.idempotency.as_ref().map(|i| &i.key),
        p.idempotency.as_ref().map(|i| &i.request_hash),
    ])?;
    insert_sweep_event(conn, &SweepEnvelope::submitted(&sweep, Uuid::now_v7()))?;
    let open = match (p.gate, p.concurrency_limit) {
        (true, Some(limit)) => limit,
        _ => u32::MAX,
    };
    for (index, job) in std::mem::take(&mut p.jobs).into_iter().enumerate() {
        let index = u32::try_from(index).map_err(corrupt)?;
        let place = SweepPlace {
            id: sweep.id,
            index,
            gated: index >= open,
        };
        insert_job(conn, &job.into_job(at, Some(place)))?;
    }
    if let Some(mut record) = p.audit.take() {
        record.target = Some(sweep.id.to_string());
        insert_audit(conn, &record)?;
    }
    Ok(SweepCreated::New(sweep))
}

fn insert_sweep_event(conn: &Connection, envelope: &SweepEnvelope) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
         VALUES (?, ?, 'lifecycle', ?, ?, ?, ?)",
    )?
    .execute(params![
        envelope.event_id.to_string(),
        envelope.sweep_id.to_string(),
        i64::try_from(envelope.sequence).map_err(corrupt)?,
        envelope.event_type.as_str(),
        envelope.to_json()?,
        now(),
    ])?;
    Ok(())
}

/// Release gated jobs of sweeps with room; complete sweeps whose jobs all
/// ended.
pub(super) fn tend_sweeps(conn: &Connection) -> Result<SweepsTended, StoreError> {
    let open: Vec<String> = {
        let mut statement =
            conn.prepare_cached("SELECT id FROM sweeps WHERE completed_at IS NULL ORDER BY id")?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut tended = SweepsTended::default();
    for id in open {
        let Some(found) = read_sweep(conn, "SELECT * FROM sweeps WHERE id = ?", [&id])? else {
            continue;
        };
        let (mut sweep, gated) = (found.sweep, found.gated);
        let unfinished: u64 = sweep
            .counts
            .iter()
            .filter(|(s, _)| !s.is_terminal())
            .map(|(_, n)| n)
            .sum();
        if unfinished == 0 {
            let at = horizon_core::truncate_to_millis(OffsetDateTime::now_utc());
            conn.prepare_cached("UPDATE sweeps SET completed_at = ? WHERE id = ?")?
                .execute(params![format_time(at), &id])?;
            sweep.completed_at = Some(at);
            insert_sweep_event(conn, &SweepEnvelope::completed(&sweep, Uuid::now_v7(), at))?;
            tended.completed.push(sweep.id);
            continue;
        }
        let Some(limit) = sweep.concurrency_limit else {
            continue;
        };
        let room = u64::from(limit).saturating_sub(unfinished - gated);
        if gated == 0 || room == 0 {
            continue;
        }
        let released = conn
            .prepare_cached(
                "UPDATE jobs SET gated = 0 WHERE id IN (
                    SELECT id FROM jobs WHERE sweep_id = ? AND gated = 1 AND status = 'SUBMITTED'
                     ORDER BY sweep_index LIMIT ?)",
            )?
            .execute(params![&id, i64::try_from(room).unwrap_or(i64::MAX)])?;
        tended.released += released as u64;
    }
    Ok(tended)
}

//! Sweeps on PostgreSQL: made with all their jobs in one transaction, read
//! with their counts, and tended (gated jobs released, ended sweeps
//! completed) by whichever process gets there first.

use std::collections::BTreeMap;
use std::str::FromStr;

use horizon_core::JobStatus;
use horizon_core::sweep::{Sweep, SweepEnvelope};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::{insert_audit, insert_job};
use crate::StoreError;
use crate::params::{CreateSweepParams, SweepCreated, SweepPlace, SweepsTended};

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Sweeps read per page of a round (a round reads them all).
const TEND: i64 = 500;

fn sweep_from_row(row: &PgRow, counts: BTreeMap<JobStatus, u64>) -> Result<Sweep, StoreError> {
    Ok(Sweep {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        agent: row.try_get("agent")?,
        size: u32::try_from(row.try_get::<i32, _>("size")?).map_err(corrupt)?,
        concurrency_limit: row
            .try_get::<Option<i32>, _>("concurrency_limit")?
            .map(|n| u32::try_from(n).map_err(corrupt))
            .transpose()?,
        correlation_id: row.try_get("correlation_id")?,
        created_at: row.try_get("created_at")?,
        completed_at: row.try_get("completed_at")?,
        counts,
    })
}

/// How many of a sweep's jobs are in each status (gated ones apart).
async fn counts<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<(BTreeMap<JobStatus, u64>, u64), StoreError> {
    let rows: Vec<(String, bool, i64)> = sqlx::query_as(
        "SELECT status, gated, count(*) FROM jobs WHERE sweep_id = $1 GROUP BY status, gated",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let mut counts = BTreeMap::new();
    let mut gated = 0;
    for (status, is_gated, n) in rows {
        let status = JobStatus::from_str(&status).map_err(corrupt)?;
        let n = u64::try_from(n).map_err(corrupt)?;
        *counts.entry(status).or_insert(0) += n;
        if is_gated && !status.is_terminal() {
            gated += n;
        }
    }
    Ok((counts, gated))
}

pub(super) async fn get_sweep(pool: &sqlx::PgPool, id: Uuid) -> Result<Option<Sweep>, StoreError> {
    let Some(row) = sqlx::query("SELECT * FROM sweeps WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let (counts, _) = counts(pool, id).await?;
    sweep_from_row(&row, counts).map(Some)
}

pub(super) async fn create_sweep(
    conn: &mut PgConnection,
    mut p: CreateSweepParams,
) -> Result<SweepCreated, StoreError> {
    if let Some(idem) = &p.idempotency {
        let found = sqlx::query(
            "SELECT * FROM sweeps WHERE user_id = $1 AND idempotency_key = $2 FOR UPDATE",
        )
        .bind(&p.user_id)
        .bind(&idem.key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = found {
            let hash: Option<String> = row.try_get("request_hash")?;
            if hash.as_deref() != Some(idem.request_hash.as_str()) {
                return Err(StoreError::IdempotencyMismatch {
                    key: idem.key.clone(),
                });
            }
            let id: Uuid = row.try_get("id")?;
            let (counts, _) = counts(&mut *conn, id).await?;
            // (a replay is audited like the request that made it)
            if let Some(mut record) = p.audit.take() {
                record.target = Some(id.to_string());
                insert_audit(conn, &record).await?;
            }
            return Ok(SweepCreated::Replayed(sweep_from_row(&row, counts)?));
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
    sqlx::query(
        "INSERT INTO sweeps (id, user_id, agent, size, concurrency_limit, correlation_id,
                             created_at, idempotency_key, request_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(sweep.id)
    .bind(&sweep.user_id)
    .bind(&sweep.agent)
    .bind(to_i32(size))
    .bind(sweep.concurrency_limit.map(to_i32))
    .bind(&sweep.correlation_id)
    .bind(at)
    .bind(p.idempotency.as_ref().map(|i| &i.key))
    .bind(p.idempotency.as_ref().map(|i| &i.request_hash))
    .execute(&mut *conn)
    .await?;
    // the sweep's first event before its jobs' (its consumers meet the
    // sweep before any of its points)
    let envelope = SweepEnvelope::submitted(&sweep, Uuid::now_v7());
    insert_sweep_event(conn, &envelope).await?;
    let open = if p.gate {
        p.concurrency_limit.unwrap_or(u32::MAX)
    } else {
        u32::MAX
    };
    for (index, job) in std::mem::take(&mut p.jobs).into_iter().enumerate() {
        let index = u32::try_from(index).map_err(corrupt)?;
        let place = SweepPlace {
            id: sweep.id,
            index,
            gated: index >= open,
        };
        insert_job(conn, &job.into_job(at, Some(place))).await?;
    }
    if let Some(mut record) = p.audit.take() {
        record.target = Some(sweep.id.to_string());
        insert_audit(conn, &record).await?;
    }
    Ok(SweepCreated::New(sweep))
}

async fn insert_sweep_event(
    conn: &mut PgConnection,
    envelope: &SweepEnvelope,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
         VALUES ($1, $2, 'lifecycle', $3, $4, $5, $6)",
    )
    .bind(envelope.event_id)
    .bind(envelope.sweep_id)
    .bind(i64::try_from(envelope.sequence).map_err(corrupt)?)
    .bind(envelope.event_type.as_str())
    .bind(envelope.to_json()?)
    .bind(OffsetDateTime::now_utc())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Release gated jobs of sweeps with room, and complete sweeps whose jobs
/// all ended. Sweeps another process is tending are skipped.
pub(super) async fn tend_sweeps(conn: &mut PgConnection) -> Result<SweepsTended, StoreError> {
    let mut tended = SweepsTended::default();
    let mut after: Option<Uuid> = None;
    loop {
        let rows = sqlx::query(
            "SELECT * FROM sweeps WHERE completed_at IS NULL AND ($2::uuid IS NULL OR id > $2)
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(TEND)
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
        let full = rows.len() == TEND as usize;
        after = rows.last().map(|r| r.try_get("id")).transpose()?;
        tend_page(conn, rows, &mut tended).await?;
        if !full {
            return Ok(tended);
        }
    }
}

async fn tend_page(
    conn: &mut PgConnection,
    rows: Vec<PgRow>,
    tended: &mut SweepsTended,
) -> Result<(), StoreError> {
    for row in rows {
        let id: Uuid = row.try_get("id")?;
        let (counts, gated) = counts(&mut *conn, id).await?;
        let mut sweep = sweep_from_row(&row, counts)?;
        let unfinished: u64 = sweep
            .counts
            .iter()
            .filter(|(s, _)| !s.is_terminal())
            .map(|(_, n)| n)
            .sum();
        if unfinished == 0 {
            let at = horizon_core::truncate_to_millis(OffsetDateTime::now_utc());
            sqlx::query("UPDATE sweeps SET completed_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            sweep.completed_at = Some(at);
            let envelope = SweepEnvelope::completed(&sweep, Uuid::now_v7(), at);
            insert_sweep_event(conn, &envelope).await?;
            tended.completed.push(id);
            continue;
        }
        let Some(limit) = sweep.concurrency_limit else {
            continue;
        };
        let room = u64::from(limit).saturating_sub(unfinished - gated);
        if gated == 0 || room == 0 {
            continue;
        }
        let released = sqlx::query(
            "UPDATE jobs SET gated = false WHERE id IN (
                SELECT id FROM jobs WHERE sweep_id = $1 AND gated AND status = 'SUBMITTED'
                 ORDER BY sweep_index LIMIT $2)",
        )
        .bind(id)
        .bind(i64::try_from(room).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        tended.released += released;
    }
    Ok(())
}

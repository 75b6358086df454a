//! Every read of the SQLite store, on a small pool of rusqlite connections
//! used from tokio's blocking threads (WAL lets them read beside the
//! writer). One query and all its rows cost one hop to a blocking thread;
//! through sqlx every row came back over a channel from a worker thread.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use horizon_core::{EventStream, EventType, Job, JobStatus};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::rows::{Columns, format_time, job_from_row, parse_time, parse_uuid};
use crate::StoreError;
use crate::params::{
    AuditFilter, JobTiming, ListJobsParams, OutboxEvent, ParkedEvent, ReplayFilter, ReplaySpan,
    StoredEvent, TokenInfo, TokenOwner,
};

/// Connections kept open for reads, at most.
const KEEP: usize = 4;

/// A pool of read connections.
#[derive(Debug, Clone)]
pub(super) struct Readers {
    path: Arc<std::path::PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    pub(super) fn new(path: std::path::PathBuf) -> Self {
        Readers {
            path: Arc::new(path),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Run `read` on a connection of the pool, on a blocking thread.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = readers.idle.lock().ok().and_then(|mut idle| idle.pop());
            let conn = match taken {
                Some(conn) => conn,
                None => super::open_connection(&readers.path)?,
            };
            let result = read(&conn);
            // a connection that failed is not kept (the next read opens anew)
            let failed = matches!(&result, Err(err) if err.is_unavailable());
            if !failed
                && let Ok(mut idle) = readers.idle.lock()
                && idle.len() < KEEP
            {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|err| StoreError::Unavailable(format!("a database read stopped: {err}")))?
    }
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn event_from_row(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        event_id: parse_uuid(&row.required_text("event_id")?)?,
        job_id: parse_uuid(&row.required_text("job_id")?)?,
        event_type: EventType::from_str(&row.required_text("event_type")?).map_err(corrupt)?,
        stream: EventStream::from_str(&row.required_text("stream")?).map_err(corrupt)?,
        sequence: u64::try_from(row.required_int("sequence")?).map_err(corrupt)?,
        envelope: row.required_text("envelope")?,
        // (a column some reads leave out)
        traceparent: row.text("traceparent").ok().flatten(),
    })
}

/// Every row of a query, each through `convert`.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    convert: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(convert(row)?);
    }
    Ok(out)
}

fn count(conn: &Connection, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.prepare_cached(sql)?.query_row([], |row| row.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(super) fn get_job(conn: &Connection, id: Uuid) -> Result<Option<Job>, StoreError> {
    let mut jobs = collect(
        conn,
        "SELECT * FROM jobs WHERE id = ?",
        [id.to_string()],
        |row| job_from_row(row),
    )?;
    Ok(jobs.pop())
}

pub(super) fn list_jobs(conn: &Connection, p: ListJobsParams) -> Result<Vec<Job>, StoreError> {
    collect(
        conn,
        "SELECT * FROM jobs
         WHERE (?1 IS NULL OR user_id = ?1)
           AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR id < ?3)
           AND (?5 IS NULL OR agent = ?5)
           AND (?6 IS NULL OR dataset_id = ?6)
           AND (?7 IS NULL OR created_at >= ?7)
           AND (?8 IS NULL OR created_at < ?8)
           AND (?9 IS NULL OR cloned_from = ?9)
           AND (?10 IS NULL OR sweep_id = ?10)
         ORDER BY id DESC LIMIT ?4",
        params![
            p.user_id,
            (!p.statuses.is_empty()).then(|| {
                serde_json::Value::from(
                    p.statuses.iter().map(|s| s.as_str()).collect::<Vec<&str>>(),
                )
                .to_string()
            }),
            p.before.map(|id| id.to_string()),
            i64::from(p.limit),
            p.agent,
            p.dataset_id,
            p.created_after.map(format_time),
            p.created_before.map(format_time),
            p.cloned_from.map(|id| id.to_string()),
            p.sweep_id.map(|id| id.to_string()),
        ],
        |row| job_from_row(row),
    )
}

pub(super) fn job_timings(
    conn: &Connection,
    user: Option<&str>,
    since: time::OffsetDateTime,
    limit: u32,
) -> Result<Vec<JobTiming>, StoreError> {
    collect(
        conn,
        "SELECT agent, status, queued_at, started_at, finished_at FROM jobs
         WHERE (?1 IS NULL OR user_id = ?1) AND created_at >= ?2
         ORDER BY id DESC LIMIT ?3",
        params![user, format_time(since), i64::from(limit)],
        |row| {
            Ok(JobTiming {
                agent: row.required_text("agent")?,
                status: JobStatus::from_str(&row.required_text("status")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                queued_at: opt_time(row, "queued_at")?,
                started_at: opt_time(row, "started_at")?,
                finished_at: opt_time(row, "finished_at")?,
            })
        },
    )
}

pub(super) fn jobs_in_status(
    conn: &Connection,
    backend: &str,
    statuses: &str,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Job>, StoreError> {
    collect(
        conn,
        "SELECT * FROM jobs WHERE backend = ? AND status IN (SELECT value FROM json_each(?))
           AND id > ? AND NOT (status = 'SUBMITTED' AND (waiting = 1 OR gated = 1))
         ORDER BY id LIMIT ?",
        params![
            backend,
            statuses,
            after.map_or_else(String::new, |id| id.to_string()),
            i64::from(limit),
        ],
        |row| job_from_row(row),
    )
}

pub(super) fn scheduler_dependent_jobs(
    conn: &Connection,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Job>, StoreError> {
    collect(
        conn,
        "SELECT * FROM jobs
          WHERE scheduler_dependency IS NOT NULL AND status IN ('SUBMITTED', 'QUEUED') AND id > ?
          ORDER BY id LIMIT ?",
        params![
            after.map_or_else(String::new, |id| id.to_string()),
            i64::from(limit)
        ],
        |row| job_from_row(row),
    )
}

pub(super) fn waiting_jobs(
    conn: &Connection,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Job>, StoreError> {
    collect(
        conn,
        "SELECT * FROM jobs WHERE waiting = 1 AND status = 'SUBMITTED' AND id > ?
          ORDER BY id LIMIT ?",
        params![
            after.map_or_else(String::new, |id| id.to_string()),
            i64::from(limit)
        ],
        |row| job_from_row(row),
    )
}

pub(super) fn due_attempts(
    conn: &Connection,
    backend: &str,
    now: &str,
    limit: u32,
) -> Result<Vec<Job>, StoreError> {
    collect(
        conn,
        "SELECT * FROM jobs WHERE backend = ? AND status = 'QUEUED' AND next_attempt_at <= ?
           AND held = 0 ORDER BY next_attempt_at LIMIT ?",
        params![backend, now, i64::from(limit)],
        |row| job_from_row(row),
    )
}

pub(super) fn count_by_status(conn: &Connection) -> Result<Vec<(JobStatus, u64)>, StoreError> {
    collect(
        conn,
        "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status",
        [],
        |row| {
            let status = JobStatus::from_str(&row.required_text("status")?).map_err(corrupt)?;
            Ok((status, u64::try_from(row.required_int("n")?).unwrap_or(0)))
        },
    )
}

pub(super) fn job_events(
    conn: &Connection,
    id: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let after_position: i64 = match after {
        None => 0,
        Some(event) => conn
            .prepare_cached("SELECT position FROM events WHERE event_id = ? AND job_id = ?")?
            .query_row([event.to_string(), id.to_string()], |row| row.get(0))
            .optional()?
            .ok_or(StoreError::UnknownEvent { job: id, event })?,
    };
    collect(
        conn,
        "SELECT * FROM events WHERE job_id = ? AND position > ? ORDER BY position LIMIT ?",
        params![id.to_string(), after_position, i64::from(limit)],
        event_from_row,
    )
}

pub(super) fn unpublished(
    conn: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    collect(
        conn,
        "SELECT * FROM events WHERE published_at IS NULL AND parked_at IS NULL AND position > ?
         ORDER BY position LIMIT ?",
        params![after, i64::from(limit)],
        outbox_from_row,
    )
}

/// An `events` row as an outbox event.
fn outbox_from_row(row: &Row<'_>) -> Result<OutboxEvent, StoreError> {
    Ok(OutboxEvent {
        position: row.required_int("position")?,
        created_at: parse_time(&row.required_text("created_at")?)?,
        event: event_from_row(row)?,
    })
}

/// The stored events a replay selects, after `after`.
pub(super) fn replay(
    conn: &Connection,
    filter: &ReplayFilter,
    after: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    collect(
        conn,
        "SELECT * FROM events WHERE position > ?1 AND position >= ?2
           AND (?3 IS NULL OR job_id = ?3) AND (?4 IS NULL OR created_at >= ?4)
           AND (?6 IS NULL OR position <= ?6)
           AND (?7 IS NULL OR job_id IN (SELECT id FROM jobs WHERE user_id = ?7))
           AND (NOT ?8 OR stream <> 'audit')
         ORDER BY position LIMIT ?5",
        params![
            after,
            filter.from_position.unwrap_or(0),
            filter.job_id.map(|id| id.to_string()),
            filter.since.map(format_time),
            i64::from(limit),
            filter.through_position,
            filter.user_id,
            filter.jobs_only
        ],
        outbox_from_row,
    )
}

pub(super) fn replay_span(
    conn: &Connection,
    filter: &ReplayFilter,
) -> Result<ReplaySpan, StoreError> {
    let (n, last): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(MAX(position), 0) FROM events WHERE position >= ?1
               AND (?2 IS NULL OR job_id = ?2) AND (?3 IS NULL OR created_at >= ?3)
               AND (?4 IS NULL OR position <= ?4)
               AND (?5 IS NULL OR job_id IN (SELECT id FROM jobs WHERE user_id = ?5))
               AND (NOT ?6 OR stream <> 'audit')",
        )?
        .query_row(
            params![
                filter.from_position.unwrap_or(0),
                filter.job_id.map(|id| id.to_string()),
                filter.since.map(format_time),
                filter.through_position,
                filter.user_id,
                filter.jobs_only
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
    Ok(ReplaySpan {
        count: u64::try_from(n).unwrap_or(0),
        last_position: last,
    })
}

/// Un-parked events waiting to be sent again, up to `through`.
pub(super) fn unparked(
    conn: &Connection,
    through: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    collect(
        conn,
        "SELECT * FROM events WHERE published_at IS NULL AND parked_at IS NULL
           AND park_reason IS NOT NULL AND position <= ?
         ORDER BY position LIMIT ?",
        params![through, i64::from(limit)],
        outbox_from_row,
    )
}

pub(super) fn outbox_depth(conn: &Connection) -> Result<u64, StoreError> {
    count(
        conn,
        "SELECT COUNT(*) FROM events WHERE published_at IS NULL AND parked_at IS NULL",
    )
}

pub(super) fn outbox_oldest(conn: &Connection) -> Result<Option<time::OffsetDateTime>, StoreError> {
    let at: Option<String> = conn
        .query_row(
            "SELECT created_at FROM events WHERE published_at IS NULL AND parked_at IS NULL
              ORDER BY position LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    at.map(|at| super::rows::parse_time(&at)).transpose()
}

pub(super) fn database_id(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn.query_row("SELECT id FROM horizon_database", [], |row| row.get(0))?)
}

pub(super) fn parked_count(conn: &Connection) -> Result<u64, StoreError> {
    count(
        conn,
        "SELECT COUNT(*) FROM events WHERE published_at IS NULL AND parked_at IS NOT NULL",
    )
}

pub(super) fn parked(
    conn: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<ParkedEvent>, StoreError> {
    collect(
        conn,
        "SELECT * FROM events WHERE published_at IS NULL AND parked_at IS NOT NULL AND position > ?
         ORDER BY position LIMIT ?",
        params![after, i64::from(limit)],
        |row| {
            Ok(ParkedEvent {
                position: row.required_int("position")?,
                parked_at: parse_time(&row.required_text("parked_at")?)?,
                reason: row.text("park_reason")?.unwrap_or_default(),
                event: event_from_row(row)?,
            })
        },
    )
}

pub(super) fn audit_records(
    conn: &Connection,
    after: i64,
    limit: u32,
    filter: &AuditFilter,
) -> Result<Vec<(i64, String)>, StoreError> {
    // times compare as text: every timestamp is written in one format
    // (RFC 3339 UTC, three fractional digits)
    collect(
        conn,
        "SELECT position, envelope FROM events
         WHERE stream = 'audit' AND position > ?1
           AND (?2 IS NULL OR json_extract(envelope, '$.actor') = ?2)
           AND (?4 IS NULL OR json_extract(envelope, '$.action') = ?4)
           AND (?5 IS NULL OR json_extract(envelope, '$.target') = ?5)
           AND (?6 IS NULL OR json_extract(envelope, '$.outcome') = ?6)
           AND (?7 IS NULL OR json_extract(envelope, '$.timestamp') >= ?7)
           AND (?8 IS NULL OR json_extract(envelope, '$.timestamp') < ?8)
         ORDER BY position LIMIT ?3",
        params![
            after,
            filter.actor,
            i64::from(limit),
            filter.action,
            filter.target,
            filter.outcome,
            filter.since.map(format_time),
            filter.until.map(format_time),
        ],
        |row| {
            Ok((
                row.required_int("position")?,
                row.required_text("envelope")?,
            ))
        },
    )
}

fn opt_time(row: &Row<'_>, column: &str) -> Result<Option<time::OffsetDateTime>, StoreError> {
    row.text(column)?.as_deref().map(parse_time).transpose()
}

pub(super) fn find_token(
    conn: &Connection,
    token_hash: &str,
) -> Result<Option<TokenOwner>, StoreError> {
    let mut owners = collect(
        conn,
        "SELECT user_id, admin, expires_at FROM api_tokens
         WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        params![token_hash, format_time(time::OffsetDateTime::now_utc())],
        |row| {
            Ok(TokenOwner {
                user_id: row.required_text("user_id")?,
                admin: row.required_int("admin")? != 0,
                expires_at: opt_time(row, "expires_at")?,
            })
        },
    )?;
    Ok(owners.pop())
}

pub(super) fn list_tokens(conn: &Connection) -> Result<Vec<TokenInfo>, StoreError> {
    collect(
        conn,
        "SELECT * FROM api_tokens ORDER BY created_at DESC, token_hash",
        [],
        |row| {
            let hash = row.required_text("token_hash")?;
            Ok(TokenInfo {
                id: hash.chars().take(12).collect(),
                user_id: row.required_text("user_id")?,
                admin: row.required_int("admin")? != 0,
                created_at: parse_time(&row.required_text("created_at")?)?,
                expires_at: opt_time(row, "expires_at")?,
                revoked_at: opt_time(row, "revoked_at")?,
            })
        },
    )
}

pub(super) fn ping(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?;
    Ok(())
}

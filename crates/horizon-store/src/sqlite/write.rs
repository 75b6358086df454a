//! Every write of the SQLite store, run by the writer thread on its own
//! rusqlite connection, inside the batch's transaction (see `writer.rs`).
//!
//! Synchronous on purpose: a whole batch runs on one thread with cached
//! prepared statements. Through sqlx each statement was a round trip to a
//! worker thread (two context switches), which cost more than the SQL.

use horizon_core::{
    AuditRecord, Command, EventEnvelope, EventPayload, EventType, Job, MetricsSample,
    SubmittedPayload,
};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use tracing::debug;
use uuid::Uuid;

use super::rows::{format_time, job_from_row};
use crate::StoreError;
use crate::params::{Applied, CreateJobParams, Created, StoredEvent};
use crate::writer::{Done, Op};

/// Run one operation of a batch.
pub(super) fn run_op(conn: &Connection, op: Op) -> Result<Done, StoreError> {
    match op {
        Op::CreateJob(mut params) => {
            let audit = params.audit.take();
            let created = create_job(conn, *params)?;
            if let Some(mut record) = audit {
                record.target = Some(created.job().id.to_string());
                insert_audit(conn, &record)?;
            }
            Ok(Done::Created(Box::new(created)))
        }
        // (one process: no one to fence)
        Op::Apply(id, command, _) => apply(conn, id, command).map(|a| Done::Applied(Box::new(a))),
        Op::RecordMetrics(id, sample) => record_metrics(conn, id, sample).map(Done::Event),
        Op::MarkPublished(positions) => mark_published(conn, &positions).map(|()| Done::Count(0)),
        Op::MarkPublishedThrough(position) => {
            mark_published_through(conn, position).map(Done::Count)
        }
        Op::Park(positions, reason) => park(conn, &positions, &reason).map(|()| Done::Count(0)),
        Op::Unpark(job) => unpark(conn, job).map(Done::Count),
        Op::StopWaiting(id, dependency) => Ok(Done::Count(
            conn.prepare_cached(
                "UPDATE jobs SET waiting = 0, scheduler_dependency = ?
                  WHERE id = ? AND waiting = 1 AND status = 'SUBMITTED'",
            )?
            .execute(params![dependency, id.to_string()])? as u64,
        )),
        Op::CreateToken {
            hash,
            user,
            admin,
            expires_at,
        } => create_token(conn, &hash, &user, admin, expires_at).map(|()| Done::Count(1)),
        Op::RevokeToken(id) => revoke_token(conn, &id).map(Done::Count),
        Op::Audit(record) => insert_audit(conn, &record).map(|()| Done::Count(1)),
        // (one process: every job is its own)
        Op::CreateSweep(params) => {
            super::sweeps::create_sweep(conn, *params).map(|c| Done::SweepCreated(Box::new(c)))
        }
        Op::TendSweeps => super::sweeps::tend_sweeps(conn).map(Done::Tended),
        Op::MarkHandingOver(_, jobs) => {
            let ids: Vec<Uuid> = jobs.iter().map(|(id, _)| *id).collect();
            mark_handing_over(conn, &ids).map(Done::Ids)
        }
        Op::PruneJobs(before, published_only, limit) => {
            super::prune::prune_jobs(conn, before, published_only, limit).map(Done::Ids)
        }
        Op::Webhook(op) => super::webhooks::run(conn, *op),
        Op::PruneAudit(before, published_only, limit) => {
            super::prune::prune_audit(conn, before, published_only, limit).map(Done::Count)
        }
    }
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn now() -> String {
    format_time(OffsetDateTime::now_utc())
}

fn insert_event(conn: &Connection, envelope: &EventEnvelope) -> Result<StoredEvent, StoreError> {
    let json = envelope.to_json()?;
    let stream = envelope.event_type.stream();
    conn.prepare_cached(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at,
                             traceparent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        envelope.event_id.to_string(),
        envelope.job_id.to_string(),
        stream.as_str(),
        to_i64(envelope.sequence)?,
        envelope.event_type.as_str(),
        &json,
        now(),
        &envelope.traceparent,
    ])?;
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

fn job_by_id(conn: &Connection, id: &str) -> Result<Option<Job>, StoreError> {
    let mut statement = conn.prepare_cached("SELECT * FROM jobs WHERE id = ?")?;
    let mut rows = statement.query([id])?;
    rows.next()?.map(job_from_row).transpose()
}

fn create_job(conn: &Connection, p: CreateJobParams) -> Result<Created, StoreError> {
    if let Some(idem) = &p.idempotency {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, job_id, created_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO NOTHING",
            )?
            .execute(params![
                &p.user_id,
                &idem.key,
                &idem.request_hash,
                p.id.to_string(),
                format_time(p.created_at),
            ])?;
        if inserted == 0 {
            let (hash, job_id): (String, String) = conn
                .prepare_cached(
                    "SELECT request_hash, job_id FROM idempotency_keys
                     WHERE user_id = ? AND key = ?",
                )?
                .query_row(params![&p.user_id, &idem.key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            if hash != idem.request_hash {
                return Err(StoreError::IdempotencyMismatch {
                    key: idem.key.clone(),
                });
            }
            let job = job_by_id(conn, &job_id)?.ok_or_else(|| {
                StoreError::Corrupt(format!("idempotency key names a missing job {job_id}"))
            })?;
            return Ok(Created::Replayed(job));
        }
    }
    let at = horizon_core::truncate_to_millis(p.created_at);
    let job = p.into_job(at, None);
    insert_job(conn, &job)?;
    Ok(Created::New(job))
}

/// Insert a new job's row and its `job.submitted` event.
pub(super) fn insert_job(conn: &Connection, job: &Job) -> Result<(), StoreError> {
    let at = job.created_at;
    conn.prepare_cached(
        "INSERT INTO jobs (id, user_id, agent, dataset_id, parameters, backend, status,
                           correlation_id, created_at, updated_at, lifecycle_sequence,
                           resources, account, traceparent, cloned_from, max_attempts,
                           retry_policy, depends_on, waiting, sweep_id, sweep_index, gated)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        job.id.to_string(),
        &job.user_id,
        &job.agent,
        &job.dataset_id,
        serde_json::to_string(&job.parameters)?,
        job.backend.as_str(),
        job.status.as_str(),
        &job.correlation_id,
        format_time(at),
        format_time(at),
        serde_json::to_string(&job.resources)?,
        &job.account,
        &job.traceparent,
        job.cloned_from.map(|id| id.to_string()),
        job.max_attempts,
        job.retry.as_ref().map(serde_json::to_string).transpose()?,
        (!job.depends_on.is_empty())
            .then(|| serde_json::to_string(&job.depends_on))
            .transpose()?,
        job.waiting,
        job.sweep_id.map(|id| id.to_string()),
        job.sweep_index,
        job.gated,
    ])?;
    let payload = EventPayload::Submitted(SubmittedPayload {
        agent: job.agent.clone(),
        dataset_id: job.dataset_id.clone(),
        parameters: job.parameters.clone(),
        backend: job.backend,
    });
    let envelope = EventEnvelope::lifecycle(job, None, payload, Uuid::now_v7(), at);
    insert_event(conn, &envelope)?;
    Ok(())
}

/// Decide and persist one command. The writer runs alone in this process,
/// so the row read here is the row updated; the compare-and-set still
/// guards against a writer of another process.
fn apply(conn: &Connection, id: Uuid, command: Command) -> Result<Applied, StoreError> {
    let key = id.to_string();
    let job = job_by_id(conn, &key)?.ok_or(StoreError::NotFound(id))?;
    let crate::decide::Decided {
        previous,
        after,
        envelope,
    } = crate::decide::apply(&job, command)?;
    let error = after.error.as_ref();
    let updated = conn
        .prepare_cached(
            "UPDATE jobs SET status = ?, remote_job_id = ?, error_code = ?, error_message = ?,
                    error_exit_code = ?, updated_at = ?, started_at = ?, finished_at = ?,
                    lifecycle_sequence = ?, location = ?, queued_at = ?, exit_code = ?,
                    held = ?, resources = ?, attempt = ?, next_attempt_at = ?,
                    handed_over_at = CASE WHEN ? THEN handed_over_at ELSE NULL END
             WHERE id = ? AND status = ? AND lifecycle_sequence = ?",
        )?
        .execute(params![
            after.status.as_str(),
            &after.remote_job_id,
            error.map(|e| e.code.as_str()),
            error.map(|e| e.message.as_str()),
            error.and_then(|e| e.exit_code),
            format_time(after.updated_at),
            after.started_at.map(format_time),
            after.finished_at.map(format_time),
            to_i64(after.lifecycle_sequence)?,
            &after.location,
            after.queued_at.map(format_time),
            after.exit_code,
            after.held,
            serde_json::to_string(&after.resources)?,
            after.attempt,
            after.next_attempt_at.map(format_time),
            after.handed_over,
            &key,
            job.status.as_str(),
            to_i64(job.lifecycle_sequence)?,
        ])?;
    if updated == 0 {
        debug!(job.id = %id, "compare-and-set on job {id} lost a race");
        return Err(StoreError::Conflict(id));
    }
    let event = insert_event(conn, &envelope)?;
    Ok(Applied {
        previous,
        job: after,
        event,
    })
}

/// A metrics event, only while the job is active: a sample taken before the
/// job ended but written after it is refused (`Ended`), so a job's terminal
/// event is always its last.
fn record_metrics(
    conn: &Connection,
    id: Uuid,
    sample: MetricsSample,
) -> Result<StoredEvent, StoreError> {
    let key = id.to_string();
    let job = {
        let mut statement = conn.prepare_cached(
            "UPDATE jobs SET metrics_sequence = metrics_sequence + 1
             WHERE id = ? AND status IN ('SUBMITTED', 'QUEUED', 'RUNNING') RETURNING *",
        )?;
        let mut rows = statement.query([&key])?;
        rows.next()?.map(job_from_row).transpose()?
    };
    let Some(job) = job else {
        let exists = conn
            .prepare_cached("SELECT 1 FROM jobs WHERE id = ?")?
            .query_row([&key], |_| Ok(()))
            .optional()?;
        return Err(match exists {
            Some(()) => StoreError::Ended(id),
            None => StoreError::NotFound(id),
        });
    };
    let envelope = EventEnvelope::metrics(&job, sample, Uuid::now_v7());
    insert_event(conn, &envelope)
}

fn create_token(
    conn: &Connection,
    token_hash: &str,
    user_id: &str,
    admin: bool,
    expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO api_tokens (token_hash, user_id, admin, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![
        token_hash,
        user_id,
        i64::from(admin),
        now(),
        expires_at.map(format_time),
    ])?;
    Ok(())
}

/// Revoke the one live token whose hash starts with `id`; how many matched.
fn revoke_token(conn: &Connection, id: &str) -> Result<u64, StoreError> {
    if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(0);
    }
    let pattern = format!("{}%", id.to_ascii_lowercase());
    let matched: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE ? AND revoked_at IS NULL",
        )?
        .query_row([&pattern], |row| row.get(0))?;
    if matched == 1 {
        conn.prepare_cached(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_hash LIKE ? AND revoked_at IS NULL",
        )?
        .execute(params![now(), &pattern])?;
    }
    Ok(u64::try_from(matched).unwrap_or(0))
}

fn unpark(conn: &Connection, job: Option<Uuid>) -> Result<u64, StoreError> {
    let done = conn
        .prepare_cached(
            "UPDATE events SET parked_at = NULL
             WHERE published_at IS NULL AND parked_at IS NOT NULL
               AND (?1 IS NULL OR job_id = ?1)",
        )?
        .execute([job.map(|id| id.to_string())])?;
    Ok(u64::try_from(done).unwrap_or(0))
}

fn mark_published(conn: &Connection, positions: &[i64]) -> Result<(), StoreError> {
    if positions.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE events SET published_at = ? WHERE position IN (SELECT value FROM json_each(?))",
    )?
    .execute(params![now(), serde_json::to_string(positions)?])?;
    Ok(())
}

/// About to hand `jobs` to their scheduler (those still SUBMITTED).
fn mark_handing_over(conn: &Connection, jobs: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<String> = jobs.iter().map(Uuid::to_string).collect();
    let mut statement = conn.prepare_cached(
        "UPDATE jobs SET handed_over_at = COALESCE(handed_over_at, ?)
          WHERE id IN (SELECT value FROM json_each(?)) AND held = 0 AND waiting = 0 AND gated = 0
            AND (status = 'SUBMITTED' OR (status = 'QUEUED' AND next_attempt_at IS NOT NULL))
         RETURNING id",
    )?;
    let rows = statement.query_map(params![now(), serde_json::to_string(&ids)?], |row| {
        row.get::<_, String>(0)
    })?;
    let mut marked = Vec::with_capacity(jobs.len());
    for id in rows {
        marked.push(Uuid::parse_str(&id?).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    }
    Ok(marked)
}

/// Every event up to `position` that was never parked is published (the
/// exactly-once relay's position, committed to Kafka).
fn mark_published_through(conn: &Connection, position: i64) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE events SET published_at = ?
             WHERE published_at IS NULL AND parked_at IS NULL AND park_reason IS NULL
               AND position <= ?",
        )?
        .execute(params![now(), position])?;
    Ok(n as u64)
}

fn park(conn: &Connection, positions: &[i64], reason: &str) -> Result<(), StoreError> {
    if positions.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE events SET parked_at = ?, park_reason = ?
         WHERE published_at IS NULL AND position IN (SELECT value FROM json_each(?))",
    )?
    .execute(params![now(), reason, serde_json::to_string(positions)?])?;
    Ok(())
}

/// One audit record into the outbox: stream `audit`, its own id as job_id
/// (the Kafka key), sequence 1.
pub(super) fn insert_audit(conn: &Connection, record: &AuditRecord) -> Result<(), StoreError> {
    let json = record.to_json()?;
    conn.prepare_cached(
        "INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
         VALUES (?, ?, 'audit', 1, ?, ?, ?)",
    )?
    .execute(params![
        record.event_id.to_string(),
        record.event_id.to_string(),
        EventType::AuditRecorded.as_str(),
        &json,
        now(),
    ])?;
    Ok(())
}

//! Webhook subscriptions and deliveries on SQLite: writes run by the
//! writer thread (`WebhookOp`), reads on a reader connection.

use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{Columns, format_time, parse_time, parse_uuid};
use crate::StoreError;
use crate::webhooks::{
    DUE, Delivery, DeliveryState, DueDelivery, Outcome, Subscription, WebhookOp,
};
use crate::writer::Done;

fn opt_time(row: &Row<'_>, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.text(column)?.as_deref().map(parse_time).transpose()
}

pub(super) fn subscription_from_row(row: &Row<'_>) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        id: parse_uuid(&row.required_text("id")?)?,
        user_id: row.required_text("user_id")?,
        url: row.required_text("url")?,
        event_types: serde_json::from_str(&row.required_text("event_types")?)?,
        agent: row.text("agent")?,
        status: row.text("status")?,
        secret: row.required_text("secret")?,
        previous_secret: row.text("previous_secret")?,
        previous_until: opt_time(row, "previous_until")?,
        created_at: parse_time(&row.required_text("created_at")?)?,
        disabled_at: opt_time(row, "disabled_at")?,
        disabled_reason: row.text("disabled_reason")?,
        cursor: row.required_int("cursor")?,
    })
}

fn delivery_from_row(row: &Row<'_>) -> Result<Delivery, StoreError> {
    let state = row.required_text("state")?;
    Ok(Delivery {
        id: parse_uuid(&row.required_text("id")?)?,
        subscription_id: parse_uuid(&row.required_text("subscription_id")?)?,
        position: row.required_int("position")?,
        event_id: parse_uuid(&row.required_text("event_id")?)?,
        job_id: parse_uuid(&row.required_text("job_id")?)?,
        event_type: row.required_text("event_type")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state {state:?}")))?,
        attempts: u32::try_from(row.required_int("attempts")?).unwrap_or(0),
        next_attempt_at: parse_time(&row.required_text("next_attempt_at")?)?,
        window_start: parse_time(&row.required_text("window_start")?)?,
        created_at: parse_time(&row.required_text("created_at")?)?,
        finished_at: opt_time(row, "finished_at")?,
        last_status: row.int("last_status")?.and_then(|s| u16::try_from(s).ok()),
        last_error: row.text("last_error")?,
    })
}

pub(super) fn subscriptions(
    conn: &Connection,
    user: Option<&str>,
) -> Result<Vec<Subscription>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT * FROM webhook_subscriptions WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id",
    )?;
    let mut rows = statement.query(params![user])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(subscription_from_row(row)?);
    }
    Ok(out)
}

pub(super) fn deliveries(
    conn: &Connection,
    subscription: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT * FROM webhook_deliveries WHERE subscription_id = ?1 AND (?2 IS NULL OR id > ?2)
         ORDER BY id LIMIT ?3",
    )?;
    let mut rows = statement.query(params![
        subscription.to_string(),
        after.map(|a| a.to_string()),
        i64::from(limit)
    ])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(delivery_from_row(row)?);
    }
    Ok(out)
}

/// Run one webhook write of a batch.
pub(super) fn run(conn: &Connection, op: WebhookOp) -> Result<Done, StoreError> {
    match op {
        WebhookOp::Create(s) => {
            conn.prepare_cached(
                "INSERT INTO webhook_subscriptions (id, user_id, url, event_types, agent, status,
                   secret, created_at, cursor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                s.id.to_string(),
                s.user_id,
                s.url,
                serde_json::to_string(&s.event_types)?,
                s.agent,
                s.status,
                s.secret,
                format_time(s.created_at),
                s.cursor
            ])?;
            Ok(Done::Count(1))
        }
        WebhookOp::Delete(id) => {
            let key = id.to_string();
            conn.prepare_cached("DELETE FROM webhook_deliveries WHERE subscription_id = ?")?
                .execute(params![key])?;
            let n = conn
                .prepare_cached("DELETE FROM webhook_subscriptions WHERE id = ?")?
                .execute(params![key])?;
            Ok(Done::Count(n as u64))
        }
        WebhookOp::Rotate {
            id,
            secret,
            previous_until,
        } => {
            let n = conn
                .prepare_cached(
                    "UPDATE webhook_subscriptions SET previous_secret = secret, secret = ?,
                       previous_until = ? WHERE id = ?",
                )?
                .execute(params![secret, format_time(previous_until), id.to_string()])?;
            Ok(Done::Count(n as u64))
        }
        WebhookOp::SetDisabled(id, disabled) => {
            let (at, reason) = match disabled {
                Some((at, reason)) => (Some(format_time(at)), Some(reason)),
                None => (None, None),
            };
            let n = conn
                .prepare_cached(
                    "UPDATE webhook_subscriptions SET disabled_at = ?, disabled_reason = ?
                     WHERE id = ?",
                )?
                .execute(params![at, reason, id.to_string()])?;
            Ok(Done::Count(n as u64))
        }
        WebhookOp::FanOut {
            id,
            from,
            to,
            deliveries,
            at,
        } => {
            let moved = conn
                .prepare_cached(
                    "UPDATE webhook_subscriptions SET cursor = ? WHERE id = ? AND cursor = ?",
                )?
                .execute(params![to, id.to_string(), from])?;
            if moved == 0 {
                return Ok(Done::Count(0)); // another fan-out got there first
            }
            let at = format_time(at);
            let mut insert = conn.prepare_cached(
                "INSERT OR IGNORE INTO webhook_deliveries (id, subscription_id, position, event_id,
                   job_id, event_type, state, next_attempt_at, window_start, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            )?;
            for d in &deliveries {
                insert.execute(params![
                    d.id.to_string(),
                    id.to_string(),
                    d.position,
                    d.event_id.to_string(),
                    d.job_id.to_string(),
                    d.event_type,
                    format_time(d.due_at),
                    at,
                    at
                ])?;
            }
            Ok(Done::Count(1))
        }
        WebhookOp::Claim {
            process,
            now,
            until,
            limit,
            mail_only,
        } => claim(conn, process, now, until, limit, mail_only).map(Done::Due),
        WebhookOp::Finish {
            id,
            process,
            outcome,
            at,
        } => {
            let (state, next, status, error, finished) = match &outcome {
                Outcome::Delivered { status } => ("delivered", at, Some(*status), None, Some(at)),
                Outcome::Retry {
                    at: next,
                    status,
                    error,
                } => ("pending", *next, *status, Some(error.as_str()), None),
                Outcome::Failed { status, error } => {
                    ("failed", at, *status, Some(error.as_str()), Some(at))
                }
            };
            let n = conn
                .prepare_cached(
                    "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1,
                       next_attempt_at = ?, last_status = ?, last_error = ?, finished_at = ?,
                       claimed_by = NULL, claimed_until = NULL
                     WHERE id = ? AND claimed_by = ?",
                )?
                .execute(params![
                    state,
                    format_time(next),
                    status,
                    error,
                    finished.map(format_time),
                    id.to_string(),
                    process.to_string()
                ])?;
            Ok(Done::Count(n as u64))
        }
        WebhookOp::Redeliver {
            subscription,
            from,
            to,
            at,
        } => {
            let at = format_time(at);
            let n = conn
                .prepare_cached(
                    "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?,
                       window_start = ?, finished_at = NULL, claimed_by = NULL,
                       claimed_until = NULL
                     WHERE subscription_id = ? AND id >= ? AND id <= ?",
                )?
                .execute(params![
                    at,
                    at,
                    subscription.to_string(),
                    from.to_string(),
                    to.to_string()
                ])?;
            Ok(Done::Count(n as u64))
        }
    }
}

fn claim(
    conn: &Connection,
    process: Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
    limit: u32,
    mail_only: bool,
) -> Result<Vec<DueDelivery>, StoreError> {
    let sql = format!(
        "SELECT d.*, s.url AS s_url, s.secret AS s_secret,
                CASE WHEN s.previous_until > :now THEN s.previous_secret END AS s_previous,
                (SELECT envelope FROM events WHERE event_id = d.event_id) AS envelope,
                (SELECT traceparent FROM events WHERE event_id = d.event_id) AS traceparent
           FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
          WHERE {DUE} AND (NOT :mail_only OR s.url LIKE 'mailto:%')
          ORDER BY d.position LIMIT :limit"
    );
    let now_text = format_time(now);
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::named_params! {
        ":now": now_text,
        ":limit": i64::from(limit),
        ":mail_only": mail_only,
    })?;
    let mut due = Vec::new();
    while let Some(row) = rows.next()? {
        due.push(DueDelivery {
            delivery: delivery_from_row(row)?,
            url: row.required_text("s_url")?,
            secret: row.required_text("s_secret")?,
            previous_secret: row.text("s_previous")?,
            envelope: row.text("envelope")?,
            traceparent: row.text("traceparent")?,
        });
    }
    drop(rows);
    let mut mark = conn.prepare_cached(
        "UPDATE webhook_deliveries SET claimed_by = ?, claimed_until = ? WHERE id = ?",
    )?;
    for d in &due {
        mark.execute(params![
            process.to_string(),
            format_time(until),
            d.delivery.id.to_string()
        ])?;
    }
    Ok(due)
}

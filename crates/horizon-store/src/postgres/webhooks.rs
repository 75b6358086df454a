//! Webhook subscriptions and deliveries on PostgreSQL: writes run by the
//! writer (`WebhookOp`), reads on the pool. Several processes claim due
//! deliveries at once (`FOR UPDATE SKIP LOCKED`): each is sent by one.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;
use crate::webhooks::{
    DUE, Delivery, DeliveryState, DueDelivery, Outcome, Subscription, WebhookOp,
};
use crate::writer::Done;

fn subscription_from_row(row: &PgRow) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        url: row.try_get("url")?,
        event_types: serde_json::from_str(&row.try_get::<String, _>("event_types")?)?,
        agent: row.try_get("agent")?,
        status: row.try_get("status")?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_until: row.try_get("previous_until")?,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
        disabled_reason: row.try_get("disabled_reason")?,
        cursor: row.try_get("cursor")?,
    })
}

fn delivery_from_row(row: &PgRow) -> Result<Delivery, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        subscription_id: row.try_get("subscription_id")?,
        position: row.try_get("position")?,
        event_id: row.try_get("event_id")?,
        job_id: row.try_get("job_id")?,
        event_type: row.try_get("event_type")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state {state:?}")))?,
        attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
        next_attempt_at: row.try_get("next_attempt_at")?,
        window_start: row.try_get("window_start")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        last_status: row
            .try_get::<Option<i32>, _>("last_status")?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: row.try_get("last_error")?,
    })
}

pub(super) async fn subscriptions(
    pool: &PgPool,
    user: Option<&str>,
) -> Result<Vec<Subscription>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM webhook_subscriptions WHERE $1::text IS NULL OR user_id = $1 ORDER BY id",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter().map(subscription_from_row).collect()
}

pub(super) async fn deliveries(
    pool: &PgPool,
    subscription: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM webhook_deliveries
          WHERE subscription_id = $1 AND ($2::uuid IS NULL OR id > $2)
          ORDER BY id LIMIT $3",
    )
    .bind(subscription)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(delivery_from_row).collect()
}

/// Run one webhook write of a batch.
pub(super) async fn run(conn: &mut PgConnection, op: WebhookOp) -> Result<Done, StoreError> {
    match op {
        WebhookOp::Create(s) => {
            sqlx::query(
                "INSERT INTO webhook_subscriptions (id, user_id, url, event_types, agent, status,
                   secret, created_at, cursor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(s.id)
            .bind(&s.user_id)
            .bind(&s.url)
            .bind(serde_json::to_string(&s.event_types)?)
            .bind(&s.agent)
            .bind(&s.status)
            .bind(&s.secret)
            .bind(s.created_at)
            .bind(s.cursor)
            .execute(&mut *conn)
            .await?;
            Ok(Done::Count(1))
        }
        WebhookOp::Delete(id) => {
            // (its deliveries go with it: ON DELETE CASCADE)
            let n = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            Ok(Done::Count(n))
        }
        WebhookOp::Rotate {
            id,
            secret,
            previous_until,
        } => {
            let n = sqlx::query(
                "UPDATE webhook_subscriptions SET previous_secret = secret, secret = $1,
                   previous_until = $2 WHERE id = $3",
            )
            .bind(&secret)
            .bind(previous_until)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(Done::Count(n))
        }
        WebhookOp::SetDisabled(id, disabled) => {
            let (at, reason) = match disabled {
                Some((at, reason)) => (Some(at), Some(reason)),
                None => (None, None),
            };
            let n = sqlx::query(
                "UPDATE webhook_subscriptions SET disabled_at = $1, disabled_reason = $2
                 WHERE id = $3",
            )
            .bind(at)
            .bind(reason)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(Done::Count(n))
        }
        WebhookOp::FanOut {
            id,
            from,
            to,
            deliveries,
            at,
        } => {
            let moved = sqlx::query(
                "UPDATE webhook_subscriptions SET cursor = $1 WHERE id = $2 AND cursor = $3",
            )
            .bind(to)
            .bind(id)
            .bind(from)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if moved == 0 {
                return Ok(Done::Count(0)); // another process's fan-out got there first
            }
            if !deliveries.is_empty() {
                let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
                let positions: Vec<i64> = deliveries.iter().map(|d| d.position).collect();
                let events: Vec<Uuid> = deliveries.iter().map(|d| d.event_id).collect();
                let jobs: Vec<Uuid> = deliveries.iter().map(|d| d.job_id).collect();
                let types: Vec<String> = deliveries.iter().map(|d| d.event_type.clone()).collect();
                let due: Vec<OffsetDateTime> = deliveries.iter().map(|d| d.due_at).collect();
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, subscription_id, position, event_id,
                       job_id, event_type, state, next_attempt_at, window_start, created_at)
                     SELECT d.id, $2, d.position, d.event_id, d.job_id, d.event_type, 'pending',
                            d.due_at, $7, $7
                       FROM unnest($1::uuid[], $3::bigint[], $4::uuid[], $5::uuid[], $6::text[],
                                   $8::timestamptz[])
                            AS d(id, position, event_id, job_id, event_type, due_at)
                     ON CONFLICT (subscription_id, event_id) DO NOTHING",
                )
                .bind(&ids)
                .bind(id)
                .bind(&positions)
                .bind(&events)
                .bind(&jobs)
                .bind(&types)
                .bind(at)
                .bind(&due)
                .execute(&mut *conn)
                .await?;
            }
            Ok(Done::Count(1))
        }
        WebhookOp::Claim {
            process,
            now,
            until,
            limit,
            mail_only,
        } => claim(conn, process, now, until, limit, mail_only)
            .await
            .map(Done::Due),
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
                } => ("pending", *next, *status, Some(error.clone()), None),
                Outcome::Failed { status, error } => {
                    ("failed", at, *status, Some(error.clone()), Some(at))
                }
            };
            let n = sqlx::query(
                "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1,
                   next_attempt_at = $2, last_status = $3, last_error = $4, finished_at = $5,
                   claimed_by = NULL, claimed_until = NULL
                 WHERE id = $6 AND claimed_by = $7",
            )
            .bind(state)
            .bind(next)
            .bind(status.map(i32::from))
            .bind(error)
            .bind(finished)
            .bind(id)
            .bind(process)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(Done::Count(n))
        }
        WebhookOp::Redeliver {
            subscription,
            from,
            to,
            at,
        } => {
            let n = sqlx::query(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $1,
                   window_start = $1, finished_at = NULL, claimed_by = NULL, claimed_until = NULL
                 WHERE subscription_id = $2 AND id >= $3 AND id <= $4",
            )
            .bind(at)
            .bind(subscription)
            .bind(from)
            .bind(to)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(Done::Count(n))
        }
    }
}

async fn claim(
    conn: &mut PgConnection,
    process: Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
    limit: u32,
    mail_only: bool,
) -> Result<Vec<DueDelivery>, StoreError> {
    let due = DUE.replace(":now", "$1");
    let sql = format!(
        "WITH due AS (
           SELECT d.id FROM webhook_deliveries d
             JOIN webhook_subscriptions s ON s.id = d.subscription_id
            WHERE {due} AND (NOT $5 OR s.url LIKE 'mailto:%')
            ORDER BY d.position LIMIT $4
              FOR UPDATE OF d SKIP LOCKED),
         claimed AS (
           UPDATE webhook_deliveries d SET claimed_by = $2, claimed_until = $3
             FROM due WHERE d.id = due.id RETURNING d.*)
         SELECT c.*, s.url AS s_url, s.secret AS s_secret,
                CASE WHEN s.previous_until > $1 THEN s.previous_secret END AS s_previous,
                e.envelope, e.traceparent
           FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id
           LEFT JOIN events e ON e.event_id = c.event_id
          ORDER BY c.position"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(process)
        .bind(until)
        .bind(i64::from(limit))
        .bind(mail_only)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DueDelivery {
                delivery: delivery_from_row(row)?,
                url: row.try_get("s_url")?,
                secret: row.try_get("s_secret")?,
                previous_secret: row.try_get("s_previous")?,
                envelope: row.try_get("envelope")?,
                traceparent: row.try_get("traceparent")?,
            })
        })
        .collect()
}

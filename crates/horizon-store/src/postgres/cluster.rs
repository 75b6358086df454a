//! The processes sharing this database and the relay lease's holder.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cluster, ProcessInfo, RelayLeaseInfo, StoreError};

type ProcessRow = (
    Uuid,
    String,
    i32,
    OffsetDateTime,
    OffsetDateTime,
    Option<String>,
    Option<OffsetDateTime>,
    bool,
);

pub(super) async fn cluster(pool: &PgPool) -> Result<Cluster, StoreError> {
    let timeout = crate::PROCESS_TIMEOUT.as_secs_f64();
    let rows: Vec<ProcessRow> = sqlx::query_as(
        "SELECT id, host, pid, started_at, heartbeat_at, local_scope, gone_at,
                heartbeat_at > now() - make_interval(secs => $1)
           FROM processes
          WHERE heartbeat_at > now() - interval '1 day'
          ORDER BY started_at, id
          LIMIT 200",
    )
    .bind(timeout)
    .fetch_all(pool)
    .await?;
    let processes = rows
        .into_iter()
        .map(
            |(id, host, pid, started_at, heartbeat_at, local_scope, gone_at, alive)| ProcessInfo {
                id,
                host,
                pid,
                started_at,
                heartbeat_at,
                local_scope,
                gone_at,
                alive,
            },
        )
        .collect();
    let lease: Option<(Option<Uuid>, i64, OffsetDateTime, bool)> = sqlx::query_as(
        "SELECT process, epoch, expires_at, expires_at <= now()
           FROM relay_lease WHERE name = 'relay'",
    )
    .fetch_optional(pool)
    .await?;
    Ok(Cluster {
        processes,
        relay_lease: lease.map(|(process, epoch, expires_at, expired)| RelayLeaseInfo {
            process,
            epoch,
            expires_at,
            expired,
        }),
    })
}

/// When the oldest event still waiting for Kafka (not parked) was written.
pub(super) async fn outbox_oldest(pool: &PgPool) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT created_at FROM events WHERE published_at IS NULL AND parked_at IS NULL
          ORDER BY position LIMIT 1",
    )
    .fetch_optional(pool)
    .await?)
}

//! `GET /v1/admin/cluster`: the processes that share this database, which
//! one relays to Kafka, and how far behind the relay is (for the
//! dashboard's System page and for operators). **Admin only.**

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, Problem};
use horizon_core::timestamp;

/// This process, as it describes itself.
#[derive(Debug, Clone)]
pub struct ThisProcess {
    pub id: Uuid,
    pub host: String,
    pub pid: u32,
    pub started_at: OffsetDateTime,
    pub local_scope: String,
}

impl ThisProcess {
    /// The running process, known as `id`, running local jobs in `local_scope`.
    pub fn new(id: Uuid, local_scope: String) -> Self {
        ThisProcess {
            id,
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default(),
            pid: std::process::id(),
            started_at: OffsetDateTime::now_utc(),
            local_scope,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessDto {
    #[schema(format = Uuid)]
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// RFC 3339
    pub started_at: String,
    /// RFC 3339: when it last said it was alive.
    pub heartbeat_at: String,
    /// Heard from within the process timeout (else its jobs are taken over).
    pub alive: bool,
    /// Where it runs local jobs (host and jobs directory).
    pub local_scope: Option<String>,
    /// RFC 3339: when an operator said its host was gone for good.
    pub gone_at: Option<String>,
    /// Holds the relay's lease: it publishes the outbox to Kafka.
    pub leads_relay: bool,
    /// The process that answered this request.
    pub this_process: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RelayLeaseDto {
    /// The process that holds it (null: taken before this was recorded).
    #[schema(format = Uuid)]
    pub process: Option<String>,
    /// How many times it has changed hands.
    pub epoch: i64,
    /// RFC 3339
    pub expires_at: String,
    /// Nobody relays until a process takes it again.
    pub expired: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxDto {
    /// Events waiting for Kafka (not parked).
    pub depth: u64,
    /// Events Kafka refused for good (`/v1/admin/parked-events`).
    pub parked: u64,
    /// RFC 3339: when the oldest waiting event was written.
    pub oldest_waiting_at: Option<String>,
    /// How long the oldest waiting event has waited: the relay's lag
    /// (0 when nothing waits).
    pub lag_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterDto {
    /// The process that answered.
    #[schema(format = Uuid)]
    pub this_process: String,
    /// Several processes share a PostgreSQL database; with SQLite there is
    /// one, and it relays.
    pub shared_database: bool,
    /// Those heard from in the last day (with SQLite: this one).
    pub processes: Vec<ProcessDto>,
    /// The relay's lease (PostgreSQL; null with SQLite or before any
    /// process took it).
    pub relay_lease: Option<RelayLeaseDto>,
    /// This process's relay, as on `/readyz` (`{"state": "disabled"}`
    /// without Kafka).
    #[schema(value_type = Object)]
    pub relay: Value,
    /// Null without Kafka: nothing is relayed.
    pub outbox: Option<OutboxDto>,
}

/// The processes sharing this database, which one relays to Kafka, and
/// the outbox's depth and lag. **Admin only.**
#[utoipa::path(
    get, path = "/v1/admin/cluster", tag = "admin",
    responses((status = 200, body = ClusterDto), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
pub async fn cluster(
    State(state): State<AppState>,
    _admin: Caller,
) -> Result<Json<ClusterDto>, ApiError> {
    let cluster = state.store.cluster().await?;
    let me = &state.process;
    let leader = cluster
        .relay_lease
        .as_ref()
        .and_then(|lease| if lease.expired { None } else { lease.process });
    let shared_database = state.settings.database_url().starts_with("postgres");
    let snapshot = state.relay.as_ref().map(|relay| relay.snapshot());
    let relay_here = snapshot.as_ref().is_some_and(|s| s.role == "leader");
    let mut processes: Vec<ProcessDto> = cluster
        .processes
        .into_iter()
        .map(|p| ProcessDto {
            id: p.id.to_string(),
            host: p.host,
            pid: i64::from(p.pid),
            started_at: timestamp::format(p.started_at),
            heartbeat_at: timestamp::format(p.heartbeat_at),
            alive: p.alive,
            local_scope: p.local_scope,
            gone_at: p.gone_at.map(timestamp::format),
            leads_relay: leader == Some(p.id),
            this_process: p.id == me.id,
        })
        .collect();
    if !processes.iter().any(|p| p.this_process) {
        // a store only one process uses keeps no record of it
        processes.push(ProcessDto {
            id: me.id.to_string(),
            host: me.host.clone(),
            pid: i64::from(me.pid),
            started_at: timestamp::format(me.started_at),
            heartbeat_at: timestamp::format(OffsetDateTime::now_utc()),
            alive: true,
            local_scope: Some(me.local_scope.clone()),
            gone_at: None,
            leads_relay: relay_here,
            this_process: true,
        });
    }
    let (relay, outbox) = match snapshot {
        Some(snapshot) => {
            let oldest = state.store.outbox_oldest().await?;
            let lag = crate::telemetry::relay_lag(oldest);
            (
                serde_json::to_value(snapshot).unwrap_or(Value::Null),
                Some(OutboxDto {
                    depth: state.store.outbox_depth().await?,
                    parked: state.store.parked_count().await?,
                    oldest_waiting_at: oldest.map(timestamp::format),
                    lag_seconds: lag,
                }),
            )
        }
        None => (serde_json::json!({"state": "disabled"}), None),
    };
    Ok(Json(ClusterDto {
        this_process: me.id.to_string(),
        shared_database,
        processes,
        relay_lease: cluster.relay_lease.map(|lease| RelayLeaseDto {
            process: lease.process.map(|p| p.to_string()),
            epoch: lease.epoch,
            expires_at: timestamp::format(lease.expires_at),
            expired: lease.expired,
        }),
        relay,
        outbox,
    }))
}

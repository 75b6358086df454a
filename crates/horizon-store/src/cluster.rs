//! What the processes sharing a store look like from it: each one's last
//! heartbeat, and which of them holds the relay's lease (for operators: the
//! dashboard's System page, `GET /v1/admin/cluster`).

use time::OffsetDateTime;
use uuid::Uuid;

/// One `horizon serve` process, as its heartbeats left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub id: Uuid,
    pub host: String,
    pub pid: i32,
    pub started_at: OffsetDateTime,
    pub heartbeat_at: OffsetDateTime,
    /// Where it runs local jobs (host and jobs directory).
    pub local_scope: Option<String>,
    /// When an operator said its host was gone for good.
    pub gone_at: Option<OffsetDateTime>,
    /// Heard from within `PROCESS_TIMEOUT`, by the database's clock.
    pub alive: bool,
}

/// The relay's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayLeaseInfo {
    /// The process that took it (`None`: taken before it was recorded).
    pub process: Option<Uuid>,
    /// How many times it changed hands.
    pub epoch: i64,
    pub expires_at: OffsetDateTime,
    /// Expired by the database's clock: nobody relays until a process
    /// takes it.
    pub expired: bool,
}

/// The processes sharing a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Those heard from in the last day, oldest start first.
    pub processes: Vec<ProcessInfo>,
    pub relay_lease: Option<RelayLeaseInfo>,
}

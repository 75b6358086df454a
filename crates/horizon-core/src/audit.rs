//! The audit trail: one record per authenticated write and per refused
//! access, kept in the store and published (through the outbox) to its own
//! topic. Wire DTO, schema `schemas/audit.recorded.json`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::EventType;

/// Who did what, when, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The record's id (UUID v7; also its CloudEvents `ce_id` and Kafka key).
    pub event_id: Uuid,
    /// Always `audit.recorded`.
    pub event_type: EventType,
    /// [`crate::SCHEMA_VERSION`].
    pub schema_version: u32,
    #[serde(with = "crate::timestamp::millis")]
    pub timestamp: OffsetDateTime,
    pub correlation_id: String,
    /// The authenticated user; `null` when the caller could not be identified.
    pub actor: Option<String>,
    pub admin: bool,
    /// `token`, `jwt`, `cli`, or `null` when unauthenticated.
    pub auth_method: Option<String>,
    /// What was attempted, e.g. `job.submit`, `job.cancel`, `job.read`,
    /// `token.create`.
    pub action: String,
    /// `allowed`, `denied` (401, 403, 404 on a job) or `failed` (another error).
    pub outcome: String,
    /// The HTTP status answered (0 outside HTTP, e.g. the CLI).
    pub status: u16,
    pub method: Option<String>,
    pub path: Option<String>,
    /// What it was done to: a job id, a token id.
    pub target: Option<String>,
    /// The peer address of the connection (`host:port`), or `local`.
    pub client_address: Option<String>,
    /// Why it was refused, when it was.
    pub detail: Option<String>,
}

impl AuditRecord {
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

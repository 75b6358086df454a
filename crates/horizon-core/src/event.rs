//! Events: the envelope every event travels in and the payload of each of the
//! eight event types. These are wire DTOs (schema version 1); the JSON Schemas
//! under `schemas/` describe exactly what they serialize to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::job::{BackendKind, ParseError};
use crate::status::JobStatus;

/// The envelope's `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// The event types: a job's, an audit record's and a sweep's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "job.submitted")]
    Submitted,
    #[serde(rename = "job.queued")]
    Queued,
    #[serde(rename = "job.running")]
    Running,
    #[serde(rename = "job.status_changed")]
    StatusChanged,
    #[serde(rename = "job.completed")]
    Completed,
    #[serde(rename = "job.failed")]
    Failed,
    #[serde(rename = "job.cancelled")]
    Cancelled,
    #[serde(rename = "job.metrics_recorded")]
    MetricsRecorded,
    /// Not a job's event: one record of the audit trail (who did what),
    /// which travels through the same outbox to its own topic.
    #[serde(rename = "audit.recorded")]
    AuditRecorded,
    /// An attempt failed and the retry policy scheduled another.
    #[serde(rename = "job.retry_scheduled")]
    RetryScheduled,
    /// Not a job's event: a sweep was made (keyed by the sweep's id).
    #[serde(rename = "sweep.submitted")]
    SweepSubmitted,
    /// Not a job's event: every job of a sweep ended.
    #[serde(rename = "sweep.completed")]
    SweepCompleted,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::Submitted,
        EventType::Queued,
        EventType::Running,
        EventType::StatusChanged,
        EventType::Completed,
        EventType::Failed,
        EventType::Cancelled,
        EventType::MetricsRecorded,
        EventType::AuditRecorded,
        EventType::RetryScheduled,
        EventType::SweepSubmitted,
        EventType::SweepCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Submitted => "job.submitted",
            EventType::Queued => "job.queued",
            EventType::Running => "job.running",
            EventType::StatusChanged => "job.status_changed",
            EventType::Completed => "job.completed",
            EventType::Failed => "job.failed",
            EventType::Cancelled => "job.cancelled",
            EventType::MetricsRecorded => "job.metrics_recorded",
            EventType::AuditRecorded => "audit.recorded",
            EventType::RetryScheduled => "job.retry_scheduled",
            EventType::SweepSubmitted => "sweep.submitted",
            EventType::SweepCompleted => "sweep.completed",
        }
    }

    /// Which of a job's two event streams (each with its own sequence) this
    /// type belongs to.
    pub fn stream(self) -> EventStream {
        match self {
            EventType::MetricsRecorded => EventStream::Metrics,
            EventType::AuditRecorded => EventStream::Audit,
            _ => EventStream::Lifecycle,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseError::new("event type", s))
    }
}

/// A job's events form two streams, each numbered from 1 without gaps.
/// Audit records are a third kind of outbox row, one per record (its
/// `sequence` is always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStream {
    Lifecycle,
    Metrics,
    Audit,
}

impl EventStream {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStream::Lifecycle => "lifecycle",
            EventStream::Metrics => "metrics",
            EventStream::Audit => "audit",
        }
    }
}

impl FromStr for EventStream {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lifecycle" => Ok(EventStream::Lifecycle),
            "metrics" => Ok(EventStream::Metrics),
            "audit" => Ok(EventStream::Audit),
            other => Err(ParseError::new("event stream", other)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedPayload {
    pub agent: String,
    pub dataset_id: String,
    pub parameters: Map<String, Value>,
    pub backend: BackendKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedPayload {
    pub remote_job_id: Option<String>,
    pub backend: BackendKind,
    #[serde(with = "crate::timestamp::millis")]
    pub queued_timestamp: OffsetDateTime,
}

/// An attempt failed for a reason its retry policy covers; the next one is
/// handed over at `next_attempt_at`, with `resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryScheduledPayload {
    /// The next attempt's number (2 for the first retry).
    pub attempt: u32,
    pub error_code: String,
    pub error_message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(with = "crate::timestamp::millis")]
    pub next_attempt_at: OffsetDateTime,
    /// What the next attempt asks for (grown after running out of memory
    /// or time, when the policy says so).
    pub resources: crate::resources::Resources,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningPayload {
    pub remote_job_id: Option<String>,
    #[serde(with = "crate::timestamp::millis")]
    pub started_timestamp: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChangedPayload {
    pub previous_status: JobStatus,
    pub current_status: JobStatus,
    pub reason: String,
    /// Who asked for the change (a hold or release through the API); absent
    /// for a change the backend reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// Whether the job is held after the change (a hold or release through
    /// the API); absent for a change the backend reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedPayload {
    pub execution_time_seconds: f64,
    #[serde(with = "crate::timestamp::millis")]
    pub completion_timestamp: OffsetDateTime,
    pub exit_code: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedPayload {
    pub error_code: String,
    pub error_message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<i32>,
    #[serde(with = "crate::timestamp::millis")]
    pub failure_timestamp: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelledPayload {
    pub cancelled_by: String,
    pub cancellation_reason: String,
    #[serde(with = "crate::timestamp::millis")]
    pub cancellation_timestamp: OffsetDateTime,
}

/// One resource-usage sample of a running job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    pub cpu_usage_percent: f64,
    pub memory_usage_mb: f64,
    pub io_operations: u64,
    #[serde(with = "crate::timestamp::millis")]
    pub timestamp: OffsetDateTime,
}

pub type MetricsPayload = MetricsSample;

/// The payload of any event, serialized as the bare payload object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventPayload {
    Submitted(SubmittedPayload),
    Queued(QueuedPayload),
    Running(RunningPayload),
    StatusChanged(StatusChangedPayload),
    Completed(CompletedPayload),
    Failed(FailedPayload),
    Cancelled(CancelledPayload),
    MetricsRecorded(MetricsPayload),
    RetryScheduled(RetryScheduledPayload),
}

impl EventPayload {
    pub fn event_type(&self) -> EventType {
        match self {
            EventPayload::Submitted(_) => EventType::Submitted,
            EventPayload::Queued(_) => EventType::Queued,
            EventPayload::Running(_) => EventType::Running,
            EventPayload::StatusChanged(_) => EventType::StatusChanged,
            EventPayload::Completed(_) => EventType::Completed,
            EventPayload::Failed(_) => EventType::Failed,
            EventPayload::Cancelled(_) => EventType::Cancelled,
            EventPayload::MetricsRecorded(_) => EventType::MetricsRecorded,
            EventPayload::RetryScheduled(_) => EventType::RetryScheduled,
        }
    }
}

/// The envelope of every event: what the API returns and what Kafka carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventEnvelope {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub schema_version: u32,
    #[serde(with = "crate::timestamp::millis")]
    pub timestamp: OffsetDateTime,
    pub job_id: Uuid,
    pub user_id: String,
    pub correlation_id: String,
    pub sequence: u64,
    /// Which attempt of the job it belongs to (from 1; later ones after
    /// retries).
    pub attempt: u32,
    /// Absent on metrics events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<JobStatus>,
    pub status: JobStatus,
    pub payload: EventPayload,
    /// The job's W3C `traceparent`: stored beside the envelope and sent as
    /// a header, never in the envelope itself.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl EventEnvelope {
    /// Serialize to the JSON text that is stored, served and published.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

impl EventEnvelope {
    /// The envelope of a lifecycle event; `job` is the job after the change,
    /// so its `lifecycle_sequence` is this event's sequence.
    pub fn lifecycle(
        job: &crate::job::Job,
        previous_status: Option<JobStatus>,
        payload: EventPayload,
        event_id: Uuid,
        timestamp: OffsetDateTime,
    ) -> Self {
        EventEnvelope {
            event_id,
            event_type: payload.event_type(),
            schema_version: SCHEMA_VERSION,
            timestamp,
            job_id: job.id,
            user_id: job.user_id.clone(),
            correlation_id: job.correlation_id.clone(),
            sequence: job.lifecycle_sequence,
            attempt: job.attempt,
            previous_status,
            status: job.status,
            payload,
            traceparent: job.traceparent.clone(),
        }
    }

    /// The envelope of a metrics event; `job.metrics_sequence` is its sequence.
    pub fn metrics(job: &crate::job::Job, sample: MetricsSample, event_id: Uuid) -> Self {
        EventEnvelope {
            event_id,
            event_type: EventType::MetricsRecorded,
            schema_version: SCHEMA_VERSION,
            timestamp: sample.timestamp,
            job_id: job.id,
            user_id: job.user_id.clone(),
            correlation_id: job.correlation_id.clone(),
            sequence: job.metrics_sequence,
            attempt: job.attempt,
            previous_status: None,
            status: job.status,
            payload: EventPayload::MetricsRecorded(sample),
            traceparent: job.traceparent.clone(),
        }
    }
}

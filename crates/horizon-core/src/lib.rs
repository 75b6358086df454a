//! Horizon's domain model: what a job is, the statuses it moves through, the
//! one pure function that decides every transition, and the events that
//! record them.
//!
//! Architecture invariant: this crate does no I/O. It depends on serde, uuid,
//! time and thiserror only; storage, backends, HTTP and Kafka live elsewhere
//! and call into it.

mod audit;
pub mod dependency;
mod event;
mod job;
mod resources;
pub mod retry;
mod status;
pub mod sweep;
pub mod timestamp;
mod transition;

pub use audit::AuditRecord;
pub use event::{
    CancelledPayload, CompletedPayload, EventEnvelope, EventPayload, EventStream, EventType,
    FailedPayload, MetricsPayload, MetricsSample, QueuedPayload, RetryScheduledPayload,
    RunningPayload, SCHEMA_VERSION, StatusChangedPayload, SubmittedPayload,
};
pub use job::{BackendKind, Job, JobError, ParseError, error_codes};
pub use resources::{ResourceError, Resources};
pub use status::JobStatus;
pub use timestamp::truncate_to_millis;
pub use transition::{Command, Transition, TransitionError, transition};

//! The inputs and outputs of the store's operations.

use horizon_core::{BackendKind, EventStream, EventType, Job, JobStatus, Resources};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// A new job to insert (status SUBMITTED).
#[derive(Debug, Clone)]
pub struct CreateJobParams {
    pub id: Uuid,
    pub user_id: String,
    pub agent: String,
    pub dataset_id: String,
    pub parameters: Map<String, Value>,
    pub backend: BackendKind,
    /// The request's resources with the agent's defaults filled in.
    pub resources: Resources,
    pub correlation_id: String,
    /// Whom the backend charges the job to (the identity mapping's choice).
    pub account: Option<String>,
    /// The submission's W3C `traceparent`.
    pub traceparent: Option<String>,
    /// The job this one is a clone of.
    pub cloned_from: Option<Uuid>,
    /// Its retry policy (none: one attempt).
    pub retry: Option<horizon_core::retry::RetryPolicy>,
    /// The jobs it runs after (it waits in SUBMITTED until they are met).
    pub depends_on: Vec<horizon_core::dependency::Dependency>,
    pub created_at: OffsetDateTime,
    pub idempotency: Option<IdempotencyParams>,
    /// The audit record of this submission, written in the same transaction
    /// (its `target` set to the job made or replayed).
    pub audit: Option<horizon_core::AuditRecord>,
}

/// Where a new job sits in its sweep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SweepPlace {
    pub id: Uuid,
    pub index: u32,
    pub gated: bool,
}

impl CreateJobParams {
    /// The job as inserted (SUBMITTED, its first lifecycle event next),
    /// created at `at` (milliseconds).
    pub(crate) fn into_job(self, at: OffsetDateTime, sweep: Option<SweepPlace>) -> Job {
        Job {
            id: self.id,
            user_id: self.user_id,
            agent: self.agent,
            dataset_id: self.dataset_id,
            parameters: self.parameters,
            backend: self.backend,
            resources: self.resources,
            status: JobStatus::Submitted,
            remote_job_id: None,
            correlation_id: self.correlation_id,
            error: None,
            created_at: at,
            updated_at: at,
            started_at: None,
            finished_at: None,
            queued_at: None,
            exit_code: None,
            lifecycle_sequence: 1,
            metrics_sequence: 0,
            handed_over: false,
            claim_epoch: 0,
            account: self.account,
            location: None,
            traceparent: self.traceparent,
            held: false,
            cloned_from: self.cloned_from,
            attempt: 1,
            max_attempts: self.retry.as_ref().map_or(1, |r| r.attempts.max(1)),
            retry: self.retry,
            next_attempt_at: None,
            waiting: !self.depends_on.is_empty(),
            depends_on: self.depends_on,
            sweep_id: sweep.map(|s| s.id),
            sweep_index: sweep.map(|s| s.index),
            gated: sweep.is_some_and(|s| s.gated),
            scheduler_dependency: None,
        }
    }
}

/// A new sweep and its jobs, made in one transaction.
#[derive(Debug, Clone)]
pub struct CreateSweepParams {
    pub id: Uuid,
    pub user_id: String,
    pub agent: String,
    pub concurrency_limit: Option<u32>,
    pub correlation_id: String,
    pub created_at: OffsetDateTime,
    /// Its jobs in index order (their own `idempotency` and `audit` unused).
    pub jobs: Vec<CreateJobParams>,
    /// Horizon itself keeps the concurrency limit (the backend cannot):
    /// the jobs past the limit start gated, released as others end.
    pub gate: bool,
    pub idempotency: Option<IdempotencyParams>,
    /// The audit record of this request (its `target` set to the sweep).
    pub audit: Option<horizon_core::AuditRecord>,
}

/// The result of `create_sweep`.
#[derive(Debug, Clone)]
pub enum SweepCreated {
    New(horizon_core::sweep::Sweep),
    /// The idempotency key was used before for the same request.
    Replayed(horizon_core::sweep::Sweep),
}

impl SweepCreated {
    pub fn sweep(&self) -> &horizon_core::sweep::Sweep {
        match self {
            SweepCreated::New(s) | SweepCreated::Replayed(s) => s,
        }
    }
}

/// What one round of tending sweeps did.
#[derive(Debug, Clone, Default)]
pub struct SweepsTended {
    /// Gated jobs released (their sweep had room).
    pub released: u64,
    /// Sweeps whose last job ended (`sweep.completed` written).
    pub completed: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct IdempotencyParams {
    pub key: String,
    /// A digest of the request, to tell a replay from a different request.
    pub request_hash: String,
}

/// The result of `create_job`.
#[derive(Debug, Clone)]
pub enum Created {
    New(Job),
    /// The idempotency key was used before for the same request.
    Replayed(Job),
}

impl Created {
    pub fn job(&self) -> &Job {
        match self {
            Created::New(job) | Created::Replayed(job) => job,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListJobsParams {
    /// Only this user's jobs; `None` for all (admins).
    pub user_id: Option<String>,
    /// Only jobs in one of these statuses; empty for any.
    pub statuses: Vec<JobStatus>,
    pub agent: Option<String>,
    pub dataset_id: Option<String>,
    /// Only clones of this job.
    pub cloned_from: Option<Uuid>,
    /// Only the jobs of this sweep (their ids follow their index).
    pub sweep_id: Option<Uuid>,
    /// Only jobs created at or after this time.
    pub created_after: Option<OffsetDateTime>,
    /// Only jobs created before this time.
    pub created_before: Option<OffsetDateTime>,
    /// Only jobs older than this one (the cursor).
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// A job's outcome and times, for per-agent statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct JobTiming {
    pub agent: String,
    pub status: JobStatus,
    pub queued_at: Option<OffsetDateTime>,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

/// Which audit records to read; each field narrows, `None` for any.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Whose actions (the record's `actor`).
    pub actor: Option<String>,
    /// What was done (`job.cancel`, `job.read`, …).
    pub action: Option<String>,
    /// What it was done to (a job id, a token id, …).
    pub target: Option<String>,
    /// `allowed`, `denied` or `failed`.
    pub outcome: Option<String>,
    /// Records at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Records before this time.
    pub until: Option<OffsetDateTime>,
}

/// A stored event: its identity and the exact JSON of its envelope.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_id: Uuid,
    pub job_id: Uuid,
    pub event_type: EventType,
    pub stream: EventStream,
    pub sequence: u64,
    pub envelope: String,
    /// The job's W3C `traceparent`, if its submission had one.
    pub traceparent: Option<String>,
}

/// Which stored events a replay re-publishes: all of them that match every
/// given condition, in position (commit) order.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    /// One job's events (or, for an audit record, the record's id).
    pub job_id: Option<uuid::Uuid>,
    /// Events committed at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events at or after this outbox position.
    pub from_position: Option<i64>,
    /// Events at or before this outbox position (a replay fixes it at its
    /// start, so that what is committed meanwhile is not replayed).
    pub through_position: Option<i64>,
    /// Only events of this user's jobs.
    pub user_id: Option<String>,
    /// Only jobs' events (lifecycle and metrics): no audit records.
    pub jobs_only: bool,
}

/// What a replay filter selects now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaySpan {
    pub count: u64,
    /// The last position selected (0 when none).
    pub last_position: i64,
}

/// An event waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub position: i64,
    pub created_at: OffsetDateTime,
    pub event: StoredEvent,
}

/// The result of a successful `apply`.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The status the job left.
    pub previous: JobStatus,
    pub job: Job,
    pub event: StoredEvent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: String,
    pub admin: bool,
    /// When the token stops working, if it was made to.
    pub expires_at: Option<OffsetDateTime>,
}

/// A token as `horizon token list` shows it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The first 12 hex digits of the token's hash: enough to name it.
    pub id: String,
    pub user_id: String,
    pub admin: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// An event the relay parked because Kafka refused it for good.
#[derive(Debug, Clone)]
pub struct ParkedEvent {
    pub position: i64,
    pub event: StoredEvent,
    pub parked_at: OffsetDateTime,
    pub reason: String,
}

/// Who may write for a job: the process that claimed it, with the claim's
/// epoch (`Job::claim_epoch` as it read it). A write with a stale fence
/// (the job was claimed again since, by another process after this one went
/// silent) changes nothing and fails with `StoreError::Fenced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub process: Uuid,
    pub epoch: i64,
}

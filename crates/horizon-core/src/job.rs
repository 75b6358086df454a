//! The job record and its small value types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::resources::Resources;
use crate::status::JobStatus;

/// Which kind of compute backend runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Local,
    Slurm,
    Tapis,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Slurm => "slurm",
            BackendKind::Tapis => "tapis",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(BackendKind::Local),
            "slurm" => Ok(BackendKind::Slurm),
            "tapis" => Ok(BackendKind::Tapis),
            other => Err(ParseError::new("backend", other)),
        }
    }
}

/// A string that names no known value of some enumeration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct ParseError {
    what: &'static str,
    value: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, value: &str) -> Self {
        ParseError {
            what,
            value: value.to_owned(),
        }
    }
}

/// Why a job failed: a stable machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub code: String,
    pub message: String,
    pub exit_code: Option<i32>,
}

impl JobError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        JobError {
            code: code.to_owned(),
            message: message.into(),
            exit_code: None,
        }
    }

    pub fn with_exit_code(mut self, exit_code: i32) -> Self {
        self.exit_code = Some(exit_code);
        self
    }
}

/// The error codes Horizon itself assigns (backends may add their own).
pub mod error_codes {
    /// The program exited with a non-zero status.
    pub const NONZERO_EXIT: &str = "NONZERO_EXIT";
    /// The program was ended by a signal Horizon did not send.
    pub const KILLED_BY_SIGNAL: &str = "KILLED_BY_SIGNAL";
    /// The backend refused the job outright.
    pub const SUBMIT_REJECTED: &str = "SUBMIT_REJECTED";
    /// Submission kept failing with transient errors until retries ran out.
    pub const SUBMIT_FAILED: &str = "SUBMIT_FAILED";
    /// The process that ran the job vanished without recording how it ended.
    pub const AGENT_LOST: &str = "AGENT_LOST";
    /// The program could not be started at all.
    pub const LAUNCH_FAILED: &str = "LAUNCH_FAILED";
    /// The job ran past its wall time.
    pub const SCHEDULER_TIMEOUT: &str = "SCHEDULER_TIMEOUT";
    /// The job used more memory than it asked for.
    pub const SCHEDULER_OUT_OF_MEMORY: &str = "SCHEDULER_OUT_OF_MEMORY";
    /// A node the job ran on failed.
    pub const NODE_FAIL: &str = "NODE_FAIL";
    /// Someone other than Horizon cancelled the job in the scheduler.
    pub const CANCELLED_EXTERNALLY: &str = "CANCELLED_EXTERNALLY";
    /// The scheduler refused the job at submission (partition, limits, …).
    pub const SCHEDULER_REJECTED: &str = "SCHEDULER_REJECTED";
    /// The scheduler preempted the job and did not requeue it.
    pub const PREEMPTED: &str = "PREEMPTED";
}

/// A job as Horizon knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub user_id: String,
    pub agent: String,
    pub dataset_id: String,
    pub parameters: Map<String, Value>,
    pub backend: BackendKind,
    /// What the job asked for, with its agent's defaults filled in.
    pub resources: Resources,
    pub status: JobStatus,
    pub remote_job_id: Option<String>,
    pub correlation_id: String,
    pub error: Option<JobError>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    /// When the backend accepted it (QUEUED).
    pub queued_at: Option<OffsetDateTime>,
    /// The program's exit code, once it ended with one (a success's 0
    /// too; a job that never ran, or a scheduler's failure, has none).
    pub exit_code: Option<i32>,
    /// The sequence number of the job's last lifecycle event.
    pub lifecycle_sequence: u64,
    /// The sequence number of the job's last metrics event.
    pub metrics_sequence: u64,
    /// A process was about to hand the job to its scheduler (recorded in
    /// the database before the act, by whichever process): it may be there
    /// already, so a later submit looks it up by name first.
    pub handed_over: bool,
    /// How many times the job was claimed by a process (several processes
    /// on one database): the fencing token a claimer's writes carry.
    pub claim_epoch: i64,
    /// Whom the backend charges the job to (a Slurm account, a Tapis
    /// user), as the identity mapping decided at submission; `None`: the
    /// agent's own setting.
    pub account: Option<String>,
    /// Where the backend keeps the job's files (a Slurm job's directory
    /// on the cluster), recorded when it was handed over, so that any
    /// process can read its logs.
    pub location: Option<String>,
    /// The W3C `traceparent` the submission came with, carried on the
    /// job's events (Kafka headers, webhooks).
    pub traceparent: Option<String>,
    /// Held back by a user before it started (`POST /v1/jobs/{id}/hold`):
    /// not handed to its scheduler (SUBMITTED), not started (a local
    /// QUEUED job), or held by the scheduler itself (Slurm).
    pub held: bool,
    /// The job this one was cloned from (`POST /v1/jobs/{id}/clone`).
    pub cloned_from: Option<Uuid>,
    /// Which run this is, from 1: a retried job's later attempts count on.
    pub attempt: u32,
    /// The most attempts its retry policy allows (1 without one).
    pub max_attempts: u32,
    /// Its retry policy (the agent's, narrowed by the request).
    pub retry: Option<crate::retry::RetryPolicy>,
    /// A failed attempt was followed by another, due then: the job is
    /// QUEUED but not yet handed to its backend again.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The jobs it runs after, each with how it must have ended.
    pub depends_on: Vec<crate::dependency::Dependency>,
    /// Waiting in SUBMITTED for its dependencies: not handed over until
    /// they are met (and CANCELLED once one can never be).
    pub waiting: bool,
    /// The sweep it is a point of, and which point (from 0).
    pub sweep_id: Option<Uuid>,
    pub sweep_index: Option<u32>,
    /// Held back in SUBMITTED by its sweep's concurrency limit: not handed
    /// over until a running job of the sweep ends.
    pub gated: bool,
    /// Its dependencies, handed to its scheduler with the job (Slurm's
    /// `--dependency`, e.g. `afterok:1234:1240_[0-9]`): set when the jobs it
    /// waits for are the same scheduler's, so that the scheduler plans it
    /// instead of Horizon holding it back.
    pub scheduler_dependency: Option<String>,
}

impl Job {
    /// The id its backend knows this attempt by: the job's id for the
    /// first, a name-based UUID (v5, in the job id's namespace) for each
    /// later one, so that an attempt is a new job to its scheduler (its own
    /// name, directory and hand-over marker) and never the one before.
    pub fn run_id(&self) -> Uuid {
        if self.attempt <= 1 {
            self.id
        } else {
            Uuid::new_v5(&self.id, format!("attempt-{}", self.attempt).as_bytes())
        }
    }

    /// Waiting for its next attempt to be handed over (QUEUED).
    pub fn awaiting_attempt(&self) -> bool {
        self.next_attempt_at.is_some()
    }
}

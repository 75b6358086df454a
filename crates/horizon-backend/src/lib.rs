//! Horizon's compute backends, behind one trait.
//!
//! A backend does three things: accept a job (`submit`), report what became of
//! the jobs it holds (`poll`, batched over all of them), and stop one
//! (`cancel`). It never touches the store: the server's workers turn what it
//! reports into transitions. Only `local` exists so far; Slurm and Tapis
//! implement the same trait.

pub mod local;

use async_trait::async_trait;
use horizon_core::{BackendKind, Job, JobError, MetricsSample};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a backend says after accepting a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The backend's own id, when it assigns one at submission.
    pub remote_job_id: Option<String>,
}

/// Something a backend observed about one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub job_id: Uuid,
    pub update: Update,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The job's program is running.
    Running {
        remote_job_id: Option<String>,
        started_at: OffsetDateTime,
    },
    /// The program ended by itself with exit status 0.
    Succeeded {
        started_at: OffsetDateTime,
        finished_at: OffsetDateTime,
        exit_code: i32,
    },
    /// The job failed; `started_at` is set when it had been running.
    Failed {
        started_at: Option<OffsetDateTime>,
        finished_at: OffsetDateTime,
        error: JobError,
    },
    /// A resource sample of a running job.
    Metrics(MetricsSample),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend refused the job; trying again will not help.
    #[error("backend rejected the job: {0}")]
    Rejected(String),
    /// The backend could not be reached or failed for now; try again later.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl BackendError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, BackendError::Rejected(_))
    }
}

/// A compute backend.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> BackendKind;

    /// Accept a SUBMITTED job. Must be idempotent: after a crash the
    /// dispatcher may hand the same job over again.
    async fn submit(&self, job: &Job) -> Result<Accepted, BackendError>;

    /// Report on the jobs this backend holds (QUEUED and RUNNING, oldest
    /// first). Jobs that have nothing new are left out.
    async fn poll(&self, jobs: &[Job]) -> Result<Vec<Observation>, BackendError>;

    /// How many of the oldest QUEUED jobs a pass needs to show this backend:
    /// `None` for all of them (a scheduler that holds queued jobs itself must
    /// see each), `Some(n)` when queued jobs only matter as candidates to
    /// start (the local backend: its free slots). The watcher still shows
    /// every QUEUED job now and then (at start and in a slow safety sweep).
    fn queued_poll_limit(&self) -> Option<usize> {
        None
    }

    /// Stop a job. Stopping a job that is not running is not an error.
    async fn cancel(&self, job: &Job) -> Result<(), BackendError>;

    /// Once at start-up, with the ids of every job that is still active
    /// (QUEUED or RUNNING): stop whatever the backend still runs for any other
    /// job — a job cancelled just before a crash, whose stop was never sent.
    /// Returns how many were stopped.
    async fn stop_strays(&self, _active: &[Uuid]) -> Result<usize, BackendError> {
        Ok(0)
    }
}

//! Horizon's compute backends, behind one trait.
//!
//! A backend does three things: accept a job (`submit`), report what became of
//! the jobs it holds (`poll`, batched over all of them), and stop one
//! (`cancel`). It never touches the store: the server's workers turn what it
//! reports into transitions. `local` runs programs on this machine, `slurm`
//! hands them to a Slurm cluster, `tapis` to TACC's Tapis v3 Jobs API.

mod attempts;
mod handover;
pub mod local;
pub mod slurm;
pub mod tapis;

pub use attempts::{Attempts, attempt_view};

use async_trait::async_trait;
use horizon_core::{BackendKind, Job, JobError, MetricsSample, Resources};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a backend says after accepting a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The backend's own id, when it assigns one at submission.
    pub remote_job_id: Option<String>,
    /// Where the backend keeps the job's files, when other processes
    /// need to be told (a Slurm job's directory): see `Job::location`.
    pub location: Option<String>,
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
    /// A change on the backend's side that keeps the job's status: held,
    /// released, suspended, resumed, requeued (`job.status_changed`).
    Note { reason: String, at: OffsetDateTime },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend refused the job; trying again will not help.
    #[error("backend rejected the job: {0}")]
    Rejected(String),
    /// The scheduler (Slurm, Tapis) refused the job: a partition, account or
    /// limit it does not accept; trying again will not help.
    #[error("the scheduler rejected the job: {0}")]
    SchedulerRejected(String),
    /// The backend could not be reached or failed for now; try again later.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl BackendError {
    pub fn is_retryable(&self) -> bool {
        self.rejection_code().is_none()
    }

    /// The error code a job fails with when this refusal ends it.
    pub fn rejection_code(&self) -> Option<&'static str> {
        match self {
            BackendError::Rejected(_) => Some(horizon_core::error_codes::SUBMIT_REJECTED),
            BackendError::SchedulerRejected(_) => {
                Some(horizon_core::error_codes::SCHEDULER_REJECTED)
            }
            _ => None,
        }
    }
}

/// Which of a job's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// Which part of a job's output to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRange {
    /// The last `n` bytes.
    Tail(u64),
    /// Up to `max` bytes from byte `offset` on (for following a log).
    From { offset: u64, max: u64 },
}

/// A piece of a job's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogChunk {
    /// Where `bytes` starts in the whole log.
    pub start: u64,
    pub bytes: Vec<u8>,
    /// The whole log's size when it was read.
    pub size: u64,
}

/// Read part of a file on this machine; an empty chunk when it does not exist.
pub async fn read_log(path: std::path::PathBuf, range: LogRange) -> Result<LogChunk, BackendError> {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LogChunk::default());
            }
            Err(err) => return Err(err),
        };
        let size = file.metadata()?.len();
        let (start, max) = match range {
            LogRange::Tail(n) => (size.saturating_sub(n), n),
            LogRange::From { offset, max } => (offset.min(size), max),
        };
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.take(max).read_to_end(&mut bytes)?;
        Ok(LogChunk { start, bytes, size })
    })
    .await
    .map_err(|err| BackendError::Unavailable(format!("log reader stopped: {err}")))?
    .map_err(BackendError::Io)
}

/// How a backend holds a job it has accepted (QUEUED) but not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedHold {
    /// Horizon keeps it back: the backend starts queued jobs only when the
    /// watcher shows them, and it does not show held ones (local).
    InHorizon,
    /// The scheduler holds it (`Backend::hold`, Slurm's `scontrol hold`).
    InScheduler,
    /// Once accepted the job is the scheduler's, which cannot hold it
    /// (Tapis): only a SUBMITTED job can be held.
    Unsupported,
}

/// A compute backend.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> BackendKind;

    /// Whether each submission hands the job to a remote scheduler (Slurm,
    /// Tapis): the dispatcher then marks each job "handing over" in the
    /// database right before its submission, so that any process that
    /// takes it over looks it up before submitting again (`Job::handed_over`).
    fn marks_each_submission(&self) -> bool {
        false
    }

    /// Accept a SUBMITTED job. Must be idempotent: after a crash the
    /// dispatcher may hand the same job over again.
    async fn submit(&self, job: &Job) -> Result<Accepted, BackendError>;

    /// Whether this backend takes a sweep's jobs together (`submit_sweep`:
    /// Slurm's job arrays, which keep the sweep's concurrency limit
    /// themselves); else each job is submitted alone and Horizon keeps
    /// the limit.
    fn submits_arrays(&self) -> bool {
        false
    }

    /// Accept jobs of one sweep together (already marked as handed over,
    /// like `submit`'s, and as idempotent); `limit`: at most that many
    /// running at once, over these and `after` (the scheduler ids of the
    /// sweep's jobs handed over before and not ended: the new ones start
    /// after those). Each job's outcome, in order.
    async fn submit_sweep(
        &self,
        jobs: &[Job],
        _limit: Option<u32>,
        _after: &[String],
    ) -> Vec<Result<Accepted, BackendError>> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(self.submit(job).await);
        }
        outcomes
    }

    /// Stop several jobs (a sweep's): as few scheduler calls as it takes.
    async fn cancel_many(&self, jobs: &[Job]) -> Result<(), BackendError> {
        let mut first_error = None;
        for job in jobs {
            if let Err(err) = self.cancel(job).await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

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

    /// The most of each resource this backend can give any job (`None`:
    /// no limit of its own); shown in the served OpenAPI document.
    fn resource_limits(&self) -> Resources {
        Resources::default()
    }

    /// Refuse resources this backend cannot give a job (the message names
    /// the field); called before a job is stored.
    fn check_resources(&self, _resources: &Resources) -> Result<(), String> {
        Ok(())
    }

    /// Part of a job's output (an empty chunk before it has any).
    async fn logs(
        &self,
        job: &Job,
        stream: LogStream,
        range: LogRange,
    ) -> Result<LogChunk, BackendError>;

    /// Stop a job. Stopping a job that is not running is not an error.
    async fn cancel(&self, job: &Job) -> Result<(), BackendError>;

    /// How this backend holds a QUEUED job.
    fn queued_hold(&self) -> QueuedHold {
        QueuedHold::InHorizon
    }

    /// Hold a QUEUED job in the scheduler (`QueuedHold::InScheduler`): it
    /// will not start until released. `Rejected` when it has started.
    async fn hold(&self, _job: &Job) -> Result<(), BackendError> {
        Ok(())
    }

    /// Let a job held in the scheduler start.
    async fn release(&self, _job: &Job) -> Result<(), BackendError> {
        Ok(())
    }

    /// Once at start-up, with the ids of every job that is still active
    /// (QUEUED or RUNNING): stop whatever the backend still runs for any other
    /// job — a job cancelled just before a crash, whose stop was never sent.
    /// Returns how many were stopped.
    async fn stop_strays(&self, _active: &[Uuid]) -> Result<usize, BackendError> {
        Ok(0)
    }
}

/// Test hook: with `var=N` set, abort the process right after the N-th
/// submission to the scheduler answered (1 if not a number): between the
/// scheduler accepting a job and Horizon recording it, the window the
/// "handing over" marks are for.
pub(crate) fn crash_after_submit_for_tests(var: &str) {
    static SUBMITTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if let Some(after) = std::env::var_os(var) {
        let after = after.to_string_lossy().parse::<u64>().unwrap_or(1);
        if SUBMITTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= after {
            std::process::abort();
        }
    }
}

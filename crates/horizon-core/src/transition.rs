//! The one pure function that decides every status change of a job and the
//! event it emits.
//!
//! ```text
//! SUBMITTED ──queue──▶ QUEUED ──start──▶ RUNNING ──complete──▶ COMPLETED
//!     │                  │                  │
//!     ├──fail──▶ FAILED ◀┴──fail────────────┤
//!     └──cancel──▶ CANCELLED ◀──cancel──────┘ (from SUBMITTED, QUEUED, RUNNING)
//! QUEUED/RUNNING ──note──▶ same status (job.status_changed: held, requeued, …)
//! SUBMITTED/QUEUED ──hold, release──▶ same status, `held` set or cleared
//! QUEUED/RUNNING ──retry──▶ QUEUED (the next attempt, handed over when due:
//!                           queue again, QUEUED ──queue──▶ QUEUED)
//! ```

use time::OffsetDateTime;

use crate::event::{
    CancelledPayload, CompletedPayload, EventPayload, FailedPayload, QueuedPayload,
    RetryScheduledPayload, RunningPayload, StatusChangedPayload,
};
use crate::job::{Job, JobError};
use crate::resources::Resources;
use crate::status::JobStatus;
use crate::timestamp::truncate_to_millis;

/// Something that happened to a job, asked of the transition function.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// The backend accepted the job.
    Queue {
        remote_job_id: Option<String>,
        /// Where the backend keeps the job's files (see `Job::location`).
        location: Option<String>,
        at: OffsetDateTime,
    },
    /// The job's program started.
    Start {
        remote_job_id: Option<String>,
        at: OffsetDateTime,
    },
    /// The job's program ended successfully.
    Complete { exit_code: i32, at: OffsetDateTime },
    /// The job failed, before or while running.
    Fail { error: JobError, at: OffsetDateTime },
    /// Someone cancelled the job.
    Cancel {
        by: String,
        reason: String,
        at: OffsetDateTime,
    },
    /// The backend reported a change that is not one of the above (held,
    /// released, suspended, …); the status stays as it is.
    Note { reason: String, at: OffsetDateTime },
    /// A user holds the job back before it starts.
    Hold {
        by: String,
        reason: String,
        at: OffsetDateTime,
    },
    /// A user lets a held job go on.
    Release {
        by: String,
        reason: String,
        at: OffsetDateTime,
    },
    /// An attempt failed and its retry policy gives it another, handed
    /// over at `next_attempt_at` with `resources` (see `retry::after_failure`).
    Retry {
        error: JobError,
        next_attempt_at: OffsetDateTime,
        resources: Resources,
        at: OffsetDateTime,
    },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Queue { .. } => "queue",
            Command::Start { .. } => "start",
            Command::Complete { .. } => "complete",
            Command::Fail { .. } => "fail",
            Command::Cancel { .. } => "cancel",
            Command::Note { .. } => "note",
            Command::Hold { .. } => "hold",
            Command::Release { .. } => "release",
            Command::Retry { .. } => "retry",
        }
    }

    fn at(&self) -> OffsetDateTime {
        match self {
            Command::Queue { at, .. }
            | Command::Start { at, .. }
            | Command::Complete { at, .. }
            | Command::Fail { at, .. }
            | Command::Cancel { at, .. }
            | Command::Note { at, .. }
            | Command::Hold { at, .. }
            | Command::Release { at, .. }
            | Command::Retry { at, .. } => truncate_to_millis(*at),
        }
    }
}

/// A decided transition: the new status, the changed fields, and the one
/// event that records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: JobStatus,
    pub to: JobStatus,
    pub at: OffsetDateTime,
    pub remote_job_id: Option<String>,
    pub location: Option<String>,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub queued_at: Option<OffsetDateTime>,
    pub exit_code: Option<i32>,
    pub error: Option<JobError>,
    pub held: bool,
    pub attempt: u32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub resources: Resources,
    /// Whether the job is (still) marked as handed to its scheduler: a
    /// retry starts the next attempt unmarked.
    pub handed_over: bool,
    pub payload: EventPayload,
}

impl Transition {
    /// The job as it is after this transition.
    pub fn apply_to(&self, job: &Job) -> Job {
        Job {
            status: self.to,
            remote_job_id: self.remote_job_id.clone(),
            location: self.location.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            queued_at: self.queued_at,
            exit_code: self.exit_code,
            error: self.error.clone(),
            held: self.held,
            attempt: self.attempt,
            next_attempt_at: self.next_attempt_at,
            resources: self.resources,
            handed_over: self.handed_over,
            updated_at: self.at,
            lifecycle_sequence: job.lifecycle_sequence + 1,
            ..job.clone()
        }
    }
}

/// Why a command cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    #[error("job is {status}, which is final: it cannot {command}")]
    Terminal {
        status: JobStatus,
        command: &'static str,
    },
    #[error("a {status} job cannot {command}")]
    Illegal {
        status: JobStatus,
        command: &'static str,
    },
    #[error("the job is held already")]
    AlreadyHeld,
    #[error("the job is not held: there is nothing to release")]
    NotHeld,
    #[error(
        "the job is being handed to its scheduler: it cannot be held now; try again once it is QUEUED"
    )]
    HandingOver,
    #[error("the job has no attempt left (attempt {attempt} of {max})")]
    NoAttemptLeft { attempt: u32, max: u32 },
}

/// Decide what `command` does to `job`. Pure: no clock, no I/O.
pub fn transition(job: &Job, command: Command) -> Result<Transition, TransitionError> {
    use JobStatus::*;

    let from = job.status;
    let name = command.name();
    if from.is_terminal() {
        return Err(TransitionError::Terminal {
            status: from,
            command: name,
        });
    }
    // a job's events never go back in time: a scheduler's whole-second
    // start time may be earlier than the QUEUED Horizon recorded
    let at = command.at().max(job.updated_at);
    let mut next = Transition {
        from,
        to: from,
        at,
        remote_job_id: job.remote_job_id.clone(),
        location: job.location.clone(),
        started_at: job.started_at,
        finished_at: job.finished_at,
        queued_at: job.queued_at,
        exit_code: job.exit_code,
        error: job.error.clone(),
        held: job.held,
        attempt: job.attempt,
        next_attempt_at: job.next_attempt_at,
        resources: job.resources,
        handed_over: job.handed_over,
        payload: EventPayload::StatusChanged(StatusChangedPayload {
            previous_status: from,
            current_status: from,
            reason: String::new(),
            changed_by: None,
            held: None,
        }),
    };
    let illegal = || TransitionError::Illegal {
        status: from,
        command: name,
    };
    match (from, command) {
        (
            Submitted,
            Command::Queue {
                remote_job_id,
                location,
                ..
            },
        ) => {
            next.to = Queued;
            next.queued_at = Some(at);
            if remote_job_id.is_some() {
                next.remote_job_id = remote_job_id;
            }
            if location.is_some() {
                next.location = location;
            }
            next.payload = EventPayload::Queued(QueuedPayload {
                remote_job_id: next.remote_job_id.clone(),
                backend: job.backend,
                queued_timestamp: at,
            });
        }
        // the next attempt handed over
        (
            Queued,
            Command::Queue {
                remote_job_id,
                location,
                ..
            },
        ) if job.awaiting_attempt() => {
            next.queued_at = Some(at);
            next.next_attempt_at = None;
            next.remote_job_id = remote_job_id;
            next.location = location;
            next.payload = EventPayload::Queued(QueuedPayload {
                remote_job_id: next.remote_job_id.clone(),
                backend: job.backend,
                queued_timestamp: at,
            });
        }
        (Queued, Command::Start { .. }) if job.awaiting_attempt() => return Err(illegal()),
        (Queued, Command::Start { remote_job_id, .. }) => {
            next.to = Running;
            // (a hold that raced with the start lost: the job runs)
            next.held = false;
            if remote_job_id.is_some() {
                next.remote_job_id = remote_job_id;
            }
            next.started_at = Some(at);
            next.payload = EventPayload::Running(RunningPayload {
                remote_job_id: next.remote_job_id.clone(),
                started_timestamp: at,
            });
        }
        (Running, Command::Complete { exit_code, .. }) => {
            next.to = Completed;
            next.held = false;
            next.finished_at = Some(at);
            next.exit_code = Some(exit_code);
            let started = job.started_at.unwrap_or(at);
            let millis = (at - started).whole_milliseconds().max(0);
            next.payload = EventPayload::Completed(CompletedPayload {
                execution_time_seconds: millis as f64 / 1000.0,
                completion_timestamp: at,
                exit_code,
            });
        }
        (Submitted | Queued | Running, Command::Fail { error, .. }) => {
            next.to = Failed;
            next.held = false;
            next.finished_at = Some(at);
            next.exit_code = error.exit_code;
            next.payload = EventPayload::Failed(FailedPayload {
                error_code: error.code.clone(),
                error_message: error.message.clone(),
                exit_code: error.exit_code,
                failure_timestamp: at,
            });
            next.error = Some(error);
        }
        (Submitted | Queued | Running, Command::Cancel { by, reason, .. }) => {
            next.to = Cancelled;
            next.held = false;
            next.finished_at = Some(at);
            next.payload = EventPayload::Cancelled(CancelledPayload {
                cancelled_by: by,
                cancellation_reason: reason,
                cancellation_timestamp: at,
            });
        }
        (Queued | Running, Command::Note { reason, .. }) => {
            next.payload = EventPayload::StatusChanged(StatusChangedPayload {
                previous_status: from,
                current_status: from,
                reason,
                changed_by: None,
                held: None,
            });
        }
        (
            Queued | Running,
            Command::Retry {
                error,
                next_attempt_at,
                resources,
                ..
            },
        ) => {
            if job.attempt >= job.max_attempts {
                return Err(TransitionError::NoAttemptLeft {
                    attempt: job.attempt,
                    max: job.max_attempts,
                });
            }
            let next_attempt_at = truncate_to_millis(next_attempt_at).max(at);
            next.to = Queued;
            next.attempt = job.attempt + 1;
            next.next_attempt_at = Some(next_attempt_at);
            next.resources = resources;
            next.remote_job_id = None;
            next.location = None;
            next.started_at = None;
            next.exit_code = None;
            next.error = None;
            next.handed_over = false;
            next.payload = EventPayload::RetryScheduled(RetryScheduledPayload {
                attempt: next.attempt,
                error_code: error.code,
                error_message: error.message,
                exit_code: error.exit_code,
                next_attempt_at,
                resources,
            });
        }
        (Submitted | Queued, Command::Hold { by, reason, .. }) => {
            if job.held {
                return Err(TransitionError::AlreadyHeld);
            }
            if from == Submitted && job.handed_over {
                return Err(TransitionError::HandingOver);
            }
            next.held = true;
            next.payload = EventPayload::StatusChanged(StatusChangedPayload {
                previous_status: from,
                current_status: from,
                reason: format!("held by {by}: {reason}"),
                changed_by: Some(by),
                held: Some(true),
            });
        }
        (Submitted | Queued, Command::Release { by, reason, .. }) => {
            if !job.held {
                return Err(TransitionError::NotHeld);
            }
            next.held = false;
            next.payload = EventPayload::StatusChanged(StatusChangedPayload {
                previous_status: from,
                current_status: from,
                reason: format!("released by {by}: {reason}"),
                changed_by: Some(by),
                held: Some(false),
            });
        }
        _ => return Err(illegal()),
    }
    Ok(next)
}

#[cfg(test)]
mod tests;

//! What both stores decide the same way before their SQL: a command's
//! effect on a job (the transition, the job after it, its event).

use horizon_core::{Command, EventEnvelope, Job, JobStatus, transition};
use uuid::Uuid;

use crate::StoreError;

/// A command decided against a job's current row.
pub(crate) struct Decided {
    pub(crate) previous: JobStatus,
    pub(crate) after: Job,
    pub(crate) envelope: EventEnvelope,
}

/// Decide `command` for `job` (a refused transition changes nothing).
pub(crate) fn apply(job: &Job, command: Command) -> Result<Decided, StoreError> {
    let decided = transition(job, command)?;
    let after = decided.apply_to(job);
    let envelope = EventEnvelope::lifecycle(
        &after,
        Some(decided.from),
        decided.payload,
        Uuid::now_v7(),
        decided.at,
    );
    Ok(Decided {
        previous: decided.from,
        after,
        envelope,
    })
}

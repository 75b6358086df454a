//! Applying a command to a job through the store, with the logs and metrics
//! every transition gets, whoever asked for it (API, dispatcher, watcher).

use horizon_core::Command;
use horizon_store::{Applied, Fence, Store, StoreError};
use tracing::info;
use uuid::Uuid;

use crate::telemetry;

/// Apply `command` to job `id`; with a `fence`, as the process that
/// claimed it (nothing changes if another process claimed it since).
pub async fn apply(
    store: &dyn Store,
    id: Uuid,
    command: Command,
    fence: Option<Fence>,
) -> Result<Applied, StoreError> {
    // a compare-and-set lost to a concurrent change of the job (another
    // process's transition, a metrics sample) is decided again on the
    // fresh state: a user's cancel must not fail because the job started
    // at that moment
    let mut tries = 0;
    let applied = loop {
        match store.apply_fenced(id, command.clone(), fence).await {
            Err(StoreError::Conflict(_)) if tries < 8 => tries += 1,
            other => break other?,
        }
    };
    let job = &applied.job;
    let from = applied.previous;
    metrics::counter!(telemetry::TRANSITIONS, "from" => from.as_str(), "to" => job.status.as_str())
        .increment(1);
    if job.status == horizon_core::JobStatus::Running
        && let Some(started) = job.started_at
    {
        metrics::histogram!(telemetry::QUEUE_WAIT, "agent" => job.agent.clone())
            .record((started - job.created_at).as_seconds_f64().max(0.0));
    }
    if job.status.is_terminal()
        && let (Some(started), Some(finished)) = (job.started_at, job.finished_at)
    {
        metrics::histogram!(telemetry::RUN_TIME, "agent" => job.agent.clone(), "status" => job.status.as_str())
            .record((finished - started).as_seconds_f64().max(0.0));
    }
    info!(
        job.id = %job.id, job.status = %job.status, job.correlation_id = %job.correlation_id,
        event.sequence = applied.event.sequence,
        "job {} {from} -> {} ({})", job.id, job.status, applied.event.event_type
    );
    Ok(applied)
}

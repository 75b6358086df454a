//! Applying a command to a job through the store, with the logs and metrics
//! every transition gets, whoever asked for it (API, dispatcher, watcher).

use horizon_core::Command;
use horizon_store::{Applied, Store, StoreError};
use tracing::info;
use uuid::Uuid;

use crate::telemetry;

pub async fn apply(store: &dyn Store, id: Uuid, command: Command) -> Result<Applied, StoreError> {
    let applied = store.apply(id, command).await?;
    let job = &applied.job;
    let from = applied.previous;
    metrics::counter!(telemetry::TRANSITIONS, "from" => from.as_str(), "to" => job.status.as_str())
        .increment(1);
    info!(
        job.id = %job.id, job.status = %job.status, event.sequence = applied.event.sequence,
        "job {} {from} -> {} ({})", job.id, job.status, applied.event.event_type
    );
    Ok(applied)
}

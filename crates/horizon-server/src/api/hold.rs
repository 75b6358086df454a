//! Holding a job back before it starts, and releasing it:
//! `POST /v1/jobs/{id}/hold` and `/release`. A SUBMITTED job is kept back by
//! Horizon (not handed to its scheduler); a QUEUED one by its backend as it
//! can (`QueuedHold`): Slurm's `scontrol hold`, the local backend by not
//! starting it; Tapis cannot hold a job it has accepted (409). Each is a
//! `job.status_changed` naming who and why, and an audit record.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use horizon_backend::{BackendError, QueuedHold};
use horizon_core::{Command, Job, JobStatus};
use time::OffsetDateTime;
use tracing::warn;

use super::AppState;
use super::auth::Caller;
use super::dto::{HoldJobRequest, JobDto};
use super::jobs::{optional_body, reason_field, visible_job};
use super::problem::{ApiError, Problem};
use crate::lifecycle;

fn reason(body: &[u8], default: &str) -> Result<String, ApiError> {
    let request: HoldJobRequest = optional_body(body)?;
    reason_field(request.reason, default)
}

fn refused_by_scheduler(job: &Job, err: BackendError) -> ApiError {
    match err {
        BackendError::Rejected(why) | BackendError::SchedulerRejected(why) => {
            ApiError::Conflict(why)
        }
        other => ApiError::BackendUnavailable(format!("job {}: {other}", job.id)),
    }
}

/// Hold a job that has not started (SUBMITTED or QUEUED): it waits until
/// released. A RUNNING or ended job is a 409, as is a QUEUED Tapis job
/// (Tapis cannot hold what it has accepted).
#[utoipa::path(
    post, path = "/v1/jobs/{id}/hold", tag = "jobs",
    params(("id" = String, Path, description = "job id")),
    request_body(content = Option<HoldJobRequest>, description = "optional `{reason}`"),
    responses(
        (status = 200, description = "the job, held", body = JobDto),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "started, ended, held already, or its scheduler cannot hold it", body = Problem),
        (status = 422, body = Problem),
        (status = 503, description = "the scheduler could not be asked", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn hold_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<JobDto>, ApiError> {
    let reason = reason(&body, "held by user")?;
    let job = visible_job(&state, &caller, &id).await?;
    let backend = state.backends.get(&job.backend).cloned();
    let how = backend
        .as_ref()
        .map_or(QueuedHold::InHorizon, |b| b.queued_hold());
    if job.status == JobStatus::Queued && how == QueuedHold::Unsupported {
        return Err(ApiError::Conflict(format!(
            "job {} is QUEUED on {}, which cannot hold a job it has accepted; \
             only a SUBMITTED job can be held there",
            job.id, job.backend
        )));
    }
    // recorded first: the dispatcher does not hand a held job over, and the
    // local backend does not start one
    let applied = lifecycle::apply(
        state.store.as_ref(),
        job.id,
        Command::Hold {
            by: caller.user_id.clone(),
            reason,
            at: OffsetDateTime::now_utc(),
        },
        None,
    )
    .await?;
    let held = applied.job;
    if held.status == JobStatus::Queued
        && let Some(backend) = backend.filter(|b| b.queued_hold() == QueuedHold::InScheduler)
        && let Err(err) = backend.hold(&held).await
    {
        // the scheduler did not hold it (it started, or cannot be asked):
        // say so on the job too, unless it has moved on already
        let undo = lifecycle::apply(
            state.store.as_ref(),
            held.id,
            Command::Release {
                by: "horizon".into(),
                reason: format!("the scheduler did not hold it: {err}"),
                at: OffsetDateTime::now_utc(),
            },
            None,
        )
        .await;
        if let Err(undo) = undo {
            warn!(job.id = %held.id, "job {}: the hold failed ({err}) and was not undone: {undo}", held.id);
        }
        return Err(refused_by_scheduler(&held, err));
    }
    Ok(Json(JobDto::from(&held)))
}

/// Release a held job: it goes on where it stopped (handed to its
/// scheduler, or started when a slot is free; Slurm's `scontrol release`).
#[utoipa::path(
    post, path = "/v1/jobs/{id}/release", tag = "jobs",
    params(("id" = String, Path, description = "job id")),
    request_body(content = Option<HoldJobRequest>, description = "optional `{reason}`"),
    responses(
        (status = 200, description = "the job, released", body = JobDto),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "not held, or ended", body = Problem),
        (status = 422, body = Problem),
        (status = 503, description = "the scheduler could not be asked", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn release_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<JobDto>, ApiError> {
    let reason = reason(&body, "released by user")?;
    let job = visible_job(&state, &caller, &id).await?;
    if !job.held {
        return Err(ApiError::Conflict(
            horizon_core::TransitionError::NotHeld.to_string(),
        ));
    }
    // the scheduler first: a job Horizon shows released must be free to run
    if job.status == JobStatus::Queued
        && let Some(backend) = state
            .backends
            .get(&job.backend)
            .filter(|b| b.queued_hold() == QueuedHold::InScheduler)
    {
        backend
            .release(&job)
            .await
            .map_err(|err| refused_by_scheduler(&job, err))?;
    }
    let applied = lifecycle::apply(
        state.store.as_ref(),
        job.id,
        Command::Release {
            by: caller.user_id.clone(),
            reason,
            at: OffsetDateTime::now_utc(),
        },
        None,
    )
    .await?;
    state.dispatch_wake.notify_one();
    Ok(Json(JobDto::from(&applied.job)))
}

//! Sweeps: `POST /v1/sweeps` (one agent over many points in one request),
//! `GET /v1/sweeps/{id}` (its counts by status), `POST
//! /v1/sweeps/{id}/cancel` (all its unfinished jobs). Each point is an
//! ordinary job (`GET /v1/jobs?sweep_id=` lists them); the sweep and all
//! its jobs are made in one transaction.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::future::join_all;
use horizon_core::sweep::{Points, Sweep};
use horizon_core::{Command, JobStatus};
use horizon_store::{
    CreateJobParams, CreateSweepParams, IdempotencyParams, ListJobsParams, SweepCreated,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::{info, warn};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::dto::{CancelJobRequest, DependencyDto, ResourcesDto, RetryRequestDto, rfc3339};
use super::jobs::{ApiJson, CORRELATION_ID, optional_body, reason_field};
use super::problem::{ApiError, Problem};
use super::submit::{Common, check_point, common, dependencies, header_id};
use crate::lifecycle;

/// `POST /v1/sweeps`: an agent over a dataset (or several), with a grid of
/// parameters or a list of parameter sets; at most 100,000 points.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// An agent named in the server's configuration.
    #[schema(min_length = 1, max_length = 255)]
    pub agent: String,
    /// The dataset every point runs on (or give `datasets`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub dataset_id: Option<String>,
    /// Several datasets: each point runs on each of them (outermost).
    #[serde(default)]
    pub datasets: Option<Vec<String>>,
    /// Parameters every point has (a point's own values win).
    #[serde(default)]
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub parameters: Map<String, Value>,
    /// Lists of values by parameter name: their cartesian product is taken
    /// (names in alphabetical order, whatever the request's order: the
    /// last one varies fastest). Exclusive with `points`.
    #[serde(default)]
    #[schema(value_type = Option<std::collections::HashMap<String, Vec<serde_json::Value>>>)]
    pub grid: Option<Map<String, Value>>,
    /// Parameter sets, one per point. Exclusive with `grid`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<std::collections::HashMap<String, serde_json::Value>>>)]
    pub points: Option<Vec<Map<String, Value>>>,
    /// At most this many of its jobs run at once (default: the agent's
    /// `sweep_concurrency_limit`, which a request may only lower).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub concurrency_limit: Option<u32>,
    /// What each job needs; fields left out take the agent's defaults.
    #[serde(default)]
    pub resources: Option<ResourcesDto>,
    /// Narrow the agent's retry policy for every job of the sweep.
    #[serde(default)]
    pub retry: Option<RetryRequestDto>,
    /// Jobs or sweeps every job of this sweep runs after.
    #[serde(default)]
    pub depends_on: Option<Vec<DependencyDto>>,
}

/// A sweep and where its jobs stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct SweepDto {
    #[schema(format = Uuid)]
    pub id: String,
    pub user_id: String,
    pub agent: String,
    /// How many points (jobs) it has.
    pub size: u32,
    pub concurrency_limit: Option<u32>,
    pub correlation_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When its last job ended (`sweep.completed`).
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// How many of its jobs are in each status (every status, 0 included).
    #[schema(value_type = std::collections::HashMap<String, u64>)]
    pub counts: BTreeMap<String, u64>,
    /// Where its jobs are listed: `/v1/jobs?sweep_id=<id>`.
    pub jobs: String,
}

impl From<&Sweep> for SweepDto {
    fn from(sweep: &Sweep) -> Self {
        SweepDto {
            id: sweep.id.to_string(),
            user_id: sweep.user_id.clone(),
            agent: sweep.agent.clone(),
            size: sweep.size,
            concurrency_limit: sweep.concurrency_limit,
            correlation_id: sweep.correlation_id.clone(),
            created_at: rfc3339(sweep.created_at),
            completed_at: sweep.completed_at.map(rfc3339),
            counts: JobStatus::ALL
                .iter()
                .map(|s| (s.to_string(), sweep.counts.get(s).copied().unwrap_or(0)))
                .collect(),
            jobs: format!("/v1/jobs?sweep_id={}", sweep.id),
        }
    }
}

/// The most a sweep's points' parameters may weigh together (serialized).
const MAX_SWEEP_PARAMETER_BYTES: usize = 64 << 20;

/// An upper bound on one point's serialized parameters.
fn point_bytes(points: &Points) -> usize {
    let len = |v: &Value| serde_json::to_string(v).map_or(0, |s| s.len());
    let common = serde_json::to_string(&points.common).map_or(0, |s| s.len());
    let grid: usize = points
        .grid
        .iter()
        .map(|(name, values)| name.len() + 4 + values.iter().map(len).max().unwrap_or(0))
        .sum();
    let own = points
        .points
        .iter()
        .map(|p| serde_json::to_string(p).map_or(0, |s| s.len()))
        .max()
        .unwrap_or(0);
    common + grid + own
}

/// The request's points, as the domain takes them.
fn points(body: &SweepRequest) -> Result<Points, ApiError> {
    let datasets = match (&body.dataset_id, &body.datasets) {
        (Some(one), None) => vec![one.clone()],
        (None, Some(many)) => many.clone(),
        (Some(_), Some(_)) => {
            return Err(ApiError::Unprocessable(
                "dataset_id and datasets are exclusive: give one or the other".into(),
            ));
        }
        (None, None) => Vec::new(),
    };
    let mut grid = Vec::new();
    for (name, values) in body.grid.iter().flatten() {
        let Value::Array(values) = values else {
            return Err(ApiError::Unprocessable(format!(
                "grid.{name} must be a list of values"
            )));
        };
        grid.push((name.clone(), values.clone()));
    }
    if body.points.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::Unprocessable(
            "points: an empty list makes an empty sweep".into(),
        ));
    }
    Ok(Points {
        datasets,
        common: body.parameters.clone(),
        grid,
        points: body.points.clone().unwrap_or_default(),
    })
}

/// Submit a sweep: one job per point, all made (with their `job.submitted`
/// events and the sweep's `sweep.submitted`) in one transaction before the
/// answer.
#[utoipa::path(
    post, path = "/v1/sweeps", tag = "jobs",
    request_body = SweepRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "same key + same body → same sweep", max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$"),
        ("X-Correlation-ID" = Option<String>, Header, description = "carried into every event of the sweep and its jobs", max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$"),
    ),
    responses(
        (status = 201, description = "the sweep, its jobs SUBMITTED", body = SweepDto),
        (status = 400, description = "malformed JSON or a wrong type", body = Problem),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 413, body = Problem),
        (status = 422, description = "unknown agent, an invalid point, or more than 100,000 points", body = Problem),
        (status = 429, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn submit_sweep(
    State(state): State<AppState>,
    caller: Caller,
    pending: Option<Extension<super::audit::PendingAudit>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SweepRequest>,
) -> Result<Response, ApiError> {
    if let Some(limit) = &state.submit_limit
        && let Err(wait) = limit.check(&caller.user_id)
    {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::TooManyRequests(
            format!("{} submits too fast; try again in {secs} s", caller.user_id),
            secs.max(1),
        ));
    }
    let Common {
        backend,
        resources,
        resources_json: _,
        retry,
        account,
    } = common(
        &state,
        &caller,
        &body.agent,
        body.resources.map(Into::into),
        body.retry.clone(),
    )?;
    let agent_limit = state
        .settings
        .agents
        .get(&body.agent)
        .and_then(|a| a.sweep_concurrency_limit);
    let concurrency_limit = match (body.concurrency_limit, agent_limit) {
        (Some(0), _) => {
            return Err(ApiError::Unprocessable(
                "concurrency_limit must be at least 1".into(),
            ));
        }
        (Some(asked), Some(most)) if asked > most => {
            return Err(ApiError::Unprocessable(format!(
                "concurrency_limit: agent {} runs at most {most} jobs of a sweep at once, got {asked}",
                body.agent
            )));
        }
        (asked, most) => asked.or(most),
    };
    let asked = points(&body)?;
    let size = asked
        .size()
        .map_err(|err| ApiError::Unprocessable(err.to_string()))?;
    // what the points' parameters would weigh, bounded before any is built
    // (a small request can name a huge grid of large values)
    let weight = size.saturating_mul(point_bytes(&asked));
    if weight > MAX_SWEEP_PARAMETER_BYTES {
        return Err(ApiError::Unprocessable(format!(
            "the sweep's {size} points would carry about {} MiB of parameters; at most {} MiB",
            weight >> 20,
            MAX_SWEEP_PARAMETER_BYTES >> 20
        )));
    }
    let all = asked
        .expand()
        .map_err(|err| ApiError::Unprocessable(err.to_string()))?;
    for (index, point) in all.iter().enumerate() {
        check_point(&point.dataset_id, &point.parameters)
            .map_err(|err| ApiError::Unprocessable(format!("point {index}: {err}")))?;
    }
    let depends_on = dependencies(&state, &caller, body.depends_on.as_deref()).await?;
    let correlation_id =
        header_id(&headers, &CORRELATION_ID)?.unwrap_or_else(|| Uuid::now_v7().to_string());
    let idempotency = header_id(&headers, &super::submit::IDEMPOTENCY_KEY)?.map(|key| {
        let mut digest = Sha256::new();
        digest.update(b"sweep");
        if let Ok(text) = serde_json::to_vec(&body) {
            digest.update(text);
        }
        IdempotencyParams {
            key,
            request_hash: hex::encode(digest.finalize()),
        }
    });
    let audit = pending.map(|Extension(super::audit::PendingAudit(mut record))| {
        record.correlation_id = correlation_id.clone();
        record
    });
    let recorded = audit.is_some();
    let traceparent = super::submit::traceparent(&headers);
    // ids in index order (a listing newest first is highest index first)
    let mut ids: Vec<Uuid> = (0..all.len()).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    let now = OffsetDateTime::now_utc();
    let jobs = all
        .into_iter()
        .zip(ids)
        .map(|(point, id)| CreateJobParams {
            id,
            user_id: caller.user_id.clone(),
            agent: body.agent.clone(),
            dataset_id: point.dataset_id,
            parameters: point.parameters,
            backend,
            resources,
            correlation_id: correlation_id.clone(),
            account: account.clone(),
            traceparent: traceparent.clone(),
            cloned_from: None,
            retry: retry.clone(),
            depends_on: depends_on.clone(),
            created_at: now,
            idempotency: None,
            audit: None,
        })
        .collect();
    let created = state
        .store
        .create_sweep(CreateSweepParams {
            id: Uuid::now_v7(),
            user_id: caller.user_id.clone(),
            agent: body.agent.clone(),
            concurrency_limit,
            correlation_id,
            created_at: now,
            jobs,
            // (a backend with job arrays keeps the limit itself: `%K`)
            gate: concurrency_limit.is_some()
                && !state
                    .backends
                    .get(&backend)
                    .is_some_and(|b| b.submits_arrays()),
            idempotency,
            audit,
        })
        .await?;
    let replayed = matches!(created, SweepCreated::Replayed(_));
    let sweep = created.sweep();
    if !replayed {
        metrics::counter!(crate::telemetry::SUBMISSIONS).increment(u64::from(sweep.size));
        info!(sweep.id = %sweep.id, user = %sweep.user_id, agent = %sweep.agent,
            "submitted sweep {} of {} jobs", sweep.id, sweep.size);
        state.dispatch_wake.notify_one();
    }
    Ok(super::submit::created_response(
        Json(SweepDto::from(sweep)),
        &format!("/v1/sweeps/{}", sweep.id),
        &sweep.id.to_string(),
        &sweep.correlation_id,
        replayed,
        recorded,
    ))
}

/// The caller's sweep (any sweep for an admin), or a 404.
async fn visible_sweep(state: &AppState, caller: &Caller, id: &str) -> Result<Sweep, ApiError> {
    let not_found = || ApiError::NotFound(format!("sweep {id} not found"));
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    match state.store.get_sweep(id).await? {
        Some(sweep) if caller.may_see(&sweep.user_id) => Ok(sweep),
        _ => Err(not_found()),
    }
}

/// One sweep, with how many of its jobs are in each status.
#[utoipa::path(
    get, path = "/v1/sweeps/{id}", tag = "jobs",
    params(("id" = String, Path, description = "sweep id")),
    responses((status = 200, body = SweepDto), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get_sweep(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SweepDto>, ApiError> {
    let sweep = visible_sweep(&state, &caller, &id).await?;
    Ok(Json(SweepDto::from(&sweep)))
}

/// Jobs cancelled at once, at most.
const CANCEL_CHUNK: u32 = 256;

/// Cancel every unfinished job of a sweep (those that ended stay as they
/// are); the sweep completes once they have.
#[utoipa::path(
    post, path = "/v1/sweeps/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "sweep id")),
    request_body(content = Option<CancelJobRequest>, description = "optional `{reason}`"),
    responses(
        (status = 200, description = "the sweep after the cancel", body = SweepDto),
        (status = 401, body = Problem), (status = 404, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_sweep(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SweepDto>, ApiError> {
    let request: CancelJobRequest = optional_body(&body)?;
    let reason = reason_field(request.reason, "sweep cancelled by user")?;
    let sweep = visible_sweep(&state, &caller, &id).await?;
    let mut before = None;
    let mut cancelled = Vec::new();
    // (a failure part way still stops what was cancelled, then answers it)
    let mut failure = None;
    loop {
        let page = match state
            .store
            .list_jobs(ListJobsParams {
                sweep_id: Some(sweep.id),
                statuses: vec![JobStatus::Submitted, JobStatus::Queued, JobStatus::Running],
                before,
                limit: CANCEL_CHUNK,
                ..ListJobsParams::default()
            })
            .await
        {
            Ok(page) => page,
            Err(err) => {
                failure = Some(err);
                break;
            }
        };
        before = page.last().map(|j| j.id);
        let cancels = page.iter().map(|job| {
            let (state, by, reason) = (&state, caller.user_id.clone(), reason.clone());
            async move {
                let command = Command::Cancel {
                    by,
                    reason,
                    at: OffsetDateTime::now_utc(),
                };
                match lifecycle::apply(state.store.as_ref(), job.id, command, None).await {
                    Ok(applied) => Ok(Some(applied.job)),
                    // ended meanwhile
                    Err(
                        horizon_store::StoreError::Transition(_)
                        | horizon_store::StoreError::Ended(_),
                    ) => Ok(None),
                    Err(err) => Err(err),
                }
            }
        });
        for outcome in join_all(cancels).await {
            match outcome {
                Ok(Some(job)) => cancelled.push(job),
                Ok(None) => {}
                Err(err) => failure = failure.or(Some(err)),
            }
        }
        if page.len() < CANCEL_CHUNK as usize || failure.is_some() {
            break;
        }
    }
    // then stopped in their backend, all together (Slurm: one `scancel`
    // per array)
    let mut by_backend: BTreeMap<&str, Vec<horizon_core::Job>> = BTreeMap::new();
    for job in cancelled {
        by_backend
            .entry(job.backend.as_str())
            .or_default()
            .push(job);
    }
    for jobs in by_backend.into_values() {
        if let Some(backend) = jobs.first().and_then(|j| state.backends.get(&j.backend))
            && let Err(err) = backend.cancel_many(&jobs).await
        {
            warn!(sweep.id = %sweep.id, "the jobs of sweep {} are CANCELLED but their backend could not stop them all: {err}", sweep.id);
        }
    }
    if let Some(err) = failure {
        return Err(err.into());
    }
    info!(sweep.id = %sweep.id, "sweep {} cancelled by {}", sweep.id, caller.user_id);
    let sweep = visible_sweep(&state, &caller, &id).await?;
    Ok(Json(SweepDto::from(&sweep)))
}

//! Submissions: `POST /v1/jobs`, and `POST /v1/jobs/{id}/clone` (a new job
//! from an earlier one's request, with overrides, recording `cloned_from`).
//! Both go through one validation and one store call.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use horizon_core::dependency::Dependency;
use horizon_core::{BackendKind, Resources};
use horizon_store::{CreateJobParams, Created, IdempotencyParams};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::dto::{CloneJobRequest, JobDto, SubmitJobRequest};
use super::jobs::{ApiJson, CORRELATION_ID, MAX_PARAMETERS_BYTES, optional_body, visible_job};
use super::problem::{ApiError, Problem};

const MAX_DATASET_ID_CHARS: usize = 256;
const MAX_HEADER_ID_CHARS: usize = 255;

pub(super) static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub(super) static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A short, printable header value, or a 422 naming the header.
pub(super) fn header_id(
    headers: &HeaderMap,
    name: &HeaderName,
) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_HEADER_ID_CHARS && !v.chars().any(char::is_control)
        })
        .ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "{name} must be 1 to {MAX_HEADER_ID_CHARS} printable ASCII characters"
            ))
        })?;
    Ok(Some(text.to_owned()))
}

/// Refuse text with control characters (NUL, newlines, escapes): ids end up
/// in file names, logs, Kafka headers and scheduler scripts.
pub(super) fn printable(field: &str, value: &str) -> Result<(), ApiError> {
    match value.chars().position(char::is_control) {
        Some(at) => Err(ApiError::Unprocessable(format!(
            "{field} must not contain control characters (found one at character {at})"
        ))),
        None => Ok(()),
    }
}

/// The request's W3C `traceparent`, when it is one (version 00's format,
/// or a later version's first four fields); anything else is ignored, as
/// the Trace Context specification asks of a receiver.
pub(super) fn traceparent(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?.trim();
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let [version, trace, parent, flags, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let ok = hex(version, 2)
        && *version != "ff"
        && (*version != "00" || rest.is_empty())
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    ok.then(|| format!("{version}-{trace}-{parent}-{flags}"))
}

/// Submit a job.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs",
    request_body = SubmitJobRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "same key + same body → same job", max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$"),
        ("X-Correlation-ID" = Option<String>, Header, description = "carried into every event of the job", max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context: kept with the job and carried by its events (ce_traceparent on Kafka, traceparent on webhooks); ignored when malformed"),
    ),
    responses(
        (status = 201, description = "the job, SUBMITTED", body = JobDto),
        (status = 400, description = "malformed JSON or a wrong type", body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "the agent runs on Tapis as a service and no identity maps this user to a Tapis user", body = Problem),
        (status = 413, body = Problem),
        (status = 422, description = "unknown agent or invalid field", body = Problem),
        (status = 429, description = "over the per-user submission rate; see Retry-After", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn submit_job(
    State(state): State<AppState>,
    caller: Caller,
    pending: Option<Extension<super::audit::PendingAudit>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitJobRequest>,
) -> Result<Response, ApiError> {
    submit(&state, &caller, pending, &headers, body, None).await
}

/// The most dependencies one job may have.
const MAX_DEPENDENCIES: usize = 1000;

/// A request's dependencies, checked: each names a job or a sweep the
/// caller may see (a 422 names the one that is not), with a
/// known condition. A new job can only depend on jobs and sweeps that exist
/// already, so there are no cycles.
pub(super) async fn dependencies(
    state: &AppState,
    caller: &Caller,
    given: Option<&[super::dto::DependencyDto]>,
) -> Result<Vec<horizon_core::dependency::Dependency>, ApiError> {
    let Some(given) = given else {
        return Ok(Vec::new());
    };
    if given.len() > MAX_DEPENDENCIES {
        return Err(ApiError::Unprocessable(format!(
            "depends_on: at most {MAX_DEPENDENCIES} jobs, got {}",
            given.len()
        )));
    }
    let mut found = Vec::with_capacity(given.len());
    for (i, dependency) in given.iter().enumerate() {
        let condition = dependency.condition.parse().map_err(|_| {
            ApiError::Unprocessable(format!(
                "depends_on[{i}].condition: {:?} is none of after_ok, after_any, after_not_ok",
                dependency.condition
            ))
        })?;
        let parse = |field: &str, what: &str, id: &str| {
            Uuid::parse_str(id).map_err(|_| {
                ApiError::Unprocessable(format!("depends_on[{i}].{field}: no {what} {id:?}"))
            })
        };
        match (&dependency.job_id, &dependency.sweep_id) {
            (Some(job), None) => {
                let id = parse("job_id", "job", job)?;
                match state.store.get_job(id).await? {
                    Some(job) if caller.may_see(&job.user_id) => {}
                    _ => {
                        return Err(ApiError::Unprocessable(format!(
                            "depends_on[{i}].job_id: no job {id}"
                        )));
                    }
                }
                found.push(Dependency::on_job(id, condition));
            }
            (None, Some(sweep)) => {
                let id = parse("sweep_id", "sweep", sweep)?;
                match state.store.get_sweep(id).await? {
                    Some(sweep) if caller.may_see(&sweep.user_id) => {}
                    _ => {
                        return Err(ApiError::Unprocessable(format!(
                            "depends_on[{i}].sweep_id: no sweep {id}"
                        )));
                    }
                }
                found.push(Dependency::on_sweep(id, condition));
            }
            _ => {
                return Err(ApiError::Unprocessable(format!(
                    "depends_on[{i}]: name exactly one of job_id and sweep_id"
                )));
            }
        }
    }
    Ok(found)
}

/// The job's retry policy: the agent's, narrowed by the request (a 422
/// names what the request asks beyond it).
fn retry_policy(
    name: &str,
    agent: &crate::config::AgentSettings,
    narrowed: Option<super::dto::RetryRequestDto>,
) -> Result<Option<horizon_core::retry::RetryPolicy>, ApiError> {
    let Some(settings) = &agent.retry else {
        return match narrowed {
            None => Ok(None),
            Some(_) => Err(ApiError::Unprocessable(format!(
                "agent {name} retries nothing: a request can only narrow its agent's retry policy"
            ))),
        };
    };
    let mut policy = settings.policy(agent.max_resources);
    let Some(narrowed) = narrowed else {
        return Ok(Some(policy));
    };
    if let Some(attempts) = narrowed.attempts {
        if attempts == 0 || attempts > policy.attempts {
            return Err(ApiError::Unprocessable(format!(
                "retry.attempts must be 1 to {} (agent {name}'s), got {attempts}",
                policy.attempts
            )));
        }
        policy.attempts = attempts;
    }
    if let Some(on) = narrowed.on {
        if let Some(code) = on.iter().find(|c| !policy.on.contains(c)) {
            return Err(ApiError::Unprocessable(format!(
                "retry.on: agent {name} does not retry {code:?} (it retries {})",
                policy.on.join(", ")
            )));
        }
        policy.on = on;
    }
    if let Some(codes) = narrowed.exit_codes {
        if let Some(code) = codes.iter().find(|c| !policy.exit_codes.contains(c)) {
            return Err(ApiError::Unprocessable(format!(
                "retry.exit_codes: agent {name} does not retry exit code {code}"
            )));
        }
        policy.exit_codes = codes;
    }
    Ok(Some(policy))
}

/// What every job of a request shares, checked against its agent.
pub(super) struct Common {
    pub backend: BackendKind,
    /// The request's resources with the agent's defaults filled in.
    pub resources: Resources,
    /// The request's own resources, serialized (for the idempotency digest).
    pub resources_json: Vec<u8>,
    pub retry: Option<horizon_core::retry::RetryPolicy>,
    /// Whom the backend charges the job to.
    pub account: Option<String>,
}

/// Check the agent, resources and retry policy a request asks for, and
/// whom its jobs run as.
pub(super) fn common(
    state: &AppState,
    caller: &Caller,
    agent_name: &str,
    requested: Option<Resources>,
    retry: Option<super::dto::RetryRequestDto>,
) -> Result<Common, ApiError> {
    printable("agent", agent_name)?;
    let agent = state.settings.agents.get(agent_name).ok_or_else(|| {
        let known: Vec<&str> = state.settings.agents.keys().map(String::as_str).collect();
        ApiError::Unprocessable(format!(
            "unknown agent {:?}; known agents: {}",
            agent_name,
            known.join(", ")
        ))
    })?;
    let requested: Resources = requested.unwrap_or_default();
    requested
        .check(&agent.max_resources)
        .map_err(|err| ApiError::Unprocessable(err.to_string()))?;
    let resources = requested.or(agent.default_resources);
    if let Some(backend) = state.backends.get(&agent.backend) {
        backend
            .check_resources(&resources)
            .map_err(ApiError::Unprocessable)?;
    }
    let retry = retry_policy(agent_name, agent, retry)?;
    let account = crate::identity::account_for(
        &state.settings.identity,
        &caller.user_id,
        caller.claims.as_deref(),
        agent.backend,
    );
    let tapis = &state.settings.tapis;
    let account = match account {
        None if agent.backend == BackendKind::Tapis && tapis.service_account => {
            Some(tapis.default_user.clone().ok_or_else(|| {
                ApiError::Forbidden(format!(
                    "{} has no Tapis identity: no [[identity]] rule maps this user to a Tapis user \
                     and [tapis] default_user is not set",
                    caller.user_id
                ))
            })?)
        }
        account => account,
    };
    let resources_json =
        serde_json::to_vec(&requested).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    Ok(Common {
        backend: agent.backend,
        resources,
        resources_json,
        retry,
        account,
    })
}

/// Check one point's dataset and parameters; the parameters serialized.
pub(super) fn check_point(
    dataset_id: &str,
    parameters: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>, ApiError> {
    printable("dataset_id", dataset_id)?;
    let dataset_chars = dataset_id.chars().count();
    if dataset_chars == 0 || dataset_chars > MAX_DATASET_ID_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "dataset_id must be 1 to {MAX_DATASET_ID_CHARS} characters, got {dataset_chars}"
        )));
    }
    let nesting = 1 + parameters
        .values()
        .map(super::limits::depth)
        .max()
        .unwrap_or(0);
    if nesting > super::limits::MAX_PARAMETERS_DEPTH {
        return Err(ApiError::Unprocessable(format!(
            "parameters nest {nesting} levels deep; the limit is {}",
            super::limits::MAX_PARAMETERS_DEPTH
        )));
    }
    let parameters_json =
        serde_json::to_vec(&parameters).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    if parameters_json.len() > MAX_PARAMETERS_BYTES {
        return Err(ApiError::Unprocessable(format!(
            "parameters are {} bytes serialized; the limit is {MAX_PARAMETERS_BYTES}",
            parameters_json.len()
        )));
    }
    Ok(parameters_json)
}

/// Validate and store a new job (a submission, or a clone of `cloned_from`).
async fn submit(
    state: &AppState,
    caller: &Caller,
    pending: Option<Extension<super::audit::PendingAudit>>,
    headers: &HeaderMap,
    body: SubmitJobRequest,
    cloned_from: Option<Uuid>,
) -> Result<Response, ApiError> {
    if let Some(limit) = &state.submit_limit
        && let Err(wait) = limit.check(&caller.user_id)
    {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::TooManyRequests(
            format!(
                "{} submits too fast: at most {} a minute; try again in {secs} s",
                caller.user_id, state.settings.api.submit_rate_per_minute
            ),
            secs.max(1),
        ));
    }
    let common = common(
        state,
        caller,
        &body.agent,
        body.resources.map(Into::into),
        body.retry.clone(),
    )?;
    let parameters_json = check_point(&body.dataset_id, &body.parameters)?;
    let depends_on = dependencies(state, caller, body.depends_on.as_deref()).await?;
    let Common {
        backend,
        resources,
        resources_json,
        retry,
        account,
    } = common;
    let correlation_id =
        header_id(headers, &CORRELATION_ID)?.unwrap_or_else(|| Uuid::now_v7().to_string());
    let idempotency = header_id(headers, &IDEMPOTENCY_KEY)?.map(|key| {
        let mut digest = Sha256::new();
        for part in [
            body.agent.as_bytes(),
            body.dataset_id.as_bytes(),
            &parameters_json,
            &resources_json,
        ] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        if let Some(after) = &body.depends_on
            && let Ok(text) = serde_json::to_vec(after)
        {
            digest.update(b"depends_on");
            digest.update(text);
        }
        if let Some(narrowed) = &body.retry
            && let Ok(text) = serde_json::to_vec(narrowed)
        {
            digest.update(b"retry");
            digest.update(text);
        }
        // (a clone's key is not a submission's with the same fields)
        if let Some(original) = cloned_from {
            digest.update(b"clone");
            digest.update(original.as_bytes());
        }
        IdempotencyParams {
            key,
            request_hash: hex::encode(digest.finalize()),
        }
    });
    // the guard's record of this submission, written with the job
    let audit = pending.map(|Extension(super::audit::PendingAudit(mut record))| {
        record.correlation_id = correlation_id.clone();
        record
    });
    let recorded = audit.is_some();
    let created = state
        .store
        .create_job(CreateJobParams {
            id: Uuid::now_v7(),
            user_id: caller.user_id.clone(),
            agent: body.agent,
            dataset_id: body.dataset_id,
            parameters: body.parameters,
            backend,
            resources,
            correlation_id,
            account,
            traceparent: traceparent(headers),
            cloned_from,
            retry,
            depends_on,
            created_at: OffsetDateTime::now_utc(),
            idempotency,
            audit,
        })
        .await?;
    let replayed = matches!(created, Created::Replayed(_));
    let job = created.job();
    if !replayed {
        metrics::counter!(crate::telemetry::SUBMISSIONS).increment(1);
        info!(job.id = %job.id, user = %job.user_id, agent = %job.agent, "submitted job {}", job.id);
        state.dispatch_wake.notify_one();
    }
    Ok(created_response(
        Json(JobDto::from(job)),
        &format!("/v1/jobs/{}", job.id),
        &job.id.to_string(),
        &job.correlation_id,
        replayed,
        recorded,
    ))
}

/// A 201 for what a submission made (a job, a sweep): its `Location`,
/// `X-Correlation-ID`, `Idempotent-Replayed` when the key replayed it, and
/// the audit note naming it (`recorded`: the record went with it).
pub(super) fn created_response(
    body: impl IntoResponse,
    location: &str,
    target: &str,
    correlation_id: &str,
    replayed: bool,
    recorded: bool,
) -> Response {
    let mut response = (StatusCode::CREATED, body).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, value);
    }
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        response.headers_mut().insert(CORRELATION_ID.clone(), value);
    }
    if replayed {
        response.headers_mut().insert(
            IDEMPOTENT_REPLAYED.clone(),
            HeaderValue::from_static("true"),
        );
    }
    response.extensions_mut().insert(super::audit::AuditNote {
        target: Some(target.to_owned()),
        correlation_id: Some(correlation_id.to_owned()),
        recorded,
        others_data: false,
    });
    response
}

/// Submit a new job from an earlier one (resubmit): the same agent,
/// dataset, parameters and resources, with any of them overridden, and the
/// caller as its owner. The new job records `cloned_from`; the original
/// lists its clones (`GET /v1/jobs/{id}`, `GET /v1/jobs?cloned_from=`).
/// Validated like a submission, with an `Idempotency-Key` too.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/clone", tag = "jobs",
    params(
        ("id" = String, Path, description = "the job to clone"),
        ("Idempotency-Key" = Option<String>, Header, description = "same key + same body → same job", max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$"),
        ("X-Correlation-ID" = Option<String>, Header, description = "carried into every event of the new job", max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context, as for a submission"),
    ),
    request_body(content = Option<CloneJobRequest>, description = "optional overrides"),
    responses(
        (status = 201, description = "the new job, SUBMITTED", body = JobDto),
        (status = 400, description = "malformed JSON or a wrong type", body = Problem),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, description = "no such job, or another user's", body = Problem),
        (status = 413, body = Problem),
        (status = 422, description = "an override is invalid, or the agent is no longer configured", body = Problem),
        (status = 429, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn clone_job(
    State(state): State<AppState>,
    caller: Caller,
    pending: Option<Extension<super::audit::PendingAudit>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let overrides: CloneJobRequest = optional_body(&body)?;
    let original = visible_job(&state, &caller, &id).await?;
    let mut parameters = original.parameters.clone();
    if let Some(given) = overrides.parameters {
        parameters.extend(given);
    }
    let resources = match overrides.resources {
        Some(given) => Resources::from(given).or(original.resources),
        None => original.resources,
    };
    let request = SubmitJobRequest {
        agent: original.agent.clone(),
        dataset_id: overrides.dataset_id.unwrap_or(original.dataset_id),
        parameters,
        resources: Some(resources.into()),
        // the agent's policy as it is now, and no dependencies (the
        // original's have been resolved)
        retry: None,
        depends_on: None,
    };
    submit(
        &state,
        &caller,
        pending,
        &headers,
        request,
        Some(original.id),
    )
    .await
}

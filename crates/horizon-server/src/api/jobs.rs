//! The `/v1/jobs` routes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use horizon_backend::{BackendError, LogRange, LogStream};
use horizon_core::{Command, JobStatus};
use horizon_store::ListJobsParams;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use tracing::warn;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::dto::{
    CancelJobRequest, EventListDto, EventsQuery, JobDto, JobListDto, ListJobsQuery, LogsQuery,
};
use super::problem::{ApiError, Problem};
use super::submit::printable;
use crate::lifecycle;

/// Largest accepted `parameters`, serialized.
pub const MAX_PARAMETERS_BYTES: usize = 64 * 1024;
const MAX_DATASET_ID_CHARS: usize = 256;
/// Longest accepted cancel reason.
pub const MAX_REASON_CHARS: usize = 1024;
/// Events per page of `GET /v1/jobs/{id}/events`: default and most.
const DEFAULT_EVENTS_PAGE: u32 = 1000;
const MAX_EVENTS_PAGE: u32 = 10_000;

pub static CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// A JSON body whose rejections are problem+json with the contract's statuses.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state).await?;
        // an object, not an array (serde would read a struct from one)
        if !value.is_object() {
            return Err(ApiError::BadRequest(
                "invalid request body: expected a JSON object".into(),
            ));
        }
        // (with the path of the field at fault in the message)
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|err| ApiError::BadRequest(format!("invalid request body: {err}")))
    }
}

fn parse_job_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(format!("job {id} not found")))
}

/// An optional JSON body: none (zero bytes) or `null` are the default. A
/// body of only whitespace is not JSON and is refused like any other
/// malformed body (Schemathesis sent `\r` and expected a 400).
pub fn optional_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("malformed JSON: {err}")))?;
    match value {
        serde_json::Value::Null => Ok(T::default()),
        value @ serde_json::Value::Object(_) => serde_path_to_error::deserialize(value)
            .map_err(|err| ApiError::BadRequest(format!("invalid request body: {err}"))),
        _ => Err(ApiError::BadRequest(
            "invalid request body: expected a JSON object or null".into(),
        )),
    }
}

/// Load a job the caller may see; anyone else's job is a 404.
pub(super) async fn visible_job(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<horizon_core::Job, ApiError> {
    let job_id = parse_job_id(id)?;
    match state.store.get_job(job_id).await? {
        Some(job) if caller.may_see(&job.user_id) => Ok(job),
        _ => Err(ApiError::NotFound(format!("job {id} not found"))),
    }
}

/// One job.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "job id")),
    responses((status = 200, body = JobDto), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(Option<Extension<super::audit::AuditNote>>, Json<JobDto>), ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    let note = super::audit::admin_read(&caller, [&job.user_id], Some(job.id.to_string()));
    let mut clones = state
        .store
        .list_jobs(ListJobsParams {
            user_id: (!caller.admin).then(|| caller.user_id.clone()),
            cloned_from: Some(job.id),
            limit: 100,
            ..ListJobsParams::default()
        })
        .await?;
    clones.reverse();
    let mut dto = JobDto::from(&job);
    dto.clones = Some(clones.iter().map(|c| c.id.to_string()).collect());
    if job.waiting {
        // what it still waits for
        let mut waiting_on = Vec::new();
        let mut seen = crate::workers::dependencies::Seen::default();
        for dependency in &job.depends_on {
            let (standing, _) = seen.standing(state.store.as_ref(), dependency).await?;
            if standing == horizon_core::dependency::Standing::Pending {
                waiting_on.push(dependency.target().to_string());
            }
        }
        dto.waiting_on = Some(waiting_on);
    }
    Ok((note, Json(dto)))
}

/// The caller's jobs, newest first. **Admin:** every user's jobs (`user`
/// narrows them to one). An unknown query parameter is a 400 naming it.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs",
    params(ListJobsQuery),
    responses((status = 200, body = JobListDto), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "`user` names another user and the caller is not an admin", body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListJobsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(Option<Extension<super::audit::AuditNote>>, Json<JobListDto>), ApiError> {
    let Query(query) = query?;
    for (field, value, most) in [
        ("agent", &query.agent, 255),
        ("dataset_id", &query.dataset_id, MAX_DATASET_ID_CHARS),
        ("user", &query.user, 255),
    ] {
        if let Some(value) = value {
            printable(field, value)?;
            if value.chars().count() > most {
                return Err(ApiError::Unprocessable(format!(
                    "{field} must be at most {most} characters"
                )));
            }
        }
    }
    let mut statuses = Vec::new();
    for part in query
        .status
        .as_deref()
        .into_iter()
        .flat_map(|s| s.split(','))
    {
        let status = part
            .trim()
            .parse::<JobStatus>()
            .map_err(|err| ApiError::Unprocessable(format!("status: {err}")))?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    let user_id = match (&query.user, caller.admin) {
        (Some(user), true) => Some(user.clone()),
        (None, true) => None,
        (Some(user), false) if *user != caller.user_id => {
            return Err(ApiError::Forbidden(format!(
                "only admins may list another user's jobs ({} is not {user})",
                caller.user_id
            )));
        }
        (_, false) => Some(caller.user_id.clone()),
    };
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::Unprocessable(format!(
            "limit must be 1 to 100, got {limit}"
        )));
    }
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c).map_err(|_| ApiError::Unprocessable(format!("invalid cursor {c:?}")))
        })
        .transpose()?;
    let cloned_from = query
        .cloned_from
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| ApiError::Unprocessable(format!("cloned_from: {c:?} is not a job id")))
        })
        .transpose()?;
    let sweep_id = query
        .sweep_id
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| ApiError::Unprocessable(format!("sweep_id: {c:?} is not a sweep id")))
        })
        .transpose()?;
    let created_after =
        super::problem::time_param("created_after", query.created_after.as_deref())?;
    let created_before =
        super::problem::time_param("created_before", query.created_before.as_deref())?;
    let jobs = state
        .store
        .list_jobs(ListJobsParams {
            user_id,
            statuses,
            agent: query.agent.clone(),
            dataset_id: query.dataset_id.clone(),
            cloned_from,
            sweep_id,
            created_after,
            created_before,
            before,
            limit: limit + 1,
        })
        .await?;
    let more = jobs.len() > limit as usize;
    let jobs: Vec<JobDto> = jobs.iter().take(limit as usize).map(JobDto::from).collect();
    let next_cursor = if more {
        jobs.last().map(|j| j.id.clone())
    } else {
        None
    };
    let note = super::audit::admin_read(&caller, jobs.iter().map(|j| &j.user_id), None);
    Ok((note, Json(JobListDto { jobs, next_cursor })))
}

/// A request's optional `reason` (cancel, hold, release): printable, at
/// most `MAX_REASON_CHARS` (else a 422), `default` when absent or blank.
pub(super) fn reason_field(reason: Option<String>, default: &str) -> Result<String, ApiError> {
    if let Some(reason) = &reason {
        printable("reason", reason)?;
        let chars = reason.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(ApiError::Unprocessable(format!(
                "reason must be at most {MAX_REASON_CHARS} characters, got {chars}"
            )));
        }
    }
    Ok(reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default.to_owned()))
}

/// Cancel a job that has not ended.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "job id")),
    request_body(content = Option<CancelJobRequest>, description = "optional `{reason}`"),
    responses(
        (status = 200, description = "the job, CANCELLED", body = JobDto),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the job already ended", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<JobDto>, ApiError> {
    let request: CancelJobRequest = optional_body(&body)?;
    let reason = reason_field(request.reason, "cancelled by user")?;
    let job = visible_job(&state, &caller, &id).await?;
    let applied = lifecycle::apply(
        state.store.as_ref(),
        job.id,
        Command::Cancel {
            by: caller.user_id.clone(),
            reason,
            at: OffsetDateTime::now_utc(),
        },
        // (a user's request: whichever process owns the job)
        None,
    )
    .await?;
    if let Some(backend) = state.backends.get(&applied.job.backend)
        && let Err(err) = backend.cancel(&applied.job).await
    {
        warn!(job.id = %job.id, "job {} is CANCELLED but its backend could not stop it: {err}", job.id);
    }
    Ok(Json(JobDto::from(&applied.job)))
}

/// A job's events, in order: the same envelopes that are published to Kafka.
/// With `?after=<event_id>`, only the events written after that one (for
/// following a job without reading its whole history each time). Paged:
/// at most `limit` (default 1000) per response; `next_after` continues.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "job id"), EventsQuery),
    responses(
        (status = 200, body = EventListDto), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, description = "`after` names no event of this job", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn job_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<
    (
        Option<Extension<super::audit::AuditNote>>,
        Json<EventListDto>,
    ),
    ApiError,
> {
    let Query(query) = query?;
    let after = query
        .after
        .as_deref()
        .map(|a| {
            Uuid::parse_str(a)
                .map_err(|_| ApiError::Unprocessable(format!("after: {a:?} is not an event id")))
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_EVENTS_PAGE);
    if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
        return Err(ApiError::Unprocessable(format!(
            "limit must be 1 to {MAX_EVENTS_PAGE}, got {limit}"
        )));
    }
    let job = visible_job(&state, &caller, &id).await?;
    let mut stored = state.store.job_events(job.id, after, limit + 1).await?;
    let more = stored.len() > limit as usize;
    stored.truncate(limit as usize);
    let next_after = if more {
        stored.last().map(|e| e.event_id.to_string())
    } else {
        None
    };
    let streams = stored
        .iter()
        .map(|e| e.stream.as_str().to_owned())
        .collect();
    let events = stored
        .into_iter()
        .map(|e| RawValue::from_string(e.envelope))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ApiError::Internal(format!("stored event is not JSON: {err}")))?;
    let note = super::audit::admin_read(&caller, [&job.user_id], Some(job.id.to_string()));
    Ok((
        note,
        Json(EventListDto {
            events,
            streams,
            next_after,
        }),
    ))
}

/// The most lines `tail` may ask for.
const MAX_TAIL_LINES: u32 = 100_000;

/// The largest `offset` accepted (2^53 - 1, exact in every JSON reader).
pub(super) const MAX_LOG_OFFSET: u64 = 9_007_199_254_740_991;

/// The most of a log one response carries.
pub const LOG_LIMIT_BYTES: u64 = 1024 * 1024;

/// A job's output: the last `LOG_LIMIT_BYTES` at most, or its last `tail`
/// lines within them, or (with `offset`) what came after that byte. Only the
/// job's owner may read it. `X-Log-Size` gives the log's whole size, and
/// `X-Log-Start` where the body starts in it.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/logs", tag = "jobs",
    params(("id" = String, Path, description = "job id"), LogsQuery),
    responses(
        (status = 200, description = "the log's text", content_type = "text/plain", body = String),
        (status = 401, body = Problem), (status = 403, description = "not the job's owner", body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem),
        (status = 503, description = "the job's backend cannot be reached now", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn job_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let stream = match query.stream.as_deref() {
        None | Some("stdout") => LogStream::Stdout,
        Some("stderr") => LogStream::Stderr,
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "stream must be stdout or stderr, got {other:?}"
            )));
        }
    };
    if query.tail.is_some_and(|t| t > MAX_TAIL_LINES) {
        return Err(ApiError::Unprocessable(format!(
            "tail must be at most {MAX_TAIL_LINES} lines"
        )));
    }
    // with both, `tail` keeps the last lines of what follows `offset`
    let range = match query.offset {
        Some(offset) if offset > MAX_LOG_OFFSET => {
            return Err(ApiError::Unprocessable(format!(
                "offset must be at most {MAX_LOG_OFFSET}"
            )));
        }
        Some(offset) => LogRange::From {
            offset,
            max: LOG_LIMIT_BYTES,
        },
        None => LogRange::Tail(LOG_LIMIT_BYTES),
    };
    let job = visible_job(&state, &caller, &id).await?;
    if job.user_id != caller.user_id {
        return Err(ApiError::Forbidden(
            "a job's logs are readable by its owner only".to_owned(),
        ));
    }
    let backend = state.backends.get(&job.backend).ok_or_else(|| {
        ApiError::BackendUnavailable(format!("no {} backend in this server", job.backend))
    })?;
    let mut chunk = backend
        .logs(&job, stream, range)
        .await
        .map_err(|err| match err {
            BackendError::Unavailable(_) => ApiError::BackendUnavailable(err.to_string()),
            other => ApiError::Internal(other.to_string()),
        })?;
    if let Some(lines) = query.tail {
        let keep = last_lines(&chunk.bytes, lines as usize);
        chunk.start += (chunk.bytes.len() - keep) as u64;
        chunk.bytes.drain(..chunk.bytes.len() - keep);
    }
    let mut response = (
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        // the bytes as the program wrote them, so offsets stay exact
        chunk.bytes,
    )
        .into_response();
    for (name, value) in [("x-log-size", chunk.size), ("x-log-start", chunk.start)] {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    Ok(response)
}

/// How many bytes at the end of `bytes` hold its last `lines` lines (a
/// trailing newline does not start another line).
fn last_lines(bytes: &[u8], lines: usize) -> usize {
    if lines == 0 {
        return 0;
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    match body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(lines - 1)
    {
        Some((at, _)) => bytes.len() - at - 1,
        None => bytes.len(),
    }
}

#[cfg(test)]
mod log_tests {
    use super::last_lines;

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), 4);
        assert_eq!(last_lines(b"a\nb\nc", 2), 3);
        assert_eq!(last_lines(b"a\nb\nc\n", 9), 6);
        assert_eq!(last_lines(b"a\n", 0), 0);
        assert_eq!(last_lines(b"", 3), 0);
    }
}

#[cfg(test)]
mod body_tests {
    use super::{ApiError, optional_body};

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    struct Request {
        reason: Option<String>,
    }

    #[test]
    fn an_optional_body_is_empty_null_or_an_object() {
        assert_eq!(optional_body::<Request>(b"").ok(), Some(Request::default()));
        assert_eq!(
            optional_body::<Request>(b" null ").ok(),
            Some(Request::default())
        );
        assert_eq!(
            optional_body::<Request>(br#"{"reason":"x"}"#).ok(),
            Some(Request {
                reason: Some("x".into())
            })
        );
        for bad in [&b"\r"[..], b"  ", b"[]", b"1", b"{"] {
            assert!(
                matches!(optional_body::<Request>(bad), Err(ApiError::BadRequest(_))),
                "{:?} was accepted",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

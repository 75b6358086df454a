//! Administration routes (admin tokens only: `auth::access` says so and
//! the guard refuses others with 403): the events Kafka refused for
//! good, and sending them again.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, Problem};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ParkedQuery {
    /// Only events after this position (`next_after` of the previous page).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedEventDto {
    pub position: i64,
    pub reason: String,
    /// RFC 3339
    pub parked_at: String,
    /// The envelope as stored (and as it will be published).
    #[schema(schema_with = super::openapi::any_event)]
    pub event: Box<RawValue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedListDto {
    pub events: Vec<ParkedEventDto>,
    pub next_after: Option<i64>,
}

/// Events Kafka refused for good, oldest first. **Admin only.**
#[utoipa::path(
    get, path = "/v1/admin/parked-events", tag = "admin",
    params(ParkedQuery),
    responses((status = 200, body = ParkedListDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn parked_events(
    State(state): State<AppState>,
    _admin: Caller,
    query: Result<Query<ParkedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ParkedListDto>, ApiError> {
    let Query(query) = query?;
    if query.after.is_some_and(|a| a < 0) {
        return Err(ApiError::Unprocessable("after must not be negative".into()));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(format!(
            "limit must be 1 to 1000, got {limit}"
        )));
    }
    let mut parked = state
        .store
        .parked_events(query.after.unwrap_or(0), limit + 1)
        .await?;
    let more = parked.len() > limit as usize;
    parked.truncate(limit as usize);
    let next_after = if more {
        parked.last().map(|p| p.position)
    } else {
        None
    };
    let events = parked
        .into_iter()
        .map(|p| {
            Ok(ParkedEventDto {
                position: p.position,
                reason: p.reason,
                parked_at: horizon_core::timestamp::format(p.parked_at),
                event: RawValue::from_string(p.event.envelope).map_err(|err| {
                    ApiError::Internal(format!("stored event is not JSON: {err}"))
                })?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(ParkedListDto { events, next_after }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryParkedRequest {
    /// Only this job's parked events.
    #[schema(format = Uuid)]
    pub job_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetryParkedDto {
    /// How many events will be sent again.
    pub unparked: u64,
}

/// An optional `job_id` field of a request body, parsed (422 if it is no id).
pub(super) fn job_id_field(id: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    id.map(|id| {
        Uuid::parse_str(id)
            .map_err(|_| ApiError::Unprocessable(format!("job_id: {id:?} is not a job id")))
    })
    .transpose()
}

/// Send parked events again (all, or one job's), in order. **Admin only.**
#[utoipa::path(
    post, path = "/v1/admin/parked-events/retry", tag = "admin",
    request_body(content = Option<RetryParkedRequest>, description = "optional `{job_id}`"),
    responses((status = 200, body = RetryParkedDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn retry_parked(
    State(state): State<AppState>,
    _admin: Caller,
    body: Bytes,
) -> Result<Json<RetryParkedDto>, ApiError> {
    let request: RetryParkedRequest = super::jobs::optional_body(&body)?;
    let job = job_id_field(request.job_id.as_deref())?;
    let unparked = state.store.unpark_events(job).await?;
    if let Some(relay) = &state.relay {
        relay.unparked(unparked);
    }
    Ok(Json(RetryParkedDto { unparked }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HostGoneDto {
    /// The silent processes that were on the host.
    pub processes: u64,
}

/// Say a host is gone for good (several processes on one database): the
/// local jobs its silent processes held may then be taken over by any
/// process, which records their programs as lost (`AGENT_LOST`). Until
/// then only a process on the same host with the same `[local] jobs_dir`
/// adopts them, since their programs may still run there. A live process
/// on the host is not affected. **Admin only.**
#[utoipa::path(
    post, path = "/v1/admin/hosts/{host}/gone", tag = "admin",
    params(("host" = String, Path, description = "the host name processes registered with")),
    responses((status = 200, body = HostGoneDto), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
pub async fn host_gone(
    State(state): State<AppState>,
    _admin: Caller,
    axum::extract::Path(host): axum::extract::Path<String>,
) -> Result<Json<HostGoneDto>, ApiError> {
    let processes = state.store.host_gone(&host).await?;
    Ok(Json(HostGoneDto { processes }))
}

//! Replaying stored events to Kafka (admin only): re-published byte for
//! byte with a `horizon-replay` header, in the background, rate-limited,
//! with progress to poll. The request is in the audit trail like every
//! write (action `events.replay`, the replay's id as its target).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use horizon_kafka::{ReplayProgress, ReplayRequest};
use horizon_store::ReplayFilter;
use serde::{Deserialize, Serialize};
use tracing::{error, info};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, Problem};

/// Default and largest `rate_per_second`.
const DEFAULT_RATE: u32 = 1000;
const MAX_RATE: u32 = 100_000;
/// Replays kept for their progress, at most (the oldest finished go first).
const KEPT: usize = 100;

/// The replays this process ran or runs.
#[derive(Debug, Default)]
pub struct Replays {
    replays: Mutex<HashMap<Uuid, Arc<Mutex<ReplayProgress>>>>,
}

impl Replays {
    fn insert(&self, id: Uuid, progress: Arc<Mutex<ReplayProgress>>) {
        let mut replays = self.replays.lock().unwrap_or_else(|e| e.into_inner());
        if replays.len() >= KEPT {
            // ids are UUID v7: the smallest finished one is the oldest
            let oldest = replays
                .iter()
                .filter(|(_, p)| p.lock().unwrap_or_else(|e| e.into_inner()).state != "running")
                .map(|(id, _)| *id)
                .min();
            if let Some(oldest) = oldest {
                replays.remove(&oldest);
            }
        }
        replays.insert(id, progress);
    }

    fn get(&self, id: Uuid) -> Option<ReplayProgress> {
        let replays = self.replays.lock().unwrap_or_else(|e| e.into_inner());
        replays
            .get(&id)
            .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequestDto {
    /// Only this job's events.
    #[schema(format = Uuid)]
    pub job_id: Option<String>,
    /// Only events committed at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// Only events at or after this outbox position.
    #[schema(minimum = 1, maximum = 1099511627776_i64)]
    #[serde(default, deserialize_with = "super::dto::whole_number")]
    pub from_position: Option<i64>,
    /// Send every record to this topic instead of each event's own.
    pub to_topic: Option<String>,
    /// At most this many events a second (default 1000, at most 100000).
    #[schema(minimum = 1, maximum = 100000)]
    #[serde(default, deserialize_with = "super::dto::whole_number")]
    pub rate_per_second: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayProgressDto {
    #[schema(format = Uuid)]
    pub replay_id: String,
    /// `running`, `done` or `failed`
    pub state: String,
    /// Events selected when the replay started.
    pub total: u64,
    /// Events Kafka acknowledged so far.
    pub sent: u64,
    pub error: Option<String>,
    /// RFC 3339
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl From<ReplayProgress> for ReplayProgressDto {
    fn from(p: ReplayProgress) -> Self {
        ReplayProgressDto {
            replay_id: p.replay_id.to_string(),
            state: p.state.to_owned(),
            total: p.total,
            sent: p.sent,
            error: p.error,
            started_at: p.started_at,
            finished_at: p.finished_at,
        }
    }
}

fn filter_of(request: &ReplayRequestDto) -> Result<ReplayFilter, ApiError> {
    let job_id = super::admin::job_id_field(request.job_id.as_deref())?;
    let since = request
        .since
        .as_deref()
        .map(|t| {
            horizon_core::timestamp::parse(t).map_err(|_| {
                ApiError::Unprocessable(format!(
                    "since: {t:?} is not an RFC 3339 time (e.g. 2026-12-01T00:00:00Z)"
                ))
            })
        })
        .transpose()?;
    if request.from_position.is_some_and(|p| p < 1) {
        return Err(ApiError::Unprocessable(
            "from_position must be 1 or more".into(),
        ));
    }
    if job_id.is_none() && since.is_none() && request.from_position.is_none() {
        return Err(ApiError::Unprocessable(
            "name what to replay: job_id, since or from_position (from_position 1 replays everything)"
                .into(),
        ));
    }
    Ok(ReplayFilter {
        job_id,
        since,
        from_position: request.from_position,
        ..ReplayFilter::default()
    })
}

/// Publish stored events to Kafka again, byte for byte, each with a
/// `horizon-replay` header naming this replay: one job's (`job_id`), a time
/// range's (`since`), or from an outbox position on; to their own topics
/// or to `to_topic`. Runs in the background at `rate_per_second`; poll its
/// progress. **Admin only.**
#[utoipa::path(
    post, path = "/v1/admin/events/replay", tag = "admin",
    request_body = ReplayRequestDto,
    responses((status = 202, body = ReplayProgressDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn start_replay(
    State(state): State<AppState>,
    _admin: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: ReplayRequestDto = super::jobs::optional_body(&body)?;
    let filter = filter_of(&request)?;
    if let Some(topic) = &request.to_topic
        && !horizon_kafka::valid_topic(topic)
    {
        return Err(ApiError::Unprocessable(format!(
            "to_topic: {topic:?} is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')"
        )));
    }
    let rate = request.rate_per_second.unwrap_or(DEFAULT_RATE);
    if !(1..=MAX_RATE).contains(&rate) {
        return Err(ApiError::Unprocessable(format!(
            "rate_per_second must be 1 to {MAX_RATE}, got {rate}"
        )));
    }
    let settings = &state.settings.kafka;
    if !settings.enabled() {
        return Err(ApiError::Conflict(
            "Kafka is not configured ([kafka] brokers): there is nothing to replay to".into(),
        ));
    }
    // what exists now: events committed meanwhile (this request's own
    // audit record among them) are not part of it
    let span = state.store.replay_span(&filter).await?;
    let total = span.count;
    let filter = ReplayFilter {
        through_position: Some(span.last_position),
        ..filter
    };
    let id = Uuid::now_v7();
    let progress = Arc::new(Mutex::new(ReplayProgress::new(id, total)));
    state.replays.insert(id, progress.clone());
    let replay = ReplayRequest {
        id,
        filter,
        to_topic: request.to_topic.clone(),
        rate_per_second: rate,
    };
    info!(replay.id = %id, "replay {id}: {total} event(s) at up to {rate}/s to {}",
        request.to_topic.as_deref().unwrap_or("their own topics"));
    let (store, settings) = (state.store.clone(), settings.clone());
    let running = progress.clone();
    tokio::spawn(async move {
        match horizon_kafka::replay(store, &settings, &replay, running).await {
            Ok(sent) => info!(replay.id = %id, "replay {id} done: {sent} event(s) sent"),
            Err(err) => error!(replay.id = %id, "replay {id} failed: {err}"),
        }
    });
    let snapshot = progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut response = (
        StatusCode::ACCEPTED,
        Json(ReplayProgressDto::from(snapshot)),
    )
        .into_response();
    response.extensions_mut().insert(super::audit::AuditNote {
        target: Some(id.to_string()),
        correlation_id: None,
        recorded: false,
        others_data: false,
    });
    Ok(response)
}

/// A replay's progress. **Admin only.**
#[utoipa::path(
    get, path = "/v1/admin/events/replay/{id}", tag = "admin",
    params(("id" = String, Path, description = "replay id")),
    responses((status = 200, body = ReplayProgressDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn replay_progress(
    State(state): State<AppState>,
    _admin: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayProgressDto>, ApiError> {
    let progress = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| state.replays.get(id))
        .ok_or_else(|| ApiError::NotFound(format!("no replay {id} on this process")))?;
    Ok(Json(progress.into()))
}

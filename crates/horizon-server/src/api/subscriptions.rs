//! Webhook subscriptions (`/v1/subscriptions`): a user's own (an admin sees
//! everyone's). The secret is in the response that creates (or rotates)
//! it, and nowhere else; deliveries are signed with it per Standard
//! Webhooks (`webhooks/`). A subscription starts with the events committed
//! after it was made.

use std::str::FromStr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use horizon_core::{EventType, JobStatus};
use horizon_store::{Delivery, ReplayFilter, Subscription};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::dto::rfc3339;
use super::problem::{ApiError, Problem};
use crate::config::parse_age;
use crate::webhooks::{sign, target};

/// Subscriptions one user may have.
const MAX_PER_USER: usize = 50;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    /// Where deliveries are POSTed: http(s), a public address (unless the
    /// server allows private ones); redirects are not followed. Or, instead:
    pub url: Option<String>,
    /// E-mail instead of a POST (when the server has `[email]`): an
    /// address, or `true` for the `email` claim of the caller's JWT. Jobs
    /// ending together come as one digest. Default event types: a job's end.
    #[schema(value_type = Option<Object>)]
    pub email: Option<serde_json::Value>,
    /// Event types to deliver (`job.completed`, …); absent or empty: every
    /// lifecycle event (metrics samples only when `job.metrics_recorded`
    /// is named).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Only jobs of this agent.
    pub agent: Option<String>,
    /// Only events that leave a job in this status (`COMPLETED`, `FAILED`, …).
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionDto {
    #[schema(format = Uuid)]
    pub id: String,
    pub user_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub agent: Option<String>,
    pub status: Option<String>,
    /// RFC 3339
    pub created_at: String,
    /// Set when deliveries kept failing (then `disabled_reason` says which);
    /// `POST …/enable` resumes it.
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    /// After a rotation: until when the previous secret also signs.
    pub previous_secret_valid_until: Option<String>,
    /// The signing secret (`whsec_…`): only in the answer that creates or
    /// rotates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl SubscriptionDto {
    fn from(s: &Subscription, secret: Option<String>) -> Self {
        SubscriptionDto {
            id: s.id.to_string(),
            user_id: s.user_id.clone(),
            url: s.url.clone(),
            event_types: s.event_types.clone(),
            agent: s.agent.clone(),
            status: s.status.clone(),
            created_at: rfc3339(s.created_at),
            disabled_at: s.disabled_at.map(rfc3339),
            disabled_reason: s.disabled_reason.clone(),
            previous_secret_valid_until: s
                .previous_until
                .filter(|until| *until > OffsetDateTime::now_utc())
                .map(rfc3339),
            secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionListDto {
    pub subscriptions: Vec<SubscriptionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    /// Also the `webhook-id` header of every attempt.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub event_id: String,
    #[schema(format = Uuid)]
    pub job_id: String,
    pub event_type: String,
    /// pending, delivered or failed
    pub state: String,
    pub attempts: u32,
    /// RFC 3339: when a pending one is tried next
    pub next_attempt_at: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// The receiver's last HTTP status.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

impl From<&Delivery> for DeliveryDto {
    fn from(d: &Delivery) -> Self {
        DeliveryDto {
            id: d.id.to_string(),
            event_id: d.event_id.to_string(),
            job_id: d.job_id.to_string(),
            event_type: d.event_type.clone(),
            state: d.state.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: rfc3339(d.next_attempt_at),
            created_at: rfc3339(d.created_at),
            finished_at: d.finished_at.map(rfc3339),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryListDto {
    /// Oldest first.
    pub deliveries: Vec<DeliveryDto>,
    /// Pass as `after` for the next page (absent: no more).
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only deliveries after this one (`next_after`).
    pub after: Option<String>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverRequest {
    /// The first delivery to send again.
    #[schema(format = Uuid)]
    pub from: String,
    /// The last (default: `from` alone); by id, so a range in time order.
    #[schema(format = Uuid)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedeliveredDto {
    /// How many deliveries will be sent again.
    pub redelivered: u64,
}

fn parse_id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::Unprocessable(format!("{what} {text:?} is not an id")))
}

/// The caller's subscription (an admin's: anyone's), else 404.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<Subscription, ApiError> {
    let id = Uuid::parse_str(id)
        .map_err(|_| ApiError::NotFound(format!("subscription {id} not found")))?;
    let owner = (!caller.admin).then_some(caller.user_id.as_str());
    state
        .store
        .subscriptions(owner)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("subscription {id} not found")))
}

/// Subscribe to job events by webhook.
#[utoipa::path(
    post, path = "/v1/subscriptions", tag = "webhooks",
    request_body = CreateSubscriptionRequest,
    responses(
        (status = 201, description = "created; the secret is shown this once", body = SubscriptionDto),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 422, description = "a bad url (private ranges refused), event type or status", body = Problem),
        (status = 429, description = "too many subscriptions", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<SubscriptionDto>), ApiError> {
    let request: CreateSubscriptionRequest = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("the body is not a subscription: {err}")))?;
    for t in &request.event_types {
        if EventType::from_str(t).is_err() || t.starts_with("audit.") {
            return Err(ApiError::Unprocessable(format!(
                "event_types: {t:?} is not a job event type (job.submitted, job.queued, \
                 job.running, job.status_changed, job.completed, job.failed, job.cancelled, \
                 job.metrics_recorded)"
            )));
        }
    }
    if let Some(status) = &request.status
        && JobStatus::from_str(status).is_err()
    {
        return Err(ApiError::Unprocessable(format!(
            "status: {status:?} is not a job status"
        )));
    }
    let (url, event_types) = match (&request.url, &request.email) {
        (Some(url), None) => {
            target::check(url, state.settings.webhooks.allow_private_targets)
                .await
                .map_err(ApiError::Unprocessable)?;
            (url.clone(), request.event_types)
        }
        (None, Some(email)) => {
            if state.settings.email.smtp_host.is_none() {
                return Err(ApiError::Unprocessable(
                    "e-mail notifications are not configured on this server ([email] smtp_host)"
                        .into(),
                ));
            }
            let address = match email {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Bool(true) => caller
                    .claims
                    .as_ref()
                    .and_then(|claims| claims.get("email"))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ApiError::Unprocessable(
                            "email: true takes the address from the JWT's email claim, and this \
                             caller's credentials have none"
                                .into(),
                        )
                    })?,
                _ => {
                    return Err(ApiError::Unprocessable(
                        "email must be an address or true (the JWT's email claim)".into(),
                    ));
                }
            };
            let address = crate::webhooks::email::address(&address)
                .map_err(|err| ApiError::Unprocessable(format!("email: {err}")))?;
            let types = if request.event_types.is_empty() {
                crate::webhooks::email::DEFAULT_TYPES
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect()
            } else {
                request.event_types
            };
            (format!("mailto:{address}"), types)
        }
        _ => {
            return Err(ApiError::Unprocessable(
                "give either url (a webhook) or email".into(),
            ));
        }
    };
    let mine = state.store.subscriptions(Some(&caller.user_id)).await?;
    if mine.len() >= MAX_PER_USER {
        return Err(ApiError::TooManyRequests(
            format!(
                "{} has {MAX_PER_USER} subscriptions (the most); delete one",
                caller.user_id
            ),
            60,
        ));
    }
    // from now: what is committed after this
    let head = state
        .store
        .replay_span(&ReplayFilter {
            jobs_only: true,
            ..ReplayFilter::default()
        })
        .await?
        .last_position;
    let secret = sign::new_secret();
    let subscription = Subscription {
        id: Uuid::now_v7(),
        user_id: caller.user_id.clone(),
        url,
        event_types,
        agent: request.agent,
        status: request.status,
        secret: secret.clone(),
        previous_secret: None,
        previous_until: None,
        created_at: horizon_core::truncate_to_millis(OffsetDateTime::now_utc()),
        disabled_at: None,
        disabled_reason: None,
        cursor: head,
    };
    state
        .store
        .create_subscription(subscription.clone())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SubscriptionDto::from(&subscription, Some(secret))),
    ))
}

/// The caller's subscriptions (an admin: everyone's).
#[utoipa::path(
    get, path = "/v1/subscriptions", tag = "webhooks",
    responses((status = 200, body = SubscriptionListDto), (status = 401, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SubscriptionListDto>, ApiError> {
    let owner = (!caller.admin).then_some(caller.user_id.as_str());
    let all = state.store.subscriptions(owner).await?;
    Ok(Json(SubscriptionListDto {
        subscriptions: all.iter().map(|s| SubscriptionDto::from(s, None)).collect(),
    }))
}

/// One subscription.
#[utoipa::path(
    get, path = "/v1/subscriptions/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = SubscriptionDto), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionDto>, ApiError> {
    let s = visible(&state, &caller, &id).await?;
    Ok(Json(SubscriptionDto::from(&s, None)))
}

/// Delete a subscription: nothing more is sent to it (pending deliveries
/// are dropped).
#[utoipa::path(
    delete, path = "/v1/subscriptions/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 204, description = "deleted"), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let s = visible(&state, &caller, &id).await?;
    state.store.delete_subscription(s.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret (shown this once); the previous one also signs for
/// `[webhooks] rotation_grace` (24 h), so receivers can switch without
/// losing a delivery.
#[utoipa::path(
    post, path = "/v1/subscriptions/{id}/rotate", tag = "webhooks",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = SubscriptionDto), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionDto>, ApiError> {
    let s = visible(&state, &caller, &id).await?;
    let grace = parse_age(&state.settings.webhooks.rotation_grace)
        .map_err(|err| ApiError::Internal(format!("[webhooks] rotation_grace: {err}")))?;
    let secret = sign::new_secret();
    let until = horizon_core::truncate_to_millis(OffsetDateTime::now_utc() + grace);
    state
        .store
        .rotate_subscription(s.id, secret.clone(), until)
        .await?;
    let rotated = Subscription {
        previous_secret: Some(s.secret.clone()),
        previous_until: Some(until),
        ..s
    };
    Ok(Json(SubscriptionDto::from(&rotated, Some(secret))))
}

/// Resume a disabled subscription (its failed deliveries stay failed:
/// redeliver them if they matter).
#[utoipa::path(
    post, path = "/v1/subscriptions/{id}/enable", tag = "webhooks",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = SubscriptionDto), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub async fn enable_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionDto>, ApiError> {
    let s = visible(&state, &caller, &id).await?;
    state.store.set_subscription_disabled(s.id, None).await?;
    let enabled = Subscription {
        disabled_at: None,
        disabled_reason: None,
        ..s
    };
    Ok(Json(SubscriptionDto::from(&enabled, None)))
}

/// The delivery log: every delivery, its state, attempts and the
/// receiver's last answer.
#[utoipa::path(
    get, path = "/v1/subscriptions/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "subscription id"), DeliveriesQuery),
    responses((status = 200, body = DeliveryListDto), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliveryListDto>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(format!(
            "limit must be 1 to 1000, got {limit}"
        )));
    }
    let after = query
        .after
        .as_deref()
        .map(|a| parse_id(a, "after"))
        .transpose()?;
    let s = visible(&state, &caller, &id).await?;
    let mut page = state.store.deliveries(s.id, after, limit + 1).await?;
    let more = page.len() > limit as usize;
    page.truncate(limit as usize);
    Ok(Json(DeliveryListDto {
        next_after: more
            .then(|| page.last().map(|d| d.id.to_string()))
            .flatten(),
        deliveries: page.iter().map(DeliveryDto::from).collect(),
    }))
}

/// Send one delivery (or a range, by id) again, now, with a fresh retry
/// window; the receiver sees the same `webhook-id` as before.
#[utoipa::path(
    post, path = "/v1/subscriptions/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "subscription id")),
    request_body = RedeliverRequest,
    responses((status = 200, body = RedeliveredDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<RedeliveredDto>, ApiError> {
    let request: RedeliverRequest = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("the body is not a redelivery: {err}")))?;
    let from = parse_id(&request.from, "from")?;
    let to = match &request.to {
        Some(to) => parse_id(to, "to")?,
        None => from,
    };
    if to < from {
        return Err(ApiError::Unprocessable("to comes before from".into()));
    }
    let s = visible(&state, &caller, &id).await?;
    let n = state.store.redeliver(s.id, from, to).await?;
    Ok(Json(RedeliveredDto { redelivered: n }))
}

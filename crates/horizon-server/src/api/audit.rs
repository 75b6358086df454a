//! The audit trail at the HTTP edge: what [`super::auth::guard`] records
//! (every authenticated write, every refused access), and `GET /v1/audit`.
//!
//! A record is written (durably, through the group-committing writer)
//! before the response it describes is sent; if that write fails the
//! response still goes out (the action already happened) and the whole
//! record goes to the log at error level instead.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use horizon_core::{AuditRecord, EventType};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::jobs::CORRELATION_ID;
use super::problem::{ApiError, Problem};

/// What a handler tells the audit trail about its response (a response
/// extension): the job it made, the correlation id it used, or that it
/// wrote the record itself, in the transaction of its action.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub target: Option<String>,
    pub correlation_id: Option<String>,
    pub recorded: bool,
    /// An admin read another user's data: recorded, as writes are.
    pub others_data: bool,
}

/// The note that makes the guard record a read (reads are otherwise not
/// recorded): an admin reading data of users other than themself, with
/// `target` (a job) when it was one.
pub fn admin_read<I, S>(
    caller: &Caller,
    owners: I,
    target: Option<String>,
) -> Option<axum::Extension<AuditNote>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    (caller.admin && owners.into_iter().any(|o| o.as_ref() != caller.user_id)).then(|| {
        axum::Extension(AuditNote {
            target,
            others_data: true,
            ..AuditNote::default()
        })
    })
}

/// The record of a successful submission, handed to the submit handler (a
/// request extension) so that the store writes it with the job, in one
/// transaction: no second commit per submission, and no job without its
/// record.
#[derive(Debug, Clone)]
pub struct PendingAudit(pub AuditRecord);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// 2xx allowed; 401, 403 and 404 denied (a 404 on a job route is how
/// another user's job is refused); anything else failed.
pub fn outcome_of(response: &Response) -> Outcome {
    let status = response.status();
    if status.is_success() {
        Outcome::Allowed
    } else if matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    ) {
        Outcome::Denied
    } else {
        Outcome::Failed
    }
}

/// What the guard knows of a request before it runs.
#[derive(Debug)]
pub struct Context {
    pub method: Method,
    route: String,
    path: String,
    correlation_id: Option<String>,
    client: Option<SocketAddr>,
    forwarded_for: Option<String>,
}

impl Context {
    pub fn of(request: &Request, route: &str, client: Option<SocketAddr>) -> Self {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().filter(|c| !c.is_control()).take(255).collect())
        };
        Context {
            method: request.method().clone(),
            route: route.to_owned(),
            path: request.uri().path().chars().take(1024).collect(),
            // (an empty or blank one is none: the record gets its own)
            correlation_id: header(CORRELATION_ID.as_str())
                .filter(|v: &String| !v.trim().is_empty()),
            client,
            forwarded_for: header("x-forwarded-for"),
        }
    }

    /// Where the request came from (its peer, and what it forwarded for).
    pub fn source(&self) -> String {
        match (&self.client, &self.forwarded_for) {
            (Some(peer), Some(chain)) => format!("{} (X-Forwarded-For: {chain})", peer.ip()),
            (Some(peer), None) => peer.ip().to_string(),
            (None, Some(chain)) => format!("X-Forwarded-For: {chain}"),
            (None, None) => "unknown".to_owned(),
        }
    }

    /// Whether an authenticated request's response is worth a record: every
    /// write, and every refusal.
    pub fn wanted(&self, response: &Response) -> bool {
        self.method != Method::GET
            || outcome_of(response) == Outcome::Denied
            || response
                .extensions()
                .get::<AuditNote>()
                .is_some_and(|n| n.others_data)
    }

    /// The record of this request ending as `status` with `outcome`.
    pub fn record(
        &self,
        caller: Option<&Caller>,
        outcome: Outcome,
        status: StatusCode,
        note: Option<&AuditNote>,
        detail: Option<String>,
    ) -> AuditRecord {
        let target = note
            .and_then(|n| n.target.clone())
            .or_else(|| job_in_path(&self.route, &self.path));
        let correlation_id = note
            .and_then(|n| n.correlation_id.clone())
            .or_else(|| self.correlation_id.clone())
            .unwrap_or_else(|| Uuid::now_v7().to_string());
        let client_address =
            self.client
                .map(|c| c.to_string())
                .map(|peer| match &self.forwarded_for {
                    Some(chain) => format!("{peer} (X-Forwarded-For: {chain})"),
                    None => peer,
                });
        AuditRecord {
            event_id: Uuid::now_v7(),
            event_type: EventType::AuditRecorded,
            schema_version: horizon_core::SCHEMA_VERSION,
            timestamp: horizon_core::truncate_to_millis(OffsetDateTime::now_utc()),
            correlation_id,
            actor: caller.map(|c| c.user_id.clone()),
            admin: caller.is_some_and(|c| c.admin),
            auth_method: caller.map(|c| c.method.as_str().to_owned()),
            action: action(&self.method, &self.route),
            outcome: outcome.as_str().to_owned(),
            status: status.as_u16(),
            method: Some(self.method.to_string()),
            path: Some(self.path.clone()),
            target,
            client_address,
            detail,
        }
    }

    /// Write the record of this request.
    pub async fn finish(
        &self,
        state: &AppState,
        caller: Option<&Caller>,
        outcome: Outcome,
        status: StatusCode,
        note: Option<AuditNote>,
        detail: Option<String>,
    ) {
        let record = self.record(caller, outcome, status, note.as_ref(), detail);
        if let Err(err) = state.store.record_audit(record.clone()).await {
            tracing::error!(
                record = %record.to_json().unwrap_or_default(),
                "cannot write an audit record ({err}); it is only in this log"
            );
        }
    }
}

/// The record of something done on this machine with the CLI (`horizon
/// token create`, `revoke`): the actor is the operating-system user.
pub fn cli_record(action: &str, target: Option<String>, detail: Option<String>) -> AuditRecord {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()));
    AuditRecord {
        event_id: Uuid::now_v7(),
        event_type: EventType::AuditRecorded,
        schema_version: horizon_core::SCHEMA_VERSION,
        timestamp: horizon_core::truncate_to_millis(OffsetDateTime::now_utc()),
        correlation_id: Uuid::now_v7().to_string(),
        actor: Some(user),
        admin: true,
        auth_method: Some("cli".into()),
        action: action.to_owned(),
        outcome: Outcome::Allowed.as_str().to_owned(),
        status: 0,
        method: None,
        path: None,
        target,
        client_address: Some("local".into()),
        detail,
    }
}

/// The record of something the server did by itself (a webhook
/// subscription disabled after failing deliveries).
pub fn system_record(action: &str, target: Option<String>, detail: Option<String>) -> AuditRecord {
    AuditRecord {
        actor: None,
        admin: false,
        auth_method: None,
        client_address: Some("server".into()),
        ..cli_record(action, target, detail)
    }
}

/// The job id in a `/v1/jobs/{id}…` path.
fn job_in_path(route: &str, path: &str) -> Option<String> {
    if !route.starts_with("/v1/jobs/{id}") {
        return None;
    }
    path.strip_prefix("/v1/jobs/")
        .and_then(|rest| rest.split('/').next())
        .map(|id| id.chars().take(64).collect())
}

/// A stable name for what a request does.
pub fn action(method: &Method, route: &str) -> String {
    let name = match (method.as_str(), route) {
        ("POST", "/v1/jobs") => "job.submit",
        ("GET", "/v1/jobs") => "job.list",
        ("GET", "/v1/jobs/{id}") => "job.read",
        ("POST", "/v1/jobs/{id}/cancel") => "job.cancel",
        ("POST", "/v1/jobs/{id}/clone") => "job.clone",
        ("POST", "/v1/jobs/{id}/hold") => "job.hold",
        ("POST", "/v1/jobs/{id}/release") => "job.release",
        ("POST", "/v1/sweeps") => "sweep.submit",
        ("GET", "/v1/sweeps/{id}") => "sweep.read",
        ("POST", "/v1/sweeps/{id}/cancel") => "sweep.cancel",
        ("GET", "/v1/jobs/{id}/events") => "job.events",
        ("GET", "/v1/jobs/{id}/logs") => "job.logs",
        ("GET", "/v1/agents") => "agent.list",
        ("GET", "/v1/agents/stats") => "agent.stats",
        ("GET", "/v1/admin/parked-events") => "parked.list",
        ("POST", "/v1/admin/parked-events/retry") => "parked.retry",
        ("POST", "/v1/admin/events/replay") => "events.replay",
        ("GET", "/v1/admin/events/replay/{id}") => "events.replay_progress",
        ("POST", "/v1/admin/hosts/{host}/gone") => "host.gone",
        ("POST", "/v1/admin/tokens") => "token.create",
        ("GET", "/v1/admin/tokens") => "token.list",
        ("DELETE", "/v1/admin/tokens/{id}") => "token.revoke",
        ("GET", "/v1/audit") => "audit.read",
        ("GET", "/v1/jobs/{id}/events/stream") => "job.events_stream",
        ("GET", "/v1/jobs/{id}/logs/stream") => "job.logs_stream",
        ("GET", "/v1/events/stream") => "events.stream",
        ("POST", "/v1/subscriptions") => "subscription.create",
        ("GET", "/v1/subscriptions") => "subscription.list",
        ("GET", "/v1/subscriptions/{id}") => "subscription.read",
        ("DELETE", "/v1/subscriptions/{id}") => "subscription.delete",
        ("POST", "/v1/subscriptions/{id}/rotate") => "subscription.rotate",
        ("POST", "/v1/subscriptions/{id}/enable") => "subscription.enable",
        ("GET", "/v1/subscriptions/{id}/deliveries") => "subscription.deliveries",
        ("POST", "/v1/subscriptions/{id}/redeliver") => "subscription.redeliver",
        _ => return format!("{method} {route}"),
    };
    name.to_owned()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only records after this one (`next_after` of the previous page).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only this user's actions.
    #[param(max_length = 255)]
    pub actor: Option<String>,
    /// Only this action (`job.cancel`, `job.read`, `token.create`, …).
    #[param(max_length = 255)]
    pub action: Option<String>,
    /// Only actions on this target (a job id, a token id, …).
    #[param(max_length = 255)]
    pub target: Option<String>,
    /// Only `allowed`, `denied` or `failed` actions.
    #[param(pattern = "^(allowed|denied|failed)$")]
    pub outcome: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditListDto {
    /// Oldest first; each as in `schemas/audit.recorded.json`.
    #[schema(schema_with = super::openapi::audit_records)]
    pub records: Vec<Box<RawValue>>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// The audit trail: every authenticated write and every refused access,
/// oldest first. **Admin only.**
#[utoipa::path(
    get, path = "/v1/audit", tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditListDto),
        (status = 400, body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "not an admin", body = Problem),
        (status = 422, body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list_audit(
    State(state): State<AppState>,
    _admin: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditListDto>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(format!(
            "limit must be 1 to 1000, got {limit}"
        )));
    }
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::Unprocessable("after must not be negative".into()));
    }
    for (name, value) in [
        ("actor", &query.actor),
        ("action", &query.action),
        ("target", &query.target),
    ] {
        if let Some(value) = value
            && value.chars().count() > 255
        {
            return Err(ApiError::Unprocessable(format!(
                "{name} must be at most 255 characters"
            )));
        }
    }
    if let Some(outcome) = &query.outcome
        && !matches!(outcome.as_str(), "allowed" | "denied" | "failed")
    {
        return Err(ApiError::Unprocessable(format!(
            "outcome must be allowed, denied or failed, not {outcome:?}"
        )));
    }
    let filter = horizon_store::AuditFilter {
        actor: query.actor.clone(),
        action: query.action.clone(),
        target: query.target.clone(),
        outcome: query.outcome.clone(),
        since: super::problem::time_param("since", query.since.as_deref())?,
        until: super::problem::time_param("until", query.until.as_deref())?,
    };
    let mut rows = state.store.audit_records(after, limit + 1, &filter).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_after = if more {
        rows.last().map(|(p, _)| *p)
    } else {
        None
    };
    let records = rows
        .into_iter()
        .map(|(_, json)| {
            RawValue::from_string(json)
                .map_err(|e| ApiError::Internal(format!("stored audit record is not JSON: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(AuditListDto {
        records,
        next_after,
    }))
}

/// Write the summary of the refusals that got no row of their own, if
/// any (every minute, and at shutdown).
pub async fn write_denied_summary(state: &AppState) {
    let Some((count, detail)) = state.denials.summary() else {
        return;
    };
    let record = AuditRecord {
        event_id: Uuid::now_v7(),
        event_type: EventType::AuditRecorded,
        schema_version: horizon_core::SCHEMA_VERSION,
        timestamp: horizon_core::truncate_to_millis(OffsetDateTime::now_utc()),
        correlation_id: Uuid::now_v7().to_string(),
        actor: None,
        admin: false,
        auth_method: None,
        action: "auth.denied_summary".to_owned(),
        outcome: Outcome::Denied.as_str().to_owned(),
        status: StatusCode::UNAUTHORIZED.as_u16(),
        method: None,
        path: None,
        target: Some(count.to_string()),
        client_address: None,
        detail: Some(detail),
    };
    if let Err(err) = state.store.record_audit(record.clone()).await {
        tracing::error!(
            record = %record.to_json().unwrap_or_default(),
            "cannot write an audit record ({err}); it is only in this log"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_an_action_name() {
        assert_eq!(action(&Method::POST, "/v1/jobs"), "job.submit");
        assert_eq!(action(&Method::POST, "/v1/jobs/{id}/cancel"), "job.cancel");
        assert_eq!(action(&Method::DELETE, "/v1/jobs"), "DELETE /v1/jobs");
    }

    #[test]
    fn the_job_id_comes_from_job_routes_only() {
        assert_eq!(
            job_in_path("/v1/jobs/{id}/cancel", "/v1/jobs/abc/cancel").as_deref(),
            Some("abc")
        );
        assert_eq!(job_in_path("/v1/jobs", "/v1/jobs"), None);
    }
}

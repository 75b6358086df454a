//! Operational routes: liveness, readiness, Prometheus metrics, OpenAPI.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;
use super::problem::ApiError;
use crate::telemetry;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: its database answers (else 503, naming the
/// dependency, never its raw error). Also reports the Kafka relay's state and
/// the background tasks'; a broker outage, a parked event or a task that
/// panicked and was restarted make the status `degraded` (still 200: the API
/// works and nothing is lost), with each reason under `problems`.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await.map_err(|err| {
        // the raw error goes to the log only: this route needs no token
        ApiError::Unavailable(format!("readiness: database: {err}"))
    })?;
    let mut problems = Vec::new();
    let kafka = match &state.relay {
        Some(relay) => {
            let snapshot = relay.snapshot();
            if snapshot.parked > 0 {
                problems.push(format!(
                    "kafka: {} event(s) parked ({}); see `horizon events parked`",
                    snapshot.parked,
                    snapshot
                        .last_parked_reason
                        .as_deref()
                        .unwrap_or("refused by Kafka")
                ));
            }
            if snapshot.state == "retrying" {
                problems.push(format!(
                    "kafka: deliveries are failing and being retried ({})",
                    snapshot.last_error.as_deref().unwrap_or("no detail")
                ));
            }
            if let Some(since) = &snapshot.unreachable_since {
                problems.push(format!(
                    "kafka: the brokers cannot be reached since {since} ({}); events wait in the outbox",
                    snapshot.last_error.as_deref().unwrap_or("no detail")
                ));
            }
            serde_json::to_value(snapshot).unwrap_or(Value::Null)
        }
        None => json!({"state": "disabled"}),
    };
    let backends = state.backend_health.snapshot();
    for (name, reach) in &backends {
        if let Some(since) = &reach.unreachable_since {
            problems.push(format!(
                "backend {name}: cannot be reached since {since} ({}); its jobs wait",
                reach.last_error.as_deref().unwrap_or("no detail")
            ));
        }
    }
    let tasks = state.tasks.snapshot();
    for (name, task) in &tasks {
        if task.restarts > 0 {
            problems.push(format!(
                "task {name} panicked {} time(s) and was restarted; last: {}",
                task.restarts,
                task.last_panic.as_deref().unwrap_or("?")
            ));
        }
    }
    let status = if problems.is_empty() {
        "ready"
    } else {
        "degraded"
    };
    Ok(Json(json!({
        "status": status,
        "database": "ok",
        "kafka": kafka,
        "backends": backends,
        "tasks": tasks,
        "problems": problems,
    })))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let Some(handle) = &state.prometheus else {
        return Err(ApiError::NotFound(
            "metrics are not enabled in this process".into(),
        ));
    };
    telemetry::refresh_gauges(state.store.as_ref(), state.relay.is_some()).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}

/// This API's OpenAPI 3.1 document: the API, the same whatever the
/// configuration (`horizon openapi` prints it; the SDKs are generated from
/// it; this server's agents are `GET /v1/agents`).
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200)))]
pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

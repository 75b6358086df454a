//! Operational routes: liveness, readiness, Prometheus metrics, OpenAPI.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::problem::ApiError;
use super::{ApiDoc, AppState};
use crate::telemetry;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: its database answers. Also reports the Kafka
/// relay's state; a broker outage does not make Horizon unready, since
/// submissions keep working and events wait in the outbox.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await.map_err(|err| {
        // the raw error goes to the log only: this route needs no token
        ApiError::Unavailable(format!("readiness: database: {err}"))
    })?;
    let kafka = match &state.relay {
        Some(relay) => serde_json::to_value(relay.snapshot()).unwrap_or(Value::Null),
        None => json!({"state": "disabled"}),
    };
    Ok(Json(
        json!({"status": "ready", "database": "ok", "kafka": kafka}),
    ))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let Some(handle) = &state.prometheus else {
        return Err(ApiError::NotFound(
            "metrics are not enabled in this process".into(),
        ));
    };
    telemetry::refresh_gauges(state.store.as_ref()).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}

/// This API's OpenAPI 3 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

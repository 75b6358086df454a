//! The HTTP API: routes, shared state, and the OpenAPI document generated
//! from the handlers.

mod admin;
mod agents;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod cors;
pub mod denials;
mod dto;
mod hold;
mod jobs;
pub mod jwt;
pub mod limits;
pub mod openapi;
mod ops;
pub mod problem;
pub mod replay;
pub mod stream;
mod submit;
mod subscriptions;
mod sweeps;
mod token_cache;
mod tokens;
mod ui;

pub use token_cache::TokenCache;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use horizon_backend::Backend;
use horizon_core::BackendKind;
use horizon_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::config::Settings;
use problem::ApiError;

pub use jobs::MAX_PARAMETERS_BYTES;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub backends: Arc<HashMap<BackendKind, Arc<dyn Backend>>>,
    /// Wakes the dispatcher when a job is submitted.
    pub dispatch_wake: Arc<Notify>,
    pub prometheus: Option<PrometheusHandle>,
    /// The outbox relay's state, when Kafka is configured.
    pub relay: Option<Arc<horizon_kafka::RelayStatus>>,
    /// The background tasks' health.
    pub tasks: Arc<crate::tasks::TaskHealth>,
    /// Valid tokens seen lately.
    pub tokens: Arc<TokenCache>,
    /// Gateway JWTs, when `[auth.jwt]` is configured.
    pub jwt: Option<Arc<jwt::JwtVerifier>>,
    /// Per-user submission rate, when `[api] submit_rate_per_minute` is set.
    pub submit_limit: Option<Arc<limits::SubmitRateLimit>>,
    /// Event replays started on this process, and their progress.
    pub replays: Arc<replay::Replays>,
    /// Refused unauthenticated requests past their audit budget.
    pub denials: Arc<denials::Denials>,
    /// Whether each backend's scheduler answers.
    pub backend_health: Arc<crate::backend_health::BackendHealth>,
    /// Committed events, as they come, for streams.
    pub live: Arc<crate::live::LiveHub>,
    /// Streams open per user.
    pub streams: Arc<stream::StreamCounts>,
    /// This process (`/v1/admin/cluster`).
    pub process: Arc<cluster::ThisProcess>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Horizon", description = "Job orchestrator for science gateways"),
    paths(
        submit::submit_job, submit::clone_job, sweeps::submit_sweep, sweeps::get_sweep, sweeps::cancel_sweep, hold::hold_job, hold::release_job, jobs::get_job, jobs::list_jobs, jobs::cancel_job, jobs::job_events,
        jobs::job_logs, stream::job_event_stream, stream::event_stream, stream::job_log_stream,
        subscriptions::create_subscription, subscriptions::list_subscriptions,
        subscriptions::get_subscription, subscriptions::delete_subscription,
        subscriptions::rotate_secret, subscriptions::enable_subscription,
        subscriptions::list_deliveries, subscriptions::redeliver,
        agents::list_agents, agents::agent_stats,
        ops::healthz, ops::readyz, ops::metrics_text, ops::openapi_json,
        admin::parked_events, admin::retry_parked, admin::host_gone, cluster::cluster, audit::list_audit,
        replay::start_replay, replay::replay_progress,
        tokens::create_token, tokens::list_tokens, tokens::revoke_token,
    ),
    modifiers(&BearerAuth, &DescribeResponses),
    tags(
        (name = "jobs", description = "Submit, follow and cancel jobs. A user sees and acts on their own jobs only (another user's job is a 404); an admin sees and cancels every user's jobs."),
        (name = "webhooks", description = "Subscriptions: job events POSTed to your URL, signed per Standard Webhooks, retried for a day. A user sees their own subscriptions only; an admin sees everyone's."),
        (name = "admin", description = "Admin-only routes: any other caller gets 403."),
        (name = "operations")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every response gets a description (OpenAPI requires one; a route's own
/// wins, else the status's reason phrase), and every operation that takes a
/// body documents 415 (not JSON) and 413 (too large).
struct DescribeResponses;

impl utoipa::Modify for DescribeResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder};
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let mut extra = vec![
                    ("500", "something failed inside; the body names a reference"),
                    (
                        "503",
                        "the database (or the job's backend) cannot be reached now",
                    ),
                ];
                if operation.security.is_some() {
                    extra.push(("401", "no valid bearer token"));
                }
                let takes_input = operation.request_body.is_some()
                    || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                if takes_input {
                    extra.push((
                        "400",
                        "malformed input: not JSON, a wrong type, a number out of range",
                    ));
                    extra.push((
                        "422",
                        "a value the server does not accept (the detail says which)",
                    ));
                }
                if operation.request_body.is_some() {
                    extra.push(("413", "the body is over the size limit"));
                    extra.push(("415", "the body is not application/json"));
                }
                {
                    for (code, text) in extra {
                        operation
                            .responses
                            .responses
                            .entry(code.to_owned())
                            .or_insert_with(|| {
                                RefOr::T(
                                    ResponseBuilder::new()
                                        .description(text)
                                        .content(
                                            "application/problem+json",
                                            utoipa::openapi::ContentBuilder::new()
                                                .schema(Some(
                                                    utoipa::openapi::Ref::from_schema_name(
                                                        "Problem",
                                                    ),
                                                ))
                                                .build(),
                                        )
                                        .build(),
                                )
                            });
                    }
                }
                // errors are RFC 9457 problem documents
                for (code, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && !code.starts_with('2')
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        response
                            .content
                            .insert("application/problem+json".to_owned(), content);
                    }
                }
                for (code, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.trim().is_empty()
                    {
                        response.description = code
                            .parse::<u16>()
                            .ok()
                            .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
                            .and_then(|c| c.canonical_reason())
                            .unwrap_or("response")
                            .to_owned();
                    }
                }
            }
        }
    }
}

/// The API's OpenAPI document, pretty-printed: the same for every
/// configuration, so a client generated from it keeps working when agents
/// change.
pub fn openapi_json_text() -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&openapi::document())
}

/// Every request counted, and timed to its response's head, by its route's
/// template (`/v1/jobs/{id}`, never the id: a bounded set of series).
async fn http_metrics(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(crate::telemetry::HTTP_DURATION, "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(crate::telemetry::HTTP_REQUESTS, "method" => method, "route" => route,
        "status" => response.status().as_u16().to_string())
    .increment(1);
    response
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.api.body_limit_bytes;
    // checked at start (serve refuses a bad list)
    let origins = cors::origins(&state.settings.api.cors_origins).unwrap_or_default();
    // every /v1 route is behind the guard: authentication, the access table
    // (auth::access) and the audit trail, in one place
    let v1 = Router::new()
        .route("/v1/jobs", post(submit::submit_job).get(jobs::list_jobs))
        .route("/v1/jobs/{id}/clone", post(submit::clone_job))
        .route("/v1/sweeps", post(sweeps::submit_sweep))
        .route("/v1/sweeps/{id}", get(sweeps::get_sweep))
        .route("/v1/sweeps/{id}/cancel", post(sweeps::cancel_sweep))
        .route("/v1/jobs/{id}/hold", post(hold::hold_job))
        .route("/v1/jobs/{id}/release", post(hold::release_job))
        .route("/v1/jobs/{id}", get(jobs::get_job))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel_job))
        .route("/v1/jobs/{id}/events", get(jobs::job_events))
        .route("/v1/jobs/{id}/logs", get(jobs::job_logs))
        .route("/v1/jobs/{id}/events/stream", get(stream::job_event_stream))
        .route("/v1/jobs/{id}/logs/stream", get(stream::job_log_stream))
        .route("/v1/events/stream", get(stream::event_stream))
        .route(
            "/v1/subscriptions",
            post(subscriptions::create_subscription).get(subscriptions::list_subscriptions),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(subscriptions::get_subscription).delete(subscriptions::delete_subscription),
        )
        .route(
            "/v1/subscriptions/{id}/rotate",
            post(subscriptions::rotate_secret),
        )
        .route(
            "/v1/subscriptions/{id}/enable",
            post(subscriptions::enable_subscription),
        )
        .route(
            "/v1/subscriptions/{id}/deliveries",
            get(subscriptions::list_deliveries),
        )
        .route(
            "/v1/subscriptions/{id}/redeliver",
            post(subscriptions::redeliver),
        )
        .route("/v1/agents", get(agents::list_agents))
        .route("/v1/agents/stats", get(agents::agent_stats))
        .route("/v1/admin/parked-events", get(admin::parked_events))
        .route("/v1/admin/parked-events/retry", post(admin::retry_parked))
        .route("/v1/admin/hosts/{host}/gone", post(admin::host_gone))
        .route("/v1/admin/cluster", get(cluster::cluster))
        .route(
            "/v1/admin/tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        )
        .route("/v1/admin/tokens/{id}", delete(tokens::revoke_token))
        .route("/v1/admin/events/replay", post(replay::start_replay))
        .route("/v1/admin/events/replay/{id}", get(replay::replay_progress))
        .route("/v1/audit", get(audit::list_audit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ));
    Router::new()
        .merge(v1)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_text))
        .route("/openapi.json", get(ops::openapi_json))
        .route("/", get(ui::page))
        .route("/ui", get(ui::page))
        .route("/ui/", get(ui::page))
        .route("/ui/{*path}", get(ui::file))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("method not allowed on this route".into())
        })
        .layer(axum::middleware::from_fn(http_metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::body_deadline,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(tower::util::option_layer(
            (!origins.is_empty()).then(|| cors::layer(origins)),
        ))
        .with_state(state)
}

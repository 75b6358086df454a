//! `GET /v1/agents`: what can be run, where, and with what resources.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::auth::Caller;
use super::dto::{AgentDto, AgentListDto};
use super::problem::{ApiError, Problem};

/// The configured agents, by name: backend, resource defaults and maxima.
#[utoipa::path(
    get, path = "/v1/agents", tag = "jobs",
    responses((status = 200, body = AgentListDto), (status = 401, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_agents(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<AgentListDto>, ApiError> {
    let agents = state
        .settings
        .agents
        .iter()
        .map(|(name, agent)| AgentDto {
            name: name.clone(),
            backend: agent.backend.to_string(),
            description: agent.description.clone(),
            parameters: agent.parameters.clone(),
            default_resources: agent.default_resources.into(),
            max_resources: agent.max_resources.into(),
        })
        .collect();
    Ok(Json(AgentListDto { agents }))
}

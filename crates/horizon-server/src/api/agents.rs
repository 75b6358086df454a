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

/// `GET /v1/agents/stats`: from when.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Jobs created at or after this time (RFC 3339); default: the last 24 h.
    #[param(format = DateTime)]
    pub since: Option<String>,
}

/// Two percentiles of a duration, in seconds; absent with no sample.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PercentilesDto {
    pub p50: f64,
    pub p95: f64,
    /// How many jobs they are of.
    pub samples: u64,
}

/// Jobs by status.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct StatusCountsDto {
    pub SUBMITTED: u64,
    pub QUEUED: u64,
    pub RUNNING: u64,
    pub COMPLETED: u64,
    pub FAILED: u64,
    pub CANCELLED: u64,
}

/// One agent's jobs over the window.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentStatsDto {
    pub agent: String,
    pub jobs: u64,
    pub by_status: StatusCountsDto,
    /// COMPLETED / (COMPLETED + FAILED); absent before any ended so.
    pub success_rate: Option<f64>,
    /// Run time (start to end) of the jobs that ran and ended.
    pub run_seconds: Option<PercentilesDto>,
    /// Queue wait (accepted by the backend to start) of the jobs that started.
    pub queue_seconds: Option<PercentilesDto>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentStatsListDto {
    /// The window's start.
    #[schema(format = DateTime)]
    pub since: String,
    /// By agent name.
    pub agents: Vec<AgentStatsDto>,
    /// The window held more jobs than are counted (the newest
    /// `STATS_MAX_JOBS`): narrow it.
    pub truncated: bool,
}

/// The most jobs one statistics answer reads.
pub const STATS_MAX_JOBS: u32 = 200_000;

fn percentiles(mut values: Vec<f64>) -> Option<PercentilesDto> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((values.len() - 1) as f64 * q).round() as usize;
        values[index.min(values.len() - 1)]
    };
    Some(PercentilesDto {
        p50: at(0.5),
        p95: at(0.95),
        samples: values.len() as u64,
    })
}

/// Per agent over a window: jobs by outcome, success rate, p50/p95 run time
/// and queue wait. A user's own jobs; **admin:** everyone's.
#[utoipa::path(
    get, path = "/v1/agents/stats", tag = "jobs",
    params(StatsQuery),
    responses((status = 200, body = AgentStatsListDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn agent_stats(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<axum::extract::Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AgentStatsListDto>, ApiError> {
    use horizon_core::JobStatus;
    let axum::extract::Query(query) = query?;
    let since = super::problem::time_param("since", query.since.as_deref())?
        .unwrap_or_else(|| time::OffsetDateTime::now_utc() - time::Duration::hours(24));
    let user = (!caller.admin).then_some(caller.user_id.as_str());
    let rows = state
        .store
        .job_timings(user, since, STATS_MAX_JOBS + 1)
        .await?;
    let truncated = rows.len() > STATS_MAX_JOBS as usize;
    let mut by_agent: std::collections::BTreeMap<String, (StatusCountsDto, Vec<f64>, Vec<f64>)> =
        std::collections::BTreeMap::new();
    for row in rows.iter().take(STATS_MAX_JOBS as usize) {
        let (counts, runs, waits) = by_agent.entry(row.agent.clone()).or_default();
        match row.status {
            JobStatus::Submitted => counts.SUBMITTED += 1,
            JobStatus::Queued => counts.QUEUED += 1,
            JobStatus::Running => counts.RUNNING += 1,
            JobStatus::Completed => counts.COMPLETED += 1,
            JobStatus::Failed => counts.FAILED += 1,
            JobStatus::Cancelled => counts.CANCELLED += 1,
        }
        let seconds = |from: time::OffsetDateTime, to: time::OffsetDateTime| {
            ((to - from).whole_milliseconds().max(0) as f64) / 1000.0
        };
        if let (Some(start), Some(end)) = (row.started_at, row.finished_at) {
            runs.push(seconds(start, end));
        }
        if let (Some(queued), Some(start)) = (row.queued_at, row.started_at) {
            waits.push(seconds(queued, start));
        }
    }
    let agents = by_agent
        .into_iter()
        .map(|(agent, (by_status, runs, waits))| {
            let ended = by_status.COMPLETED + by_status.FAILED;
            AgentStatsDto {
                jobs: by_status.SUBMITTED
                    + by_status.QUEUED
                    + by_status.RUNNING
                    + ended
                    + by_status.CANCELLED,
                success_rate: (ended > 0).then(|| by_status.COMPLETED as f64 / ended as f64),
                run_seconds: percentiles(runs),
                queue_seconds: percentiles(waits),
                agent,
                by_status,
            }
        })
        .collect();
    Ok(Json(AgentStatsListDto {
        since: super::dto::rfc3339(since),
        agents,
        truncated,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let p = super::percentiles((1..=100).map(f64::from).collect()).expect("some");
        assert_eq!((p.p50, p.p95, p.samples), (51.0, 95.0, 100));
        assert!(super::percentiles(Vec::new()).is_none());
        let one = super::percentiles(vec![2.5]).expect("one");
        assert_eq!((one.p50, one.p95), (2.5, 2.5));
    }
}

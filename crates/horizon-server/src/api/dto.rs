//! The API's request and response bodies, converted from domain types here at
//! the edge.

use horizon_core::{Job, Resources};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// `POST /v1/jobs`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitJobRequest {
    /// An agent named in the server's configuration.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub agent: String,
    /// 1 to 256 characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub dataset_id: String,
    /// A JSON object, at most 64 KiB serialized.
    #[serde(default)]
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub parameters: Map<String, Value>,
    /// What the job needs; fields left out take the agent's defaults.
    #[serde(default, deserialize_with = "object_only")]
    pub resources: Option<ResourcesDto>,
    /// Narrow the agent's retry policy for this job (fewer attempts, fewer
    /// error or exit codes); the agent's policy when left out.
    #[serde(default)]
    pub retry: Option<RetryRequestDto>,
    /// Jobs (the caller's) this one runs after: it waits in SUBMITTED until
    /// each has ended as its condition says, and ends CANCELLED once one
    /// can no longer (at most 1000).
    #[serde(default)]
    pub depends_on: Option<Vec<DependencyDto>>,
}

/// One job, or one sweep, this one runs after: exactly one of `job_id` and
/// `sweep_id`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DependencyDto {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub job_id: Option<String>,
    /// A sweep: the condition holds for all its jobs (`after_ok`: all
    /// COMPLETED; `after_any`: all ended; `after_not_ok`: all ended and at
    /// least one did not complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub sweep_id: Option<String>,
    /// `after_ok` (it COMPLETED), `after_any` (it ended), `after_not_ok`
    /// (it FAILED or was CANCELLED).
    #[schema(value_type = DependencyConditionDto)]
    pub condition: String,
}

/// How the job depended on must have ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code, clippy::enum_variant_names)]
pub enum DependencyConditionDto {
    AfterOk,
    AfterAny,
    AfterNotOk,
}

/// A narrower retry policy than the agent's: each field left out is the
/// agent's; a value outside the agent's policy is a 422.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequestDto {
    /// At most the agent's `attempts` (1: no retry).
    #[schema(minimum = 1, maximum = 100)]
    pub attempts: Option<u32>,
    /// Error codes to retry, among the agent's.
    pub on: Option<Vec<String>>,
    /// Exit codes to retry, among the agent's.
    pub exit_codes: Option<Vec<i32>>,
}

/// A job's resources. A field left out (or null) means the backend's default.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcesDto {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(minimum = 1, maximum = 4294967295_f64)]
    pub nodes: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(minimum = 1, maximum = 4294967295_f64)]
    pub cores_per_node: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(minimum = 1, maximum = 1099511627776_f64)]
    pub memory_mb: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(minimum = 0, maximum = 4294967295_f64)]
    pub gpus: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(minimum = 1, maximum = 4294967295_f64)]
    pub walltime_minutes: Option<u32>,
}

/// A struct from a JSON object only (serde would also read one from an array).
fn object_only<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Option::<Map<String, Value>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(map) => serde_json::from_value(Value::Object(map))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// The largest resource value accepted (2^40: a megabyte count of an exabyte).
const MAX_WHOLE: f64 = 1_099_511_627_776.0;

/// An integer, also when written as a number with a zero fraction
/// (`2.0`, which JSON Schema counts as an integer too).
pub(super) fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let Some(value) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    });
    let whole = whole.ok_or_else(|| D::Error::custom(format!("{value} is not a whole number")))?;
    if whole as f64 > MAX_WHOLE {
        return Err(D::Error::custom(format!("{value} is too large")));
    }
    T::try_from(whole)
        .map(Some)
        .map_err(|_| D::Error::custom(format!("{value} is too large")))
}

impl From<ResourcesDto> for Resources {
    fn from(r: ResourcesDto) -> Self {
        Resources {
            nodes: r.nodes,
            cores_per_node: r.cores_per_node,
            memory_mb: r.memory_mb,
            gpus: r.gpus,
            walltime_minutes: r.walltime_minutes,
        }
    }
}

impl From<Resources> for ResourcesDto {
    fn from(r: Resources) -> Self {
        ResourcesDto {
            nodes: r.nodes,
            cores_per_node: r.cores_per_node,
            memory_mb: r.memory_mb,
            gpus: r.gpus,
            walltime_minutes: r.walltime_minutes,
        }
    }
}

/// One agent as `GET /v1/agents` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentDto {
    pub name: String,
    /// `local`, `slurm` or `tapis`
    pub backend: String,
    /// What the agent does.
    pub description: Option<String>,
    /// The parameters it reads, by name, with what each means.
    pub parameters: std::collections::BTreeMap<String, String>,
    /// What a job gets for a resource its request leaves out.
    pub default_resources: ResourcesDto,
    /// The most a request may ask for; a field absent here has no limit.
    pub max_resources: ResourcesDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentListDto {
    pub agents: Vec<AgentDto>,
}

/// `POST /v1/jobs/{id}/clone`: what the new job changes; everything left
/// out is the original's.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneJobRequest {
    /// Another dataset (1 to 256 characters).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub dataset_id: Option<String>,
    /// Parameters to set: each key given replaces the original's; the
    /// others are kept.
    #[schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>)]
    pub parameters: Option<Map<String, Value>>,
    /// Resources to change, field by field; the others are the original's.
    #[serde(default, deserialize_with = "object_only")]
    pub resources: Option<ResourcesDto>,
}

/// `POST /v1/jobs/{id}/hold` and `/release`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldJobRequest {
    /// Why (kept in the event and the audit trail).
    #[serde(default)]
    #[schema(max_length = 1024, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub reason: Option<String>,
}

/// `POST /v1/jobs/{id}/cancel`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelJobRequest {
    #[serde(default)]
    #[schema(max_length = 1024, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListJobsQuery {
    /// Only jobs in one of these statuses, comma-separated (`RUNNING,QUEUED`):
    /// SUBMITTED, QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED.
    #[param(
        pattern = "^(SUBMITTED|QUEUED|RUNNING|COMPLETED|FAILED|CANCELLED)(,(SUBMITTED|QUEUED|RUNNING|COMPLETED|FAILED|CANCELLED))*$"
    )]
    pub status: Option<String>,
    /// Only this user's jobs. **Admin** only: anyone else may name only
    /// themself (another user is a 403).
    #[param(max_length = 255, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub user: Option<String>,
    /// Only jobs of this agent.
    #[param(max_length = 255, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub agent: Option<String>,
    /// Only jobs on this dataset.
    #[param(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub dataset_id: Option<String>,
    /// Only clones of this job.
    #[param(format = Uuid)]
    pub cloned_from: Option<String>,
    /// Only the jobs of this sweep (newest first is highest index first).
    #[param(format = Uuid)]
    pub sweep_id: Option<String>,
    /// Only jobs created at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_after: Option<String>,
    /// Only jobs created before this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events written after this one (an `event_id` of the job).
    #[param(format = Uuid)]
    pub after: Option<String>,
    /// At most this many events, 1..=10000; default 1000.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// `stdout` (default) or `stderr`.
    #[param(pattern = "^(stdout|stderr)$")]
    pub stream: Option<String>,
    /// Only the last this many lines (within the byte limit).
    #[param(minimum = 0, maximum = 100000)]
    pub tail: Option<u32>,
    /// From this byte of the log on, for following it (the `X-Log-Size` of
    /// the previous response); with `tail`, the last lines of what follows it.
    #[param(minimum = 0, maximum = 9007199254740991_f64)]
    pub offset: Option<u64>,
}

/// A job's status.
#[derive(Debug, Serialize, ToSchema)]
#[allow(clippy::upper_case_acronyms, dead_code)]
pub enum JobStatusDto {
    SUBMITTED,
    QUEUED,
    RUNNING,
    COMPLETED,
    FAILED,
    CANCELLED,
}

/// Where a job runs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum BackendDto {
    Local,
    Slurm,
    Tapis,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobErrorDto {
    /// Why it failed: NONZERO_EXIT, AGENT_LOST, LAUNCH_FAILED,
    /// SUBMIT_FAILED, SCHEDULER_REJECTED, SCHEDULER_TIMEOUT,
    /// SCHEDULER_OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, … (a Tapis condition
    /// as `TAPIS_<condition>`): an open set.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// A job, as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDto {
    #[schema(format = Uuid)]
    pub id: String,
    pub user_id: String,
    pub agent: String,
    pub dataset_id: String,
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub parameters: Map<String, Value>,
    #[schema(value_type = BackendDto)]
    pub backend: String,
    /// What the job asked for, with its agent's defaults filled in.
    pub resources: ResourcesDto,
    #[schema(value_type = JobStatusDto)]
    pub status: String,
    pub remote_job_id: Option<String>,
    /// Whom the cluster charges the job to (a Slurm account), when the
    /// server's identity mapping chose one for its submitter.
    pub account: Option<String>,
    /// The W3C `traceparent` the submission came with (its events carry it).
    pub traceparent: Option<String>,
    pub correlation_id: String,
    pub error: Option<JobErrorDto>,
    /// The program's exit code once it ended with one: 0 for a success,
    /// the code of a NONZERO_EXIT; null while it runs, and for a job that
    /// never ran or that its scheduler ended.
    pub exit_code: Option<i32>,
    /// RFC 3339 UTC
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// When its backend accepted it (QUEUED): the queue wait is
    /// `started_at - queued_at`.
    #[schema(format = DateTime)]
    pub queued_at: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// When it ended (COMPLETED, FAILED or CANCELLED); the same as
    /// `finished_at`, kept for older clients.
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Held back before it started (`POST /v1/jobs/{id}/hold`): it waits
    /// until released.
    pub held: bool,
    /// The job this one was cloned from.
    #[schema(format = Uuid)]
    pub cloned_from: Option<String>,
    /// The jobs it runs after.
    pub depends_on: Vec<DependencyDto>,
    /// Waiting in SUBMITTED for its dependencies.
    pub waiting: bool,
    /// The sweep it is a point of (`POST /v1/sweeps`), and which point
    /// (from 0).
    #[schema(format = Uuid)]
    pub sweep_id: Option<String>,
    pub sweep_index: Option<u32>,
    /// Held back in SUBMITTED by its sweep's concurrency limit: it is
    /// handed over once fewer than the limit of the sweep's jobs run.
    pub gated: bool,
    /// Its dependencies as handed to its scheduler with it (Slurm's
    /// `--dependency`, e.g. `afterok:1234`): the scheduler starts it once
    /// they are met, and Horizon cancels it if one never can be.
    pub scheduler_dependency: Option<String>,
    /// While it waits: the jobs whose condition is not met yet. Only on
    /// `GET /v1/jobs/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub waiting_on: Option<Vec<String>>,
    /// Which run this is, from 1 (a retry's attempts count on).
    pub attempt: u32,
    /// The most attempts its retry policy allows (1: none).
    pub max_attempts: u32,
    /// While it waits for its next attempt (QUEUED after a retry): when
    /// that attempt is handed over.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// The jobs cloned from this one that the caller may see, oldest first
    /// (at most 100; `GET /v1/jobs?cloned_from=` lists them all). Only on
    /// `GET /v1/jobs/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub clones: Option<Vec<String>>,
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    horizon_core::timestamp::format(at)
}

impl From<&Job> for JobDto {
    fn from(job: &Job) -> Self {
        JobDto {
            id: job.id.to_string(),
            user_id: job.user_id.clone(),
            agent: job.agent.clone(),
            dataset_id: job.dataset_id.clone(),
            parameters: job.parameters.clone(),
            backend: job.backend.to_string(),
            resources: job.resources.into(),
            status: job.status.to_string(),
            remote_job_id: job.remote_job_id.clone(),
            account: job.account.clone(),
            traceparent: job.traceparent.clone(),
            correlation_id: job.correlation_id.clone(),
            error: job.error.as_ref().map(|e| JobErrorDto {
                code: e.code.clone(),
                message: e.message.clone(),
                exit_code: e.exit_code,
            }),
            exit_code: job.exit_code,
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            queued_at: job.queued_at.map(rfc3339),
            started_at: job.started_at.map(rfc3339),
            ended_at: job.finished_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
            held: job.held,
            cloned_from: job.cloned_from.map(|id| id.to_string()),
            depends_on: job
                .depends_on
                .iter()
                .map(|d| DependencyDto {
                    job_id: d.job_id.map(|id| id.to_string()),
                    sweep_id: d.sweep_id.map(|id| id.to_string()),
                    condition: d.condition.to_string(),
                })
                .collect(),
            waiting: job.waiting,
            sweep_id: job.sweep_id.map(|id| id.to_string()),
            sweep_index: job.sweep_index,
            gated: job.gated,
            scheduler_dependency: job.scheduler_dependency.clone(),
            waiting_on: None,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            next_attempt_at: job.next_attempt_at.map(rfc3339),
            clones: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobListDto {
    pub jobs: Vec<JobDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[schema(format = Uuid)]
    pub next_cursor: Option<String>,
}

/// A job's events: the exact envelopes that are published to Kafka.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventListDto {
    /// The envelopes, byte for byte as published (`JobEvent`: one of the
    /// event schemas of `schemas/`, by `event_type`).
    #[schema(schema_with = super::openapi::job_events)]
    pub events: Vec<Box<RawValue>>,
    /// Which of the job's two sequences each event's `sequence` counts in
    /// (`streams[i]` is `events[i]`'s): `lifecycle` (1, 2, 3, … over the
    /// job's lifecycle events) or `metrics` (its own 1, 2, 3, … over the
    /// samples). Each is gap-free on its own; read together they are not.
    #[schema(value_type = Vec<EventStreamDto>)]
    pub streams: Vec<String>,
    /// Pass as `after` for the next page; absent when this page holds the
    /// job's newest event.
    #[schema(format = Uuid)]
    pub next_after: Option<String>,
}

/// Which of a job's two sequences an event counts in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum EventStreamDto {
    Lifecycle,
    Metrics,
}

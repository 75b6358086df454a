//! The Tapis backend: jobs run through TACC's Tapis v3 Jobs API.
//!
//! Submit = `POST /v3/jobs/submit` with `name` = the Horizon job id, the
//! agent's `appId`/`appVersion`/`execSystemId`, its arguments as `appArgs`,
//! the job's identity, dataset and parameters as `envVariables`
//! (`HORIZON_JOB_ID`, `HORIZON_DATASET_ID`, `HORIZON_PARAMETERS` holding the
//! parameters' JSON) and its resources as `nodeCount`, `coresPerNode`,
//! `memoryMB`, `maxMinutes` (GPUs as a scheduler option). Poll =
//! `GET /v3/jobs/{uuid}` per active job, a few at a time. Cancel =
//! `POST /v3/jobs/{uuid}/cancel`. Logs = the job's `horizon-stdout.log` /
//! `horizon-stderr.log` outputs (named through `logConfig`).
//!
//! Never twice: a marker is written durably before the submit call (as for
//! Slurm); a job with a marker is searched for by name
//! (`GET /v3/jobs/search?name.eq=<job id>`) before any new submission, so a
//! crash, a timeout or a 5xx after Tapis accepted the job does not make a
//! second one.
//!
//! As a Tapis service, each call acts for the job's user (its `account`):
//! the markers and the cancels to retry keep that user beside the Tapis
//! uuid (`<uuid or -> <user>`), so a job is found and cancelled as its
//! owner even after a restart.

mod client;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use async_trait::async_trait;
use horizon_core::{BackendKind, Job, Resources};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{debug, warn};
use uuid::Uuid;

pub use client::{TapisClient, TapisCredentials, TapisService};
use state::{Noted, TapisJob};

use crate::handover::Handover;

use crate::{Accepted, Backend, BackendError, LogChunk, LogRange, LogStream, Observation, Update};

/// One agent as a Tapis application.
#[derive(Debug, Clone)]
pub struct TapisAgent {
    pub app_id: String,
    pub app_version: String,
    /// Absent: the application's own.
    pub exec_system_id: Option<String>,
    /// `appArgs`, in order.
    pub args: Vec<String>,
    /// `envVariables` besides Horizon's own.
    pub env: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct TapisConfig {
    pub client: TapisClient,
    /// Markers (see the module documentation).
    pub state_dir: PathBuf,
    pub agents: HashMap<String, TapisAgent>,
    /// Jobs polled at once.
    pub concurrency: usize,
}

const STDOUT: &str = "horizon-stdout.log";
const STDERR: &str = "horizon-stderr.log";

#[derive(Debug)]
pub struct TapisBackend {
    config: TapisConfig,
    /// Markers of jobs handed to Tapis, noted states, cancels to retry.
    handover: Handover,
}

impl TapisBackend {
    pub fn new(config: TapisConfig) -> Result<Self, BackendError> {
        Ok(TapisBackend {
            handover: Handover::open(config.state_dir.clone())?,
            config,
        })
    }

    fn client(&self) -> &TapisClient {
        &self.config.client
    }

    /// The submission body.
    fn request(&self, job: &Job, agent: &TapisAgent) -> Result<Value, BackendError> {
        let parameters = serde_json::to_string(&job.parameters)
            .map_err(|err| BackendError::Rejected(format!("parameters: {err}")))?;
        let mut env: Vec<Value> = agent
            .env
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        env.extend([
            json!({"key": "HORIZON_JOB_ID", "value": job.id.to_string()}),
            json!({"key": "HORIZON_ATTEMPT", "value": job.attempt.to_string()}),
            json!({"key": "HORIZON_DATASET_ID", "value": job.dataset_id}),
            json!({"key": "HORIZON_PARAMETERS", "value": parameters}),
        ]);
        let mut scheduler: Vec<Value> = Vec::new();
        if let Some(gpus) = job.resources.gpus
            && gpus > 0
        {
            scheduler.push(json!({"arg": format!("--gpus={gpus}")}));
        }
        let mut body = json!({
            "name": job.id.to_string(),
            "appId": agent.app_id,
            "appVersion": agent.app_version,
            "description": format!("Horizon job {} (agent {}, dataset {})", job.id, job.agent, job.dataset_id),
            "tags": ["horizon"],
            "parameterSet": {
                "appArgs": agent.args.iter().map(|a| json!({"arg": a})).collect::<Vec<_>>(),
                "envVariables": env,
                "schedulerOptions": scheduler,
                "logConfig": {"stdoutFilename": STDOUT, "stderrFilename": STDERR},
            },
        });
        if let Some(system) = &agent.exec_system_id {
            body["execSystemId"] = json!(system);
        }
        let r = &job.resources;
        for (key, value) in [
            ("nodeCount", r.nodes.map(u64::from)),
            ("coresPerNode", r.cores_per_node.map(u64::from)),
            ("memoryMB", r.memory_mb),
            ("maxMinutes", r.walltime_minutes.map(u64::from)),
        ] {
            if let Some(value) = value {
                body[key] = json!(value);
            }
        }
        Ok(body)
    }

    /// The Tapis job named after this Horizon job, if Tapis has one.
    async fn find_by_name(
        &self,
        id: &Uuid,
        user: Option<&str>,
    ) -> Result<Option<String>, BackendError> {
        let reply = self
            .client()
            .call(
                Method::GET,
                &format!("/v3/jobs/search?name.eq={id}&listType=MY_JOBS&limit=10"),
                None,
                true,
                user,
            )
            .await?;
        if !reply.status.is_success() {
            return Err(BackendError::Unavailable(format!(
                "Tapis search: {} {}",
                reply.status,
                reply.message()
            )));
        }
        let name = id.to_string();
        Ok(reply
            .result()
            .as_array()
            .into_iter()
            .flatten()
            .filter(|j| j["name"].as_str() == Some(name.as_str()))
            .find_map(|j| j["uuid"].as_str().map(str::to_owned)))
    }

    async fn get(&self, uuid: &str, user: Option<&str>) -> Result<Option<TapisJob>, BackendError> {
        let reply = self
            .client()
            .call(Method::GET, &format!("/v3/jobs/{uuid}"), None, true, user)
            .await?;
        if !reply.status.is_success() {
            return Err(BackendError::Unavailable(format!(
                "Tapis job {uuid}: {} {}",
                reply.status,
                reply.message()
            )));
        }
        Ok(TapisJob::from_json(reply.result()))
    }

    async fn tapis_cancel(&self, uuid: &str, user: Option<&str>) -> Result<(), BackendError> {
        let reply = self
            .client()
            .call(
                Method::POST,
                &format!("/v3/jobs/{uuid}/cancel"),
                None,
                true,
                user,
            )
            .await?;
        // 409: it is terminal already
        if reply.status.is_success() || reply.status == StatusCode::CONFLICT {
            Ok(())
        } else {
            Err(BackendError::Unavailable(format!(
                "Tapis cancel {uuid}: {} {}",
                reply.status,
                reply.message()
            )))
        }
    }

    async fn retry_cancels(&self) {
        for recorded in self.handover.pending_cancels() {
            let (uuid, user) = parse_recorded(&recorded);
            if let Some(uuid) = uuid
                && self.tapis_cancel(uuid, user).await.is_ok()
            {
                self.handover.cancel_done(&recorded);
            }
        }
    }
}

/// The part of a streamed log a `LogRange` asks for, kept as it goes by:
/// at most the range's length is held, whatever the log's size.
struct LogWindow {
    range: LogRange,
    /// Bytes seen so far.
    seen: u64,
    kept: std::collections::VecDeque<u8>,
}

impl LogWindow {
    fn new(range: LogRange) -> Self {
        LogWindow {
            range,
            seen: 0,
            kept: std::collections::VecDeque::new(),
        }
    }

    fn take(&mut self, chunk: &[u8]) {
        let at = self.seen;
        self.seen += chunk.len() as u64;
        match self.range {
            LogRange::Tail(n) => {
                self.kept.extend(chunk);
                let over = self
                    .kept
                    .len()
                    .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
                self.kept.drain(..over);
            }
            LogRange::From { offset, max } => {
                let end = offset.saturating_add(max);
                let from = offset.max(at);
                let to = end.min(self.seen);
                if from < to {
                    let (a, b) = ((from - at) as usize, (to - at) as usize);
                    self.kept.extend(&chunk[a..b]);
                }
            }
        }
    }

    fn finish(self, size: u64) -> LogChunk {
        let start = match self.range {
            LogRange::Tail(n) => size.saturating_sub(n),
            LogRange::From { offset, .. } => offset.min(size),
        };
        LogChunk {
            start,
            bytes: self.kept.into(),
            size,
        }
    }
}

/// What a marker (or a cancel to retry) records: the Tapis uuid when known
/// (`-` before), then the user acted for, if any.
fn recorded(uuid: Option<&str>, user: Option<&str>) -> String {
    match user {
        Some(user) => format!("{} {user}", uuid.unwrap_or("-")),
        None => uuid.unwrap_or_default().to_owned(),
    }
}

/// `recorded`'s parts (a marker from before users were kept holds the uuid alone).
fn parse_recorded(text: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = text.split_whitespace();
    let uuid = parts.next().filter(|uuid| *uuid != "-");
    (uuid, parts.next())
}

#[async_trait]
impl Backend for TapisBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Tapis
    }

    fn marks_each_submission(&self) -> bool {
        true
    }

    async fn submit(&self, job: &Job) -> Result<Accepted, BackendError> {
        let agent = self.config.agents.get(&job.agent).ok_or_else(|| {
            BackendError::Rejected(format!("no Tapis agent named {:?}", job.agent))
        })?;
        let user = job.account.as_deref();
        if (job.handed_over || self.handover.handed_over(&job.id))
            && let Some(uuid) = self.find_by_name(&job.id, user).await?
        {
            debug!(job.id = %job.id, "job {} is already Tapis job {uuid}", job.id);
            return Ok(Accepted {
                remote_job_id: Some(uuid),
                location: None,
            });
        }
        let body = self.request(job, agent)?;
        self.handover.begin_noting(&job.id, &recorded(None, user))?;
        let reply = self
            .client()
            .call(Method::POST, "/v3/jobs/submit", Some(&body), false, user)
            .await?;
        crate::crash_after_submit_for_tests("HORIZON_TEST_CRASH_AFTER_TAPIS_SUBMIT");
        if matches!(reply.status.as_u16(), 408 | 429) {
            // a timeout or a rate limit says nothing of whether the job was
            // made: wait (the dispatcher's backoff), then look it up by name
            // before submitting again (the job is marked handed over)
            return Err(BackendError::Unavailable(format!(
                "Tapis submit: {} {}",
                reply.status,
                reply.message()
            )));
        }
        if reply.status.is_client_error() {
            return Err(BackendError::SchedulerRejected(reply.message()));
        }
        if !reply.status.is_success() {
            return Err(BackendError::Unavailable(format!(
                "Tapis submit: {} {}",
                reply.status,
                reply.message()
            )));
        }
        let uuid = reply.result()["uuid"]
            .as_str()
            .ok_or_else(|| BackendError::Unavailable("Tapis submit reply without uuid".to_owned()))?
            .to_owned();
        self.handover
            .accepted(&job.id, &recorded(Some(&uuid), user));
        Ok(Accepted {
            remote_job_id: Some(uuid),
            location: None,
        })
    }

    async fn poll(&self, jobs: &[Job]) -> Result<Vec<Observation>, BackendError> {
        self.retry_cancels().await;
        let active: Vec<&Job> = jobs.iter().filter(|j| j.remote_job_id.is_some()).collect();
        let asked = active.len();
        let mut fetched = Vec::with_capacity(active.len());
        // a few requests at a time: Tapis has no batched status call
        for chunk in active.chunks(self.config.concurrency.max(1)) {
            let answers = futures_util::future::join_all(chunk.iter().map(|job| {
                self.get(
                    job.remote_job_id.as_deref().unwrap_or_default(),
                    job.account.as_deref(),
                )
            }))
            .await;
            fetched.extend(chunk.iter().copied().zip(answers));
        }
        let now = OffsetDateTime::now_utc();
        let mut observations = Vec::new();
        let mut failures = 0;
        for (job, fetched) in fetched {
            let tapis = match fetched {
                Ok(Some(tapis)) => tapis,
                Ok(None) => continue,
                Err(err) => {
                    // one job's trouble is that job's: the others go on
                    warn!(job.id = %job.id, "cannot read Tapis job of {}: {err}", job.id);
                    failures += 1;
                    continue;
                }
            };
            let noted = Noted::parse(&self.handover.noted(&job.id));
            let (updates, now_noted) = state::decide(job.status, noted, &tapis, now);
            let ended = updates
                .iter()
                .any(|u| matches!(u, Update::Succeeded { .. } | Update::Failed { .. }));
            if ended {
                self.handover.forget(&job.id);
            } else if now_noted != noted {
                self.handover.set_noted(&job.id, now_noted.as_str());
            }
            observations.extend(updates.into_iter().map(|update| Observation {
                job_id: job.id,
                update,
            }));
        }
        if failures > 0 && failures == asked {
            return Err(BackendError::Unavailable(format!(
                "Tapis answered none of {failures} status requests"
            )));
        }
        Ok(observations)
    }

    async fn logs(
        &self,
        job: &Job,
        stream: LogStream,
        range: LogRange,
    ) -> Result<LogChunk, BackendError> {
        let Some(uuid) = &job.remote_job_id else {
            return Ok(LogChunk::default());
        };
        let name = match stream {
            LogStream::Stdout => STDOUT,
            LogStream::Stderr => STDERR,
        };
        // only the asked-for part is kept as the file streams by
        let mut window = LogWindow::new(range);
        let size = self
            .client()
            .download(
                &format!(
                    "/v3/jobs/{uuid}/output/download/{name}?compress=false&allowIfRunning=true"
                ),
                job.account.as_deref(),
                &mut |chunk| window.take(chunk),
            )
            .await?
            .unwrap_or(0);
        Ok(window.finish(size))
    }

    fn check_resources(&self, _resources: &Resources) -> Result<(), String> {
        Ok(())
    }

    fn queued_hold(&self) -> crate::QueuedHold {
        crate::QueuedHold::Unsupported
    }

    async fn cancel(&self, job: &Job) -> Result<(), BackendError> {
        let user = job.account.as_deref();
        let uuid = match &job.remote_job_id {
            Some(uuid) => uuid.clone(),
            None => {
                if !(job.handed_over || self.handover.handed_over(&job.id)) {
                    return Ok(());
                }
                match self.find_by_name(&job.id, user).await? {
                    Some(uuid) => uuid,
                    None => {
                        self.handover.forget(&job.id);
                        return Ok(());
                    }
                }
            }
        };
        match self.tapis_cancel(&uuid, user).await {
            Ok(()) => {
                self.handover.forget(&job.id);
                Ok(())
            }
            Err(err) => {
                self.handover.cancel_failed(recorded(Some(&uuid), user));
                Err(err)
            }
        }
    }

    async fn stop_strays(&self, active: &[Uuid]) -> Result<usize, BackendError> {
        let active: HashSet<Uuid> = active.iter().copied().collect();
        let mut stopped = 0;
        for (id, noted) in self.handover.strays(&active)? {
            let (uuid, user) = parse_recorded(noted.as_deref().unwrap_or_default());
            let uuid = match uuid {
                Some(uuid) => Some(uuid.to_owned()),
                None => self.find_by_name(&id, user).await?,
            };
            if let Some(uuid) = uuid {
                self.tapis_cancel(&uuid, user).await?;
                warn!(job.id = %id, "job {id} has ended but Tapis job {uuid} was still there: cancelled it");
                stopped += 1;
            }
            self.handover.forget(&id);
        }
        Ok(stopped)
    }
}

#[cfg(test)]
mod log_window_tests {
    use super::*;

    #[test]
    fn markers_keep_the_uuid_and_the_user() {
        for (uuid, user) in [
            (None, None),
            (Some("u-007"), None),
            (None, Some("alice")),
            (Some("u-007"), Some("alice")),
        ] {
            assert_eq!(parse_recorded(&recorded(uuid, user)), (uuid, user));
        }
    }

    fn streamed(range: LogRange, text: &[u8], chunk: usize) -> LogChunk {
        let mut window = LogWindow::new(range);
        for part in text.chunks(chunk) {
            window.take(part);
        }
        window.finish(text.len() as u64)
    }

    #[test]
    fn a_streamed_log_keeps_only_the_asked_part() {
        let text = b"0123456789abcdefghij";
        for chunk in [1, 3, 7, 50] {
            let tail = streamed(LogRange::Tail(5), text, chunk);
            assert_eq!(
                (tail.start, &tail.bytes[..], tail.size),
                (15, &b"fghij"[..], 20)
            );
            let from = streamed(LogRange::From { offset: 4, max: 6 }, text, chunk);
            assert_eq!((from.start, &from.bytes[..]), (4, &b"456789"[..]));
            let past = streamed(LogRange::From { offset: 30, max: 6 }, text, chunk);
            assert_eq!((past.start, past.bytes.len()), (20, 0));
        }
    }
}

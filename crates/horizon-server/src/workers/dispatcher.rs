//! The dispatcher: SUBMITTED → QUEUED (or FAILED).
//!
//! Transient backend failures (the scheduler cannot be reached) are retried
//! with capped exponential backoff for up to `give_up_after_ms` (an hour by
//! default: a routine scheduler restart fails nothing), or `max_attempts`
//! when set; then the job FAILs with `SUBMIT_FAILED`. A backend that
//! refuses the job outright FAILs it with `SUBMIT_REJECTED`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use horizon_backend::Backend;
use horizon_core::{Command, Job, JobError, JobStatus, error_codes};
use horizon_store::{Fence, Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{error, warn};
use uuid::Uuid;

use crate::config::DispatchSettings;
use crate::lifecycle;

const BATCH: u32 = 200;
/// With job arrays: claimed per page, and at most per pass.
const ARRAY_PAGE: u32 = 1000;
const ARRAY_BATCH: usize = 100_000;

type Recording<'a> = (
    &'a Job,
    Option<String>,
    tokio::task::JoinHandle<Result<horizon_store::Applied, StoreError>>,
);
const IDLE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Retry {
    attempts: u32,
    next_at: Instant,
    /// When the first attempt failed.
    since: Instant,
}

#[derive(Debug)]
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub backend: Arc<dyn Backend>,
    pub settings: DispatchSettings,
    /// Notified by the API when a job is submitted.
    pub wake: Arc<Notify>,
    /// Notified when a job was queued, so the watcher starts it at once.
    pub queued: Arc<Notify>,
    /// This process, for claiming jobs when several share the database.
    pub process: Uuid,
    /// Whether the backend answers (for `/readyz` and metrics).
    pub health: Arc<crate::backend_health::BackendHealth>,
}

impl Dispatcher {
    pub async fn run(self: Arc<Self>) {
        let mut retries: HashMap<Uuid, Retry> = HashMap::new();
        loop {
            let wait = match self.dispatch_due(&mut retries).await {
                Ok(wait) => wait,
                Err(err) => {
                    error!("dispatcher cannot read submitted jobs: {err}");
                    IDLE_WAIT
                }
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Hand every due SUBMITTED job to the backend, each recorded as soon
    /// as its submission returned (the store commits concurrent records
    /// together); returns how long to wait.
    ///
    /// Before any act, the jobs are marked "handing over" in the database
    /// (`Store::mark_handing_over`): a process that takes them over after a
    /// crash, whatever its data directory, finds the mark on the job and
    /// has the backend look them up by name instead of submitting again.
    /// Only the jobs the mark took (still SUBMITTED and this process's) go.
    async fn dispatch_due(
        &self,
        retries: &mut HashMap<Uuid, Retry>,
    ) -> Result<Duration, StoreError> {
        // held jobs wait for their release: read past them (page by page,
        // so that a batch of held jobs does not stop the ones behind it)
        // a backend that takes a sweep's jobs together (job arrays) gets
        // as many as there are in one pass, so that a sweep is one array
        let arrays = self.backend.submits_arrays();
        let (page_size, cap) = if arrays {
            (ARRAY_PAGE, ARRAY_BATCH)
        } else {
            (BATCH, BATCH as usize)
        };
        let mut jobs = Vec::new();
        let mut after = None;
        let more = loop {
            let page = self
                .store
                .claim_jobs(
                    self.process,
                    self.backend.kind(),
                    &[JobStatus::Submitted],
                    after,
                    page_size,
                )
                .await?;
            let full = page.len() == page_size as usize;
            after = page.last().map(|j| j.id);
            // (held, or waiting for dependencies: not yet)
            // (with arrays, pages go on past BATCH only while they hold
            // sweep jobs: a sweep is then one array, other jobs wait)
            let sweeping = arrays && page.iter().any(|j| j.sweep_id.is_some());
            jobs.extend(page.into_iter().filter(|j| !j.held && !j.waiting));
            if !full || jobs.len() >= cap || (jobs.len() >= BATCH as usize && !sweeping) {
                break full;
            }
        };
        // retried jobs whose next attempt is due go the same way (QUEUED,
        // marked, handed over, queued again)
        jobs.extend(
            self.store
                .due_attempts(self.process, self.backend.kind(), BATCH)
                .await?,
        );
        let now = Instant::now();
        let present: HashSet<Uuid> = jobs.iter().map(|j| j.id).collect();
        retries.retain(|id, _| present.contains(id));
        let mut wait = IDLE_WAIT;
        let mut due: Vec<&Job> = Vec::with_capacity(jobs.len());
        for job in &jobs {
            if let Some(retry) = retries.get(&job.id)
                && retry.next_at > now
            {
                wait = wait.min(retry.next_at - now);
                continue;
            }
            due.push(job);
        }
        // a scheduler's submission is marked right before it (a pause
        // between mark and act is then as short as it gets); a local start
        // is checked for the whole pass in one statement
        let each = self.backend.marks_each_submission();
        let mut marked: HashSet<Uuid> = HashSet::new();
        if !each {
            let ids: Vec<(Uuid, i64)> = due.iter().map(|j| (j.id, j.claim_epoch)).collect();
            marked = self
                .store
                .mark_handing_over(self.process, &ids)
                .await?
                .into_iter()
                .collect();
        }
        let mut recording = Vec::with_capacity(due.len());
        // a sweep's jobs together, as arrays
        let mut sweeps: Vec<(Uuid, Vec<&Job>)> = Vec::new();
        if arrays {
            let mut alone = Vec::with_capacity(due.len());
            for job in due {
                match job.sweep_id {
                    Some(sweep) => match sweeps.iter_mut().find(|(s, _)| *s == sweep) {
                        Some((_, members)) => members.push(job),
                        None => sweeps.push((sweep, vec![job])),
                    },
                    None => alone.push(job),
                }
            }
            due = alone;
        }
        for (sweep, members) in sweeps {
            let ids: Vec<(Uuid, i64)> = members.iter().map(|j| (j.id, j.claim_epoch)).collect();
            let marked: HashSet<Uuid> = match self.store.mark_handing_over(self.process, &ids).await
            {
                Ok(marked) => marked.into_iter().collect(),
                Err(err) => {
                    error!("cannot mark the jobs of sweep {sweep} as handed over: {err}");
                    wait = wait.min(IDLE_WAIT);
                    continue;
                }
            };
            let members: Vec<&Job> = members
                .into_iter()
                .filter(|j| marked.contains(&j.id))
                .collect();
            if members.is_empty() {
                continue;
            }
            let (limit, after) = match self.sweep_limit(sweep).await {
                Ok(found) => found,
                Err(err) => {
                    error!("cannot read sweep {sweep}: {err}");
                    wait = wait.min(IDLE_WAIT);
                    continue;
                }
            };
            let owned: Vec<Job> = members.iter().map(|j| (*j).clone()).collect();
            let outcomes = self.backend.submit_sweep(&owned, limit, &after).await;
            for (job, outcome) in members.into_iter().zip(outcomes) {
                match self.command_for(job, outcome, retries) {
                    Ok(command) => recording.push(self.record(job, command)),
                    Err(delay) => wait = wait.min(delay),
                }
            }
        }
        for job in due {
            if each {
                match self
                    .store
                    .mark_handing_over(self.process, &[(job.id, job.claim_epoch)])
                    .await
                {
                    Ok(ids) => marked.extend(ids),
                    Err(err) => {
                        error!("cannot mark job {} as handed over: {err}", job.id);
                        wait = wait.min(IDLE_WAIT);
                        break;
                    }
                }
            }
            if !marked.contains(&job.id) {
                // cancelled meanwhile, or no longer this process's
                continue;
            }
            pause_before_submit_for_tests(job).await;
            let outcome = self.backend.submit(job).await;
            match self.command_for(job, outcome, retries) {
                Ok(command) => recording.push(self.record(job, command)),
                Err(delay) => wait = wait.min(delay),
            }
        }
        let outcomes = join_all(recording.into_iter().map(|(job, remote, task)| async move {
            let outcome = match task.await {
                Ok(outcome) => outcome,
                Err(err) => Err(StoreError::Unavailable(format!(
                    "recording the dispatch failed: {err}"
                ))),
            };
            (job, remote, outcome)
        }))
        .await;
        let mut queued = false;
        for (job, remote, outcome) in outcomes {
            // what this process handed over, by its exact id
            let mine = Job {
                remote_job_id: remote.clone(),
                ..job.clone()
            };
            match outcome {
                Ok(applied) => queued |= applied.job.status == JobStatus::Queued,
                Err(StoreError::Transition(_)) => {
                    // cancelled while we were submitting: make sure it does not run
                    if let Err(err) = self.backend.cancel(&mine).await {
                        warn!(job.id = %job.id, "cannot stop cancelled job {}: {err}", job.id);
                    }
                }
                Err(StoreError::Fenced(_)) => self.lost_while_submitting(&mine).await,
                Err(err) => {
                    error!(job.id = %job.id, "cannot record dispatch of job {}: {err}", job.id)
                }
            }
        }
        if queued {
            self.queued.notify_one();
        }
        if more {
            wait = Duration::ZERO;
        }
        Ok(wait)
    }

    /// This process handed `job` over (as `job.remote_job_id`) after another
    /// process had claimed it (this one paused between its mark and its
    /// act). The job is the other process's: this one records nothing. If
    /// the other has recorded a different scheduler job for it, this one's
    /// is a duplicate nobody tracks: cancel it, by its exact id. Else leave
    /// it: the other may be finding it by name right now.
    async fn lost_while_submitting(&self, job: &Job) {
        let Some(mine) = &job.remote_job_id else {
            warn!(job.id = %job.id, "job {} was claimed by another process while this one handed it over: leaving it to that process", job.id);
            return;
        };
        match self.store.get_job(job.id).await {
            Ok(Some(current))
                if current
                    .remote_job_id
                    .as_ref()
                    .is_some_and(|theirs| theirs != mine) =>
            {
                warn!(job.id = %job.id, "job {} was claimed by another process while this one handed it over: its submission {mine} is a duplicate, cancelling it", job.id);
                if let Err(err) = self.backend.cancel(job).await {
                    warn!(job.id = %job.id, "cannot cancel duplicate submission {mine} of job {}: {err}", job.id);
                }
            }
            Ok(_) => {
                warn!(job.id = %job.id, "job {} was claimed by another process while this one handed it over (as {mine}): leaving it to that process", job.id);
            }
            Err(err) => warn!(job.id = %job.id, "cannot re-read job {}: {err}", job.id),
        }
    }

    /// A sweep's concurrency limit, and (with one) the scheduler ids of its
    /// jobs already handed over and not ended: new arrays of the sweep go
    /// after them, so that the limit holds for all its arrays together.
    async fn sweep_limit(&self, sweep: Uuid) -> Result<(Option<u32>, Vec<String>), StoreError> {
        let Some(limit) = self
            .store
            .get_sweep(sweep)
            .await?
            .and_then(|s| s.concurrency_limit)
        else {
            return Ok((None, Vec::new()));
        };
        let mut after: Vec<String> = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .store
                .list_jobs(horizon_store::ListJobsParams {
                    sweep_id: Some(sweep),
                    statuses: vec![JobStatus::Queued, JobStatus::Running],
                    before,
                    limit: 1000,
                    ..horizon_store::ListJobsParams::default()
                })
                .await?;
            for job in &page {
                if let Some(remote) = &job.remote_job_id {
                    let array = remote.split('_').next().unwrap_or(remote).to_owned();
                    if !after.contains(&array) {
                        after.push(array);
                    }
                }
            }
            before = page.last().map(|j| j.id);
            if page.len() < 1000 {
                return Ok((Some(limit), after));
            }
        }
    }

    /// Record, in the background, what became of a job's hand-over: the
    /// job, the scheduler's id, and the recording.
    fn record<'a>(&self, job: &'a Job, command: Command) -> Recording<'a> {
        let store = self.store.clone();
        let (id, fence) = (
            job.id,
            Fence {
                process: self.process,
                epoch: job.claim_epoch,
            },
        );
        let remote = match &command {
            Command::Queue { remote_job_id, .. } => remote_job_id.clone(),
            _ => None,
        };
        (
            job,
            remote,
            tokio::spawn(async move {
                lifecycle::apply(store.as_ref(), id, command, Some(fence)).await
            }),
        )
    }

    /// What a hand-over's outcome means: the command that records it, or
    /// the delay before the next try.
    fn command_for(
        &self,
        job: &Job,
        outcome: Result<horizon_backend::Accepted, horizon_backend::BackendError>,
        retries: &mut HashMap<Uuid, Retry>,
    ) -> Result<Command, Duration> {
        let now = OffsetDateTime::now_utc();
        let command = match outcome {
            Ok(accepted) => {
                self.health.answered(self.backend.kind());
                Command::Queue {
                    remote_job_id: accepted.remote_job_id,
                    location: accepted.location,
                    at: now,
                }
            }
            Err(err) if let Some(code) = err.rejection_code() => {
                self.health.answered(self.backend.kind());
                Command::Fail {
                    error: JobError::new(code, err.to_string()),
                    at: now,
                }
            }
            Err(err) => {
                self.health
                    .failed(self.backend.kind(), "submit", &err.to_string());
                let retry = retries.entry(job.id).or_insert(Retry {
                    attempts: 0,
                    next_at: Instant::now(),
                    since: Instant::now(),
                });
                retry.attempts += 1;
                let waited = retry.since.elapsed();
                let too_many =
                    self.settings.max_attempts > 0 && retry.attempts >= self.settings.max_attempts;
                if too_many || waited >= Duration::from_millis(self.settings.give_up_after_ms) {
                    Command::Fail {
                        error: JobError::new(
                            error_codes::SUBMIT_FAILED,
                            format!(
                                "gave up after {} attempts in {:.0?}: {err}",
                                retry.attempts, waited
                            ),
                        ),
                        at: now,
                    }
                } else {
                    let delay = backoff(&self.settings, retry.attempts);
                    retry.next_at = Instant::now() + delay;
                    warn!(job.id = %job.id, attempt = retry.attempts, "submitting job {} failed, retrying in {delay:?}: {err}", job.id);
                    return Err(delay);
                }
            }
        };
        retries.remove(&job.id);
        Ok(command)
    }
}

/// Test hook: `HORIZON_TEST_PAUSE_BEFORE_SUBMIT=FILE` writes the job's id
/// to FILE between its "handing over" mark and its submission, then waits a
/// second (for the test to freeze the process right there).
async fn pause_before_submit_for_tests(job: &Job) {
    if let Some(path) = std::env::var_os("HORIZON_TEST_PAUSE_BEFORE_SUBMIT") {
        let _ = std::fs::write(path, job.id.to_string());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Capped exponential backoff: initial × 2^(attempt-1), at most max.
pub fn backoff(settings: &DispatchSettings, attempt: u32) -> Duration {
    let factor = 2u64.saturating_pow(attempt.saturating_sub(1));
    Duration::from_millis(
        settings
            .initial_backoff_ms
            .saturating_mul(factor)
            .min(settings.max_backoff_ms),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = DispatchSettings {
            give_up_after_ms: 3_600_000,
            max_attempts: 9,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
        };
        let delays: Vec<u64> = (1..=6).map(|a| backoff(&s, a).as_millis() as u64).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    }
}

#[cfg(test)]
mod dispatch_tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;
    use horizon_backend::{Accepted, BackendError, Observation};
    use horizon_core::BackendKind;
    use horizon_store::{CreateJobParams, SqliteStore};
    use serde_json::Map;

    use super::*;

    /// A backend whose submissions fail the way a scheduler's can: a number of
    /// transient failures, then success — or a refusal.
    #[derive(Debug)]
    struct Flaky {
        transient_failures: u32,
        reject: bool,
        calls: AtomicU32,
        cancelled: Mutex<Vec<Uuid>>,
    }

    #[async_trait]
    impl Backend for Flaky {
        fn kind(&self) -> BackendKind {
            BackendKind::Local
        }
        async fn submit(&self, _job: &Job) -> Result<Accepted, BackendError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.reject {
                return Err(BackendError::Rejected("partition does not exist".into()));
            }
            if call <= self.transient_failures {
                return Err(BackendError::Unavailable(format!(
                    "scheduler busy (call {call})"
                )));
            }
            Ok(Accepted {
                remote_job_id: Some("4242".into()),
                location: None,
            })
        }
        async fn poll(&self, _jobs: &[Job]) -> Result<Vec<Observation>, BackendError> {
            Ok(Vec::new())
        }
        async fn logs(
            &self,
            _job: &Job,
            _stream: horizon_backend::LogStream,
            _range: horizon_backend::LogRange,
        ) -> Result<horizon_backend::LogChunk, BackendError> {
            Ok(Default::default())
        }
        async fn cancel(&self, job: &Job) -> Result<(), BackendError> {
            self.cancelled
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(job.id);
            Ok(())
        }
    }

    async fn run(transient_failures: u32, reject: bool) -> (Job, Vec<String>, u32) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.expect("store"));
        let job = store
            .create_job(CreateJobParams {
                id: Uuid::now_v7(),
                user_id: "alice".into(),
                agent: "AlphaCal".into(),
                dataset_id: "d".into(),
                parameters: Map::new(),
                backend: BackendKind::Local,
                resources: Default::default(),
                correlation_id: "c".into(),
                account: None,
                traceparent: None,
                cloned_from: None,
                retry: None,
                depends_on: Vec::new(),
                created_at: OffsetDateTime::now_utc(),
                idempotency: None,
                audit: None,
            })
            .await
            .expect("create")
            .job()
            .clone();
        let backend = Arc::new(Flaky {
            transient_failures,
            reject,
            calls: AtomicU32::new(0),
            cancelled: Mutex::new(Vec::new()),
        });
        let dispatcher = Dispatcher {
            process: Uuid::nil(),
            health: Default::default(),
            store: store.clone(),
            backend: backend.clone(),
            settings: DispatchSettings {
                give_up_after_ms: 3_600_000,
                max_attempts: 3,
                initial_backoff_ms: 10,
                max_backoff_ms: 40,
            },
            wake: Arc::new(Notify::new()),
            queued: Arc::new(Notify::new()),
        };
        let task = tokio::spawn(Arc::new(dispatcher).run());
        let deadline = Instant::now() + Duration::from_secs(10);
        let job = loop {
            let current = store.get_job(job.id).await.expect("get").expect("job");
            if current.status != JobStatus::Submitted || Instant::now() > deadline {
                break current;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        task.abort();
        let events = store
            .job_events(job.id, None, u32::MAX)
            .await
            .expect("events");
        let types = events.iter().map(|e| e.event_type.to_string()).collect();
        (job, types, backend.calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_backend_accepts() {
        let (job, events, calls) = run(2, false).await;
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.remote_job_id.as_deref(), Some("4242"));
        assert_eq!(calls, 3);
        assert_eq!(events, ["job.submitted", "job.queued"]);
    }

    #[tokio::test]
    async fn retries_run_out_with_submit_failed() {
        let (job, events, calls) = run(10, false).await;
        assert_eq!(job.status, JobStatus::Failed);
        let error = job.error.expect("error");
        assert_eq!(error.code, "SUBMIT_FAILED");
        assert!(
            error.message.contains("gave up after 3 attempts"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("scheduler busy"),
            "{}",
            error.message
        );
        assert_eq!(calls, 3);
        assert_eq!(events, ["job.submitted", "job.failed"]);
    }

    #[tokio::test]
    async fn a_refusal_fails_at_once_with_submit_rejected() {
        let (job, events, calls) = run(0, true).await;
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.expect("error").code, "SUBMIT_REJECTED");
        assert_eq!(calls, 1);
        assert_eq!(events, ["job.submitted", "job.failed"]);
    }
}

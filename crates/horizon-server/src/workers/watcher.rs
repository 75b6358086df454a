//! The watcher: asks a backend about its QUEUED and RUNNING jobs and records
//! what it says as transitions and metrics events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use horizon_backend::{Backend, Observation, Update};
use horizon_core::{Command, Job, JobStatus};
use horizon_store::{Fence, Store, StoreError};
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use crate::lifecycle;

/// Jobs read and polled at a time; a pass pages through every active job.
const PAGE: u32 = 1000;
/// RUNNING jobs named in the start-up report, at most.
const REPORT_AT_MOST: u32 = 200;
/// How often every QUEUED job is shown to the backend, whatever it asks for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Watcher {
    pub store: Arc<dyn Store>,
    pub backend: Arc<dyn Backend>,
    pub interval: Duration,
    /// Wakes the watcher before its interval is up.
    pub wake: Arc<Notify>,
    /// This process, for claiming jobs when several share the database.
    pub process: Uuid,
    /// Whether the backend answers (for `/readyz` and metrics).
    pub health: Arc<crate::backend_health::BackendHealth>,
}

/// Forward every notification of `sources` to one `Notify`.
pub fn merge_notifiers(sources: Vec<Arc<Notify>>) -> Arc<Notify> {
    let merged = Arc::new(Notify::new());
    for source in sources {
        let merged = merged.clone();
        tokio::spawn(async move {
            loop {
                source.notified().await;
                merged.notify_one();
            }
        });
    }
    merged
}

impl Watcher {
    pub async fn run(self: Arc<Self>) {
        self.stop_strays().await;
        let mut last_sweep: Option<tokio::time::Instant> = None;
        // what was running when this server started, to say after the first
        // pass which jobs it adopted and which had ended meanwhile
        let mut running_at_start = Some(self.running_ids(REPORT_AT_MOST).await);
        loop {
            let full_sweep = last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
            match self.tick(full_sweep).await {
                Ok(()) if full_sweep => {
                    last_sweep = Some(tokio::time::Instant::now());
                    if let Some(ids) = running_at_start.take() {
                        self.report_start(ids).await;
                    }
                }
                Ok(()) => {}
                Err(err) => {
                    error!(backend = %self.backend.kind(), "watcher pass failed: {err}")
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Up to `limit` ids of the RUNNING jobs of this backend that this
    /// process handles.
    async fn running_ids(&self, limit: u32) -> Vec<Uuid> {
        self.store
            .claim_jobs(
                self.process,
                self.backend.kind(),
                &[JobStatus::Running],
                None,
                limit,
            )
            .await
            .map(|jobs| jobs.iter().map(|j| j.id).collect())
            .unwrap_or_default()
    }

    /// Log which jobs that were RUNNING at start this server now follows
    /// (adopted) and which had ended while no server watched them.
    async fn report_start(&self, ids: Vec<Uuid>) {
        if ids.is_empty() {
            return;
        }
        let mut adopted = Vec::new();
        let mut ended = Vec::new();
        for id in ids {
            match self.store.get_job(id).await {
                Ok(Some(job)) if job.status.is_terminal() => {
                    ended.push(format!("{id} ({})", job.status))
                }
                Ok(Some(_)) => adopted.push(id.to_string()),
                _ => {}
            }
        }
        info!(
            backend = %self.backend.kind(),
            "after start: {} running job(s) adopted [{}]; {} had ended while no server watched [{}]",
            adopted.len(),
            adopted.join(", "),
            ended.len(),
            ended.join(", ")
        );
    }

    /// Stop programs still running for jobs that already ended (cancelled
    /// just before a crash). SUBMITTED jobs count as active: one may be in
    /// the backend already (handed over just before a crash, not yet
    /// recorded as QUEUED), and the dispatcher will find it there.
    async fn stop_strays(&self) {
        // every active status in one query per page: a job the dispatcher
        // moves from SUBMITTED to QUEUED meanwhile is not missed between two
        // reads (and then taken for a stray)
        let active = [JobStatus::Running, JobStatus::Queued, JobStatus::Submitted];
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            match self
                .store
                .jobs_in_status(self.backend.kind(), &active, after, PAGE)
                .await
            {
                Ok(jobs) => {
                    // (as the backend knows them: each attempt by its own id)
                    ids.extend(jobs.iter().map(|j| j.run_id()));
                    match jobs.last() {
                        Some(last) if jobs.len() == PAGE as usize => after = Some(last.id),
                        _ => break,
                    }
                }
                Err(err) => {
                    warn!("cannot look for stray programs: {err}");
                    return;
                }
            }
        }
        match self.backend.stop_strays(&ids).await {
            Ok(0) => {}
            Ok(n) => {
                warn!(backend = %self.backend.kind(), "stopped {n} programs of jobs that had already ended")
            }
            Err(err) => warn!("cannot look for stray programs: {err}"),
        }
    }

    /// One pass: every RUNNING job, then the QUEUED ones (so the backend
    /// knows which slots are taken before it starts anything), a page at a
    /// time, oldest first. No RUNNING job is left out, however many are
    /// active. QUEUED jobs: all of them on a full sweep (the first pass, then
    /// every `SWEEP_EVERY`) or when the backend needs to see each; otherwise
    /// only as many of the oldest as the backend asks for, so a pass costs
    /// what runs, not how long the queue is.
    async fn tick(&self, full_sweep: bool) -> Result<(), String> {
        let started = std::time::Instant::now();
        self.sweep(JobStatus::Running, None).await?;
        let running = started.elapsed();
        let limit = if full_sweep {
            None
        } else {
            self.backend.queued_poll_limit()
        };
        self.sweep(JobStatus::Queued, limit).await?;
        debug!(
            backend = %self.backend.kind(),
            "watcher pass: running {running:?}, queued {:?} (limit {limit:?})",
            started.elapsed() - running
        );
        Ok(())
    }

    async fn sweep(&self, status: JobStatus, limit: Option<usize>) -> Result<(), String> {
        let mut after = None;
        let mut left = limit;
        loop {
            let page_size = left.map_or(PAGE, |n| PAGE.min(u32::try_from(n).unwrap_or(PAGE)));
            if page_size == 0 {
                return Ok(());
            }
            let jobs = self
                .store
                .claim_jobs(
                    self.process,
                    self.backend.kind(),
                    &[status],
                    after,
                    page_size,
                )
                .await
                .map_err(|e| e.to_string())?;
            // a backend that starts queued jobs when shown them must not be
            // shown held ones; a job waiting for its next attempt is not at
            // its backend at all (the dispatcher hands it over when due)
            let keeps_back = status == JobStatus::Queued
                && self.backend.queued_hold() == horizon_backend::QueuedHold::InHorizon;
            let hidden = |j: &Job| j.awaiting_attempt() || (keeps_back && j.held);
            let shown: std::borrow::Cow<'_, [Job]> = if jobs.iter().any(hidden) {
                jobs.iter().filter(|j| !hidden(j)).cloned().collect()
            } else {
                std::borrow::Cow::Borrowed(&jobs)
            };
            let ended = self.poll_page(&shown).await?;
            // jobs that ended here (failed to start) took no slot: as many
            // more of the oldest may go now
            left = left.map(|n| n.saturating_sub(shown.len()) + ended);
            match jobs.last() {
                Some(last) if jobs.len() == page_size as usize => after = Some(last.id),
                _ => return Ok(()),
            }
        }
    }

    /// Poll one page and record what the backend saw; returns how many of
    /// its jobs ended.
    async fn poll_page(&self, jobs: &[Job]) -> Result<usize, String> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let observations = match self.backend.poll(jobs).await {
            Ok(observations) => {
                self.health.answered(self.backend.kind());
                observations
            }
            Err(err) => {
                self.health
                    .failed(self.backend.kind(), "poll", &err.to_string());
                return Err(err.to_string());
            }
        };
        let ended = observations
            .iter()
            .filter(|o| matches!(o.update, Update::Succeeded { .. } | Update::Failed { .. }))
            .count();
        // one job's observations in order; different jobs at once, so the
        // store commits them together
        let mut per_job: HashMap<Uuid, Vec<Observation>> = HashMap::new();
        for observation in observations {
            per_job
                .entry(observation.job_id)
                .or_default()
                .push(observation);
        }
        let by_id: HashMap<Uuid, &Job> = jobs.iter().map(|j| (j.id, j)).collect();
        join_all(per_job.into_iter().filter_map(|(id, observations)| {
            let job = *by_id.get(&id)?;
            Some(async move {
                for observation in observations {
                    if let Err(err) = self.record(job, observation).await {
                        error!(job.id = %job.id, "cannot record what happened to job {}: {err}", job.id);
                        break;
                    }
                }
            })
        }))
        .await;
        Ok(ended)
    }

    /// This process's claim on `job`, carried by every write it makes for it.
    fn fence(&self, job: &Job) -> Option<Fence> {
        Some(Fence {
            process: self.process,
            epoch: job.claim_epoch,
        })
    }

    async fn record(&self, job: &Job, observation: Observation) -> Result<(), StoreError> {
        let store = self.store.as_ref();
        let result = match observation.update {
            Update::Metrics(sample) => store.record_metrics(job.id, sample).await.map(|_| ()),
            Update::Note { reason, at } => {
                lifecycle::apply(store, job.id, Command::Note { reason, at }, self.fence(job))
                    .await
                    .map(|_| ())
            }
            Update::Running {
                remote_job_id,
                started_at,
            } => {
                let applied = lifecycle::apply(
                    store,
                    job.id,
                    Command::Start {
                        remote_job_id,
                        at: started_at,
                    },
                    self.fence(job),
                )
                .await;
                if let Err(StoreError::Transition(_)) = &applied {
                    // it ended (was cancelled) while the backend started it
                    self.stop_if_ended(job).await;
                }
                applied.map(|_| ())
            }
            Update::Succeeded {
                started_at,
                finished_at,
                exit_code,
            } => {
                let command = Command::Complete {
                    exit_code,
                    at: finished_at,
                };
                self.finish(job, Some(started_at), command).await
            }
            Update::Failed {
                started_at,
                finished_at,
                error,
            } => {
                // another attempt when its retry policy says so
                let jitter = rand::random::<f64>() * 2.0 - 1.0;
                let command = horizon_core::retry::after_failure(job, error, finished_at, jitter);
                if let Command::Retry {
                    error,
                    next_attempt_at,
                    ..
                } = &command
                {
                    info!(job.id = %job.id, attempt = job.attempt, "job {} attempt {} failed ({}: {}); attempt {} at {next_attempt_at}", job.id, job.attempt, error.code, error.message, job.attempt + 1);
                }
                self.finish(job, started_at, command).await
            }
        };
        match result {
            Err(StoreError::Fenced(_)) => {
                warn!(job.id = %job.id, "job {} was claimed by another process (this one was silent too long): recording nothing for it, acting on nothing", job.id);
                Ok(())
            }
            Err(err @ (StoreError::Transition(_) | StoreError::Ended(_))) => {
                debug!(job.id = %job.id, "ignoring stale observation of job {}: {err}", job.id);
                Ok(())
            }
            other => other,
        }
    }

    /// Record how a job ended. A job whose program ran while the server was
    /// away is still QUEUED: record that it ran first.
    async fn finish(
        &self,
        job: &Job,
        started_at: Option<time::OffsetDateTime>,
        command: Command,
    ) -> Result<(), StoreError> {
        let store = self.store.as_ref();
        if let (JobStatus::Queued, Some(at)) = (job.status, started_at) {
            let start = Command::Start {
                remote_job_id: None,
                at,
            };
            lifecycle::apply(store, job.id, start, self.fence(job)).await?;
        }
        lifecycle::apply(store, job.id, command, self.fence(job))
            .await
            .map(|_| ())
    }

    async fn stop_if_ended(&self, job: &Job) {
        match self.store.get_job(job.id).await {
            Ok(Some(current)) if current.status.is_terminal() => {
                if let Err(err) = self.backend.cancel(&current).await {
                    warn!(job.id = %job.id, "cannot stop job {} that already ended: {err}", job.id);
                }
            }
            Ok(_) => {}
            Err(err) => warn!(job.id = %job.id, "cannot re-read job {}: {err}", job.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use horizon_backend::{Accepted, BackendError};
    use horizon_core::BackendKind;
    use horizon_store::{CreateJobParams, SqliteStore};
    use time::OffsetDateTime;

    use super::*;

    /// A backend that only records which jobs it was shown.
    #[derive(Debug, Default)]
    struct Recorder {
        seen: Mutex<Vec<Uuid>>,
        limit: Option<usize>,
    }

    #[async_trait]
    impl Backend for Recorder {
        fn kind(&self) -> BackendKind {
            BackendKind::Local
        }
        async fn submit(&self, _job: &Job) -> Result<Accepted, BackendError> {
            Ok(Accepted {
                remote_job_id: None,
                location: None,
            })
        }
        fn queued_poll_limit(&self) -> Option<usize> {
            self.limit
        }
        async fn poll(&self, jobs: &[Job]) -> Result<Vec<Observation>, BackendError> {
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(jobs.iter().map(|j| j.id));
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
        async fn cancel(&self, _job: &Job) -> Result<(), BackendError> {
            Ok(())
        }
    }

    async fn store_with_active_jobs(n: usize) -> (Arc<dyn Store>, Vec<Uuid>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.expect("store"));
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let now = OffsetDateTime::now_utc();
        let tasks: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (store, id) = (store.clone(), *id);
                tokio::spawn(async move {
                    store
                        .create_job(CreateJobParams {
                            id,
                            user_id: "alice".into(),
                            agent: "a".into(),
                            dataset_id: "d".into(),
                            parameters: serde_json::Map::new(),
                            backend: BackendKind::Local,
                            resources: Default::default(),
                            correlation_id: "c".into(),
                            account: None,
                            traceparent: None,
                            cloned_from: None,
                            retry: None,
                            depends_on: Vec::new(),
                            created_at: now,
                            idempotency: None,
                            audit: None,
                        })
                        .await
                        .expect("create");
                    let queue = Command::Queue {
                        remote_job_id: None,
                        location: None,
                        at: now,
                    };
                    store.apply(id, queue).await.expect("queue");
                    if i % 2 == 0 {
                        let start = Command::Start {
                            remote_job_id: Some(i.to_string()),
                            at: now,
                        };
                        store.apply(id, start).await.expect("start");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        (store, ids, dir)
    }

    fn watcher(store: Arc<dyn Store>, backend: Arc<Recorder>) -> Watcher {
        Watcher {
            process: Uuid::nil(),
            health: Default::default(),
            store,
            backend,
            interval: Duration::from_secs(60),
            wake: Arc::new(Notify::new()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pass_shows_the_backend_every_one_of_12000_active_jobs() {
        let (store, ids, _dir) = store_with_active_jobs(12_000).await;
        let backend = Arc::new(Recorder::default());
        watcher(store, backend.clone())
            .tick(false)
            .await
            .expect("pass");
        let seen = backend
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assert_eq!(seen.len(), 12_000, "each job shown once");
        let seen: HashSet<Uuid> = seen.into_iter().collect();
        assert!(
            ids.iter().all(|id| seen.contains(id)),
            "a job was never polled"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backend_that_needs_few_queued_jobs_is_shown_only_those() {
        let (store, _ids, _dir) = store_with_active_jobs(3_000).await;
        let backend = Arc::new(Recorder {
            limit: Some(5),
            ..Recorder::default()
        });
        let w = watcher(store, backend.clone());
        w.tick(false).await.expect("pass");
        // every RUNNING job, and only the 5 oldest QUEUED ones
        assert_eq!(
            backend.seen.lock().unwrap_or_else(|e| e.into_inner()).len(),
            1_505
        );
        backend
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        w.tick(true).await.expect("full sweep");
        assert_eq!(
            backend.seen.lock().unwrap_or_else(|e| e.into_inner()).len(),
            3_000
        );
    }
}

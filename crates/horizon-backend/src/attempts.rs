//! Each attempt of a job is a job of its own to its backend: `Attempts`
//! wraps a backend and shows it every job as its current attempt, whose id
//! is `Job::run_id` (the job's own id for the first attempt). A retried
//! job's next attempt thus gets its own scheduler job name, directory and
//! hand-over marker, and the backends' guarantees against running a job
//! twice hold per attempt: the first attempt's records never make the
//! second look like it ran, and a crash while handing the second over
//! finds it by its own name. What the backend reports is mapped back to
//! the job's id.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use horizon_core::{BackendKind, Job, Resources};
use uuid::Uuid;

use crate::{
    Accepted, Backend, BackendError, LogChunk, LogRange, LogStream, Observation, QueuedHold,
};

/// A backend that sees each attempt as a job of its own.
#[derive(Debug)]
pub struct Attempts(pub Arc<dyn Backend>);

/// The job as its backend knows its current attempt.
pub fn attempt_view(job: &Job) -> Cow<'_, Job> {
    if job.attempt <= 1 {
        Cow::Borrowed(job)
    } else {
        Cow::Owned(Job {
            id: job.run_id(),
            ..job.clone()
        })
    }
}

#[async_trait]
impl Backend for Attempts {
    fn kind(&self) -> BackendKind {
        self.0.kind()
    }

    fn marks_each_submission(&self) -> bool {
        self.0.marks_each_submission()
    }

    async fn submit(&self, job: &Job) -> Result<Accepted, BackendError> {
        self.0.submit(&attempt_view(job)).await
    }

    fn submits_arrays(&self) -> bool {
        self.0.submits_arrays()
    }

    async fn submit_sweep(
        &self,
        jobs: &[Job],
        limit: Option<u32>,
        after: &[String],
    ) -> Vec<Result<Accepted, BackendError>> {
        let views: Vec<Job> = jobs.iter().map(|j| attempt_view(j).into_owned()).collect();
        self.0.submit_sweep(&views, limit, after).await
    }

    async fn cancel_many(&self, jobs: &[Job]) -> Result<(), BackendError> {
        let views: Vec<Job> = jobs.iter().map(|j| attempt_view(j).into_owned()).collect();
        self.0.cancel_many(&views).await
    }

    async fn poll(&self, jobs: &[Job]) -> Result<Vec<Observation>, BackendError> {
        if jobs.iter().all(|j| j.attempt <= 1) {
            return self.0.poll(jobs).await;
        }
        let mut ids: HashMap<Uuid, Uuid> = HashMap::new();
        let views: Vec<Job> = jobs
            .iter()
            .map(|job| {
                let view = attempt_view(job).into_owned();
                ids.insert(view.id, job.id);
                view
            })
            .collect();
        let mut observations = self.0.poll(&views).await?;
        for observation in &mut observations {
            if let Some(id) = ids.get(&observation.job_id) {
                observation.job_id = *id;
            }
        }
        Ok(observations)
    }

    fn queued_poll_limit(&self) -> Option<usize> {
        self.0.queued_poll_limit()
    }

    fn resource_limits(&self) -> Resources {
        self.0.resource_limits()
    }

    fn check_resources(&self, resources: &Resources) -> Result<(), String> {
        self.0.check_resources(resources)
    }

    async fn logs(
        &self,
        job: &Job,
        stream: LogStream,
        range: LogRange,
    ) -> Result<LogChunk, BackendError> {
        self.0.logs(&attempt_view(job), stream, range).await
    }

    async fn cancel(&self, job: &Job) -> Result<(), BackendError> {
        self.0.cancel(&attempt_view(job)).await
    }

    fn queued_hold(&self) -> QueuedHold {
        self.0.queued_hold()
    }

    async fn hold(&self, job: &Job) -> Result<(), BackendError> {
        self.0.hold(&attempt_view(job)).await
    }

    async fn release(&self, job: &Job) -> Result<(), BackendError> {
        self.0.release(&attempt_view(job)).await
    }

    /// `active`: the run ids of the active jobs (`Job::run_id`).
    async fn stop_strays(&self, active: &[Uuid]) -> Result<usize, BackendError> {
        self.0.stop_strays(active).await
    }
}

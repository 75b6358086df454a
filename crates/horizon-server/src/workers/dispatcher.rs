//! The dispatcher: SUBMITTED → QUEUED (or FAILED).
//!
//! Transient backend failures are retried with capped exponential backoff;
//! after `max_attempts` the job FAILs with `SUBMIT_FAILED`. A backend that
//! refuses the job outright FAILs it with `SUBMIT_REJECTED`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use horizon_backend::Backend;
use horizon_core::{Command, Job, JobError, JobStatus, error_codes};
use horizon_store::{Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{error, warn};
use uuid::Uuid;

use crate::config::DispatchSettings;
use crate::lifecycle;

const BATCH: u32 = 200;
const IDLE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Retry {
    attempts: u32,
    next_at: Instant,
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
}

impl Dispatcher {
    pub async fn run(self) {
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

    /// Hand every due SUBMITTED job to the backend; returns how long to wait.
    async fn dispatch_due(
        &self,
        retries: &mut HashMap<Uuid, Retry>,
    ) -> Result<Duration, StoreError> {
        let jobs = self
            .store
            .jobs_in_status(self.backend.kind(), &[JobStatus::Submitted], BATCH)
            .await?;
        let now = Instant::now();
        retries.retain(|id, _| jobs.iter().any(|j| j.id == *id));
        let mut wait = IDLE_WAIT;
        for job in &jobs {
            if let Some(retry) = retries.get(&job.id)
                && retry.next_at > now
            {
                wait = wait.min(retry.next_at - now);
                continue;
            }
            if let Some(delay) = self.dispatch(job, retries).await {
                wait = wait.min(delay);
            }
        }
        if jobs.len() == BATCH as usize {
            wait = Duration::ZERO;
        }
        Ok(wait)
    }

    /// Returns the delay before the next attempt when one is scheduled.
    async fn dispatch(&self, job: &Job, retries: &mut HashMap<Uuid, Retry>) -> Option<Duration> {
        let now = OffsetDateTime::now_utc();
        let command = match self.backend.submit(job).await {
            Ok(accepted) => Command::Queue {
                remote_job_id: accepted.remote_job_id,
                at: now,
            },
            Err(err) if !err.is_retryable() => Command::Fail {
                error: JobError::new(error_codes::SUBMIT_REJECTED, err.to_string()),
                at: now,
            },
            Err(err) => {
                let retry = retries.entry(job.id).or_insert(Retry {
                    attempts: 0,
                    next_at: Instant::now(),
                });
                retry.attempts += 1;
                if retry.attempts >= self.settings.max_attempts {
                    Command::Fail {
                        error: JobError::new(
                            error_codes::SUBMIT_FAILED,
                            format!("gave up after {} attempts: {err}", retry.attempts),
                        ),
                        at: now,
                    }
                } else {
                    let delay = backoff(&self.settings, retry.attempts);
                    retry.next_at = Instant::now() + delay;
                    warn!(job.id = %job.id, attempt = retry.attempts, "submitting job {} failed, retrying in {delay:?}: {err}", job.id);
                    return Some(delay);
                }
            }
        };
        retries.remove(&job.id);
        match lifecycle::apply(self.store.as_ref(), job.id, command).await {
            Ok(applied) if applied.job.status == JobStatus::Queued => self.queued.notify_one(),
            Ok(_) => {}
            Err(StoreError::Transition(_)) => {
                // cancelled while we were submitting: make sure it does not run
                if let Err(err) = self.backend.cancel(job).await {
                    warn!(job.id = %job.id, "cannot stop cancelled job {}: {err}", job.id);
                }
            }
            Err(err) => error!(job.id = %job.id, "cannot record dispatch of job {}: {err}", job.id),
        }
        None
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
            max_attempts: 9,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
        };
        let delays: Vec<u64> = (1..=6).map(|a| backoff(&s, a).as_millis() as u64).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    }
}

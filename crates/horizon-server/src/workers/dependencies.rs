//! Jobs that run after others: a job submitted with `depends_on` waits in
//! SUBMITTED (`Job::waiting`; the dispatcher leaves it, and no process marks
//! it for handing over) until every condition is met, then goes on like any
//! submitted job; once one condition can never be met it ends CANCELLED
//! with the reason `dependency <id> <status>` (Slurm's
//! `kill_invalid_depend`). Each pass reads the waiting jobs and the status
//! of what they wait for; it runs after commits and at least every second.
//! Any process may resolve any job: releasing is idempotent and the cancel
//! a compare-and-set.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use horizon_core::dependency::Standing;
use horizon_core::{Command, Job, JobStatus};
use horizon_store::{Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::{info, warn};
use uuid::Uuid;

use crate::lifecycle;

const PAGE: u32 = 500;
/// The longest between two passes.
const EVERY: Duration = Duration::from_secs(1);
/// The shortest between two passes (commits ring often).
const AT_MOST_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub struct Dependencies {
    pub store: Arc<dyn Store>,
    /// Rung after commits: something may have ended.
    pub bell: Arc<Notify>,
    /// The dispatchers' bell: a job was released.
    pub dispatch: Arc<Notify>,
}

impl Dependencies {
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(err) = self.pass().await {
                warn!("resolving dependencies: {err}");
            }
            let _ = tokio::time::timeout(EVERY, self.bell.notified()).await;
            tokio::time::sleep(AT_MOST_EVERY).await;
        }
    }

    async fn pass(&self) -> Result<(), StoreError> {
        // each job depended on read once a pass
        let mut statuses: HashMap<Uuid, Option<JobStatus>> = HashMap::new();
        let mut after = None;
        loop {
            let jobs = self.store.waiting_jobs(after, PAGE).await?;
            for job in &jobs {
                self.resolve(job, &mut statuses).await?;
            }
            match jobs.last() {
                Some(last) if jobs.len() == PAGE as usize => after = Some(last.id),
                _ => return Ok(()),
            }
        }
    }

    async fn resolve(
        &self,
        job: &Job,
        statuses: &mut HashMap<Uuid, Option<JobStatus>>,
    ) -> Result<(), StoreError> {
        let mut all_met = true;
        for dependency in &job.depends_on {
            let status = match statuses.get(&dependency.job_id) {
                Some(status) => *status,
                None => {
                    let status = self
                        .store
                        .get_job(dependency.job_id)
                        .await?
                        .map(|j| j.status);
                    statuses.insert(dependency.job_id, status);
                    status
                }
            };
            // (a job depended on that is gone was deleted by retention:
            // it ended long ago, how is no longer known)
            let standing = status.map_or(Standing::Never, |s| dependency.standing(s));
            match standing {
                Standing::Met => {}
                Standing::Pending => all_met = false,
                Standing::Never => {
                    let outcome = status.map_or("gone", JobStatus::as_str);
                    let reason = format!("dependency {} {outcome}", dependency.job_id);
                    let cancelled = lifecycle::apply(
                        self.store.as_ref(),
                        job.id,
                        Command::Cancel {
                            by: "horizon".into(),
                            reason: reason.clone(),
                            at: OffsetDateTime::now_utc(),
                        },
                        None,
                    )
                    .await;
                    match cancelled {
                        Ok(_) => {
                            info!(job.id = %job.id, "job {} cancelled: {reason} ({} required)", job.id, dependency.condition);
                        }
                        // cancelled, held or handed over meanwhile: nothing to do
                        Err(StoreError::Transition(_) | StoreError::Ended(_)) => {}
                        Err(err) => return Err(err),
                    }
                    return Ok(());
                }
            }
        }
        if all_met && self.store.stop_waiting(job.id).await? {
            info!(job.id = %job.id, "job {}: its dependencies are met", job.id);
            self.dispatch.notify_waiters();
            self.dispatch.notify_one();
        }
        Ok(())
    }
}

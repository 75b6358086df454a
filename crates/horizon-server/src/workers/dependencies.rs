//! Jobs that run after others: a job submitted with `depends_on` waits in
//! SUBMITTED (`Job::waiting`; the dispatcher leaves it, and no process marks
//! it for handing over) until every condition is met, then goes on like any
//! submitted job; once one condition can never be met it ends CANCELLED
//! with the reason `dependency <id> <status>` (Slurm's
//! `kill_invalid_depend`). Each pass reads the waiting jobs and the status
//! of what they wait for; it runs after commits and at least every second.
//! Any process may resolve any job: releasing is idempotent and the cancel
//! a compare-and-set.
//!
//! The same pass tends the open sweeps (`Store::tend_sweeps`): a sweep's
//! jobs past its concurrency limit wait gated in SUBMITTED and are released
//! as others end; a sweep whose jobs all ended gets its `sweep.completed`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use horizon_core::dependency::{Dependency, Standing};
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
        self.resolve_all().await?;
        // then the sweeps: a job released above may take a free slot
        let tended = self.store.tend_sweeps().await?;
        if tended.released > 0 {
            info!(
                "released {} job(s) gated by their sweep's limit",
                tended.released
            );
            self.dispatch.notify_waiters();
            self.dispatch.notify_one();
        }
        for sweep in tended.completed {
            info!(sweep.id = %sweep, "sweep {sweep} completed: all its jobs ended");
        }
        Ok(())
    }

    async fn resolve_all(&self) -> Result<(), StoreError> {
        // each job or sweep depended on read once a pass
        let mut seen = Seen::default();
        let mut after = None;
        loop {
            let jobs = self.store.waiting_jobs(after, PAGE).await?;
            for job in &jobs {
                self.resolve(job, &mut seen).await?;
            }
            match jobs.last() {
                Some(last) if jobs.len() == PAGE as usize => after = Some(last.id),
                _ => return Ok(()),
            }
        }
    }

    async fn resolve(&self, job: &Job, seen: &mut Seen) -> Result<(), StoreError> {
        let mut all_met = true;
        for dependency in &job.depends_on {
            let (standing, outcome) = seen.standing(self.store.as_ref(), dependency).await?;
            match standing {
                Standing::Met => {}
                Standing::Pending => all_met = false,
                Standing::Never => {
                    let reason = format!("dependency {} {outcome}", dependency.target());
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

/// What was depended on, as read once (a pass, a response): each job's
/// status, each sweep's counts.
#[derive(Debug, Default)]
pub struct Seen {
    jobs: HashMap<Uuid, Option<JobStatus>>,
    sweeps: HashMap<Uuid, Option<BTreeMap<JobStatus, u64>>>,
}

impl Seen {
    /// Where `dependency` stands, and what its target's outcome is called
    /// in a cancellation's reason (a job's status; a sweep's counts).
    pub async fn standing(
        &mut self,
        store: &dyn Store,
        dependency: &Dependency,
    ) -> Result<(Standing, String), StoreError> {
        if let Some(id) = dependency.sweep_id {
            let counts = match self.sweeps.get(&id) {
                Some(counts) => counts.clone(),
                None => {
                    let counts = store.get_sweep(id).await?.map(|s| s.counts);
                    self.sweeps.insert(id, counts.clone());
                    counts
                }
            };
            // (a sweep that is gone was deleted by retention)
            return Ok(match counts {
                None => (Standing::Never, "gone".into()),
                Some(counts) => {
                    let outcome = counts
                        .iter()
                        .filter(|(s, n)| s.is_terminal() && **n > 0)
                        .map(|(s, n)| format!("{n} {s}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    (dependency.standing_of_sweep(&counts), outcome)
                }
            });
        }
        let id = dependency.target();
        let status = match self.jobs.get(&id) {
            Some(status) => *status,
            None => {
                let status = store.get_job(id).await?.map(|j| j.status);
                self.jobs.insert(id, status);
                status
            }
        };
        // (a job depended on that is gone was deleted by retention: it
        // ended long ago, how is no longer known)
        Ok(match status {
            None => (Standing::Never, "gone".into()),
            Some(status) => (dependency.standing(status), status.as_str().into()),
        })
    }
}

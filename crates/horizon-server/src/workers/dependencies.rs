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

use futures_util::future::join_all;
use horizon_core::dependency::Condition;
use horizon_core::dependency::{Dependency, Standing};
use horizon_core::{BackendKind, Command, Job, JobStatus};
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
    /// To stop a job whose dependency went to its scheduler and can no
    /// longer be met.
    pub backends: crate::Backends,
    /// Hand dependencies on Slurm jobs to Slurm (`[slurm]
    /// hand_dependencies_to_slurm`).
    pub scheduler_handoff: bool,
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
        self.watch_handed_off().await?;
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
        let mut releases: Vec<(Uuid, Option<String>)> = Vec::new();
        loop {
            let jobs = self.store.waiting_jobs(after, PAGE).await?;
            for job in &jobs {
                if let Some(release) = self.resolve(job, &mut seen).await? {
                    releases.push((job.id, release));
                }
            }
            match jobs.last() {
                Some(last) if jobs.len() == PAGE as usize => after = Some(last.id),
                _ => break,
            }
        }
        // the pass's releases at once (committed together), and the
        // dispatcher woken once: a sweep's jobs released together go
        // to their scheduler together (one array)
        let released = join_all(releases.into_iter().map(|(id, dependency)| async move {
            let given = dependency.clone();
            (id, given, self.store.stop_waiting(id, dependency).await)
        }))
        .await;
        let mut any = false;
        for (id, dependency, outcome) in released {
            if outcome? {
                any = true;
                match dependency {
                    None => info!(job.id = %id, "job {id}: its dependencies are met"),
                    Some(d) => {
                        info!(job.id = %id, "job {id}: its dependencies go to Slurm with it ({d})")
                    }
                }
            }
        }
        if any {
            self.dispatch.notify_waiters();
            self.dispatch.notify_one();
        }
        Ok(())
    }

    /// What to do with a waiting job: cancel it (done here, `None`) when a
    /// condition can never be met; `Some(None)` to release it when all are
    /// met; `Some(Some(dependency))` to release it with its dependencies
    /// handed to Slurm; `None` to leave it waiting.
    async fn resolve(
        &self,
        job: &Job,
        seen: &mut Seen,
    ) -> Result<Option<Option<String>>, StoreError> {
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
                    return Ok(None);
                }
            }
        }
        if all_met {
            return Ok(Some(None));
        }
        // still pending, on Slurm jobs only: to Slurm now, which plans it
        if self.scheduler_handoff
            && job.backend == BackendKind::Slurm
            && let Some(dependency) = seen.slurm_dependency(self.store.as_ref(), job).await?
        {
            return Ok(Some(Some(dependency)));
        }
        Ok(None)
    }

    /// Jobs whose dependencies went to Slurm with them, not yet started:
    /// one whose condition can no longer be met is CANCELLED with the
    /// reason (and stopped in Slurm, where it would pend for ever).
    async fn watch_handed_off(&self) -> Result<(), StoreError> {
        let mut seen = Seen::default();
        let mut after = None;
        loop {
            let jobs = self.store.scheduler_dependent_jobs(after, PAGE).await?;
            for job in &jobs {
                for dependency in &job.depends_on {
                    let (standing, outcome) =
                        seen.standing(self.store.as_ref(), dependency).await?;
                    if standing != Standing::Never {
                        continue;
                    }
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
                        Ok(applied) => {
                            info!(job.id = %job.id, "job {} cancelled: {reason} ({} required)", job.id, dependency.condition);
                            if let Some(backend) = self.backends.get(&applied.job.backend)
                                && let Err(err) = backend.cancel(&applied.job).await
                            {
                                warn!(job.id = %job.id, "job {} is CANCELLED but Slurm could not stop it: {err}", job.id);
                            }
                        }
                        // started or ended meanwhile: its scheduler decided
                        Err(StoreError::Transition(_) | StoreError::Ended(_)) => {}
                        Err(err) => return Err(err),
                    }
                    break;
                }
            }
            match jobs.last() {
                Some(last) if jobs.len() == PAGE as usize => after = Some(last.id),
                _ => return Ok(()),
            }
        }
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
    /// Slurm's `--dependency` for `job`, when every dependency not yet met
    /// is on Slurm jobs that Slurm has (QUEUED or RUNNING, not to be
    /// retried): `afterok:<id>:<array>,afterany:…`; `None` when any must
    /// stay with Horizon (`after_not_ok`, another backend, a job not yet
    /// handed over, one that may be retried under a new id).
    pub async fn slurm_dependency(
        &mut self,
        store: &dyn Store,
        job: &Job,
    ) -> Result<Option<String>, StoreError> {
        let mut ok: Vec<String> = Vec::new();
        let mut any: Vec<String> = Vec::new();
        for dependency in &job.depends_on {
            let (standing, _) = self.standing(store, dependency).await?;
            if standing == Standing::Met {
                continue;
            }
            let list = match dependency.condition {
                Condition::AfterOk => &mut ok,
                Condition::AfterAny => &mut any,
                Condition::AfterNotOk => return Ok(None),
            };
            let ids = match (dependency.job_id, dependency.sweep_id) {
                (Some(id), _) => match store.get_job(id).await? {
                    Some(other) => match slurm_id(&other) {
                        Some(remote) => vec![remote],
                        None => return Ok(None),
                    },
                    None => return Ok(None),
                },
                (None, Some(sweep)) => match slurm_ids_of_sweep(store, sweep).await? {
                    Some(ids) => ids,
                    None => return Ok(None),
                },
                (None, None) => return Ok(None),
            };
            for id in ids {
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
        let mut parts = Vec::new();
        if !ok.is_empty() {
            parts.push(format!("afterok:{}", ok.join(":")));
        }
        if !any.is_empty() {
            parts.push(format!("afterany:{}", any.join(":")));
        }
        Ok((!parts.is_empty()).then(|| parts.join(",")))
    }

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
                    // (a sweep some of whose jobs retention deleted is
                    // gone: how they ended is no longer known)
                    let counts = store
                        .get_sweep(id)
                        .await?
                        .filter(|s| s.counts.values().sum::<u64>() >= u64::from(s.size))
                        .map(|s| s.counts);
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

/// The Slurm id a pending job depended on is known by there (an array
/// task's array as a whole), if Slurm has it and it will keep it.
fn slurm_id(job: &Job) -> Option<String> {
    let waiting_in_slurm = matches!(job.status, JobStatus::Queued | JobStatus::Running)
        && job.next_attempt_at.is_none();
    (job.backend == BackendKind::Slurm && waiting_in_slurm && job.max_attempts <= 1)
        .then(|| job.remote_job_id.clone())
        .flatten()
        .filter(|id| !id.is_empty())
}

/// The Slurm ids (arrays and lone jobs) that cover every job of a sweep
/// not yet ended, when all of them are in Slurm; `None` otherwise.
async fn slurm_ids_of_sweep(
    store: &dyn Store,
    sweep: Uuid,
) -> Result<Option<Vec<String>>, StoreError> {
    let Some(found) = store.get_sweep(sweep).await? else {
        return Ok(None);
    };
    if found
        .counts
        .get(&JobStatus::Submitted)
        .copied()
        .unwrap_or(0)
        > 0
    {
        return Ok(None); // not all handed over yet
    }
    let mut ids: Vec<String> = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_jobs(horizon_store::ListJobsParams {
                sweep_id: Some(sweep),
                statuses: vec![JobStatus::Queued, JobStatus::Running],
                before,
                limit: PAGE,
                ..horizon_store::ListJobsParams::default()
            })
            .await?;
        for job in &page {
            let Some(remote) = slurm_id(job) else {
                return Ok(None);
            };
            // a task stands for its whole array
            let id = remote.split('_').next().unwrap_or(&remote).to_owned();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        before = page.last().map(|j| j.id);
        if page.len() < PAGE as usize {
            return Ok(Some(ids));
        }
    }
}

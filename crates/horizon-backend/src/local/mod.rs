//! The local backend: runs an agent's program on this machine, directly (no
//! shell), under a supervisor process, with a bounded number of slots.
//!
//! The store is the queue: `submit` only prepares the job directory (the job
//! becomes QUEUED), and each `poll` starts the oldest QUEUED jobs while slots
//! are free. Everything the backend needs to know about a job after a restart
//! is in its directory (see [`files`]), so a restarted server adopts the
//! programs still running, records the ones that ended while it was away, and
//! starts only the jobs that never started.

pub mod files;
mod procfs;
pub mod supervisor;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use horizon_core::{BackendKind, Job, JobError, JobStatus, MetricsSample, error_codes};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::{info, warn};
use uuid::Uuid;

use crate::{Accepted, Backend, BackendError, Observation, Update};
use files::{ExitRecord, StartRecord, job_dir};

/// How to run one agent locally.
#[derive(Debug, Clone)]
pub struct LocalAgent {
    pub program: PathBuf,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Where job directories go.
    pub jobs_dir: PathBuf,
    /// How many jobs may run at once.
    pub slots: usize,
    /// How often a running job's resources are sampled.
    pub metrics_interval: Duration,
    /// How long a cancelled job has between SIGTERM and SIGKILL.
    pub cancel_grace: Duration,
    /// The program that runs `supervise` (the `horizon` binary itself).
    pub supervisor: PathBuf,
    pub agents: HashMap<String, LocalAgent>,
}

/// CPU time seen at the previous sample of a running job.
#[derive(Debug, Clone, Copy)]
struct Sampled {
    at: Instant,
    cpu_ticks: u64,
}

#[derive(Debug)]
pub struct LocalBackend {
    config: LocalConfig,
    ticks_per_second: u64,
    sampled: Mutex<HashMap<Uuid, Sampled>>,
    /// QUEUED jobs whose directory this process found without a program: only
    /// this process starts programs, so they need no second look.
    unstarted: Mutex<HashSet<Uuid>>,
    /// Notified when a supervisor this process started exits, so the watcher
    /// can report the outcome at once.
    exited: Arc<Notify>,
}

/// What a job directory says about its job.
enum DirState {
    NotStarted,
    Alive {
        pid: i32,
        started: Option<StartRecord>,
    },
    Exited(ExitRecord),
    Lost,
}

impl LocalBackend {
    pub fn new(config: LocalConfig) -> Result<Self, BackendError> {
        std::fs::create_dir_all(&config.jobs_dir)?;
        Ok(LocalBackend {
            config,
            ticks_per_second: procfs::clock_ticks_per_second(),
            sampled: Mutex::new(HashMap::new()),
            unstarted: Mutex::new(HashSet::new()),
            exited: Arc::new(Notify::new()),
        })
    }

    /// Notified whenever a job's program ends.
    pub fn exit_notifier(&self) -> Arc<Notify> {
        self.exited.clone()
    }

    pub fn job_dir(&self, id: &Uuid) -> PathBuf {
        job_dir(&self.config.jobs_dir, id)
    }

    fn dir_state(&self, job: &Job) -> Result<DirState, BackendError> {
        let dir = self.job_dir(&job.id);
        if let Some(exit) = files::read_json::<ExitRecord>(&dir.join(files::EXIT))? {
            return Ok(DirState::Exited(exit));
        }
        let Some(pid) = files::read_pid(&dir)? else {
            return Ok(DirState::NotStarted);
        };
        if procfs::is_alive_with(pid, &job.id.to_string()) {
            let started = files::read_json(&dir.join(files::STARTED))?;
            return Ok(DirState::Alive { pid, started });
        }
        // It may have finished between the two reads.
        match files::read_json::<ExitRecord>(&dir.join(files::EXIT))? {
            Some(exit) => Ok(DirState::Exited(exit)),
            None => Ok(DirState::Lost),
        }
    }

    fn write_params(&self, job: &Job) -> Result<PathBuf, BackendError> {
        let dir = self.job_dir(&job.id);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(files::PARAMS);
        if !path.exists() {
            let bytes =
                serde_json::to_vec_pretty(&job.parameters).map_err(std::io::Error::other)?;
            files::write_atomic(&path, &bytes)?;
        }
        Ok(path)
    }

    /// Start the job's supervisor; returns its pid (the job's process group).
    fn start(&self, job: &Job) -> Result<u32, BackendError> {
        let agent = self.config.agents.get(&job.agent).ok_or_else(|| {
            BackendError::Rejected(format!("no local agent named {:?}", job.agent))
        })?;
        let params = self.write_params(job)?;
        let dir = self.job_dir(&job.id);
        let log = std::fs::File::create(dir.join(files::SUPERVISOR_LOG))?;
        let mut command = tokio::process::Command::new(&self.config.supervisor);
        command
            .arg("supervise")
            .arg("--job-dir")
            .arg(&dir)
            .arg("--job-id")
            .arg(job.id.to_string())
            .arg("--")
            .arg(&agent.program)
            .args(agent.args.iter().map(OsString::from))
            .env("HORIZON_JOB_ID", job.id.to_string())
            .env("HORIZON_DATASET_ID", &job.dataset_id)
            .env("HORIZON_PARAMS_FILE", &params)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let mut child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| BackendError::Unavailable("supervisor exited at once".into()))?;
        // The supervisor writes this too; writing it here closes the window in
        // which a crash could leave a running job without a pid on disk.
        files::write_atomic(&dir.join(files::SUPERVISOR_PID), pid.to_string().as_bytes())?;
        let exited = self.exited.clone();
        tokio::spawn(async move {
            let _ = child.wait().await;
            exited.notify_one();
        });
        info!(job.id = %job.id, pid, "started job {} (agent {}) as process group {pid}", job.id, job.agent);
        Ok(pid)
    }

    fn exit_update(&self, job: &Job, exit: ExitRecord) -> Update {
        let dir = self.job_dir(&job.id);
        let with_stderr = |message: String| match files::last_stderr_line(&dir) {
            Some(line) => format!("{message}: {line}"),
            None => message,
        };
        let started_at = Some(exit.started_at);
        let finished_at = exit.finished_at;
        if let Some(launch_error) = exit.launch_error {
            return Update::Failed {
                started_at: None,
                finished_at,
                error: JobError::new(error_codes::LAUNCH_FAILED, launch_error),
            };
        }
        match (exit.exit_code, exit.signal) {
            (Some(0), _) => Update::Succeeded {
                started_at: exit.started_at,
                finished_at,
                exit_code: 0,
            },
            (Some(code), _) => Update::Failed {
                started_at,
                finished_at,
                error: JobError::new(
                    error_codes::NONZERO_EXIT,
                    with_stderr(format!("agent exited with status {code}")),
                )
                .with_exit_code(code),
            },
            (None, signal) => Update::Failed {
                started_at,
                finished_at,
                error: JobError::new(
                    error_codes::KILLED_BY_SIGNAL,
                    format!(
                        "agent was killed by signal {}",
                        signal.map_or_else(|| "?".to_owned(), |s| s.to_string())
                    ),
                ),
            },
        }
    }

    /// A resource sample of a running job, when one is due.
    fn sample(&self, job_id: Uuid, started: &StartRecord) -> Option<MetricsSample> {
        let now = Instant::now();
        let reading = procfs::read(started.agent_pid)?;
        let mut sampled = self.sampled.lock().unwrap_or_else(|e| e.into_inner());
        let (since, ticks_before) = match sampled.get(&job_id) {
            Some(previous) if now - previous.at < self.config.metrics_interval => return None,
            Some(previous) => (now - previous.at, previous.cpu_ticks),
            None => {
                // first sample: one interval after the program started
                let running = OffsetDateTime::now_utc() - started.started_at;
                let running = Duration::try_from(running).unwrap_or_default();
                if running < self.config.metrics_interval {
                    return None;
                }
                (running, 0)
            }
        };
        sampled.insert(
            job_id,
            Sampled {
                at: now,
                cpu_ticks: reading.cpu_ticks,
            },
        );
        let cpu_seconds =
            reading.cpu_ticks.saturating_sub(ticks_before) as f64 / self.ticks_per_second as f64;
        let percent = 100.0 * cpu_seconds / since.as_secs_f64().max(0.001);
        Some(MetricsSample {
            cpu_usage_percent: (percent * 100.0).round() / 100.0,
            memory_usage_mb: (reading.rss_kib as f64 / 1024.0 * 100.0).round() / 100.0,
            io_operations: reading.io_operations,
            timestamp: horizon_core::truncate_to_millis(OffsetDateTime::now_utc()),
        })
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    async fn submit(&self, job: &Job) -> Result<Accepted, BackendError> {
        if !self.config.agents.contains_key(&job.agent) {
            return Err(BackendError::Rejected(format!(
                "no local agent named {:?}",
                job.agent
            )));
        }
        self.write_params(job)?;
        Ok(Accepted {
            remote_job_id: None,
        })
    }

    async fn poll(&self, jobs: &[Job]) -> Result<Vec<Observation>, BackendError> {
        let mut observations = Vec::new();
        let mut running = 0usize;
        let mut waiting = Vec::new();
        let now = OffsetDateTime::now_utc();
        let mut unstarted = self.unstarted.lock().unwrap_or_else(|e| e.into_inner());
        for job in jobs {
            if job.status == JobStatus::Queued && unstarted.contains(&job.id) {
                waiting.push(job);
                continue;
            }
            let mut observe = |update| {
                observations.push(Observation {
                    job_id: job.id,
                    update,
                })
            };
            match self.dir_state(job)? {
                DirState::Exited(exit) => observe(self.exit_update(job, exit)),
                DirState::Alive { pid, started } => {
                    running += 1;
                    if job.status == JobStatus::Queued {
                        observe(Update::Running {
                            remote_job_id: Some(pid.to_string()),
                            started_at: started.as_ref().map_or(now, |s| s.started_at),
                        });
                    }
                    if let Some(sample) = started.and_then(|s| self.sample(job.id, &s)) {
                        observe(Update::Metrics(sample));
                    }
                }
                DirState::Lost => observe(Update::Failed {
                    started_at: None,
                    finished_at: now,
                    error: JobError::new(
                        error_codes::AGENT_LOST,
                        "the job's supervisor process vanished without recording how the program ended",
                    ),
                }),
                DirState::NotStarted if job.status == JobStatus::Queued => {
                    unstarted.insert(job.id);
                    waiting.push(job);
                }
                DirState::NotStarted => observe(Update::Failed {
                    started_at: None,
                    finished_at: now,
                    error: JobError::new(
                        error_codes::AGENT_LOST,
                        "the job is recorded as running but was never started here",
                    ),
                }),
            }
        }
        for job in waiting {
            if running >= self.config.slots {
                break;
            }
            let update = match self.start(job) {
                Ok(pid) => {
                    unstarted.remove(&job.id);
                    running += 1;
                    Update::Running {
                        remote_job_id: Some(pid.to_string()),
                        started_at: OffsetDateTime::now_utc(),
                    }
                }
                Err(err) if err.is_retryable() => {
                    warn!(job.id = %job.id, "cannot start job {} yet: {err}", job.id);
                    continue;
                }
                Err(err) => Update::Failed {
                    started_at: None,
                    finished_at: OffsetDateTime::now_utc(),
                    error: JobError::new(error_codes::LAUNCH_FAILED, err.to_string()),
                },
            };
            observations.push(Observation {
                job_id: job.id,
                update,
            });
        }
        let active: HashSet<Uuid> = jobs.iter().map(|j| j.id).collect();
        unstarted.retain(|id| active.contains(id));
        drop(unstarted);
        self.sampled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| active.contains(id));
        Ok(observations)
    }

    async fn stop_strays(&self, active: &[Uuid]) -> Result<usize, BackendError> {
        let mut stopped = 0;
        for entry in std::fs::read_dir(&self.config.jobs_dir)? {
            let entry = entry?;
            let Ok(id) = Uuid::parse_str(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            if active.contains(&id) || entry.path().join(files::EXIT).exists() {
                continue;
            }
            if self.stop(id)? {
                warn!(job.id = %id, "job {id} has ended but its program was still running: stopped it");
                stopped += 1;
            }
        }
        Ok(stopped)
    }

    async fn cancel(&self, job: &Job) -> Result<(), BackendError> {
        self.stop(job.id)?;
        Ok(())
    }
}

impl LocalBackend {
    /// SIGTERM to the job's process group, SIGKILL after the grace period;
    /// false when nothing of the job was running.
    fn stop(&self, job_id: Uuid) -> Result<bool, BackendError> {
        let dir = self.job_dir(&job_id);
        let Some(pid) = files::read_pid(&dir)? else {
            return Ok(false);
        };
        if !procfs::is_alive_with(pid, &job_id.to_string()) {
            return Ok(false);
        }
        let group = Pid::from_raw(pid);
        info!(job.id = %job_id, pid, "stopping job {job_id}: SIGTERM to process group {pid}");
        if let Err(err) = killpg(group, Signal::SIGTERM) {
            warn!(job.id = %job_id, "SIGTERM to process group {pid} failed: {err}");
        }
        let grace = self.config.cancel_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if killpg(group, None).is_ok() {
                warn!(job.id = %job_id, "job {job_id} outlived its grace period: SIGKILL to process group {pid}");
                let _ = killpg(group, Signal::SIGKILL);
            }
        });
        Ok(true)
    }
}

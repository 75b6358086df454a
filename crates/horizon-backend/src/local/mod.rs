//! The local backend: runs an agent's program on this machine, directly (no
//! shell), under a supervisor process, with a bounded number of slots.
//!
//! The store is the queue: `submit` only prepares the job directory (the job
//! becomes QUEUED), and `poll` starts the oldest QUEUED jobs while slots are
//! free. Everything the backend needs to know about a job after a restart is
//! in its directory (see [`files`]), so a restarted server adopts the
//! programs still running, records the ones that ended while it was away, and
//! starts only the jobs that never started.
//!
//! Containment: what goes wrong with one job stays with that job. A job whose
//! directory cannot be read is skipped (and counted) for this pass, one whose
//! records are corrupt fails alone, and a start that retrying cannot fix
//! (missing or non-executable program, invalid input, a replaced `horizon`
//! binary) fails the job with `LAUNCH_FAILED` at once; other start failures
//! are retried `MAX_START_ATTEMPTS` times, counted in the job directory so a
//! restart does not reset the count. File and process work runs on tokio's
//! blocking pool, never on the async workers.

pub mod files;
mod procfs;
pub mod supervisor;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use horizon_core::{BackendKind, Job, JobError, JobStatus, MetricsSample, Resources, error_codes};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::{info, warn};
use uuid::Uuid;

use crate::{
    Accepted, Backend, BackendError, LogChunk, LogRange, LogStream, Observation, Update, read_log,
};
use files::{ExitRecord, PidRecord, StartRecord, job_dir};

/// Start failures that may pass (out of processes, a busy file system) are
/// retried this many times before the job FAILs with `LAUNCH_FAILED`.
pub const MAX_START_ATTEMPTS: u32 = 5;

/// Threads that start jobs at once.
const STARTERS: usize = 4;

/// Prometheus counter: per-job errors met while polling, by kind.
pub const POLL_ERRORS: &str = "horizon_local_poll_errors_total";

/// How to run one agent locally.
#[derive(Debug, Clone)]
pub struct LocalAgent {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Environment variables the program gets besides the `HORIZON_*` ones.
    pub env: Vec<(String, String)>,
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
    /// The supervisor: `horizon-supervise`, or the `horizon` binary itself
    /// with `supervisor_args = ["supervise"]`.
    pub supervisor: PathBuf,
    pub supervisor_args: Vec<String>,
    pub agents: HashMap<String, LocalAgent>,
    /// Run programs as this (uid, gid) instead of the server's user.
    pub run_as: Option<(u32, u32)>,
}

/// CPU time seen at the previous sample of a running job.
#[derive(Debug, Clone, Copy)]
struct Sampled {
    at: Instant,
    cpu_ticks: u64,
}

/// What this process knows of the jobs it holds, between passes.
#[derive(Debug, Default)]
struct Tracked {
    /// Jobs whose supervisor was alive at their last look: the used slots.
    running: HashSet<Uuid>,
    /// QUEUED jobs whose directory this process found without a program:
    /// only this process starts programs, so they need no second look.
    unstarted: HashSet<Uuid>,
    sampled: HashMap<Uuid, Sampled>,
}

impl Tracked {
    fn forget(&mut self, job_id: Uuid) {
        self.running.remove(&job_id);
        self.unstarted.remove(&job_id);
        self.sampled.remove(&job_id);
    }
}

#[derive(Debug)]
pub struct LocalBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: LocalConfig,
    ticks_per_second: u64,
    tracked: Mutex<Tracked>,
    /// Notified when a supervisor this process started exits, so the watcher
    /// can report the outcome at once.
    exited: Arc<Notify>,
    /// When this backend was made: a job started since (by this process or,
    /// with a shared jobs directory, another) is never a stray.
    born: std::time::SystemTime,
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

/// Why a start did not happen.
enum StartError {
    /// Retrying cannot help: fail the job.
    Permanent(String),
    /// May pass: try again at a later pass.
    Passing(String),
}

impl LocalBackend {
    pub fn new(config: LocalConfig) -> Result<Self, BackendError> {
        std::fs::create_dir_all(&config.jobs_dir)?;
        if config.run_as.is_some() {
            // others may pass through to their own job's work directory, not list
            std::fs::set_permissions(&config.jobs_dir, std::fs::Permissions::from_mode(0o711))?;
        }
        Ok(LocalBackend {
            inner: Arc::new(Inner {
                config,
                ticks_per_second: procfs::clock_ticks_per_second(),
                tracked: Mutex::new(Tracked::default()),
                exited: Arc::new(Notify::new()),
                born: std::time::SystemTime::now(),
            }),
        })
    }

    /// Notified whenever a job's program ends.
    pub fn exit_notifier(&self) -> Arc<Notify> {
        self.inner.exited.clone()
    }

    pub fn job_dir(&self, id: &Uuid) -> PathBuf {
        self.inner.job_dir(id)
    }

    /// Run blocking file and process work on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|err| BackendError::Unavailable(format!("local backend task failed: {err}")))?
    }
}

fn is_invalid_data(err: &BackendError) -> bool {
    matches!(err, BackendError::Io(e) if e.kind() == io::ErrorKind::InvalidData)
}

impl Inner {
    fn job_dir(&self, id: &Uuid) -> PathBuf {
        job_dir(&self.config.jobs_dir, id)
    }

    fn tracked(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dir_state(&self, job: &Job) -> Result<DirState, BackendError> {
        let dir = self.job_dir(&job.id);
        if let Some(exit) = files::read_json::<ExitRecord>(&dir.join(files::EXIT))? {
            return Ok(DirState::Exited(exit));
        }
        let Some(record) = files::read_pid(&dir)? else {
            return Ok(DirState::NotStarted);
        };
        if is_alive(record, job.id) {
            let started = files::read_json(&dir.join(files::STARTED))?;
            return Ok(DirState::Alive {
                pid: record.pid,
                started,
            });
        }
        // It may have finished between the two reads.
        match files::read_json::<ExitRecord>(&dir.join(files::EXIT))? {
            Some(exit) => Ok(DirState::Exited(exit)),
            None => Ok(DirState::Lost),
        }
    }

    fn write_params(&self, job: &Job) -> Result<PathBuf, BackendError> {
        let dir = self.job_dir(&job.id);
        std::fs::create_dir_all(dir.join(files::WORK))?;
        if let Some((uid, gid)) = self.config.run_as {
            std::os::unix::fs::chown(dir.join(files::WORK), Some(uid), Some(gid))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
        }
        let path = dir.join(files::PARAMS);
        if !path.exists() {
            let bytes =
                serde_json::to_vec_pretty(&job.parameters).map_err(std::io::Error::other)?;
            files::write_atomic(&path, &bytes)?;
        }
        Ok(path)
    }

    /// Check what a start needs that retrying cannot bring back.
    fn preflight(&self, agent: &LocalAgent) -> Result<(), StartError> {
        let supervisor = &self.config.supervisor;
        if !is_executable(supervisor) {
            return Err(StartError::Permanent(format!(
                "the horizon binary {} is gone or was replaced; restart `horizon serve`",
                supervisor.display()
            )));
        }
        if resolve_program(&agent.program).is_none() {
            return Err(StartError::Permanent(format!(
                "program {} does not exist or is not executable",
                agent.program.display()
            )));
        }
        Ok(())
    }

    /// Start the job's supervisor; returns its pid (the job's process group).
    fn start(&self, job: &Job) -> Result<u32, StartError> {
        let agent = self.config.agents.get(&job.agent).ok_or_else(|| {
            StartError::Permanent(format!("no local agent named {:?}", job.agent))
        })?;
        self.preflight(agent)?;
        let passing = |err: BackendError| StartError::Passing(err.to_string());
        let params = self.write_params(job).map_err(passing)?;
        let dir = self.job_dir(&job.id);
        let log = std::fs::File::create(dir.join(files::SUPERVISOR_LOG))
            .map_err(|e| passing(e.into()))?;
        let mut command = tokio::process::Command::new(&self.config.supervisor);
        command
            .args(&self.config.supervisor_args)
            .arg("--job-dir")
            .arg(&dir)
            .arg("--job-id")
            .arg(job.id.to_string());
        if let Some((uid, gid)) = self.config.run_as {
            command
                .arg("--uid")
                .arg(uid.to_string())
                .arg("--gid")
                .arg(gid.to_string());
        }
        if let Some(minutes) = job.resources.walltime_minutes {
            command
                .arg("--walltime-secs")
                .arg((u64::from(minutes) * 60).to_string());
        }
        if let Some(mb) = job.resources.memory_mb {
            command.arg("--memory-mb").arg(mb.to_string());
        }
        command
            .arg("--")
            .arg(&agent.program)
            .args(agent.args.iter().map(OsString::from))
            // a minimal environment: the server's own (database URL,
            // credentials) is not the program's business
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
            )
            .envs(agent.env.iter().map(|(k, v)| (k, v)))
            .env("HORIZON_JOB_ID", job.id.to_string())
            .env("HORIZON_ATTEMPT", job.attempt.to_string())
            .env("HORIZON_DATASET_ID", &job.dataset_id)
            .env("HORIZON_PARAMS_FILE", &params)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let mut child = command.spawn().map_err(|err| match err.kind() {
            io::ErrorKind::InvalidInput
            | io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied => {
                StartError::Permanent(format!("cannot start the supervisor: {err}"))
            }
            _ => StartError::Passing(format!("cannot start the supervisor: {err}")),
        })?;
        let pid = child
            .id()
            .ok_or_else(|| StartError::Passing("supervisor exited at once".into()))?;
        let pid_i32 = i32::try_from(pid).map_err(|e| StartError::Passing(e.to_string()))?;
        // The supervisor writes this too; writing it here closes the window in
        // which a crash could leave a running job without a pid on disk. The
        // child is not reaped yet, so its pid cannot have been reused.
        files::write_pid(&dir, pid_i32).map_err(|e| passing(e.into()))?;
        let exited = self.exited.clone();
        tokio::spawn(async move {
            let _ = child.wait().await;
            exited.notify_one();
        });
        info!(job.id = %job.id, pid, "started job {} (agent {}) as process group {pid}", job.id, job.agent);
        Ok(pid)
    }

    /// Try to start a job; the update to report, if any.
    fn try_start(&self, job: &Job) -> Option<Update> {
        let failed = |message: String| Update::Failed {
            started_at: None,
            finished_at: OffsetDateTime::now_utc(),
            error: JobError::new(error_codes::LAUNCH_FAILED, message),
        };
        match self.start(job) {
            Ok(pid) => Some(Update::Running {
                remote_job_id: Some(pid.to_string()),
                started_at: OffsetDateTime::now_utc(),
            }),
            Err(StartError::Permanent(message)) => {
                warn!(job.id = %job.id, "job {} cannot start: {message}", job.id);
                Some(failed(message))
            }
            Err(StartError::Passing(message)) => {
                let dir = self.job_dir(&job.id);
                let attempts = files::read_start_attempts(&dir) + 1;
                if attempts >= MAX_START_ATTEMPTS {
                    return Some(failed(format!(
                        "gave up after {attempts} attempts: {message}"
                    )));
                }
                if let Err(err) = files::write_durable(
                    &dir.join(files::START_ATTEMPTS),
                    attempts.to_string().as_bytes(),
                ) {
                    warn!(job.id = %job.id, "cannot record start attempt of job {}: {err}", job.id);
                }
                warn!(job.id = %job.id, attempt = attempts, "cannot start job {} yet: {message}", job.id);
                None
            }
        }
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
        if exit.timed_out {
            return Update::Failed {
                started_at,
                finished_at,
                error: JobError::new(
                    error_codes::SCHEDULER_TIMEOUT,
                    format!(
                        "stopped at its wall time of {} minutes",
                        job.resources.walltime_minutes.unwrap_or_default()
                    ),
                ),
            };
        }
        match (exit.exit_code, exit.signal) {
            (Some(0), _) => Update::Succeeded {
                started_at: exit.started_at,
                finished_at,
                exit_code: 0,
            },
            (Some(code), _) => {
                // under its memory limit (an address-space limit) a program
                // learns it has run out as a failed allocation, and says so
                let out_of_memory = job.resources.memory_mb.is_some()
                    && files::last_stderr_line(&dir).is_some_and(|line| ran_out_of_memory(&line));
                let kind = if out_of_memory {
                    error_codes::SCHEDULER_OUT_OF_MEMORY
                } else {
                    error_codes::NONZERO_EXIT
                };
                Update::Failed {
                    started_at,
                    finished_at,
                    error: JobError::new(
                        kind,
                        with_stderr(format!("agent exited with status {code}")),
                    )
                    .with_exit_code(code),
                }
            }
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
    fn sample(
        &self,
        tracked: &mut Tracked,
        job_id: Uuid,
        started: &StartRecord,
    ) -> Option<MetricsSample> {
        let now = Instant::now();
        let reading = procfs::read(started.agent_pid)?;
        let (since, ticks_before) = match tracked.sampled.get(&job_id) {
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
        tracked.sampled.insert(
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

    /// One job's observation; errors stay with the job.
    fn observe(
        &self,
        job: &Job,
        tracked: &mut Tracked,
        out: &mut Vec<Update>,
    ) -> Result<bool, BackendError> {
        let now = OffsetDateTime::now_utc();
        match self.dir_state(job)? {
            DirState::Exited(exit) => {
                tracked.running.remove(&job.id);
                out.push(self.exit_update(job, exit));
            }
            DirState::Alive { pid, started } => {
                tracked.running.insert(job.id);
                if job.status == JobStatus::Queued {
                    out.push(Update::Running {
                        remote_job_id: Some(pid.to_string()),
                        started_at: started.as_ref().map_or(now, |s| s.started_at),
                    });
                }
                if let Some(sample) = started.and_then(|s| self.sample(tracked, job.id, &s)) {
                    out.push(Update::Metrics(sample));
                }
            }
            DirState::Lost => {
                tracked.running.remove(&job.id);
                out.push(Update::Failed {
                    started_at: None,
                    finished_at: now,
                    error: JobError::new(
                        error_codes::AGENT_LOST,
                        "the job's supervisor process vanished without recording how the program ended",
                    ),
                });
            }
            DirState::NotStarted if job.status == JobStatus::Queued => return Ok(true),
            DirState::NotStarted => out.push(Update::Failed {
                started_at: None,
                finished_at: now,
                error: JobError::new(
                    error_codes::AGENT_LOST,
                    "the job is recorded as running but was never started here",
                ),
            }),
        }
        Ok(false)
    }

    fn poll(&self, jobs: &[Job]) -> Vec<Observation> {
        let mut observations = Vec::new();
        let mut waiting = Vec::new();
        let mut tracked = self.tracked();
        for job in jobs {
            if job.status == JobStatus::Queued && tracked.unstarted.contains(&job.id) {
                waiting.push(job);
                continue;
            }
            let mut updates = Vec::new();
            match self.observe(job, &mut tracked, &mut updates) {
                Ok(true) => {
                    tracked.unstarted.insert(job.id);
                    waiting.push(job);
                }
                Ok(false) => {}
                Err(err) if is_invalid_data(&err) => {
                    // a record of the job is corrupt: it can never be read
                    // back, so the job fails alone and its programs are stopped
                    metrics::counter!(POLL_ERRORS, "kind" => "corrupt").increment(1);
                    warn!(job.id = %job.id, "job {}'s records are corrupt: {err}", job.id);
                    if let Err(err) = self.signal_stop(job.id) {
                        warn!(job.id = %job.id, "cannot stop job {}: {err}", job.id);
                    }
                    tracked.forget(job.id);
                    updates.push(Update::Failed {
                        started_at: None,
                        finished_at: OffsetDateTime::now_utc(),
                        error: JobError::new(
                            error_codes::AGENT_LOST,
                            format!(
                                "the job's records are corrupt, so how it ended is unknown: {err}"
                            ),
                        ),
                    });
                }
                Err(err) => {
                    metrics::counter!(POLL_ERRORS, "kind" => "io").increment(1);
                    warn!(job.id = %job.id, "cannot read job {}'s directory this pass: {err}", job.id);
                }
            }
            observations.extend(updates.into_iter().map(|update| Observation {
                job_id: job.id,
                update,
            }));
        }
        // a job that ended without this process seeing it (cancelled through
        // another process sharing the jobs directory) frees its slot here
        self.prune_ended(&mut tracked);
        // start the oldest waiting jobs while slots are free, several at once
        // (a start is mostly waiting on fork and the file system); jobs that
        // fail to start free their slot for the next round
        let mut waiting = waiting.into_iter();
        loop {
            let free = self.config.slots.saturating_sub(tracked.running.len());
            let round: Vec<&Job> = waiting.by_ref().take(free).collect();
            if round.is_empty() {
                break;
            }
            for (job, update) in self.start_all(&round) {
                let Some(update) = update else { continue };
                tracked.unstarted.remove(&job.id);
                if matches!(update, Update::Running { .. }) {
                    tracked.running.insert(job.id);
                }
                observations.push(Observation {
                    job_id: job.id,
                    update,
                });
            }
        }
        observations
    }

    /// Forget running jobs whose program has ended (its `exit.json` is
    /// there) or whose supervisor is gone.
    fn prune_ended(&self, tracked: &mut Tracked) {
        let ended: Vec<Uuid> = tracked
            .running
            .iter()
            .filter(|id| {
                let dir = self.job_dir(id);
                dir.join(files::EXIT).exists()
                    || matches!(files::read_pid(&dir), Ok(Some(record)) if !is_alive(record, **id))
            })
            .copied()
            .collect();
        for id in ended {
            tracked.forget(id);
        }
    }

    /// `try_start` for each job, on up to `STARTERS` threads.
    fn start_all<'j>(&self, jobs: &[&'j Job]) -> Vec<(&'j Job, Option<Update>)> {
        if jobs.len() <= 1 {
            return jobs.iter().map(|job| (*job, self.try_start(job))).collect();
        }
        // tokio::process needs the runtime's context on every thread
        let runtime = tokio::runtime::Handle::try_current().ok();
        let chunk = jobs.len().div_ceil(STARTERS);
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .chunks(chunk)
                .map(|chunk| {
                    let runtime = runtime.clone();
                    scope.spawn(move || {
                        let _context = runtime.as_ref().map(|r| r.enter());
                        chunk
                            .iter()
                            .map(|job| (*job, self.try_start(job)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    /// SIGTERM to the job's process group, SIGKILL after the grace period;
    /// false when nothing of the job was running.
    fn stop(&self, job_id: Uuid) -> Result<bool, BackendError> {
        self.tracked().forget(job_id);
        self.signal_stop(job_id)
    }

    /// The signalling half of [`Inner::stop`]; leaves `tracked` alone.
    fn signal_stop(&self, job_id: Uuid) -> Result<bool, BackendError> {
        let dir = self.job_dir(&job_id);
        let Some(record) = files::read_pid(&dir)? else {
            return Ok(false);
        };
        if !is_alive(record, job_id) {
            return Ok(false);
        }
        let pid = record.pid;
        let group = Pid::from_raw(pid);
        info!(job.id = %job_id, pid, "stopping job {job_id}: SIGTERM to process group {pid}");
        if let Err(err) = killpg(group, Signal::SIGTERM) {
            warn!(job.id = %job_id, "SIGTERM to process group {pid} failed: {err}");
        }
        let grace = self.config.cancel_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            // only the group this job's supervisor made: while it lives, its
            // pid is the group's id; once it is gone, the supervisor has
            // already stopped what was left
            if is_alive(record, job_id) {
                warn!(job.id = %job_id, "job {job_id} outlived its grace period: SIGKILL to process group {pid}");
                let _ = killpg(group, Signal::SIGKILL);
            }
        });
        Ok(true)
    }
}

/// Whether the recorded supervisor still runs: same pid and start time.
fn is_alive(record: PidRecord, job_id: Uuid) -> bool {
    match record.start_time {
        Some(start_time) => procfs::is_same_process(record.pid, start_time),
        // written by an older version: only the command line can tell
        None => procfs::is_supervisor_of(record.pid, &job_id.to_string()),
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A program as the supervisor will find it: a path, or a name looked up in PATH.
fn resolve_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return is_executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[async_trait]
impl Backend for LocalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    async fn submit(&self, job: &Job) -> Result<Accepted, BackendError> {
        if !self.inner.config.agents.contains_key(&job.agent) {
            return Err(BackendError::Rejected(format!(
                "no local agent named {:?}",
                job.agent
            )));
        }
        // nothing to write yet: the job's directory is made when it starts
        Ok(Accepted {
            remote_job_id: None,
            location: None,
        })
    }

    fn queued_poll_limit(&self) -> Option<usize> {
        let mut tracked = self.inner.tracked();
        self.inner.prune_ended(&mut tracked);
        Some(
            self.inner
                .config
                .slots
                .saturating_sub(tracked.running.len()),
        )
    }

    async fn poll(&self, jobs: &[Job]) -> Result<Vec<Observation>, BackendError> {
        let jobs = jobs.to_vec();
        self.blocking(move |inner| Ok(inner.poll(&jobs))).await
    }

    async fn stop_strays(&self, active: &[Uuid]) -> Result<usize, BackendError> {
        let active: HashSet<Uuid> = active.iter().copied().collect();
        self.blocking(move |inner| {
            let mut stopped = 0;
            for entry in std::fs::read_dir(&inner.config.jobs_dir)? {
                let entry = entry?;
                let Ok(id) = Uuid::parse_str(&entry.file_name().to_string_lossy()) else {
                    continue;
                };
                if active.contains(&id) || entry.path().join(files::EXIT).exists() {
                    continue;
                }
                let started_since = std::fs::metadata(entry.path().join(files::SUPERVISOR_PID))
                    .and_then(|m| m.modified())
                    .is_ok_and(|at| at >= inner.born);
                if started_since {
                    continue;
                }
                if inner.stop(id)? {
                    warn!(job.id = %id, "job {id} has ended but its program was still running: stopped it");
                    stopped += 1;
                }
            }
            Ok(stopped)
        })
        .await
    }

    fn resource_limits(&self) -> Resources {
        Resources {
            nodes: Some(1),
            gpus: Some(0),
            ..Resources::default()
        }
    }

    fn check_resources(&self, resources: &Resources) -> Result<(), String> {
        if resources.nodes.is_some_and(|n| n > 1) {
            return Err(
                "resources.nodes: the local backend runs a job on this one machine (at most 1)"
                    .to_owned(),
            );
        }
        if resources.gpus.is_some_and(|n| n > 0) {
            return Err(
                "resources.gpus: the local backend does not hand out GPUs (must be 0)".to_owned(),
            );
        }
        Ok(())
    }

    async fn logs(
        &self,
        job: &Job,
        stream: LogStream,
        range: LogRange,
    ) -> Result<LogChunk, BackendError> {
        let name = match stream {
            LogStream::Stdout => files::STDOUT,
            LogStream::Stderr => files::STDERR,
        };
        read_log(self.inner.job_dir(&job.id).join(name), range).await
    }

    async fn cancel(&self, job: &Job) -> Result<(), BackendError> {
        let id = job.id;
        self.blocking(move |inner| inner.stop(id).map(|_| ())).await
    }
}

/// Whether a program's last line of stderr says an allocation failed: how
/// Python (`MemoryError`), C++ (`std::bad_alloc`) and C programs
/// (`Cannot allocate memory`, `out of memory`) report running out under an
/// address-space limit.
fn ran_out_of_memory(line: &str) -> bool {
    [
        "MemoryError",
        "std::bad_alloc",
        "Cannot allocate memory",
        "out of memory",
    ]
    .iter()
    .any(|marker| line.contains(marker))
}

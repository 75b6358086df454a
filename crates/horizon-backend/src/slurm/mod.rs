//! The Slurm backend: `sbatch` of a generated batch script, one `squeue` per
//! pass for every active job, `sacct` for jobs squeue has forgotten,
//! `scancel`. Commands run on this machine or on a login node over SSH
//! (`shell.rs`); what Slurm's answers mean is decided in `state.rs`.
//!
//! ```text
//! <jobs_dir>/<job id>/            on the cluster (shared file system)
//!   job.sh       the batch script: agent program and arguments, quoted
//!   params.json  the job's parameters (HORIZON_PARAMS_FILE)
//!   stdout.log, stderr.log, work/ (the job's working directory)
//! <state_dir>/                    on the server: see `handover.rs`
//! ```

mod array;
mod hold;
mod memory;
mod shell;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use horizon_core::{BackendKind, Job, JobStatus, Resources};
use time::OffsetDateTime;
use tracing::{debug, warn};
use uuid::Uuid;

pub use shell::{Shell, SshTarget};
use state::{Noted, SQUEUE_FORMAT, SlurmJob};

use crate::handover::Handover;

use crate::{Accepted, Backend, BackendError, LogChunk, LogRange, LogStream, Observation, Update};

/// One agent as the Slurm backend runs it.
#[derive(Debug, Clone)]
pub struct SlurmAgent {
    /// The program, on the cluster's nodes.
    pub program: String,
    pub args: Vec<String>,
    /// Environment for the program (`PATH` defaults to /usr/local/bin:/usr/bin:/bin).
    pub env: Vec<(String, String)>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// More `sbatch` options (`--constraint=haswell`), each one of
    /// `ALLOWED_SBATCH_OPTIONS` (checked by `check_sbatch_option`).
    pub sbatch_options: Vec<String>,
    /// Shell lines run before the program (`module load python/3.11`).
    pub preamble: Vec<String>,
}

/// The `sbatch` options an agent may add: none that Horizon sets itself
/// (`--job-name`, `--output`, `--error`, `--chdir`, `--export`,
/// `--parsable`), takes from the job's request (`--time`, `--nodes`,
/// `--ntasks-per-node`, `--cpus-per-task`, `--mem`, `--gpus`) or from the
/// agent's own keys (`--partition`, `--account`, `--qos`), nor any that
/// change what a job is (`--array`, `--wrap`, `--dependency`, `--hold`).
pub const ALLOWED_SBATCH_OPTIONS: &[&str] = &[
    "--constraint",
    "--gres",
    "--exclusive",
    "--mem-per-cpu",
    "--licenses",
    "--reservation",
    "--comment",
    "--exclude",
    "--nodelist",
    "--hint",
    "--tmp",
    "--switches",
    "--nice",
    "--requeue",
    "--no-requeue",
    "--signal",
    "--mail-type",
    "--mail-user",
    "--cluster-constraint",
    "--core-spec",
    "--threads-per-core",
];

/// Whether `option` (`--name` or `--name=value`) may be added to an
/// agent's `sbatch`; why not, otherwise.
pub fn check_sbatch_option(option: &str) -> Result<(), String> {
    let name = option.split('=').next().unwrap_or_default();
    if option.chars().any(char::is_control) {
        return Err(format!("{option:?} has a control character"));
    }
    if !ALLOWED_SBATCH_OPTIONS.contains(&name) {
        return Err(format!(
            "{option:?} is not an sbatch option an agent may add (allowed: {}; \
             partition, account and qos are keys of their own, resources come from the job)",
            ALLOWED_SBATCH_OPTIONS.join(", ")
        ));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SlurmConfig {
    pub shell: Shell,
    /// Where job directories go, on the cluster (a shared file system).
    pub jobs_dir: String,
    /// The server's own records (see the module documentation).
    pub state_dir: PathBuf,
    /// Where Slurm's commands are (empty: found on `PATH`).
    pub bin_dir: Option<String>,
    pub command_timeout: Duration,
    /// How often a running job's CPU and memory are sampled (`sstat`).
    pub metrics_interval: Duration,
    /// The most tasks of one job array, when lower than the cluster's
    /// `MaxArraySize` (`None`: the cluster's).
    pub max_array_size: Option<u32>,
    pub agents: HashMap<String, SlurmAgent>,
}

#[derive(Debug)]
pub struct SlurmBackend {
    config: SlurmConfig,
    /// Markers of jobs handed to Slurm, noted states, cancels to retry.
    handover: Handover,
    /// Jobs active in Horizon that neither squeue nor sacct knew at the
    /// last look; a job missing twice in a row is lost.
    missing: Mutex<HashSet<Uuid>>,
    /// The last resource sample of each running job: when, and its CPU seconds.
    samples: Mutex<HashMap<Uuid, (Instant, f64)>>,
    /// The cluster's `MaxArraySize`, once read.
    max_array_size: std::sync::OnceLock<u32>,
}

impl SlurmBackend {
    pub fn new(config: SlurmConfig) -> Result<Self, BackendError> {
        Ok(SlurmBackend {
            handover: Handover::open(config.state_dir.clone())?,
            config,
            missing: Mutex::new(HashSet::new()),
            samples: Mutex::new(HashMap::new()),
            max_array_size: std::sync::OnceLock::new(),
        })
    }

    fn command(&self, name: &str) -> String {
        match &self.config.bin_dir {
            Some(dir) => format!("{}/{name}", dir.trim_end_matches('/')),
            None => name.to_owned(),
        }
    }

    fn job_dir(&self, id: &Uuid) -> String {
        format!("{}/{id}", self.config.jobs_dir.trim_end_matches('/'))
    }

    async fn run(&self, argv: Vec<String>) -> Result<shell::Output, BackendError> {
        self.config
            .shell
            .run(&argv, None, self.config.command_timeout)
            .await
    }

    /// The batch script: the agent's program and arguments (from the
    /// configuration) and the job's identity, each quoted as one word.
    /// Parameters stay in params.json.
    fn script(&self, job: &Job, agent: &SlurmAgent) -> Result<String, BackendError> {
        let dir = self.job_dir(&job.id);
        let quote = |word: &str| {
            shlex::try_quote(word)
                .map(|q| q.into_owned())
                .map_err(|err| {
                    BackendError::Rejected(format!("cannot put {word:?} in a batch script: {err}"))
                })
        };
        let mut env: Vec<(String, String)> =
            vec![("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned())];
        for (key, value) in &agent.env {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
        env.extend([
            ("HORIZON_JOB_ID".to_owned(), job.id.to_string()),
            ("HORIZON_ATTEMPT".to_owned(), job.attempt.to_string()),
            ("HORIZON_DATASET_ID".to_owned(), job.dataset_id.clone()),
            (
                "HORIZON_PARAMS_FILE".to_owned(),
                format!("{dir}/params.json"),
            ),
        ]);
        let mut text = format!(
            "#!/bin/sh\n# Generated by Horizon for job {} (agent {}).\n# Its parameters are in params.json, never in this text.\n",
            job.id, job.agent
        );
        for (key, value) in env {
            if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || key.is_empty() {
                return Err(BackendError::Rejected(format!(
                    "agent {}: {key:?} is not an environment variable name",
                    job.agent
                )));
            }
            text.push_str(&format!("export {key}={}\n", quote(&value)?));
        }
        if !agent.preamble.is_empty() {
            text.push_str("# The agent's preamble:\n");
            for line in &agent.preamble {
                // (one line each: the operator's own shell, not the user's)
                if line.contains('\n') || line.contains('\r') || line.contains('\0') {
                    return Err(BackendError::Rejected(format!(
                        "agent {}: a preamble entry is one line: {line:?}",
                        job.agent
                    )));
                }
                text.push_str(line);
                text.push('\n');
            }
        }
        let mut exec = vec![quote(&agent.program)?];
        for arg in &agent.args {
            exec.push(quote(arg)?);
        }
        text.push_str(&format!("exec {}\n", exec.join(" ")));
        Ok(text)
    }

    fn sbatch_args(&self, job: &Job, agent: &SlurmAgent) -> Vec<String> {
        let dir = self.job_dir(&job.id);
        let mut args = vec![
            self.command("sbatch"),
            "--parsable".to_owned(),
            format!("--job-name={}", job.id),
            format!("--output={dir}/stdout.log"),
            format!("--error={dir}/stderr.log"),
            format!("--chdir={dir}/work"),
            "--export=NONE".to_owned(),
        ];
        for (flag, value) in [
            ("partition", agent.partition.as_ref()),
            // the identity mapping's choice for this job, else the agent's
            ("account", job.account.as_ref().or(agent.account.as_ref())),
            ("qos", agent.qos.as_ref()),
        ] {
            if let Some(value) = value {
                args.push(format!("--{flag}={value}"));
            }
        }
        args.extend(resource_args(&job.resources));
        args.extend(dependency_args(job, None));
        // (checked at start; one argument each, quoted as such over SSH)
        args.extend(agent.sbatch_options.iter().cloned());
        args.push(format!("{dir}/job.sh"));
        args
    }

    /// A job this server may have handed to Slurm before (its marker is
    /// there): Slurm's record of it, found by name, if Slurm has it.
    async fn find_by_name(&self, id: &Uuid) -> Result<Option<SlurmJob>, BackendError> {
        self.find_named(&id.to_string()).await
    }

    /// Slurm's record of a job (or of one task of an array) named `name`:
    /// squeue's, else accounting's.
    async fn find_named(&self, name: &str) -> Result<Option<SlurmJob>, BackendError> {
        let output = self
            .run(vec![
                self.command("squeue"),
                "--me".to_owned(),
                "-h".to_owned(),
                // (each task of an array on its own line)
                "-r".to_owned(),
                "-t".to_owned(),
                "all".to_owned(),
                format!("--name={name}"),
                "-O".to_owned(),
                SQUEUE_FORMAT.to_owned(),
            ])
            .await?;
        if !output.success {
            return Err(BackendError::Unavailable(format!(
                "squeue: {}",
                output.complaint()
            )));
        }
        if let Some(found) = state::parse_squeue(&output.stdout)
            .into_iter()
            .find(|j| j.name == name)
        {
            return Ok(Some(found));
        }
        // gone from squeue already (it ended long ago): accounting may know
        let found = self.sacct(&[], Some(name)).await?;
        Ok(found.into_iter().find(|j| j.name == name))
    }

    /// The Slurm id of a job handed over without its answer recorded: a
    /// task of an array (its directory names the array), or a job of its
    /// own (by name).
    async fn find_unrecorded(&self, id: &Uuid) -> Result<Option<String>, BackendError> {
        if let Some(task) = self.find_task(id, &mut HashMap::new()).await? {
            return Ok(task.remote_job_id);
        }
        Ok(self.find_by_name(id).await?.map(|found| found.id))
    }

    /// Ask accounting about jobs (by Slurm id, or by name). Falls back to
    /// the job completion log (`sacct -c`) on clusters without slurmdbd.
    async fn sacct(
        &self,
        ids: &[String],
        name: Option<&str>,
    ) -> Result<Vec<SlurmJob>, BackendError> {
        let mut base = vec![
            self.command("sacct"),
            "-X".to_owned(),
            "-P".to_owned(),
            "-n".to_owned(),
            "-o".to_owned(),
            state::SACCT_FORMAT.to_owned(),
        ];
        if !ids.is_empty() {
            base.push(format!("--jobs={}", ids.join(",")));
        }
        if let Some(name) = name {
            base.push(format!("--name={name}"));
            base.push("--starttime=2000-01-01".to_owned());
        }
        let output = self.run(base.clone()).await?;
        if output.success {
            return Ok(state::parse_sacct(&output.stdout));
        }
        if output.stderr.contains("accounting storage is disabled") {
            base.insert(1, "-c".to_owned());
            let output = self.run(base).await?;
            if output.success {
                return Ok(state::parse_sacct(&output.stdout));
            }
            return Err(BackendError::Unavailable(format!(
                "sacct -c: {}",
                output.complaint()
            )));
        }
        Err(BackendError::Unavailable(format!(
            "sacct: {}",
            output.complaint()
        )))
    }

    async fn scancel(&self, target: &str) -> Result<(), BackendError> {
        let output = self
            .run(vec![self.command("scancel"), target.to_owned()])
            .await?;
        // a job that already ended, or that Slurm has forgotten, is stopped
        if output.success
            || output.stderr.contains("already completing or completed")
            || output.stderr.contains("Invalid job id")
        {
            Ok(())
        } else {
            Err(BackendError::Unavailable(format!(
                "scancel: {}",
                output.complaint()
            )))
        }
    }

    /// Forget a job that ended.
    fn forget(&self, id: &Uuid) {
        self.handover.forget(id);
        if let Ok(mut missing) = self.missing.lock() {
            missing.remove(id);
        }
        if let Ok(mut samples) = self.samples.lock() {
            samples.remove(id);
        }
    }

    /// Sample the running jobs whose last sample is older than the interval:
    /// one `sstat` for all of them. CPU % is CPU seconds over wall seconds
    /// since the previous sample (since the start for the first one).
    async fn sample(&self, running: &[&Job]) -> Vec<Observation> {
        let now = Instant::now();
        let due: Vec<&Job> = match self.samples.lock() {
            Ok(samples) => running
                .iter()
                .filter(|j| {
                    samples.get(&j.id).is_none_or(|(at, _)| {
                        now.duration_since(*at) >= self.config.metrics_interval
                    })
                })
                .copied()
                .collect(),
            Err(_) => return Vec::new(),
        };
        let steps: Vec<String> = due
            .iter()
            .filter_map(|j| j.remote_job_id.as_ref().map(|r| format!("{r}.batch")))
            .collect();
        if steps.is_empty() {
            return Vec::new();
        }
        let output = match self
            .run(vec![
                self.command("sstat"),
                "-n".to_owned(),
                "-P".to_owned(),
                "-o".to_owned(),
                "JobID,AveCPU,MaxRSS".to_owned(),
                "-j".to_owned(),
                steps.join(","),
            ])
            .await
        {
            Ok(output) if output.success => output,
            Ok(output) => {
                debug!("sstat: {}", output.complaint());
                return Vec::new();
            }
            Err(err) => {
                debug!("sstat: {err}");
                return Vec::new();
            }
        };
        let by_remote: HashMap<&str, &Job> = due
            .iter()
            .filter_map(|j| j.remote_job_id.as_deref().map(|r| (r, *j)))
            .collect();
        let wall_now = OffsetDateTime::now_utc();
        let Ok(mut samples) = self.samples.lock() else {
            return Vec::new();
        };
        let mut observations = Vec::new();
        for (remote, cpu_seconds, rss_mb) in state::parse_sstat(&output.stdout) {
            let Some(job) = by_remote.get(remote.as_str()) else {
                continue;
            };
            let (wall, cpu_before) = match samples.get(&job.id) {
                Some((at, cpu)) => (now.duration_since(*at).as_secs_f64(), *cpu),
                None => (
                    job.started_at
                        .map_or(0.0, |s| (wall_now - s).as_seconds_f64().max(0.0)),
                    0.0,
                ),
            };
            samples.insert(job.id, (now, cpu_seconds));
            let cpu_percent = if wall > 0.0 {
                ((cpu_seconds - cpu_before).max(0.0) / wall * 100.0 * 100.0).round() / 100.0
            } else {
                0.0
            };
            observations.push(Observation {
                job_id: job.id,
                update: Update::Metrics(horizon_core::MetricsSample {
                    cpu_usage_percent: cpu_percent,
                    memory_usage_mb: (rss_mb * 100.0).round() / 100.0,
                    // Slurm counts I/O in bytes, not operations
                    io_operations: 0,
                    timestamp: wall_now,
                }),
            });
        }
        observations
    }

    async fn retry_cancels(&self) {
        for id in self.handover.pending_cancels() {
            if self.scancel(&id).await.is_ok() {
                self.handover.cancel_done(&id);
            }
        }
    }
}

/// `--dependency` for a job whose dependencies went to Slurm (and `after`,
/// the array before it), with `--kill-on-invalid-dep=no`: a dependency that
/// can no longer be met leaves it pending, and Horizon cancels it with the
/// reason (the cluster's `kill_invalid_depend` would end it as cancelled
/// by someone else).
fn dependency_args(job: &Job, after: Option<&str>) -> Vec<String> {
    let mut conditions: Vec<String> = Vec::new();
    if let Some(after) = after {
        conditions.push(format!("afterany:{after}"));
    }
    if let Some(dependency) = &job.scheduler_dependency {
        conditions.push(dependency.clone());
    }
    if conditions.is_empty() {
        return Vec::new();
    }
    vec![
        format!("--dependency={}", conditions.join(",")),
        "--kill-on-invalid-dep=no".to_owned(),
    ]
}

/// sbatch refused a job's dependency (a job it names ended badly a
/// moment ago): for now, not for good — Horizon cancels the job with the
/// reason meanwhile.
fn dependency_refused(job: &Job, complaint: &str) -> bool {
    job.scheduler_dependency.is_some() && complaint.to_lowercase().contains("dependency")
}

fn started(updates: &[Update]) -> bool {
    updates.iter().any(|u| matches!(u, Update::Running { .. }))
}

/// A job's resources as sbatch options.
fn resource_args(r: &Resources) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(n) = r.nodes {
        args.push(format!("--nodes={n}"));
    }
    if let Some(n) = r.cores_per_node {
        args.push("--ntasks-per-node=1".to_owned());
        args.push(format!("--cpus-per-task={n}"));
    }
    if let Some(mb) = r.memory_mb {
        args.push(format!("--mem={mb}M"));
    }
    if let Some(n) = r.gpus
        && n > 0
    {
        args.push(format!("--gpus={n}"));
    }
    if let Some(minutes) = r.walltime_minutes {
        args.push(format!("--time={minutes}"));
    }
    args
}

#[async_trait]
impl Backend for SlurmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Slurm
    }

    fn marks_each_submission(&self) -> bool {
        true
    }

    fn submits_arrays(&self) -> bool {
        true
    }

    async fn submit_sweep(
        &self,
        jobs: &[Job],
        limit: Option<u32>,
        after: &[String],
    ) -> Vec<Result<Accepted, BackendError>> {
        self.submit_jobs_as_arrays(jobs, limit, after).await
    }

    async fn cancel_many(&self, jobs: &[Job]) -> Result<(), BackendError> {
        self.cancel_jobs(jobs).await
    }

    async fn submit(&self, job: &Job) -> Result<Accepted, BackendError> {
        let agent = self.config.agents.get(&job.agent).ok_or_else(|| {
            BackendError::Rejected(format!("no Slurm agent named {:?}", job.agent))
        })?;
        if job.handed_over || self.handover.handed_over(&job.id) {
            // handed over before (a crash or a lost answer since): never twice
            if let Some(found) = self.find_by_name(&job.id).await? {
                debug!(job.id = %job.id, "job {} is already Slurm job {}", job.id, found.id);
                // its directory is where the process that submitted it
                // put it (its `--chdir` is `<dir>/work`)
                let location = found
                    .work_dir
                    .as_deref()
                    .and_then(|dir| dir.strip_suffix("/work"))
                    .map(str::to_owned);
                return Ok(Accepted {
                    remote_job_id: Some(found.id),
                    location,
                });
            }
        }
        let script = self.script(job, agent)?;
        let params = serde_json::to_vec(&job.parameters)
            .map_err(|err| BackendError::Rejected(format!("parameters: {err}")))?;
        let dir = self.job_dir(&job.id);
        let timeout = self.config.command_timeout;
        let shell = &self.config.shell;
        shell
            .write_file(&dir, "params.json", &params, timeout)
            .await?;
        shell
            .write_file(&dir, "job.sh", script.as_bytes(), timeout)
            .await?;
        self.handover.begin(&job.id)?;
        let output = self.run(self.sbatch_args(job, agent)).await?;
        if !output.success {
            let complaint = output.complaint();
            return Err(
                if state::is_transient_submit_error(&complaint)
                    || dependency_refused(job, &complaint)
                {
                    BackendError::Unavailable(complaint)
                } else {
                    BackendError::SchedulerRejected(complaint)
                },
            );
        }
        let remote = output
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().split(';').next())
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit() || c == '_'))
            .ok_or_else(|| {
                BackendError::Unavailable(format!("sbatch printed no job id: {:?}", output.stdout))
            })?
            .to_owned();
        crate::crash_after_submit_for_tests("HORIZON_TEST_CRASH_AFTER_SBATCH");
        self.handover.accepted(&job.id, &remote);
        Ok(Accepted {
            remote_job_id: Some(remote),
            location: Some(dir),
        })
    }

    async fn poll(&self, jobs: &[Job]) -> Result<Vec<Observation>, BackendError> {
        self.retry_cancels().await;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .run(vec![
                self.command("squeue"),
                "--me".to_owned(),
                "-h".to_owned(),
                // (each task of an array on its own line)
                "-r".to_owned(),
                "-t".to_owned(),
                "all".to_owned(),
                "-O".to_owned(),
                SQUEUE_FORMAT.to_owned(),
            ])
            .await?;
        if !output.success {
            return Err(BackendError::Unavailable(format!(
                "squeue: {}",
                output.complaint()
            )));
        }
        let mut known: HashMap<String, SlurmJob> = state::parse_squeue(&output.stdout)
            .into_iter()
            .map(|j| (j.id.clone(), j))
            .collect();
        let unknown: Vec<String> = jobs
            .iter()
            .filter_map(|j| j.remote_job_id.clone())
            .filter(|id| !known.contains_key(id))
            .collect();
        // accounting that does not answer says nothing of a job: "unknown",
        // never "missing" (slurmdbd is often briefly away on real clusters)
        let mut accounting_answered = true;
        if !unknown.is_empty() {
            match self.sacct(&unknown, None).await {
                Ok(found) => known.extend(found.into_iter().map(|j| (j.id.clone(), j))),
                Err(err) => {
                    warn!(
                        "sacct failed, so {} job(s) squeue no longer shows stay as they are until it answers: {err}",
                        unknown.len()
                    );
                    accounting_answered = false;
                }
            }
        }
        let now = OffsetDateTime::now_utc();
        let mut observations = Vec::new();
        let mut running = Vec::new();
        for job in jobs {
            let Some(remote) = &job.remote_job_id else {
                continue;
            };
            let Some(slurm) = known.get(remote) else {
                if !accounting_answered {
                    continue;
                }
                let mut missing = self.missing.lock().map_err(|_| {
                    BackendError::Unavailable("slurm backend state poisoned".to_owned())
                })?;
                if missing.insert(job.id) {
                    continue;
                }
                missing.remove(&job.id);
                observations.push(Observation {
                    job_id: job.id,
                    update: Update::Failed {
                        started_at: job.started_at,
                        finished_at: now,
                        error: horizon_core::JobError::new(
                            horizon_core::error_codes::AGENT_LOST,
                            format!(
                                "Slurm has no record of job {remote} (neither squeue nor sacct)"
                            ),
                        ),
                    },
                });
                continue;
            };
            let noted = Noted::parse(&self.handover.noted(&job.id));
            let (updates, now_noted) = state::decide(job.status, noted, slurm, now);
            let ended = updates
                .iter()
                .any(|u| matches!(u, Update::Succeeded { .. } | Update::Failed { .. }));
            if ended {
                self.forget(&job.id);
            } else if now_noted != noted {
                self.handover.set_noted(&job.id, now_noted.as_str());
            }
            if !ended && (job.status == JobStatus::Running || started(&updates)) {
                running.push(job);
            }
            for update in updates {
                // (killed for memory: said only in its stderr)
                let update = self.out_of_memory(job, update).await;
                observations.push(Observation {
                    job_id: job.id,
                    update,
                });
            }
        }
        observations.extend(self.sample(&running).await);
        Ok(observations)
    }

    async fn logs(
        &self,
        job: &Job,
        stream: LogStream,
        range: LogRange,
    ) -> Result<LogChunk, BackendError> {
        let name = match stream {
            LogStream::Stdout => "stdout.log",
            LogStream::Stderr => "stderr.log",
        };
        // where the process that handed it over put it (its jobs_dir may
        // differ from this one's: the default is per data directory)
        let dir = job
            .location
            .clone()
            .unwrap_or_else(|| self.job_dir(&job.id));
        let path = format!("{dir}/{name}");
        if let Shell::Local = self.config.shell {
            return crate::read_log(PathBuf::from(path), range).await;
        }
        // the size on the first line, then the bytes
        let (skip, max) = match range {
            LogRange::Tail(n) => (None, n),
            LogRange::From { offset, max } => (Some(offset), max),
        };
        let script = r#"f=$1; s=$(wc -c < "$f" 2>/dev/null) || { echo 0; exit 0; }; echo $s
if [ -n "$2" ]; then tail -c +$(($2 + 1)) "$f" | head -c "$3"; else tail -c "$3" "$f"; fi"#;
        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            "sh".to_owned(),
            path,
            skip.map(|s| s.to_string()).unwrap_or_default(),
            max.to_string(),
        ];
        let output = self.run(argv).await?;
        let (size, bytes) = output.stdout.split_once('\n').unwrap_or(("0", ""));
        let size: u64 = size.trim().parse().unwrap_or(0);
        let bytes = bytes.as_bytes().to_vec();
        let start = match range {
            LogRange::Tail(_) => size.saturating_sub(bytes.len() as u64),
            LogRange::From { offset, .. } => offset.min(size),
        };
        Ok(LogChunk { start, bytes, size })
    }

    fn queued_hold(&self) -> crate::QueuedHold {
        crate::QueuedHold::InScheduler
    }

    async fn hold(&self, job: &Job) -> Result<(), BackendError> {
        self.scontrol_hold(job, true).await
    }

    async fn release(&self, job: &Job) -> Result<(), BackendError> {
        self.scontrol_hold(job, false).await
    }

    async fn cancel(&self, job: &Job) -> Result<(), BackendError> {
        let target = match &job.remote_job_id {
            Some(remote) => remote.clone(),
            None => {
                if !(job.handed_over || self.handover.handed_over(&job.id)) {
                    return Ok(()); // never handed to Slurm
                }
                match self.find_unrecorded(&job.id).await? {
                    Some(found) => found,
                    None => {
                        self.forget(&job.id);
                        return Ok(());
                    }
                }
            }
        };
        match self.scancel(&target).await {
            Ok(()) => {
                self.forget(&job.id);
                Ok(())
            }
            Err(err) => {
                self.handover.cancel_failed(target);
                Err(err)
            }
        }
    }

    /// Jobs this server handed to Slurm (an older marker) that are no longer
    /// active in Horizon: cancelled just before a crash. Markers written by
    /// this process are left alone (a job submitted since the active list
    /// was read).
    async fn stop_strays(&self, active: &[Uuid]) -> Result<usize, BackendError> {
        let active: HashSet<Uuid> = active.iter().copied().collect();
        let mut stopped = 0;
        for (id, recorded) in self.handover.strays(&active)? {
            let target = match recorded {
                Some(remote) => Some(remote),
                None => self.find_unrecorded(&id).await?,
            };
            if let Some(target) = target {
                self.scancel(&target).await?;
                warn!(job.id = %id, "job {id} has ended but Slurm job {target} was still there: cancelled it");
                stopped += 1;
            }
            self.forget(&id);
        }
        Ok(stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_become_sbatch_options() {
        let r = Resources {
            nodes: Some(2),
            cores_per_node: Some(4),
            memory_mb: Some(1024),
            gpus: Some(1),
            walltime_minutes: Some(30),
        };
        assert_eq!(
            resource_args(&r),
            [
                "--nodes=2",
                "--ntasks-per-node=1",
                "--cpus-per-task=4",
                "--mem=1024M",
                "--gpus=1",
                "--time=30"
            ]
        );
        assert!(resource_args(&Resources::default()).is_empty());
    }
}

//! The `Backend` port's conformance suite: one set of cases that every
//! implementation must pass, driven as the dispatcher and the watcher drive
//! a backend, with the real thing behind it — processes on this machine for
//! `local`, the real single-node Slurm for `slurm` (`scripts/slurm.sh up`;
//! `HORIZON_TEST_SKIP_SLURM=1` skips it), and for `tapis` the
//! Tapis-compatible server the end-to-end tests use (`horizon/tests/common/tapis.rs`).
//!
//! Cases: submission is idempotent; a job runs to completion once; a
//! non-zero exit maps to NONZERO_EXIT with its code; cancel works in every
//! status (SUBMITTED, QUEUED, RUNNING, ended) and stops the program; a new
//! backend over the same state (a restart) re-finds a job instead of
//! running it again; an unknown agent is a refusal, not a passing error;
//! a held QUEUED job does not start until released, as the backend says it
//! holds (`queued_hold`).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use horizon_backend::local::{LocalAgent, LocalBackend, LocalConfig};
use horizon_backend::slurm::{Shell, SlurmAgent, SlurmBackend, SlurmConfig};
use horizon_backend::tapis::{
    TapisAgent, TapisBackend, TapisClient, TapisConfig, TapisCredentials, TapisService,
};
use horizon_backend::{Attempts, Backend, QueuedHold, Update};
use horizon_core::{BackendKind, Command, Job, JobStatus, Resources, transition};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

#[path = "../../horizon/tests/common/tapis.rs"]
mod fake_tapis;

fn test_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../horizon/tests/agents/testagent.py")
}

/// One backend under test, with what the suite needs to look behind it.
/// Makes a backend over a directory (again, for a restart).
type Maker = Box<dyn Fn(&Path) -> Box<dyn Backend> + Send + Sync>;

tokio::task_local! {
    /// Set for the Tapis cases run with Horizon as a Tapis service acting
    /// for the job's user (`X-Tapis-User`).
    static TAPIS_AS_SERVICE: bool;
}

fn tapis_as_service() -> bool {
    TAPIS_AS_SERVICE.try_with(|on| *on).unwrap_or(false)
}

struct Harness {
    kind: BackendKind,
    dir: tempfile::TempDir,
    make: Maker,
    backend: Box<dyn Backend>,
    tapis: Option<fake_tapis::FakeTapis>,
}

impl Harness {
    async fn new(kind: BackendKind) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("runs")).unwrap();
        let mut tapis_fake = None;
        let make: Maker = match kind {
            BackendKind::Local => Box::new(local),
            BackendKind::Slurm => Box::new(slurm),
            BackendKind::Tapis => {
                let fake = fake_tapis::FakeTapis::start().await;
                let url = fake.url.clone();
                tapis_fake = Some(fake);
                let service = tapis_as_service();
                Box::new(move |dir: &Path| tapis(dir, &url, service))
            }
        };
        // as the server uses it: each attempt a job of its own
        let backend: Box<dyn Backend> = Box::new(Attempts(Arc::from(make(dir.path()))));
        Harness {
            kind,
            dir,
            make,
            backend,
            tapis: tapis_fake,
        }
    }

    /// A new backend over the same directories: what a restarted server has.
    fn restart(&mut self) {
        self.backend = Box::new(Attempts(Arc::from((self.make)(self.dir.path()))));
    }

    fn job(&self, agent: &str, parameters: Value) -> Job {
        let now = OffsetDateTime::now_utc();
        let parameters: Map<String, Value> = parameters.as_object().unwrap().clone();
        Job {
            id: Uuid::now_v7(),
            user_id: "conformance".into(),
            agent: agent.into(),
            dataset_id: "ds-conformance".into(),
            parameters,
            backend: self.kind,
            resources: Resources::default(),
            status: JobStatus::Submitted,
            remote_job_id: None,
            correlation_id: "c".into(),
            error: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            queued_at: None,
            exit_code: None,
            lifecycle_sequence: 1,
            metrics_sequence: 0,
            handed_over: false,
            claim_epoch: 0,
            // as a Tapis service: the user the job runs as
            account: (self.kind == BackendKind::Tapis && tapis_as_service())
                .then(|| "conformance-user".to_owned()),
            traceparent: None,
            location: None,
            held: false,
            cloned_from: None,
            attempt: 1,
            max_attempts: 1,
            retry: None,
            next_attempt_at: None,
            depends_on: Vec::new(),
            waiting: false,
            sweep_id: None,
            sweep_index: None,
            gated: false,
            scheduler_dependency: None,
        }
    }

    /// How many times the job's program started (its current attempt).
    fn runs(&self, job: &Job) -> usize {
        std::fs::read_to_string(self.dir.path().join("runs").join(job.run_id().to_string()))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// Submit as the dispatcher does: the job becomes QUEUED.
    async fn submit(&self, job: &mut Job) {
        let accepted = self.backend.submit(job).await.unwrap();
        apply(
            job,
            Command::Queue {
                remote_job_id: accepted.remote_job_id,
                location: None,
                at: OffsetDateTime::now_utc(),
            },
        );
    }

    /// Poll as the watcher does, applying what the backend says, until the
    /// job has ended or `until` holds; returns the updates seen.
    async fn drive(&self, job: &mut Job, until: impl Fn(&Job) -> bool) -> Vec<Update> {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut seen = Vec::new();
        while !job.status.is_terminal() && !until(job) {
            assert!(
                Instant::now() < deadline,
                "{:?}: job stuck in {} after {seen:?}",
                self.kind,
                job.status
            );
            for observation in self.backend.poll(std::slice::from_ref(job)).await.unwrap() {
                assert_eq!(observation.job_id, job.id);
                record(job, &observation.update);
                seen.push(observation.update);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    }

    /// Whether nothing of the job runs any more, as the backend itself shows.
    fn stopped(&self, job: &Job) -> bool {
        match self.kind {
            BackendKind::Local => {
                let pid = std::fs::read_to_string(
                    self.dir
                        .path()
                        .join("jobs")
                        .join(job.id.to_string())
                        .join("supervisor.pid"),
                )
                .unwrap_or_default();
                match pid
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<i32>().ok())
                {
                    None => true,
                    Some(pid) => {
                        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                            .unwrap_or_default();
                        stat.is_empty()
                            || stat
                                .rsplit(')')
                                .next()
                                .unwrap_or("")
                                .trim_start()
                                .starts_with('Z')
                    }
                }
            }
            BackendKind::Slurm => {
                let Some(remote) = &job.remote_job_id else {
                    return true;
                };
                let out = Process::new("squeue")
                    .args(["-h", "-t", "all", "-j", remote, "-O", "State:|"])
                    .output()
                    .unwrap();
                let state = String::from_utf8_lossy(&out.stdout);
                !matches!(
                    state.trim().trim_end_matches('|'),
                    "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED"
                )
            }
            BackendKind::Tapis => {
                let (Some(fake), Some(uuid)) = (&self.tapis, &job.remote_job_id) else {
                    return true;
                };
                matches!(
                    fake.status(uuid).as_deref(),
                    Some("CANCELLED" | "FINISHED" | "FAILED") | None
                )
            }
        }
    }
}

fn apply(job: &mut Job, command: Command) {
    let decided = transition(job, command).unwrap();
    *job = decided.apply_to(job);
}

fn record(job: &mut Job, update: &Update) {
    match update.clone() {
        Update::Running {
            remote_job_id,
            started_at,
        } => apply(
            job,
            Command::Start {
                remote_job_id: remote_job_id.or(job.remote_job_id.clone()),
                at: started_at,
            },
        ),
        Update::Succeeded {
            started_at,
            finished_at,
            exit_code,
        } => {
            if job.status == JobStatus::Queued {
                record(
                    job,
                    &Update::Running {
                        remote_job_id: None,
                        started_at,
                    },
                );
            }
            apply(
                job,
                Command::Complete {
                    exit_code,
                    at: finished_at,
                },
            );
        }
        Update::Failed {
            started_at,
            finished_at,
            error,
        } => {
            if let (JobStatus::Queued, Some(at)) = (job.status, started_at) {
                record(
                    job,
                    &Update::Running {
                        remote_job_id: None,
                        started_at: at,
                    },
                );
            }
            apply(
                job,
                Command::Fail {
                    error,
                    at: finished_at,
                },
            );
        }
        Update::Note { reason, at } => apply(job, Command::Note { reason, at }),
        Update::Metrics(_) => {}
    }
}

/// An agent of the suite: name, arguments, environment.
type TestAgent = (&'static str, Vec<String>, Vec<(String, String)>);

fn agents(dir: &Path) -> Vec<TestAgent> {
    let agent = test_agent().display().to_string();
    let env = vec![(
        "HORIZON_TEST_RUNS_DIR".to_owned(),
        dir.join("runs").display().to_string(),
    )];
    ["ok", "fail", "sleep"]
        .into_iter()
        .map(|mode| (mode, vec![agent.clone(), mode.to_owned()], env.clone()))
        .collect()
}

fn local(dir: &Path) -> Box<dyn Backend> {
    let agents: HashMap<String, LocalAgent> = agents(dir)
        .into_iter()
        .map(|(name, args, env)| {
            (
                name.to_owned(),
                LocalAgent {
                    program: "/usr/bin/python3".into(),
                    args,
                    env,
                },
            )
        })
        .collect();
    Box::new(
        LocalBackend::new(LocalConfig {
            jobs_dir: dir.join("jobs"),
            slots: 4,
            metrics_interval: Duration::from_secs(60),
            cancel_grace: Duration::from_secs(2),
            supervisor: PathBuf::from(env!("CARGO_BIN_EXE_horizon-supervise")),
            supervisor_args: Vec::new(),
            agents,
            run_as: None,
        })
        .unwrap(),
    )
}

fn slurm(dir: &Path) -> Box<dyn Backend> {
    let agents: HashMap<String, SlurmAgent> = agents(dir)
        .into_iter()
        .map(|(name, args, env)| {
            (
                name.to_owned(),
                SlurmAgent {
                    program: "/usr/bin/python3".into(),
                    args,
                    env,
                    partition: None,
                    account: None,
                    qos: None,
                    sbatch_options: Vec::new(),
                    preamble: Vec::new(),
                },
            )
        })
        .chain([(
            // its partition is down: it stays pending until moved
            "parked".to_owned(),
            SlurmAgent {
                program: "/usr/bin/python3".into(),
                args: vec![test_agent().display().to_string(), "ok".to_owned()],
                env: vec![(
                    "HORIZON_TEST_RUNS_DIR".to_owned(),
                    dir.join("runs").display().to_string(),
                )],
                partition: Some("parked".to_owned()),
                account: None,
                qos: None,
                sbatch_options: Vec::new(),
                preamble: Vec::new(),
            },
        )])
        .collect();
    Box::new(
        SlurmBackend::new(SlurmConfig {
            shell: Shell::Local,
            jobs_dir: dir.join("slurm").display().to_string(),
            state_dir: dir.join("slurm-state"),
            bin_dir: None,
            command_timeout: Duration::from_secs(20),
            metrics_interval: Duration::from_secs(60),
            max_array_size: None,
            agents,
        })
        .unwrap(),
    )
}

fn tapis(dir: &Path, url: &str, service: bool) -> Box<dyn Backend> {
    let agents: HashMap<String, TapisAgent> = agents(dir)
        .into_iter()
        .map(|(name, args, env)| {
            (
                name.to_owned(),
                TapisAgent {
                    app_id: format!("horizon-{name}"),
                    app_version: "1.0".to_owned(),
                    exec_system_id: None,
                    args,
                    env,
                },
            )
        })
        .collect();
    let client = TapisClient::new(
        url,
        if service {
            TapisCredentials {
                username: fake_tapis::SERVICE.to_owned(),
                password: fake_tapis::SERVICE_PASSWORD.to_owned(),
                client: None,
                service: Some(TapisService {
                    tenant: fake_tapis::TENANT.to_owned(),
                    site: None,
                    default_user: None,
                }),
            }
        } else {
            TapisCredentials {
                username: fake_tapis::USER.to_owned(),
                password: fake_tapis::PASSWORD.to_owned(),
                client: None,
                service: None,
            }
        },
        Duration::from_secs(5),
        3,
        Duration::from_millis(20),
    )
    .unwrap();
    Box::new(
        TapisBackend::new(TapisConfig {
            client,
            state_dir: dir.join("tapis-state"),
            agents,
            concurrency: 4,
        })
        .unwrap(),
    )
}

fn skip(kind: BackendKind) -> bool {
    if kind != BackendKind::Slurm {
        return false;
    }
    if std::env::var_os("HORIZON_TEST_SKIP_SLURM").is_some() {
        eprintln!("HORIZON_TEST_SKIP_SLURM is set: skipping the Slurm conformance cases");
        return true;
    }
    let up = Process::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        up,
        "no Slurm here: `scripts/slurm.sh up` (or HORIZON_TEST_SKIP_SLURM=1)"
    );
    false
}

async fn submit_is_idempotent_and_a_job_runs_once(kind: BackendKind) {
    let h = Harness::new(kind).await;
    let mut job = h.job("ok", json!({"seconds": 0.1}));
    let first = h.backend.submit(&job).await.unwrap();
    let again = h.backend.submit(&job).await.unwrap();
    assert_eq!(
        first, again,
        "{kind:?}: a second submit gave another answer"
    );
    apply(
        &mut job,
        Command::Queue {
            remote_job_id: first.remote_job_id,
            location: None,
            at: OffsetDateTime::now_utc(),
        },
    );
    let seen = h.drive(&mut job, |_| false).await;
    assert_eq!(job.status, JobStatus::Completed, "{kind:?}: {seen:?}");
    assert!(
        seen.iter()
            .any(|u| matches!(u, Update::Succeeded { exit_code: 0, .. })),
        "{seen:?}"
    );
    assert_eq!(
        h.runs(&job),
        1,
        "{kind:?}: the program ran {} times",
        h.runs(&job)
    );
    assert!(job.remote_job_id.is_some(), "{kind:?}: no remote id");
    // the output is there
    let out = h
        .backend
        .logs(
            &job,
            horizon_backend::LogStream::Stdout,
            horizon_backend::LogRange::Tail(4096),
        )
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.bytes).contains(if kind == BackendKind::Tapis {
            "hello from Tapis job"
        } else {
            "done after"
        }),
        "{out:?}"
    );
    // polling an ended job's last state again reports nothing new for it
    // that would move it (the watcher drops stale observations anyway)
}

async fn a_nonzero_exit_is_nonzero_exit_with_its_code(kind: BackendKind) {
    let h = Harness::new(kind).await;
    let mut job = h.job("fail", json!({"exit_code": 3}));
    h.submit(&mut job).await;
    h.drive(&mut job, |_| false).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.clone().unwrap();
    assert_eq!(error.code, "NONZERO_EXIT", "{kind:?}: {error:?}");
    assert_eq!(error.exit_code, Some(3));
    assert!(job.started_at.is_some());
}

async fn cancel_works_in_every_status(kind: BackendKind) {
    let h = Harness::new(kind).await;
    // SUBMITTED: never handed over
    let submitted = h.job("sleep", json!({"seconds": 120}));
    h.backend.cancel(&submitted).await.unwrap();
    assert_eq!(h.runs(&submitted), 0);

    // RUNNING: the program is stopped
    let mut running = h.job("sleep", json!({"seconds": 120}));
    h.submit(&mut running).await;
    h.drive(&mut running, |j| j.status == JobStatus::Running)
        .await;
    assert_eq!(running.status, JobStatus::Running);
    h.backend.cancel(&running).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !h.stopped(&running) {
        assert!(
            Instant::now() < deadline,
            "{kind:?}: a cancelled job still runs"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // QUEUED, then cancelled before the backend ran it: it never runs
    let mut queued = h.job("sleep", json!({"seconds": 120}));
    h.submit(&mut queued).await;
    h.backend.cancel(&queued).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // the cancelled job is no longer active: polls leave it out, and the
    // backend starts nothing for it
    let _ = h.backend.poll(&[]).await.unwrap();
    assert!(
        h.stopped(&queued),
        "{kind:?}: cancelled while queued, yet running"
    );

    // ended: cancelling is not an error
    let mut done = h.job("ok", json!({"seconds": 0.05}));
    h.submit(&mut done).await;
    h.drive(&mut done, |_| false).await;
    h.backend.cancel(&done).await.unwrap();
}

async fn a_restart_finds_the_job_again_instead_of_running_it_twice(kind: BackendKind) {
    let mut h = Harness::new(kind).await;
    let mut job = h.job("ok", json!({"seconds": 0.5}));
    let accepted = h.backend.submit(&job).await.unwrap();
    // the server dies before recording QUEUED; the next one submits again
    h.restart();
    let again = h.backend.submit(&job).await.unwrap();
    assert_eq!(accepted, again, "{kind:?}");
    apply(
        &mut job,
        Command::Queue {
            remote_job_id: again.remote_job_id,
            location: None,
            at: OffsetDateTime::now_utc(),
        },
    );
    h.drive(&mut job, |j| j.status == JobStatus::Running).await;
    // and dies again while it runs: the new one follows it to its end
    h.restart();
    h.drive(&mut job, |_| false).await;
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(h.runs(&job), 1, "{kind:?}");
}

async fn an_unknown_agent_is_refused_for_good(kind: BackendKind) {
    let h = Harness::new(kind).await;
    let job = h.job("no-such-agent", json!({}));
    let err = h.backend.submit(&job).await.unwrap_err();
    assert!(!err.is_retryable(), "{kind:?}: {err}");
    assert!(err.rejection_code().is_some());
}

/// A QUEUED job held as the backend holds it does not start; released, it
/// runs once. Tapis cannot hold an accepted job: it says so
/// (`Unsupported`), and the API refuses such a hold.
async fn a_held_job_does_not_start_until_released(kind: BackendKind) {
    let h = Harness::new(kind).await;
    let hold = || Command::Hold {
        by: "alice".into(),
        reason: "wait".into(),
        at: OffsetDateTime::now_utc(),
    };
    let release = || Command::Release {
        by: "alice".into(),
        reason: "go".into(),
        at: OffsetDateTime::now_utc(),
    };
    match h.backend.queued_hold() {
        QueuedHold::Unsupported => assert_eq!(kind, BackendKind::Tapis),
        QueuedHold::InHorizon => {
            let mut job = h.job("ok", json!({"seconds": 0.05}));
            h.submit(&mut job).await;
            apply(&mut job, hold());
            // the watcher leaves a held job out of its polls
            for _ in 0..10 {
                let _ = h.backend.poll(&[]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(h.runs(&job), 0, "{kind:?}: a held job ran");
            apply(&mut job, release());
            h.drive(&mut job, |_| false).await;
            assert_eq!(job.status, JobStatus::Completed, "{kind:?}");
            assert_eq!(h.runs(&job), 1);
        }
        QueuedHold::InScheduler => {
            assert_eq!(kind, BackendKind::Slurm);
            let mut job = h.job("parked", json!({"seconds": 0.05}));
            h.submit(&mut job).await;
            h.backend.hold(&job).await.unwrap();
            apply(&mut job, hold());
            // a partition that would run it: the hold keeps it back
            let remote = job.remote_job_id.clone().unwrap();
            let moved = Process::new("scontrol")
                .args(["update", &format!("jobid={remote}"), "partition=debug"])
                .output()
                .unwrap();
            assert!(moved.status.success(), "{moved:?}");
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until {
                for observation in h.backend.poll(std::slice::from_ref(&job)).await.unwrap() {
                    record(&mut job, &observation.update);
                }
                assert_eq!(
                    job.status,
                    JobStatus::Queued,
                    "{kind:?}: a held job started"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert_eq!(h.runs(&job), 0);
            h.backend.release(&job).await.unwrap();
            apply(&mut job, release());
            h.drive(&mut job, |_| false).await;
            assert_eq!(job.status, JobStatus::Completed, "{kind:?}");
            assert_eq!(h.runs(&job), 1);
        }
    }
}

/// A retried job's next attempt is a job of its own to the backend: it
/// runs (once, also when handed over again after a restart), although the
/// first attempt of the same job ran and ended.
async fn each_attempt_runs_once_as_a_job_of_its_own(kind: BackendKind) {
    let mut h = Harness::new(kind).await;
    let mut job = h.job("fail", json!({}));
    job.max_attempts = 2;
    h.submit(&mut job).await;
    // the first attempt fails: the policy's retry instead of the failure
    let deadline = Instant::now() + Duration::from_secs(90);
    let error = 'failed: loop {
        assert!(Instant::now() < deadline, "{kind:?}: attempt 1 never ended");
        for observation in h.backend.poll(std::slice::from_ref(&job)).await.unwrap() {
            match observation.update {
                Update::Failed { error, .. } => break 'failed error,
                update => record(&mut job, &update),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(error.code, "NONZERO_EXIT", "{kind:?}: {error:?}");
    assert_eq!(h.runs(&job), 1);
    let resources = job.resources;
    apply(
        &mut job,
        Command::Retry {
            error,
            next_attempt_at: OffsetDateTime::now_utc(),
            resources,
            at: OffsetDateTime::now_utc(),
        },
    );
    assert_eq!(job.attempt, 2);
    assert_ne!(job.run_id(), job.id);
    // the second attempt handed over, and again after a restart (a crash
    // before its QUEUED was recorded)
    let second = job.clone();
    h.submit(&mut job).await;
    h.restart();
    let mut again = second;
    h.submit(&mut again).await;
    assert_eq!(
        again.remote_job_id, job.remote_job_id,
        "{kind:?}: submitted twice"
    );
    h.drive(&mut job, |_| false).await;
    assert_eq!(job.status, JobStatus::Failed, "{kind:?}");
    assert_eq!(job.attempt, 2);
    assert_eq!(
        h.runs(&job),
        1,
        "{kind:?}: the second attempt ran {} times",
        h.runs(&job)
    );
}

/// A sweep's jobs handed over together (`submit_sweep`: one Slurm array;
/// one by one elsewhere): each accepted as a job of its own, again the
/// same after a restart (nothing twice), each runs once, a failing one
/// fails alone; `cancel_many` stops several at once.
async fn a_sweeps_jobs_go_together_and_each_runs_once(kind: BackendKind) {
    let mut h = Harness::new(kind).await;
    let sweep = Uuid::now_v7();
    let mut jobs: Vec<Job> = (0..3)
        .map(|i| {
            let mut job = h.job("ok", json!({"seconds": 0.1, "i": i}));
            job.sweep_id = Some(sweep);
            job.sweep_index = Some(i);
            job
        })
        .collect();
    let first: Vec<_> = h
        .backend
        .submit_sweep(&jobs, Some(2), &[])
        .await
        .into_iter()
        .map(|o| o.unwrap())
        .collect();
    // (a backend that assigns ids: one each; the local one assigns none)
    let remotes: HashSet<Option<String>> = first.iter().map(|a| a.remote_job_id.clone()).collect();
    if kind != BackendKind::Local {
        assert_eq!(remotes.len(), 3, "{kind:?}: a job each: {first:?}");
    }
    // a restart while they were being handed over: found, not run again
    h.restart();
    for job in &mut jobs {
        job.handed_over = true;
    }
    let again: Vec<_> = h
        .backend
        .submit_sweep(&jobs, Some(2), &[])
        .await
        .into_iter()
        .map(|o| o.unwrap())
        .collect();
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(
            a.remote_job_id, b.remote_job_id,
            "{kind:?}: handed over twice"
        );
    }
    for (job, accepted) in jobs.iter_mut().zip(first) {
        apply(
            job,
            Command::Queue {
                remote_job_id: accepted.remote_job_id,
                location: accepted.location,
                at: OffsetDateTime::now_utc(),
            },
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while jobs.iter().any(|j| !j.status.is_terminal()) {
        assert!(Instant::now() < deadline, "{kind:?}: {jobs:?}");
        let active: Vec<Job> = jobs
            .iter()
            .filter(|j| !j.status.is_terminal())
            .cloned()
            .collect();
        for observation in h.backend.poll(&active).await.unwrap() {
            if let Some(job) = jobs.iter_mut().find(|j| j.id == observation.job_id) {
                record(job, &observation.update);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Completed, "{kind:?}: {job:?}");
        assert_eq!(
            h.runs(job),
            1,
            "{kind:?}: job {:?} ran {} times",
            job.sweep_index,
            h.runs(job)
        );
    }
    // several stopped at once
    let mut sleepers: Vec<Job> = (0..2)
        .map(|i| {
            let mut job = h.job("sleep", json!({"seconds": 120}));
            job.sweep_id = Some(sweep);
            job.sweep_index = Some(10 + i);
            job
        })
        .collect();
    let accepted = h.backend.submit_sweep(&sleepers, None, &[]).await;
    for (job, accepted) in sleepers.iter_mut().zip(accepted) {
        let accepted = accepted.unwrap();
        apply(
            job,
            Command::Queue {
                remote_job_id: accepted.remote_job_id,
                location: accepted.location,
                at: OffsetDateTime::now_utc(),
            },
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while sleepers.iter().any(|j| j.status != JobStatus::Running) {
        assert!(
            Instant::now() < deadline,
            "{kind:?}: never started {sleepers:?}"
        );
        let active = sleepers.clone();
        for observation in h.backend.poll(&active).await.unwrap() {
            if let Some(job) = sleepers.iter_mut().find(|j| j.id == observation.job_id) {
                record(job, &observation.update);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.backend.cancel_many(&sleepers).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sleepers.iter().all(|j| h.stopped(j)) {
        assert!(
            Instant::now() < deadline,
            "{kind:?}: still running after cancel_many"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(horizon_core::BackendKind::Local).await;
                }
            )*
        }
        mod tapis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(horizon_core::BackendKind::Tapis).await;
                }
            )*
        }
        /// Tapis again, Horizon acting for the job's user as a service.
        mod tapis_service_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::TAPIS_AS_SERVICE
                        .scope(true, super::$case(horizon_core::BackendKind::Tapis))
                        .await;
                }
            )*
        }
        mod slurm_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if super::skip(horizon_core::BackendKind::Slurm) {
                        return;
                    }
                    super::$case(horizon_core::BackendKind::Slurm).await;
                }
            )*
        }
    };
}

conformance!(
    submit_is_idempotent_and_a_job_runs_once,
    a_nonzero_exit_is_nonzero_exit_with_its_code,
    cancel_works_in_every_status,
    a_restart_finds_the_job_again_instead_of_running_it_twice,
    an_unknown_agent_is_refused_for_good,
    a_held_job_does_not_start_until_released,
    each_attempt_runs_once_as_a_job_of_its_own,
    a_sweeps_jobs_go_together_and_each_runs_once,
);

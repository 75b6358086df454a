//! Two local backends over one jobs directory — two `serve` processes on one
//! machine and one database: a job cancelled through one frees its slot in
//! the other that started it.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use horizon_backend::local::{LocalAgent, LocalBackend, LocalConfig};
use horizon_backend::{Backend, Update};
use horizon_core::{BackendKind, Job, JobStatus, Resources};
use serde_json::Map;
use time::OffsetDateTime;
use uuid::Uuid;

fn backend(jobs: &Path) -> LocalBackend {
    let agent = LocalAgent {
        program: "/bin/sleep".into(),
        args: vec!["60".into()],
        env: Vec::new(),
    };
    LocalBackend::new(LocalConfig {
        jobs_dir: jobs.to_owned(),
        slots: 1,
        metrics_interval: Duration::from_secs(60),
        cancel_grace: Duration::from_secs(1),
        supervisor: PathBuf::from(env!("CARGO_BIN_EXE_horizon-supervise")),
        supervisor_args: Vec::new(),
        agents: HashMap::from([("sleep".to_owned(), agent)]),
        run_as: None,
    })
    .unwrap()
}

fn queued() -> Job {
    let now = OffsetDateTime::now_utc();
    Job {
        id: Uuid::now_v7(),
        user_id: "u".into(),
        agent: "sleep".into(),
        dataset_id: "d".into(),
        parameters: Map::new(),
        backend: BackendKind::Local,
        resources: Resources::default(),
        status: JobStatus::Queued,
        remote_job_id: None,
        correlation_id: "c".into(),
        error: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        queued_at: None,
        exit_code: None,
        lifecycle_sequence: 2,
        metrics_sequence: 0,
        handed_over: false,
        claim_epoch: 0,
        account: None,
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

fn started(updates: &[horizon_backend::Observation]) -> bool {
    updates
        .iter()
        .any(|o| matches!(o.update, Update::Running { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_through_another_process_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (backend(dir.path()), backend(dir.path()));
    let first = queued();
    assert!(started(
        &a.poll(std::slice::from_ref(&first)).await.unwrap()
    ));
    assert_eq!(a.queued_poll_limit(), Some(0), "its one slot is taken");
    let job_dir = dir.path().join(first.id.to_string());
    let deadline = Instant::now() + Duration::from_secs(15);
    while !job_dir.join("started.json").exists() {
        assert!(Instant::now() < deadline, "the program did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // cancelled through the other process: that one stops the program
    b.cancel(&first).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !dir
        .path()
        .join(first.id.to_string())
        .join("exit.json")
        .exists()
    {
        assert!(
            Instant::now() < deadline,
            "the program was not stopped: {:?} {:?}",
            std::fs::read_dir(dir.path().join(first.id.to_string()))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>(),
            std::fs::read_to_string(dir.path().join(first.id.to_string()).join("supervisor.log"))
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the first process no longer sees that job (it is CANCELLED), yet its
    // slot is free again and the next job starts
    assert_eq!(a.queued_poll_limit(), Some(1));
    let second = queued();
    assert!(started(
        &a.poll(std::slice::from_ref(&second)).await.unwrap()
    ));
    a.cancel(&second).await.unwrap();
}

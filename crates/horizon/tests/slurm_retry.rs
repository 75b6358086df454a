//! Retries on a real Slurm: a job whose node is set DOWN while it runs ends
//! its attempt with `NODE_FAIL`; its agent's policy retries that, and once
//! the node is back the next attempt (a new Slurm job, under its own name)
//! completes; a crash right after the next attempt's `sbatch` submits it
//! once. The tests of this binary take turns: one takes the cluster's only
//! node down.
//!
//! Set `HORIZON_TEST_SKIP_SLURM=1` to skip it on a machine without Slurm.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::slurm::*;
use common::{Server, ServerOptions, assert_valid_events, repo_root};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(90);

/// One test at a time: the node goes down in one of them.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The Slurm agents, and `s-retried` (the test agent's `flaky` mode; exit
/// code 75 and `NODE_FAIL` retried once, after 1 s).
fn toml() -> String {
    let agent = repo_root().join("crates/horizon/tests/agents/testagent.py");
    format!(
        "{}\n[agents.s-hungry]\nbackend = \"slurm\"\nprogram = \"/usr/bin/python3\"\nargs = [\"{agent}\", \"hog\"]\nsbatch_options = [\"--no-requeue\"]\ndefault_resources = {{ memory_mb = 100 }}\nmax_resources = {{ memory_mb = 2000 }}\nretry = {{ attempts = 2, backoff_seconds = 1, on = [\"SCHEDULER_OUT_OF_MEMORY\"], memory_factor = 4.0 }}\n[agents.s-retried]\nbackend = \"slurm\"\nprogram = \"/usr/bin/python3\"\nargs = [\"{agent}\", \"flaky\"]\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{{runs}}\" }}\nsbatch_options = [\"--no-requeue\"]\nretry = {{ attempts = 2, backoff_seconds = 1, on = [\"NODE_FAIL\"], exit_codes = [75] }}\n",
        slurm_toml("{runs}"),
        agent = agent.display()
    )
}

/// Put the node back whatever happens.
struct NodeBack;

impl Drop for NodeBack {
    fn drop(&mut self) {
        let _ = std::process::Command::new("scontrol")
            .args(["update", "nodename=localhost", "state=resume"])
            .output();
    }
}

#[tokio::test]
async fn a_node_failure_is_retried_and_the_next_attempt_completes() {
    if skip() {
        return;
    }
    let _turn = TURN.lock().await;
    let server = Server::start_with(ServerOptions {
        extra_toml: toml(),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let dir = tempfile::tempdir().unwrap();
    // the first attempt sleeps (until its node fails), the second succeeds
    let marker = dir.path().join("m");
    let job = alice
        .submit(
            "s-retried",
            json!({"marker": marker.display().to_string(), "slow_first": 120}),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let running = alice.wait_for(&id, Some("RUNNING"), T).await;
    let first = running["remote_job_id"].as_str().unwrap().to_owned();
    // (its program really runs: it has made the marker)
    wait_until("the first attempt's program to start", T, || {
        marker.exists()
    })
    .await;
    let back = NodeBack;
    scontrol(&[
        "update",
        "nodename=localhost",
        "state=down",
        "reason=horizon-test",
    ]);
    let deadline = Instant::now() + T;
    let retry = loop {
        let events = alice.events(&id).await;
        if let Some(e) = events
            .iter()
            .find(|e| e["event_type"] == "job.retry_scheduled")
        {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no retry after the node went down: {:?}\n{}",
            types(&events),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(retry["payload"]["error_code"], "NODE_FAIL", "{retry}");
    assert_eq!(retry["payload"]["attempt"], 2);
    // back (Slurm may have returned it to service by itself already)
    drop(back);
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
    let second = done["remote_job_id"].as_str().unwrap();
    assert_ne!(
        second, first,
        "the second attempt is a Slurm job of its own"
    );
    assert_eq!(slurm_state(&first), "NODE_FAIL");
    let events = alice.events(&id).await;
    assert_valid_events(&events);
    let seen: Vec<(String, Value)> = events
        .iter()
        .filter(|e| e["event_type"] != "job.metrics_recorded")
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_owned(),
                e["attempt"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, Value)> = [
        ("job.submitted", 1),
        ("job.queued", 1),
        ("job.running", 1),
        ("job.retry_scheduled", 2),
        ("job.queued", 2),
        ("job.running", 2),
        ("job.completed", 2),
    ]
    .iter()
    .map(|(t, a)| (t.to_string(), json!(a)))
    .collect();
    assert_eq!(seen, expected);
}

/// The server aborts right after the second attempt's `sbatch` answered
/// (before it recorded the attempt QUEUED): after the restart that attempt
/// is found by its own name, not submitted again, and completes.
#[tokio::test]
async fn a_crash_right_after_the_next_attempts_sbatch_does_not_submit_it_twice() {
    if skip() {
        return;
    }
    let _turn = TURN.lock().await;
    let mut server = Server::start_with(ServerOptions {
        extra_toml: toml(),
        env: vec![("HORIZON_TEST_CRASH_AFTER_SBATCH".to_owned(), "2".to_owned())],
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("m");
    let job = alice
        .submit("s-retried", json!({"marker": marker.display().to_string()}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + T;
    while server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the server did not crash after the second sbatch\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = uuid::Uuid::new_v5(&uuid::Uuid::parse_str(&id).unwrap(), b"attempt-2").to_string();
    assert_eq!(
        slurm_ids_named(&run).len(),
        1,
        "the second attempt's sbatch ran once"
    );
    server.kill9();
    server.remove_env("HORIZON_TEST_CRASH_AFTER_SBATCH");
    server.start_again().await;
    let alice = server.user("alice");
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
    let ids = slurm_ids_named(&run);
    assert_eq!(
        ids.len(),
        1,
        "the second attempt was submitted twice: {ids:?}"
    );
    assert_eq!(done["remote_job_id"], ids[0]);
    assert_eq!(
        slurm_ids_named(&id).len(),
        1,
        "the first attempt: one Slurm job"
    );
    assert_eq!(server.runs_of(&run), 1);
    let events = alice.events(&id).await;
    let kinds = types(&events);
    let lifecycle: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|t| *t != "job.metrics_recorded")
        .collect();
    assert_eq!(
        lifecycle,
        [
            "job.submitted",
            "job.queued",
            "job.running",
            "job.retry_scheduled",
            "job.queued",
            "job.running",
            "job.completed"
        ]
    );
}

/// Past its memory on Slurm (killed by Slurm's accounting, as
/// `JobAcctGatherParams=OverMemoryKill` does on a cluster without cgroups):
/// `SCHEDULER_OUT_OF_MEMORY`, retried with four times the memory, completes.
#[tokio::test]
async fn a_job_past_its_memory_is_retried_with_more_and_completes() {
    if skip() {
        return;
    }
    let _turn = TURN.lock().await;
    let server = Server::start_with(ServerOptions {
        extra_toml: toml(),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice
        .submit("s-hungry", json!({"mb": 250, "hold": 4}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["resources"]["memory_mb"], 100);
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
    assert_eq!(done["attempt"], 2);
    assert_eq!(done["resources"]["memory_mb"], 400);
    let events = alice.events(&id).await;
    let retry = common::payload(&events, "job.retry_scheduled");
    assert_eq!(retry["error_code"], "SCHEDULER_OUT_OF_MEMORY", "{retry}");
    assert_eq!(retry["resources"]["memory_mb"], 400);
    let first = events
        .iter()
        .find(|e| e["event_type"] == "job.queued")
        .unwrap()["payload"]["remote_job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(slurm_field(&first, "MinMemory"), "100M");
    assert_eq!(
        slurm_field(done["remote_job_id"].as_str().unwrap(), "MinMemory"),
        "400M"
    );
}

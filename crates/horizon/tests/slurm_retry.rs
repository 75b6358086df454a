//! Retries on a real Slurm: a job whose node is set DOWN while it runs ends
//! its attempt with `NODE_FAIL`; its agent's policy retries that, and once
//! the node is back the next attempt (a new Slurm job, under its own name)
//! completes. One test in this binary: it takes the cluster's only node down.
//!
//! Set `HORIZON_TEST_SKIP_SLURM=1` to skip it on a machine without Slurm.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::slurm::*;
use common::{Server, ServerOptions, assert_valid_events, repo_root};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(90);

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
    let agent = repo_root().join("crates/horizon/tests/agents/testagent.py");
    let toml = format!(
        "{}\n[agents.s-retried]\nbackend = \"slurm\"\nprogram = \"/usr/bin/python3\"\nargs = [\"{}\", \"flaky\"]\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{{runs}}\" }}\nsbatch_options = [\"--no-requeue\"]\nretry = {{ attempts = 2, backoff_seconds = 1, on = [\"NODE_FAIL\"] }}\n",
        slurm_toml("{runs}"),
        agent.display()
    );
    let server = Server::start_with(ServerOptions {
        extra_toml: toml,
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

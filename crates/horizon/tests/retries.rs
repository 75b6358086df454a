//! Retries by policy, end to end over real HTTP against a real `horizon
//! serve` with real processes (the local backend): a failure the agent's
//! policy covers gives the job another attempt (its own run, events carrying
//! the attempt, one `job.retry_scheduled` between them, one terminal event
//! at the end); other failures end it; attempts run out; a cancel during the
//! backoff ends it; a server killed during the backoff runs the next attempt
//! once after its restart; a request may narrow the policy, never widen it.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, ServerOptions, assert_valid_events, repo_root};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const T: Duration = Duration::from_secs(60);

/// Two agents that fail once (`flaky`: retried after 1 s; `patient`:
/// after 30 s), both retrying exit code 75 up to 3 attempts.
fn agents() -> String {
    let agent = repo_root().join("crates/horizon/tests/agents/testagent.py");
    // `hog` runs out of a small memory limit: retried with 4 times more
    let mut toml = format!(
        "\n[agents.hungry]\nbackend = \"local\"\nprogram = \"python3\"\nargs = [\"{}\", \"hog\"]\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{{runs}}\" }}\ndefault_resources = {{ memory_mb = 48 }}\nmax_resources = {{ memory_mb = 512 }}\nretry = {{ attempts = 2, backoff_seconds = 0.2, on = [\"SCHEDULER_OUT_OF_MEMORY\"], memory_factor = 4.0 }}\n",
        agent.display()
    );
    for (name, backoff) in [("flaky", 0.5), ("patient", 30.0)] {
        toml.push_str(&format!(
            "\n[agents.{name}]\nbackend = \"local\"\nprogram = \"python3\"\nargs = [\"{}\", \"flaky\"]\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{{runs}}\" }}\nretry = {{ attempts = 3, backoff_seconds = {backoff}, exit_codes = [75] }}\n",
            agent.display()
        ));
    }
    toml
}

async fn server() -> Server {
    Server::start_with(ServerOptions {
        extra_toml: agents(),
        ..ServerOptions::default()
    })
    .await
}

async fn submit(
    api: &common::Api,
    agent: &str,
    params: Value,
    retry: Option<Value>,
) -> (StatusCode, Value) {
    let mut body = json!({"agent": agent, "dataset_id": "ds-1", "parameters": params});
    if let Some(retry) = retry {
        body["retry"] = retry;
    }
    let r = api
        .request(Method::POST, "/v1/jobs")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// How many times attempt `attempt` of job `id` ran (its program appends a
/// line per run to the runs directory, under the attempt's own id).
fn runs_of_attempt(server: &Server, id: &str, attempt: u32) -> usize {
    let id = Uuid::parse_str(id).unwrap();
    let run = if attempt <= 1 {
        id
    } else {
        Uuid::new_v5(&id, format!("attempt-{attempt}").as_bytes())
    };
    server.runs_of(&run.to_string())
}

fn marker(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn lifecycle(events: &[Value]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter(|e| e["event_type"] != "job.metrics_recorded")
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_owned(),
                e["attempt"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_covered_failure_is_retried_and_the_next_attempt_completes() {
    let server = server().await;
    let alice = server.user("alice");
    let dir = tempfile::tempdir().unwrap();
    let (status, job) = submit(
        &alice,
        "flaky",
        json!({"marker": marker(dir.path(), "a")}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["max_attempts"], 3);
    let id = job["id"].as_str().unwrap().to_owned();
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
    assert_eq!(done["next_attempt_at"], Value::Null);
    assert_eq!(runs_of_attempt(&server, &id, 1), 1);
    assert_eq!(runs_of_attempt(&server, &id, 2), 1);

    let events = alice.events(&id).await;
    assert_valid_events(&events);
    let seen = lifecycle(&events);
    let expected: Vec<(String, u64)> = [
        ("job.submitted", 1),
        ("job.queued", 1),
        ("job.running", 1),
        ("job.retry_scheduled", 2),
        ("job.queued", 2),
        ("job.running", 2),
        ("job.completed", 2),
    ]
    .iter()
    .map(|(t, a)| (t.to_string(), *a))
    .collect();
    assert_eq!(seen, expected);
    let retry = common::payload(&events, "job.retry_scheduled");
    assert_eq!(retry["attempt"], 2);
    assert_eq!(retry["error_code"], "NONZERO_EXIT");
    assert_eq!(retry["exit_code"], 75);
    let scheduled = events
        .iter()
        .find(|e| e["event_type"] == "job.retry_scheduled")
        .unwrap();
    assert_eq!(scheduled["previous_status"], "RUNNING");
    assert_eq!(scheduled["status"], "QUEUED");
    // the sequence has no gaps across attempts
    let sequences: Vec<u64> = events
        .iter()
        .filter(|e| e["event_type"] != "job.metrics_recorded")
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=7).collect::<Vec<u64>>());
    // the second attempt's output is what the job shows
    let logs = alice
        .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(logs.contains("fine this time (attempt 2)"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncovered_failures_end_the_job_and_attempts_run_out() {
    let server = server().await;
    let alice = server.user("alice");
    let dir = tempfile::tempdir().unwrap();
    // exit code 3 is not in the policy: FAILED at once, one attempt
    let (_, job) = submit(
        &alice,
        "flaky",
        json!({"marker": marker(dir.path(), "b"), "exit_code": 3}),
        None,
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["attempt"], 1);
    assert_eq!(done["error"]["exit_code"], 3);
    assert!(
        !lifecycle(&alice.events(&id).await)
            .iter()
            .any(|(t, _)| t == "job.retry_scheduled")
    );

    // failing every time: three attempts, then FAILED with the last error
    let (_, job) = submit(
        &alice,
        "flaky",
        json!({"marker": marker(dir.path(), "c"), "always": true}),
        None,
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["attempt"], 3);
    assert_eq!(done["error"]["exit_code"], 75);
    let seen = lifecycle(&alice.events(&id).await);
    let types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "job.retry_scheduled")
            .count(),
        2
    );
    assert_eq!(types.last(), Some(&"job.failed"));
    assert_eq!(
        types
            .iter()
            .filter(|t| matches!(**t, "job.completed" | "job.failed" | "job.cancelled"))
            .count(),
        1
    );
    for attempt in 1..=3 {
        assert_eq!(
            runs_of_attempt(&server, &id, attempt),
            1,
            "attempt {attempt}"
        );
    }

    // narrowed by the request: one attempt only
    let (status, job) = submit(
        &alice,
        "flaky",
        json!({"marker": marker(dir.path(), "d")}),
        Some(json!({"attempts": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["max_attempts"], 1);
    let done = alice.wait_for(job["id"].as_str().unwrap(), None, T).await;
    assert_eq!(done["status"], "FAILED");
    // never widened: a 422 that makes nothing
    for retry in [
        json!({"attempts": 4}),
        json!({"on": ["NODE_FAIL"]}),
        json!({"exit_codes": [1]}),
    ] {
        let (status, body) = submit(&alice, "flaky", json!({"marker": "x"}), Some(retry)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (status, body) = submit(&alice, "ok", json!({}), Some(json!({"attempts": 1}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("retries nothing"));
}

/// Cancelled while it waits for its next attempt: CANCELLED, and the next
/// attempt never runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_the_backoff_ends_it() {
    let server = server().await;
    let alice = server.user("alice");
    let dir = tempfile::tempdir().unwrap();
    let (_, job) = submit(
        &alice,
        "patient",
        json!({"marker": marker(dir.path(), "e")}),
        None,
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + T;
    loop {
        let job = alice.job(&id).await;
        if job["next_attempt_at"].is_string() {
            assert_eq!(job["status"], "QUEUED");
            assert_eq!(job["attempt"], 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no retry scheduled: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = alice.cancel(&id, "not worth waiting").await;
    assert_eq!(r.status(), StatusCode::OK);
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "CANCELLED");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(runs_of_attempt(&server, &id, 2), 0);
    let types: Vec<String> = lifecycle(&alice.events(&id).await)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        types,
        [
            "job.submitted",
            "job.queued",
            "job.running",
            "job.retry_scheduled",
            "job.cancelled"
        ]
    );
}

/// SIGKILL of the server while a job waits for its next attempt: after the
/// restart the attempt runs, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_the_backoff_runs_the_next_attempt_once() {
    let mut server = Server::start_with(ServerOptions {
        extra_toml: agents().replace("backoff_seconds = 30", "backoff_seconds = 4"),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let dir = tempfile::tempdir().unwrap();
    let (_, job) = submit(
        &alice,
        "patient",
        json!({"marker": marker(dir.path(), "f")}),
        None,
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + T;
    while !alice.job(&id).await["next_attempt_at"].is_string() {
        assert!(std::time::Instant::now() < deadline, "no retry scheduled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill9();
    server.start_again().await;
    let alice = server.user("alice");
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
    assert_eq!(runs_of_attempt(&server, &id, 1), 1);
    assert_eq!(runs_of_attempt(&server, &id, 2), 1);
    let types: Vec<String> = lifecycle(&alice.events(&id).await)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(types.iter().filter(|t| *t == "job.queued").count(), 2);
    assert_eq!(types.last().map(String::as_str), Some("job.completed"));
}

/// Out of its memory on the local backend (a failed allocation under its
/// limit): retried with the memory the policy escalates to, and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_out_of_memory_is_retried_with_more_and_completes() {
    let server = server().await;
    let alice = server.user("alice");
    let (status, job) = submit(&alice, "hungry", json!({"mb": 80}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["resources"]["memory_mb"], 48);
    let id = job["id"].as_str().unwrap().to_owned();
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
    assert_eq!(done["resources"]["memory_mb"], 192);
    let events = alice.events(&id).await;
    let retry = common::payload(&events, "job.retry_scheduled");
    assert_eq!(retry["error_code"], "SCHEDULER_OUT_OF_MEMORY", "{retry}");
    assert_eq!(retry["resources"]["memory_mb"], 192);
}

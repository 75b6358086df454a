//! End to end over real HTTP against a real `horizon serve` and real
//! processes: a job that completes, one that fails, one cancelled while it
//! runs, and parameters that look like shell.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{COMPLETED_LIFE, Server, assert_lifecycle, payload, pid_alive};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn completing_job_goes_through_four_events_with_metrics() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({"seconds": 1.2})).await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(job["status"], "SUBMITTED");
    assert_eq!(job["user_id"], "alice");
    assert_eq!(job["backend"], "local");
    let done = alice.wait_for(id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
    // what a gateway shows: the exit code of a success, and the times of
    // each step (as the events say)
    assert_eq!(done["exit_code"], 0, "{done}");
    assert_eq!(done["ended_at"], done["finished_at"]);
    assert_eq!(job["queued_at"], Value::Null);
    assert_eq!(job["exit_code"], Value::Null);

    let events = alice.events(id).await;
    assert_lifecycle(id, &events, COMPLETED_LIFE);
    let time_of = |event_type: &str| {
        events
            .iter()
            .find(|e| e["event_type"] == event_type)
            .map(|e| e["timestamp"].clone())
            .unwrap()
    };
    assert_eq!(done["queued_at"], time_of("job.queued"), "{done}");
    assert_eq!(done["started_at"], time_of("job.running"), "{done}");
    assert_eq!(done["ended_at"], time_of("job.completed"), "{done}");
    let submitted = payload(&events, "job.submitted");
    assert_eq!(submitted["agent"], "ok");
    assert_eq!(submitted["dataset_id"], "ds-1");
    assert_eq!(submitted["parameters"], json!({"seconds": 1.2}));
    assert_eq!(payload(&events, "job.queued")["backend"], "local");
    let running = payload(&events, "job.running");
    assert_eq!(running["remote_job_id"], done["remote_job_id"]);
    let completed = payload(&events, "job.completed");
    assert_eq!(completed["exit_code"], 0);
    let seconds = completed["execution_time_seconds"].as_f64().unwrap();
    assert!((1.0..10.0).contains(&seconds), "execution time {seconds}");
    // a job that burns CPU for 1.2 s with 300 ms sampling is sampled at least once
    let metrics: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "job.metrics_recorded")
        .collect();
    assert!(!metrics.is_empty(), "no metrics events in {events:?}");
    assert!(
        metrics
            .iter()
            .all(|m| m["payload"]["memory_usage_mb"].as_f64().unwrap() > 0.0)
    );
    assert!(
        metrics
            .iter()
            .any(|m| m["payload"]["cpu_usage_percent"].as_f64().unwrap() > 10.0)
    );
    // the program's output is kept per job
    let stdout = std::fs::read_to_string(server.job_dir(id).join("stdout.log")).unwrap();
    assert!(stdout.contains("done after"), "{stdout}");
    assert_eq!(server.runs_of(id), 1);
}

#[tokio::test]
async fn failing_job_records_nonzero_exit_and_stderr() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("fail", json!({"exit_code": 3})).await;
    let id = job["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, T).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["error"]["code"], "NONZERO_EXIT");
    assert_eq!(done["error"]["exit_code"], 3);
    assert_eq!(done["exit_code"], 3);
    let events = alice.events(id).await;
    assert_lifecycle(
        id,
        &events,
        &["job.submitted", "job.queued", "job.running", "job.failed"],
    );
    let failed = payload(&events, "job.failed");
    assert_eq!(failed["error_code"], "NONZERO_EXIT");
    assert_eq!(failed["exit_code"], 3);
    let message = failed["error_message"].as_str().unwrap();
    assert!(
        message.contains("status 3") && message.contains("went wrong"),
        "{message}"
    );
}

#[tokio::test]
async fn cancelling_a_running_job_ends_its_processes() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("sleep", json!({"seconds": 120})).await;
    let id = job["id"].as_str().unwrap();
    let running = alice.wait_for(id, Some("RUNNING"), T).await;
    let supervisor: i32 = running["remote_job_id"].as_str().unwrap().parse().unwrap();
    // the agent's own pid, as its supervisor recorded it
    let started = server.job_dir(id).join("started.json");
    let deadline = std::time::Instant::now() + T;
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started: Value = serde_json::from_str(&std::fs::read_to_string(started).unwrap()).unwrap();
    let agent = started["agent_pid"].as_i64().unwrap() as i32;
    assert!(pid_alive(agent) && pid_alive(supervisor));

    let response = alice.cancel(id, "wrong dataset").await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pid_alive(agent) || pid_alive(supervisor) {
        assert!(
            std::time::Instant::now() < deadline,
            "job's processes survived cancellation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // let the watcher see the program's exit: it must not add an event
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = alice.events(id).await;
    assert_lifecycle(
        id,
        &events,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.cancelled",
        ],
    );
    let payload = payload(&events, "job.cancelled");
    assert_eq!(payload["cancelled_by"], "alice");
    assert_eq!(payload["cancellation_reason"], "wrong dataset");
    assert_eq!(alice.job(id).await["status"], "CANCELLED");
}

#[tokio::test]
async fn cancelling_a_finished_job_is_409_and_changes_nothing() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let id = alice.submit("ok", json!({"seconds": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.wait_for(&id, Some("COMPLETED"), T).await;
    let before = alice.job(&id).await;
    let events_before = alice.events(&id).await;
    let response = alice.cancel(&id, "too late").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 409);
    assert!(
        problem["detail"].as_str().unwrap().contains("COMPLETED"),
        "{problem}"
    );
    assert_eq!(alice.job(&id).await, before);
    assert_eq!(alice.events(&id).await, events_before);
}

#[tokio::test]
async fn cancelling_a_queued_job_means_it_never_runs() {
    let server = Server::start_with(common::ServerOptions {
        slots: 1,
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let blocker = alice.submit("sleep", json!({"seconds": 120})).await;
    let blocker = blocker["id"].as_str().unwrap();
    alice.wait_for(blocker, Some("RUNNING"), T).await;
    let waiting = alice.submit("ok", json!({})).await;
    let waiting = waiting["id"].as_str().unwrap();
    // one slot: the second job waits in QUEUED
    alice.wait_for(waiting, Some("QUEUED"), T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alice.job(waiting).await["status"], "QUEUED");
    assert_eq!(
        alice.cancel(waiting, "not needed").await.status(),
        StatusCode::OK
    );
    assert_eq!(alice.cancel(blocker, "done").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.runs_of(waiting), 0);
    let events = alice.events(waiting).await;
    assert_lifecycle(
        waiting,
        &events,
        &["job.submitted", "job.queued", "job.cancelled"],
    );
}

#[tokio::test]
async fn shell_syntax_in_parameters_reaches_the_agent_verbatim_and_runs_nothing() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let canary = server.dir.path().join("canary-params");
    let nasty = json!({
        "cmd": format!("$(touch {})", canary.display()),
        "semi": format!("; touch {}", canary.display()),
        "backticks": format!("`touch {}`", canary.display()),
        "quotes": "it's \"quoted\" \\ and 'single'",
        "newline": "a\nb",
    });
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(&json!({"agent": "echo", "dataset_id": "ds; rm -rf / $(id)", "parameters": nasty}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(alice.wait_for(&id, None, T).await["status"], "COMPLETED");
    let echo: Value = serde_json::from_str(
        &std::fs::read_to_string(server.job_dir(&id).join("echo.json")).unwrap(),
    )
    .unwrap();
    let received: Value = serde_json::from_str(echo["params_raw"].as_str().unwrap()).unwrap();
    assert_eq!(received, nasty);
    assert_eq!(echo["dataset_id"], "ds; rm -rf / $(id)");
    // the configured args, shell-looking too, arrive as separate verbatim arguments
    assert_eq!(
        echo["argv"][2],
        format!(
            "$(touch {})",
            server.dir.path().join("canary-args").display()
        )
    );
    assert_eq!(echo["argv"][3], "; rm -rf /");
    assert!(!canary.exists(), "a parameter was run by a shell");
    assert!(
        !server.dir.path().join("canary-args").exists(),
        "an argument was run by a shell"
    );
}

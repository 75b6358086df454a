//! Hold and release through Horizon's API on a real Slurm: a QUEUED job is
//! held by `scontrol hold` (Slurm shows `JobHeldUser`) and does not start
//! while held, even once its partition could run it; released, it runs;
//! a RUNNING job cannot be held (409).
//!
//! Set `HORIZON_TEST_SKIP_SLURM=1` to skip these on a machine without Slurm.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::slurm::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

async fn post(api: &common::Api, path: &str) -> (StatusCode, Value) {
    let r = api
        .request(Method::POST, path)
        .json(&json!({"reason": "test"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_queued_slurm_job_is_held_by_slurm_until_released() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    // pending: its partition is down
    let job = alice.submit("s-parked", json!({"seconds": 0.1})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let queued = alice.wait_for(&id, Some("QUEUED"), T).await;
    let remote = queued["remote_job_id"].as_str().unwrap().to_owned();

    let (status, held) = post(&alice, &format!("/v1/jobs/{id}/hold")).await;
    assert_eq!(status, StatusCode::OK, "{held}");
    assert_eq!(held["held"], true);
    assert_eq!(slurm_state(&remote), "PENDING");
    assert_eq!(slurm_field(&remote, "Reason"), "JobHeldUser");
    // a partition that would run it: still held
    scontrol(&["update", &format!("jobid={remote}"), "partition=debug"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(slurm_state(&remote), "PENDING");
    assert_eq!(alice.job(&id).await["status"], "QUEUED");

    let (status, released) = post(&alice, &format!("/v1/jobs/{id}/release")).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["held"], false);
    assert_ne!(slurm_field(&remote, "Reason"), "JobHeldUser");
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let events = alice.events(&id).await;
    common::assert_valid_events(&events);
    let by_horizon: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["event_type"] == "job.status_changed" && e["payload"]["changed_by"] == "alice"
        })
        .map(|e| &e["payload"])
        .collect();
    assert_eq!(by_horizon.len(), 2, "{events:?}");
    assert_eq!(by_horizon[0]["held"], true);
    assert_eq!(by_horizon[1]["held"], false);
    assert_eq!(types(&events).last().unwrap(), "job.completed");

    // a running job cannot be held, and Slurm is not asked to
    let job = alice.submit("s-sleep", json!({"seconds": 60})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let running = alice.wait_for(&id, Some("RUNNING"), T).await;
    let (status, body) = post(&alice, &format!("/v1/jobs/{id}/hold")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        slurm_state(running["remote_job_id"].as_str().unwrap()),
        "RUNNING"
    );
    alice.cancel(&id, "done").await;
}

//! `[log] format = "json"`: every line `serve` writes is one JSON object,
//! and a job's transitions carry its id and correlation id as fields, the
//! way a log collector indexes them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Server, ServerOptions};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn json_logs_are_one_object_a_line_with_the_jobs_ids_as_fields() {
    let server = Server::start_with(ServerOptions {
        extra_toml: "[log]\nformat = \"json\"\n".into(),
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .header("X-Correlation-ID", "gateway-req-77")
        .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {"seconds": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    alice
        .wait_for(&id, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 3, "{log}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let transitions: Vec<&Value> = lines
        .iter()
        .filter(|l| l["job.id"] == id.as_str() && l["job.status"].is_string())
        .collect();
    let statuses: Vec<&str> = transitions
        .iter()
        .map(|l| l["job.status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["QUEUED", "RUNNING", "COMPLETED"], "{log}");
    for line in transitions {
        assert_eq!(line["job.correlation_id"], "gateway-req-77", "{line}");
    }
}

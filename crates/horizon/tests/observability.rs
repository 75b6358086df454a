//! What an operator watches: `[log] format = "json"` (every line `serve`
//! writes is one JSON object, a job's transitions with its id and
//! correlation id as fields, the way a log collector indexes them), and the
//! HTTP and job-timing metrics.
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

#[tokio::test]
async fn requests_and_job_times_are_in_the_metrics() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    alice
        .wait_for(&id, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    let missing = alice
        .request(Method::GET, "/v1/jobs/00000000-0000-7000-8000-000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let text = server.get_text("/metrics").await;
    let has = |needle: &str| text.lines().any(|l| l.starts_with(needle));
    // by route template and status, never by id
    assert!(
        has(r#"horizon_http_requests_total{method="POST",route="/v1/jobs",status="201"}"#),
        "{text}"
    );
    assert!(
        has(r#"horizon_http_requests_total{method="GET",route="/v1/jobs/{id}",status="404"}"#),
        "{text}"
    );
    assert!(!text.contains(&id), "a job id in a metric's labels");
    assert!(has(
        r#"horizon_http_request_duration_seconds_bucket{method="POST",route="/v1/jobs""#
    ));
    assert!(
        has(r#"horizon_job_queue_wait_seconds_count{agent="ok"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"horizon_job_run_seconds_count{agent="ok",status="COMPLETED"} 1"#),
        "{text}"
    );
}

//! Helpers of the sweep tests: make one, read it, list its jobs, wait for
//! it to complete.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Api;

/// `POST /v1/sweeps`: the status and the body.
pub async fn post(api: &Api, body: Value) -> (StatusCode, Value) {
    let r = api
        .request(Method::POST, "/v1/sweeps")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// `POST /v1/sweeps` that must make one (201).
pub async fn made(api: &Api, body: Value) -> Value {
    let (status, sweep) = post(api, body).await;
    assert_eq!(status, StatusCode::CREATED, "{sweep}");
    sweep
}

pub async fn get(api: &Api, id: &str) -> Value {
    let r = api
        .request(Method::GET, &format!("/v1/sweeps/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Every job of the sweep, lowest index first.
pub async fn jobs(api: &Api, id: &str) -> Vec<Value> {
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/jobs?sweep_id={id}&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = api
            .request(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jobs.extend(page["jobs"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    jobs.reverse();
    jobs
}

/// The sweep once its last job ended (and what failed, in the test's
/// output, for the assertions' messages).
pub async fn wait_completed(api: &Api, id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let s = get(api, id).await;
        if !s["completed_at"].is_null() {
            if s["counts"]["FAILED"] != 0 {
                let failed: Vec<Value> = jobs(api, id)
                    .await
                    .into_iter()
                    .filter(|j| j["status"] == "FAILED")
                    .take(2)
                    .map(|j| j["error"].clone())
                    .collect();
                eprintln!("failed jobs of sweep {id}: {failed:?}");
            }
            return s;
        }
        assert!(Instant::now() < deadline, "sweep never completed: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

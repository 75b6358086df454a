//! Dependencies on a real Slurm: a pipeline A → B1, B2 → merge C runs in
//! that order (each Slurm job submitted only once what it waits for has
//! ended as asked), and a merge after a failing job ends CANCELLED with
//! the reason, never reaching Slurm.
//!
//! Set `HORIZON_TEST_SKIP_SLURM=1` to skip it on a machine without Slurm.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::slurm::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(90);

async fn submit(api: &common::Api, agent: &str, after: &[&str]) -> String {
    let depends_on: Vec<Value> = after
        .iter()
        .map(|id| json!({"job_id": id, "condition": "after_ok"}))
        .collect();
    let r = api
        .request(Method::POST, "/v1/jobs")
        .json(&json!({"agent": agent, "dataset_id": "ds", "parameters": {"seconds": 0.5}, "depends_on": depends_on}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let job: Value = r.json().await.unwrap();
    job["id"].as_str().unwrap().to_owned()
}

fn at(job: &Value, field: &str) -> time::OffsetDateTime {
    horizon_core::timestamp::parse(job[field].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_pipeline_runs_in_order_on_slurm() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    let a = submit(&alice, "s-ok", &[]).await;
    let b1 = submit(&alice, "s-ok", &[&a]).await;
    let b2 = submit(&alice, "s-ok", &[&a]).await;
    let c = submit(&alice, "s-ok", &[&b1, &b2]).await;
    let failing = submit(&alice, "s-fail", &[]).await;
    let d = submit(&alice, "s-ok", &[&failing, &a]).await;

    let c_done = alice.wait_for(&c, None, T).await;
    assert_eq!(c_done["status"], "COMPLETED", "{c_done}");
    let a_done = alice.job(&a).await;
    for b in [&b1, &b2] {
        let b = alice.job(b).await;
        assert_eq!(b["status"], "COMPLETED");
        assert!(at(&b, "queued_at") >= at(&a_done, "finished_at"), "{b}");
        assert!(
            at(&c_done, "queued_at") >= at(&b, "finished_at"),
            "{c_done}"
        );
    }
    let d_done = alice.wait_for(&d, None, T).await;
    assert_eq!(d_done["status"], "CANCELLED", "{d_done}");
    let events = alice.events(&d).await;
    let reason = common::payload(&events, "job.cancelled")["cancellation_reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reason, format!("dependency {failing} FAILED"));
    assert!(
        slurm_ids_named(&d).is_empty(),
        "a cancelled dependant reached Slurm"
    );
}

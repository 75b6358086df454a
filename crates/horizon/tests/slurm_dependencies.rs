//! Dependencies on a real Slurm: a pipeline A → B1, B2 → merge C runs in
//! that order, and a merge after a failing job ends CANCELLED with the
//! reason, never running. By default each job goes to Slurm at once with
//! its dependencies (`--dependency=afterok:…`), and Slurm starts it after
//! them; with `hand_dependencies_to_slurm = false` Horizon submits each
//! only once what it waits for has ended.
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
    submit_for(api, agent, after, 0.5).await
}

async fn submit_for(api: &common::Api, agent: &str, after: &[&str], seconds: f64) -> String {
    let depends_on: Vec<Value> = after
        .iter()
        .map(|id| json!({"job_id": id, "condition": "after_ok"}))
        .collect();
    let r = api
        .request(Method::POST, "/v1/jobs")
        .json(&json!({"agent": agent, "dataset_id": "ds", "parameters": {"seconds": seconds}, "depends_on": depends_on}))
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

/// `handed`: dependencies go to Slurm with the job (the default), so each
/// job is in Slurm at once and Slurm starts it after what it waits for;
/// else Horizon hands each over only once they ended.
async fn a_pipeline_runs_in_order_on_slurm(handed: bool) {
    let mut toml = slurm_toml("{runs}");
    if !handed {
        toml = toml.replace(
            "\n[slurm]\n",
            "\n[slurm]\nhand_dependencies_to_slurm = false\n",
        );
    }
    let server = common::Server::start_with(common::ServerOptions {
        extra_toml: toml,
        ..common::ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    // (A runs a few seconds: long enough to see B1 in Slurm before it ends)
    let a = submit_for(&alice, "s-sleep", &[], 4.0).await;
    let b1 = submit(&alice, "s-ok", &[&a]).await;
    let b2 = submit(&alice, "s-ok", &[&a]).await;
    let c = submit(&alice, "s-ok", &[&b1, &b2]).await;
    let failing = submit(&alice, "s-fail", &[]).await;
    let d = submit(&alice, "s-ok", &[&failing, &a]).await;

    if handed {
        // B1 is in Slurm while A still runs, with A as its dependency
        let deadline = std::time::Instant::now() + T;
        loop {
            let b = alice.job(&b1).await;
            if b["status"] == "QUEUED" {
                let a_now = alice.job(&a).await;
                assert!(
                    !matches!(a_now["status"].as_str(), Some("COMPLETED")),
                    "B1 waited for A in Horizon: {a_now}"
                );
                assert_eq!(
                    b["scheduler_dependency"],
                    format!("afterok:{}", a_now["remote_job_id"].as_str().unwrap()),
                    "{b}"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{b}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let c_done = alice.wait_for(&c, None, T).await;
    assert_eq!(c_done["status"], "COMPLETED", "{c_done}");
    let a_done = alice.job(&a).await;
    for b in [&b1, &b2] {
        let b = alice.job(b).await;
        assert_eq!(b["status"], "COMPLETED");
        // Slurm (or Horizon) started each only after what it waits for ended
        assert!(at(&b, "started_at") >= at(&a_done, "finished_at"), "{b}");
        assert!(
            at(&c_done, "started_at") >= at(&b, "finished_at"),
            "{c_done}"
        );
        if !handed {
            assert!(at(&b, "queued_at") >= at(&a_done, "finished_at"), "{b}");
            assert!(b["scheduler_dependency"].is_null());
        }
    }
    let d_done = alice.wait_for(&d, None, T).await;
    assert_eq!(d_done["status"], "CANCELLED", "{d_done}");
    let events = alice.events(&d).await;
    let reason = common::payload(&events, "job.cancelled")["cancellation_reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reason, format!("dependency {failing} FAILED"));
    assert_eq!(server.runs_of(&d), 0, "a dependant of a failed job ran");
    if handed {
        // it may have reached Slurm (pending on its dependency): stopped there
        wait_until("Slurm stops D", T, || {
            slurm_ids_named(&d)
                .iter()
                .all(|id| !matches!(slurm_state(id).as_str(), "PENDING" | "RUNNING"))
        })
        .await;
    } else {
        assert!(
            slurm_ids_named(&d).is_empty(),
            "a cancelled dependant reached Slurm"
        );
    }
}

#[tokio::test]
async fn a_pipeline_runs_in_order_with_its_dependencies_in_slurm() {
    if skip() {
        return;
    }
    a_pipeline_runs_in_order_on_slurm(true).await;
}

#[tokio::test]
async fn a_pipeline_runs_in_order_with_horizon_holding_each_job() {
    if skip() {
        return;
    }
    a_pipeline_runs_in_order_on_slurm(false).await;
}

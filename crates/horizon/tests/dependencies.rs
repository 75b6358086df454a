//! Jobs that run after others, end to end over real HTTP against a real
//! `horizon serve` with real processes (the local backend): a pipeline
//! A → B (several) → merge C (after_ok every B) runs in that order; one
//! failing B ends an after_ok merge CANCELLED with the reason naming it,
//! while after_any runs anyway and after_not_ok follows the failure;
//! unknown or foreign jobs are refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Server, ServerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

async fn submit(
    api: &common::Api,
    agent: &str,
    params: Value,
    after: &[(&str, &str)],
) -> (StatusCode, Value) {
    let depends_on: Vec<Value> = after
        .iter()
        .map(|(id, condition)| json!({"job_id": id, "condition": condition}))
        .collect();
    let r = api
        .request(Method::POST, "/v1/jobs")
        .json(&json!({"agent": agent, "dataset_id": "ds", "parameters": params, "depends_on": depends_on}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

fn id(job: &Value) -> String {
    job["id"].as_str().unwrap().to_owned()
}

fn at(job: &Value, field: &str) -> time::OffsetDateTime {
    horizon_core::timestamp::parse(job[field].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_in_order() {
    let server = Server::start_with(ServerOptions {
        slots: 8,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let (_, a) = submit(&alice, "ok", json!({"seconds": 1.0}), &[]).await;
    let a = id(&a);
    let mut bs = Vec::new();
    for _ in 0..6 {
        let (status, b) = submit(&alice, "ok", json!({"seconds": 0.3}), &[(&a, "after_ok")]).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        assert_eq!(b["waiting"], true);
        bs.push(id(&b));
    }
    let after: Vec<(&str, &str)> = bs.iter().map(|b| (b.as_str(), "after_ok")).collect();
    let (status, c) = submit(&alice, "ok", json!({"seconds": 0.1}), &after).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let c = id(&c);
    // what it waits for, while it waits
    let waiting = alice.job(&c).await;
    assert_eq!(waiting["status"], "SUBMITTED");
    assert_eq!(waiting["waiting"], true);
    assert_eq!(waiting["depends_on"].as_array().unwrap().len(), 6);
    assert_eq!(
        waiting["waiting_on"].as_array().unwrap().len(),
        6,
        "{waiting}"
    );

    let c_done = alice.wait_for(&c, None, T).await;
    assert_eq!(c_done["status"], "COMPLETED", "{c_done}");
    assert_eq!(c_done["waiting"], false);
    let a_done = alice.job(&a).await;
    let mut last_b = a_done.clone();
    for b in &bs {
        let b = alice.job(b).await;
        assert_eq!(b["status"], "COMPLETED", "{b}");
        // B started only after A ended
        assert!(
            at(&b, "started_at") >= at(&a_done, "finished_at"),
            "{b} before {a_done}"
        );
        if at(&b, "finished_at") > at(&last_b, "finished_at") {
            last_b = b;
        }
    }
    // C started only after the last B ended
    assert!(at(&c_done, "started_at") >= at(&last_b, "finished_at"));
    // it waited in SUBMITTED: its events are the usual ones
    let types: Vec<String> = alice
        .events(&c)
        .await
        .iter()
        .filter(|e| e["event_type"] != "job.metrics_recorded")
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_that_can_no_longer_be_met_cancels_the_job() {
    let server = Server::start_with(ServerOptions {
        slots: 8,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let (_, ok) = submit(&alice, "ok", json!({"seconds": 0.5}), &[]).await;
    let (_, failing) = submit(&alice, "fail", json!({}), &[]).await;
    let (ok, failing) = (id(&ok), id(&failing));
    let both =
        |condition: &'static str| vec![(ok.clone(), condition), (failing.clone(), condition)];
    let pairs = |v: &Vec<(String, &'static str)>| -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.clone(), b.to_string())).collect()
    };
    let mut made = Vec::new();
    for (deps, expected) in [
        (pairs(&both("after_ok")), "CANCELLED"),
        (pairs(&both("after_any")), "COMPLETED"),
        (
            vec![(failing.clone(), "after_not_ok".to_owned())],
            "COMPLETED",
        ),
        (vec![(ok.clone(), "after_not_ok".to_owned())], "CANCELLED"),
    ] {
        let after: Vec<(&str, &str)> = deps.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (status, job) = submit(&alice, "ok", json!({"seconds": 0.1}), &after).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        made.push((id(&job), expected, deps));
    }
    for (job, expected, deps) in made {
        let done = alice.wait_for(&job, None, T).await;
        assert_eq!(done["status"], expected, "{deps:?}: {done}");
        if expected == "CANCELLED" {
            let events = alice.events(&job).await;
            let cancelled = common::payload(&events, "job.cancelled");
            assert_eq!(cancelled["cancelled_by"], "horizon");
            let reason = cancelled["cancellation_reason"].as_str().unwrap();
            assert!(reason.starts_with("dependency "), "{reason}");
            let named = if deps[0].1 == "after_ok" {
                &failing
            } else {
                &ok
            };
            assert!(reason.contains(named.as_str()), "{reason}");
            assert!(server.runs_of(&job) == 0, "a cancelled dependant ran");
        }
    }
}

#[tokio::test]
async fn unknown_or_foreign_jobs_and_unknown_conditions_are_refused() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let (_, bobs) = submit(&bob, "ok", json!({}), &[]).await;
    let (_, mine) = submit(&alice, "ok", json!({}), &[]).await;
    let before = alice
        .request(Method::GET, "/v1/jobs")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["jobs"]
        .as_array()
        .unwrap()
        .len();
    for (after, what) in [
        (vec![(id(&bobs), "after_ok".to_owned())], "job_id"),
        (
            vec![(
                "01234567-89ab-7def-8123-456789abcdef".to_owned(),
                "after_ok".to_owned(),
            )],
            "job_id",
        ),
        (
            vec![("not-an-id".to_owned(), "after_ok".to_owned())],
            "job_id",
        ),
        (vec![(id(&mine), "after_ever".to_owned())], "condition"),
    ] {
        let after: Vec<(&str, &str)> = after
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (status, body) = submit(&alice, "ok", json!({}), &after).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(what), "{body}");
    }
    let after = alice
        .request(Method::GET, "/v1/jobs")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before, "a refused request made a job");
}

//! Sweeps end to end over real HTTP against a real `horizon serve` with
//! real processes (the local backend): one request makes every point a job
//! (grid, points, datasets), with its sweep id and index, listed by
//! `?sweep_id=`; the sweep's counts follow its jobs and its two events
//! frame theirs; the concurrency limit holds (sampled); cancel ends every
//! unfinished job; a pipeline A → sweep B → merge C (after_ok B) runs in
//! order, one failing point cancels C with the reason, after_any runs C
//! anyway; bad requests change nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::sse::connect;
use common::{Api, Server, ServerOptions, sweep};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(90);

fn at(job: &Value, field: &str) -> time::OffsetDateTime {
    horizon_core::timestamp::parse(job[field].as_str().unwrap()).unwrap()
}

/// The sweep's own events, from the admin's stream of every event.
async fn sweep_events(admin: &Api, id: &str) -> Vec<Value> {
    let mut reader = connect(admin, "/v1/events/stream", Some("0"))
        .await
        .unwrap();
    let mut found = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), reader.next()).await {
            Ok(Some(message)) => {
                let event: Value = serde_json::from_str(&message.data).unwrap();
                if event["sweep_id"] == id {
                    found.push(event);
                    if found.len() == 2 {
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_makes_every_point_a_job_and_completes_with_them() {
    let server = Server::start_with(ServerOptions {
        slots: 6,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let (status, made) = sweep::post(
        &alice,
        json!({
            "agent": "sleep",
            "datasets": ["d1", "d2"],
            "parameters": {"seconds": 0.1, "mode": "fast"},
            "grid": {"a": [1, 2, 3], "b": ["x", "y"]},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["size"], 12);
    assert_eq!(made["counts"]["SUBMITTED"], 12, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["jobs"], format!("/v1/jobs?sweep_id={id}"));
    // every point a job, durable when it answered, in index order
    let jobs = sweep::jobs(&alice, &id).await;
    assert_eq!(jobs.len(), 12);
    let mut expected = Vec::new();
    for d in ["d1", "d2"] {
        for a in [1, 2, 3] {
            for b in ["x", "y"] {
                expected.push((d, json!({"seconds": 0.1, "mode": "fast", "a": a, "b": b})));
            }
        }
    }
    for (i, (job, (dataset, parameters))) in jobs.iter().zip(&expected).enumerate() {
        assert_eq!(job["sweep_id"], id.as_str());
        assert_eq!(job["sweep_index"], i);
        assert_eq!(job["dataset_id"], *dataset);
        assert_eq!(job["parameters"], *parameters, "point {i}");
        assert_eq!(job["correlation_id"], made["correlation_id"]);
    }
    let done = sweep::wait_completed(&alice, &id, T).await;
    assert_eq!(done["counts"]["COMPLETED"], 12, "{done}");
    assert_eq!(done["counts"]["SUBMITTED"], 0);
    // each job its own ordinary life
    for job in &jobs {
        let events = alice.events(job["id"].as_str().unwrap()).await;
        common::assert_valid_events(&events);
        let types: Vec<&str> = events
            .iter()
            .filter(|e| e["event_type"] != "job.metrics_recorded")
            .map(|e| e["event_type"].as_str().unwrap())
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
    // the sweep's own two events, keyed by its id, valid, around its jobs'
    let admin = server.client(&server.token("root", true));
    let events = sweep_events(&admin, &id).await;
    common::assert_valid_events(&events);
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["sweep.submitted", "sweep.completed"], "{events:?}");
    assert_eq!(events[0]["payload"]["size"], 12);
    assert_eq!(events[0]["payload"]["agent"], "sleep");
    assert_eq!(
        events[1]["payload"]["counts"],
        json!({"COMPLETED": 12, "FAILED": 0, "CANCELLED": 0})
    );
    // sweep.completed came after the last of its jobs ended
    let completed =
        horizon_core::timestamp::parse(events[1]["timestamp"].as_str().unwrap()).unwrap();
    for job in sweep::jobs(&alice, &id).await {
        assert!(completed >= at(&job, "finished_at"), "{job}");
    }
    // another user sees none of it
    let bob = server.user("bob");
    let r = bob
        .request(Method::GET, &format!("/v1/sweeps/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let theirs: Value = bob
        .request(Method::GET, &format!("/v1/jobs?sweep_id={id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["jobs"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds_and_cancel_ends_every_unfinished_job() {
    let server = Server::start_with(ServerOptions {
        slots: 8,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let points: Vec<Value> = (0..10).map(|i| json!({"i": i})).collect();
    let (status, made) = sweep::post(
        &alice,
        json!({
            "agent": "sleep", "dataset_id": "ds", "parameters": {"seconds": 0.6},
            "points": points, "concurrency_limit": 2,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["concurrency_limit"], 2);
    let id = made["id"].as_str().unwrap().to_owned();
    // sampled all along: never more than 2 of its jobs running (8 slots)
    let mut most = 0;
    let mut samples = 0;
    let deadline = Instant::now() + T;
    loop {
        let s = sweep::get(&alice, &id).await;
        let running =
            s["counts"]["RUNNING"].as_u64().unwrap() + s["counts"]["QUEUED"].as_u64().unwrap();
        most = most.max(running);
        samples += 1;
        if !s["completed_at"].is_null() {
            assert_eq!(s["counts"]["COMPLETED"], 10, "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(most <= 2, "{most} ran at once");
    assert!(
        most == 2,
        "the limit was used: {most} at most, {samples} samples"
    );
    // never more than 2 running at any instant either, from the jobs' own
    // times (a sweep over their starts and ends; an end before a start at
    // the same millisecond)
    let jobs = sweep::jobs(&alice, &id).await;
    let mut edges: Vec<(time::OffsetDateTime, i32)> = Vec::new();
    for job in &jobs {
        edges.push((at(job, "started_at"), 1));
        edges.push((at(job, "finished_at"), -1));
    }
    edges.sort();
    let (mut running, mut peak) = (0, 0);
    for (_, step) in edges {
        running += step;
        peak = peak.max(running);
    }
    assert!(peak <= 2, "{peak} ran at once by their times");

    // a second sweep, cancelled while some run and the rest are gated
    let points: Vec<Value> = (0..6).map(|i| json!({"i": i})).collect();
    let (_, made) = sweep::post(
        &alice,
        json!({
            "agent": "sleep", "dataset_id": "ds", "parameters": {"seconds": 60},
            "points": points, "concurrency_limit": 2,
        }),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + T;
    while sweep::get(&alice, &id).await["counts"]["RUNNING"] != 2 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gated: Vec<Value> = sweep::jobs(&alice, &id)
        .await
        .into_iter()
        .filter(|j| j["gated"] == true)
        .collect();
    assert_eq!(gated.len(), 4, "the rest wait gated");
    let r = alice
        .request(Method::POST, &format!("/v1/sweeps/{id}/cancel"))
        .json(&json!({"reason": "enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["counts"]["CANCELLED"], 6, "{after}");
    let done = sweep::wait_completed(&alice, &id, T).await;
    assert_eq!(done["counts"]["CANCELLED"], 6);
    for job in sweep::jobs(&alice, &id).await {
        assert_eq!(job["status"], "CANCELLED");
        assert_eq!(job["error"], Value::Null);
        assert!(job["started_at"].is_null() || job["finished_at"].is_string());
    }
    // (the programs were stopped: nothing of the sweep runs any more)
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sweep::get(&alice, &id).await["counts"]["RUNNING"], 0);
}

async fn submit_after(api: &Api, body: Value, after: Value) -> Value {
    let mut body = body;
    body["depends_on"] = after;
    let r = api
        .request(Method::POST, "/v1/jobs")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_a_then_a_sweep_then_a_merge_runs_in_order() {
    let server = Server::start_with(ServerOptions {
        slots: 8,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let a = alice.submit("sleep", json!({"seconds": 0.5})).await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    let points: Vec<Value> = (0..50).map(|i| json!({"i": i})).collect();
    let (status, b) = sweep::post(
        &alice,
        json!({
            "agent": "sleep", "dataset_id": "ds", "parameters": {"seconds": 0.05},
            "points": points,
            "depends_on": [{"job_id": a_id, "condition": "after_ok"}],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let b_id = b["id"].as_str().unwrap().to_owned();
    let merge = json!({"agent": "sleep", "dataset_id": "ds", "parameters": {"seconds": 0.05}});
    let c = submit_after(
        &alice,
        merge.clone(),
        json!([{"sweep_id": b_id, "condition": "after_ok"}]),
    )
    .await;
    let c_id = c["id"].as_str().unwrap().to_owned();
    let waiting = alice.job(&c_id).await;
    assert_eq!(waiting["waiting_on"], json!([b_id]), "{waiting}");
    let c_done = alice.wait_for(&c_id, None, T).await;
    assert_eq!(c_done["status"], "COMPLETED", "{c_done}");
    let a_done = alice.job(&a_id).await;
    let bs = sweep::jobs(&alice, &b_id).await;
    assert_eq!(bs.len(), 50);
    for job in &bs {
        assert_eq!(job["status"], "COMPLETED");
        assert!(
            at(job, "started_at") >= at(&a_done, "finished_at"),
            "B before A"
        );
        assert!(
            at(&c_done, "started_at") >= at(job, "finished_at"),
            "C before B"
        );
    }

    // one failing point: after_ok C is CANCELLED naming the sweep; after_any runs
    let mut points: Vec<Value> = (0..50).map(|i| json!({"i": i})).collect();
    points[17] = json!({"i": 17, "fail": true});
    let (_, b) = sweep::post(
        &alice,
        json!({"agent": "sleep", "dataset_id": "ds", "parameters": {"seconds": 0.05}, "points": points}),
    )
    .await;
    let b_id = b["id"].as_str().unwrap().to_owned();
    let ok = submit_after(
        &alice,
        merge.clone(),
        json!([{"sweep_id": b_id, "condition": "after_ok"}]),
    )
    .await;
    let any = submit_after(
        &alice,
        merge.clone(),
        json!([{"sweep_id": b_id, "condition": "after_any"}]),
    )
    .await;
    let not_ok = submit_after(
        &alice,
        merge,
        json!([{"sweep_id": b_id, "condition": "after_not_ok"}]),
    )
    .await;
    let ok = alice.wait_for(ok["id"].as_str().unwrap(), None, T).await;
    assert_eq!(ok["status"], "CANCELLED", "{ok}");
    let events = alice.events(ok["id"].as_str().unwrap()).await;
    let reason = events.last().unwrap()["payload"]["cancellation_reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with(&format!("dependency {b_id} ")) && reason.contains("1 FAILED"),
        "{reason}"
    );
    let any = alice.wait_for(any["id"].as_str().unwrap(), None, T).await;
    assert_eq!(any["status"], "COMPLETED", "{any}");
    let not_ok = alice
        .wait_for(not_ok["id"].as_str().unwrap(), None, T)
        .await;
    assert_eq!(not_ok["status"], "COMPLETED", "{not_ok}");
    let b_done = sweep::wait_completed(&alice, &b_id, T).await;
    assert_eq!(b_done["counts"]["FAILED"], 1);
    assert_eq!(b_done["counts"]["COMPLETED"], 49);
    assert!(at(&any, "started_at") >= at(&b_done, "created_at"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sweeps_are_refused_and_change_nothing_and_a_key_replays() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let big: Vec<u32> = (0..1000).collect();
    for (body, says) in [
        (
            json!({"agent": "ok", "dataset_id": "d", "grid": {"a": big, "b": big}}),
            "1000000 points",
        ),
        (
            json!({"agent": "nope", "dataset_id": "d", "grid": {"a": [1]}}),
            "unknown agent",
        ),
        (json!({"agent": "ok", "grid": {"a": [1]}}), "dataset"),
        (
            json!({"agent": "ok", "dataset_id": "d", "grid": {"a": [1]}, "points": [{}]}),
            "exclusive",
        ),
        (
            json!({"agent": "ok", "dataset_id": "d", "grid": {"a": []}}),
            "grid.a",
        ),
        (
            json!({"agent": "ok", "dataset_id": "d", "grid": {"a": 3}}),
            "grid.a",
        ),
        (
            json!({"agent": "ok", "dataset_id": "d", "points": []}),
            "points",
        ),
        (
            json!({"agent": "ok", "dataset_id": "d", "points": [{}], "concurrency_limit": 0}),
            "concurrency_limit",
        ),
        (
            json!({"agent": "ok", "datasets": ["ok", "bad\u{0}"], "points": [{}]}),
            "control characters",
        ),
        (
            json!({"agent": "ok", "dataset_id": "d", "points": [{}],
                   "depends_on": [{"sweep_id": "0190d7a4-0000-7000-8000-000000000000", "condition": "after_ok"}]}),
            "no sweep",
        ),
    ] {
        let (status, problem) = sweep::post(&alice, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{body}: {problem}"
        );
    }
    let none: Value = alice
        .request(Method::GET, "/v1/jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["jobs"], json!([]), "nothing was made");
    // the same key and body: the same sweep, made once
    let body = json!({"agent": "ok", "dataset_id": "d", "grid": {"n": [1, 2, 3]}});
    let mut ids = HashSet::new();
    for _ in 0..2 {
        let r = alice
            .request(Method::POST, "/v1/sweeps")
            .header("Idempotency-Key", "sweep-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let made: Value = r.json().await.unwrap();
        ids.insert(made["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    let id = ids.into_iter().next().unwrap();
    assert_eq!(sweep::jobs(&alice, &id).await.len(), 3);
    let r = alice
        .request(Method::POST, "/v1/sweeps")
        .header("Idempotency-Key", "sweep-1")
        .json(&json!({"agent": "ok", "dataset_id": "d", "grid": {"n": [1, 2]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

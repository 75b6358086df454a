//! Hold/release and clone, end to end over real HTTP against a real
//! `horizon serve` with real processes (the local backend; Slurm's
//! `scontrol hold` is in slurm_hold.rs): a held job waits, unstarted, until
//! released; a clone runs with its overrides and both jobs show the link.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Server, ServerOptions, assert_valid_events};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

async fn post(api: &common::Api, path: &str, body: Value) -> (StatusCode, Value) {
    let r = api
        .request(Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A QUEUED local job (its one slot taken) is held: it does not start when
/// the slot frees up, until released; then it runs and completes. Both
/// steps are `job.status_changed` events naming who and why, in the audit
/// trail too; holding it twice, releasing a job that is not held and
/// holding a running or ended job are 409s that change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_job_waits_until_released_then_runs() {
    let server = Server::start_with(ServerOptions {
        slots: 1,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let blocker = alice.submit("sleep", json!({"seconds": 60})).await;
    let blocker = blocker["id"].as_str().unwrap().to_owned();
    alice.wait_for(&blocker, Some("RUNNING"), T).await;
    let job = alice.submit("ok", json!({"seconds": 0.2})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    alice.wait_for(&id, Some("QUEUED"), T).await;

    let (status, held) = post(
        &alice,
        &format!("/v1/jobs/{id}/hold"),
        json!({"reason": "waiting for the calibration data"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{held}");
    assert_eq!(held["held"], true);
    assert_eq!(held["status"], "QUEUED");
    let (status, again) = post(&alice, &format!("/v1/jobs/{id}/hold"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert!(again["detail"].as_str().unwrap().contains("held already"));
    // another user cannot see it, let alone hold it
    let (status, _) = post(
        &server.user("bob"),
        &format!("/v1/jobs/{id}/release"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // the slot frees up: the held job stays QUEUED and never runs
    assert_eq!(
        alice.cancel(&blocker, "make room").await.status(),
        StatusCode::OK
    );
    alice.wait_for(&blocker, Some("CANCELLED"), T).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = alice.job(&id).await;
    assert_eq!(still["status"], "QUEUED", "{still}");
    assert_eq!(still["held"], true);
    assert_eq!(server.runs_of(&id), 0, "a held job ran");

    let (status, released) = post(
        &alice,
        &format!("/v1/jobs/{id}/release"),
        json!({"reason": "data is in"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["held"], false);
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(server.runs_of(&id), 1);

    let events = alice.events(&id).await;
    assert_valid_events(&events);
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
            "job.status_changed",
            "job.status_changed",
            "job.running",
            "job.completed"
        ]
    );
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "job.status_changed")
        .map(|e| &e["payload"])
        .collect();
    assert_eq!(changes[0]["changed_by"], "alice");
    assert_eq!(changes[0]["held"], true);
    assert!(
        changes[0]["reason"]
            .as_str()
            .unwrap()
            .contains("waiting for the calibration data")
    );
    assert_eq!(changes[1]["held"], false);
    assert!(
        changes[1]["reason"]
            .as_str()
            .unwrap()
            .contains("data is in")
    );

    // nothing to release, nothing to hold once it ended
    let (status, body) = post(&alice, &format!("/v1/jobs/{id}/release"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = post(&alice, &format!("/v1/jobs/{id}/hold"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(alice.events(&id).await.len(), events.len());

    // a running job cannot be held
    let running = alice.submit("sleep", json!({"seconds": 30})).await;
    let running = running["id"].as_str().unwrap().to_owned();
    alice.wait_for(&running, Some("RUNNING"), T).await;
    let (status, body) = post(&alice, &format!("/v1/jobs/{running}/hold"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("RUNNING"),
        "{body}"
    );
    alice.cancel(&running, "done").await;

    // both acts are on the audit trail, by alice, for that job
    let root = server.client(&server.token("root", true));
    for action in ["job.hold", "job.release"] {
        let trail: Value = root
            .request(
                Method::GET,
                &format!("/v1/audit?action={action}&outcome=allowed&target={id}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records = trail["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{action}: {trail}");
        assert_eq!(records[0]["actor"], "alice");
    }
}

/// A clone runs with its overrides (parameters merged, another dataset),
/// records `cloned_from`, and the original lists it; an invalid override is
/// a 422 that makes nothing; another user's job cannot be cloned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_runs_with_its_overrides_and_both_jobs_show_the_link() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let original = alice
        .submit("echo", json!({"alpha": 1, "beta": "kept"}))
        .await;
    let original = original["id"].as_str().unwrap().to_owned();
    alice.wait_for(&original, None, T).await;

    let (status, clone) = post(
        &alice,
        &format!("/v1/jobs/{original}/clone"),
        json!({"parameters": {"alpha": 2}, "dataset_id": "ds-2", "resources": {"memory_mb": 256}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{clone}");
    let id = clone["id"].as_str().unwrap().to_owned();
    assert_ne!(id, original);
    assert_eq!(clone["cloned_from"], original.as_str());
    assert_eq!(clone["agent"], "echo");
    assert_eq!(clone["user_id"], "alice");
    assert_eq!(clone["parameters"], json!({"alpha": 2, "beta": "kept"}));
    assert_eq!(clone["resources"]["memory_mb"], 256);
    let done = alice.wait_for(&id, None, T).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    // what the program was given is the clone's
    let echo: Value = serde_json::from_str(
        &std::fs::read_to_string(server.job_dir(&id).join("echo.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(echo["dataset_id"], "ds-2");
    let given: Value = serde_json::from_str(echo["params_raw"].as_str().unwrap()).unwrap();
    assert_eq!(given, json!({"alpha": 2, "beta": "kept"}));

    // the link both ways
    let seen = alice.job(&original).await;
    assert_eq!(seen["clones"], json!([id]));
    assert_eq!(seen["cloned_from"], Value::Null);
    let listed: Value = alice
        .request(Method::GET, &format!("/v1/jobs?cloned_from={original}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    // an invalid override changes nothing
    let before = listed["jobs"].as_array().unwrap().len();
    let (status, body) = post(
        &alice,
        &format!("/v1/jobs/{original}/clone"),
        json!({"dataset_id": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = post(
        &alice,
        &format!("/v1/jobs/{original}/clone"),
        json!({"nonsense": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = post(
        &server.user("bob"),
        &format!("/v1/jobs/{original}/clone"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let after: Value = alice
        .request(Method::GET, &format!("/v1/jobs?cloned_from={original}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["jobs"].as_array().unwrap().len(), before);

    // an empty body clones as it was; an Idempotency-Key makes one clone
    let key_clone = |key: &'static str| {
        alice
            .request(Method::POST, &format!("/v1/jobs/{original}/clone"))
            .header("Idempotency-Key", key)
            .send()
    };
    let first: Value = key_clone("clone-1").await.unwrap().json().await.unwrap();
    let second = key_clone("clone-1").await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["parameters"], json!({"alpha": 1, "beta": "kept"}));
    assert_eq!(first["dataset_id"], "ds-1");
}

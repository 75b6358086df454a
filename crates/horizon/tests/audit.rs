//! The audit trail of reads: an admin reading another user's job, its
//! events or every user's list is recorded as writes are (a user reading
//! their own data is not); the trail narrows by action, target, outcome
//! and time.
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn trail(admin: &common::Api, query: &str) -> Vec<Value> {
    let r = admin
        .request(Method::GET, &format!("/v1/audit?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    let page: Value = r.json().await.unwrap();
    page["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn admin_reads_of_others_data_are_recorded_and_the_trail_filters() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let admin = server.client(&server.token("root", true));
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let started = horizon_core::timestamp::format(time::OffsetDateTime::now_utc());
    // her own reads: not recorded
    alice.job(&id).await;
    alice.events(&id).await;
    assert!(trail(&admin, "action=job.read").await.is_empty());
    // the admin's: each recorded, naming the job
    for path in [format!("/v1/jobs/{id}"), format!("/v1/jobs/{id}/events")] {
        let r = admin.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = admin.request(Method::GET, "/v1/jobs").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let reads = trail(&admin, &format!("target={id}&outcome=allowed")).await;
    let actions: Vec<&str> = reads
        .iter()
        .filter(|r| r["actor"] == "root")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["job.read", "job.events"], "{reads:?}");
    for record in reads.iter().filter(|r| r["actor"] == "root") {
        assert_eq!(record["admin"], true);
        assert_eq!(record["method"], "GET");
    }
    let lists = trail(&admin, "action=job.list&actor=root").await;
    assert_eq!(lists.len(), 1, "{lists:?}");
    // an admin's read of nothing but their own is not recorded
    let r = admin
        .request(Method::GET, "/v1/jobs?user=root")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(trail(&admin, "action=job.list&actor=root").await.len(), 1);
    // time range: everything recorded since `started` is the admin's
    let since = trail(&admin, &format!("since={started}&action=job.read")).await;
    assert_eq!(since.len(), 1);
    let until = trail(&admin, &format!("until={started}&action=job.read")).await;
    assert!(until.is_empty(), "{until:?}");
    // bad filters are refused by name
    for (query, status) in [
        ("outcome=maybe", StatusCode::UNPROCESSABLE_ENTITY),
        ("since=yesterday", StatusCode::UNPROCESSABLE_ENTITY),
        ("who=root", StatusCode::BAD_REQUEST),
        (
            &*format!("target={}", "x".repeat(256)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = admin
            .request(Method::GET, &format!("/v1/audit?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{query}");
    }
}

/// A request refused for its empty `X-Correlation-ID` is recorded with a
/// correlation id of the record's own (the schema's `minLength: 1`), found
/// by Schemathesis.
#[tokio::test]
async fn an_empty_correlation_id_is_recorded_as_none() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let admin = server.client(&server.token("root", true));
    for (path, body) in [
        ("/v1/jobs", json!({"agent": "ok", "dataset_id": "d"})),
        (
            "/v1/sweeps",
            json!({"agent": "ok", "dataset_id": "d", "grid": {"a": [1]}}),
        ),
    ] {
        let r = alice
            .request(Method::POST, path)
            .header("X-Correlation-ID", "")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
    }
    let records = trail(&admin, "actor=alice").await;
    assert_eq!(records.len(), 2, "{records:?}");
    for record in records {
        assert!(
            !record["correlation_id"].as_str().unwrap().is_empty(),
            "{record}"
        );
        common::assert_valid_events(std::slice::from_ref(&record));
    }
}

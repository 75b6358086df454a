//! Listing jobs: newest first, paged, narrowed by status (several at
//! once), agent, dataset, creation time and (for admins) user; an unknown
//! query parameter is a 400 that names it.
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

async fn assert_problem(response: Response, status: StatusCode, detail_has: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(detail_has), "{body}");
    body
}

/// The job ids of one page of `GET path`, and its next cursor.
async fn list_ids(api: &common::Api, path: &str) -> (Vec<String>, Option<String>) {
    let r = api.request(Method::GET, path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    let ids = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, page["next_cursor"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn listing_is_newest_first_filters_and_pages() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            alice.submit("sleep", json!({"seconds": 60})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    alice.cancel(&ids[1], "x").await;
    let (got, next) = list_ids(&alice, "/v1/jobs?limit=2").await;
    assert_eq!(got, [ids[4].clone(), ids[3].clone()]);
    let cursor = next.unwrap();
    let (got, next) = list_ids(&alice, &format!("/v1/jobs?limit=10&cursor={cursor}")).await;
    assert_eq!(got, [ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    assert!(next.is_none());
    let (got, _) = list_ids(&alice, "/v1/jobs?status=CANCELLED").await;
    assert_eq!(got, [ids[1].clone()]);
}

#[tokio::test]
async fn jobs_are_listed_by_agent_dataset_and_creation_time() {
    let server = Server::start_with(common::ServerOptions {
        slots: 0,
        ..common::ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let submit = |agent: &'static str, dataset: &'static str| {
        let alice = alice.clone();
        async move {
            let r = alice
                .request(Method::POST, "/v1/jobs")
                .json(&json!({"agent": agent, "dataset_id": dataset, "parameters": {}}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()
        }
    };
    let first = submit("ok", "d1").await;
    submit("ok", "d2").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let middle = time::OffsetDateTime::now_utc();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let last = submit("sleep", "d1").await;
    let ids = |query: String| {
        let alice = alice.clone();
        async move {
            let r = alice
                .request(Method::GET, &format!("/v1/jobs?{query}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{query}");
            let page: Value = r.json().await.unwrap();
            page["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids("agent=sleep".into()).await,
        [last["id"].as_str().unwrap()]
    );
    assert_eq!(ids("dataset_id=d1".into()).await.len(), 2);
    assert_eq!(
        ids("dataset_id=d1&agent=ok".into()).await,
        [first["id"].as_str().unwrap()]
    );
    let t = horizon_core::timestamp::format(middle);
    assert_eq!(
        ids(format!("created_after={t}")).await,
        [last["id"].as_str().unwrap()]
    );
    assert_eq!(ids(format!("created_before={t}")).await.len(), 2);
    let r = alice
        .request(Method::GET, "/v1/jobs?created_after=yesterday")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "RFC 3339").await;
}

/// Several statuses at once; an admin narrows to one user, a user may name
/// only themself; unknown parameters (`user_id`, a typo) are refused by name.
#[tokio::test]
async fn lists_take_several_statuses_a_user_for_admins_and_refuse_unknown_parameters() {
    let server = Server::start().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let admin = server.client(&server.token("root", true));
    let id = |job: Value| job["id"].as_str().unwrap().to_owned();
    let done = id(alice.submit("ok", json!({"seconds": 0})).await);
    alice
        .wait_for(&done, Some("COMPLETED"), std::time::Duration::from_secs(30))
        .await;
    let running = id(alice.submit("sleep", json!({"seconds": 60})).await);
    alice
        .wait_for(
            &running,
            Some("RUNNING"),
            std::time::Duration::from_secs(30),
        )
        .await;
    let cancelled = id(alice.submit("sleep", json!({"seconds": 60})).await);
    alice.cancel(&cancelled, "x").await;
    let his = id(bob.submit("sleep", json!({"seconds": 60})).await);

    let (got, _) = list_ids(&alice, "/v1/jobs?status=RUNNING,CANCELLED").await;
    assert_eq!(got, [cancelled.clone(), running.clone()]);
    let (got, _) = list_ids(&alice, "/v1/jobs?status=COMPLETED,COMPLETED").await;
    assert_eq!(got, [done]);
    let (got, _) = list_ids(&admin, "/v1/jobs?user=bob").await;
    assert_eq!(got, [his]);
    let (got, _) = list_ids(&admin, "/v1/jobs?user=alice&status=RUNNING").await;
    assert_eq!(got, [running]);
    let (got, _) = list_ids(&alice, "/v1/jobs?user=alice").await;
    assert_eq!(got.len(), 3);
    let r = alice
        .request(Method::GET, "/v1/jobs?user=bob")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "only admins").await;
    for (query, names) in [("user_id=bob", "user_id"), ("statsu=RUNNING", "statsu")] {
        let r = admin
            .request(Method::GET, &format!("/v1/jobs?{query}"))
            .send()
            .await
            .unwrap();
        assert_problem(r, StatusCode::BAD_REQUEST, names).await;
    }
    let r = alice
        .request(Method::GET, "/v1/jobs?status=RUNNING,DONE")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "status").await;
}

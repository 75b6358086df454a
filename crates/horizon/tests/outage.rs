//! The database going away under a running `horizon serve` (real
//! PostgreSQL behind a TCP proxy the test cuts): requests get 503 problem
//! bodies with `Retry-After`, `/readyz` fails, nothing is half-written, and
//! service comes back without a restart when the database does — including
//! the job that finished while it was away.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{Server, ServerOptions, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_with_retry_after_and_service_resumes_without_a_restart() {
    if std::env::var_os("HORIZON_TEST_SKIP_POSTGRES").is_some() {
        eprintln!("skipped: HORIZON_TEST_SKIP_POSTGRES");
        return;
    }
    let db = TestDatabase::create();
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    // the server reaches its database only through the proxy
    let (_, rest) = db.url.split_once('@').unwrap();
    let (_, name) = rest.split_once('/').unwrap();
    // (trust authentication ignores the password: it is there to be masked)
    let url = format!(
        "postgres://postgres:pw-that-must-not-leak@127.0.0.1:{}/{name}",
        proxy.port
    );
    let server = Server::start_with(ServerOptions {
        slots: 2,
        database_url: Some(url),
        extra_toml: "[api]\ntoken_cache_ms = 0\n".into(),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let done = alice.submit("ok", json!({})).await;
    let done_id = done["id"].as_str().unwrap().to_owned();
    alice.wait_for(&done_id, Some("COMPLETED"), T).await;
    // a job that ends while the database is away
    let running = alice.submit("sleep", json!({"seconds": 3})).await;
    let running_id = running["id"].as_str().unwrap().to_owned();
    alice.wait_for(&running_id, Some("RUNNING"), T).await;

    proxy.cut();
    let mut refused = 0;
    for i in 0..5 {
        let response = alice
            .request(Method::POST, "/v1/jobs")
            .header("idempotency-key", format!("outage-{i}"))
            .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            server.log()
        );
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 503);
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("database is unavailable"), "{detail}");
        assert!(
            !detail.contains("127.0.0.1") && !detail.contains("postgres"),
            "{detail}"
        );
        refused += 1;
    }
    for path in [format!("/v1/jobs/{done_id}"), "/v1/jobs".to_owned()] {
        let response = alice.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
    let ready = server
        .http
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.headers()["retry-after"], "2");
    // /healthz: the process itself is fine
    let health = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // the sleeping job ends meanwhile
    tokio::time::sleep(Duration::from_secs(4)).await;

    proxy.restore();
    let deadline = Instant::now() + T;
    loop {
        let ready = server
            .http
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            .unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // writes work again, on the same process
    let after = alice.submit("ok", json!({})).await;
    let after_id = after["id"].as_str().unwrap().to_owned();
    alice.wait_for(&after_id, Some("COMPLETED"), T).await;
    // the job that ended during the outage is recorded, with all its events
    let ended = alice.wait_for(&running_id, Some("COMPLETED"), T).await;
    assert_eq!(ended["status"], "COMPLETED");
    let events = alice.events(&running_id).await;
    common::assert_lifecycle(
        &running_id,
        &events,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
    // nothing half-written: exactly the three answered jobs exist, each with
    // its job.submitted, and no refused submission left a trace
    let list: Value = alice
        .request(Method::GET, "/v1/jobs?limit=100")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?} ({refused} refused)");
    for id in [&done_id, &running_id, &after_id] {
        assert!(ids.contains(&id.as_str()));
    }
    for id in &ids {
        let events = alice.events(id).await;
        assert_eq!(events[0]["event_type"], "job.submitted");
    }
    // a refused submission's idempotency key made nothing: reusing it makes a new job
    let response = alice
        .request(Method::POST, "/v1/jobs")
        .header("idempotency-key", "outage-0")
        .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let log = server.log();
    assert!(log.contains("connected again"), "the writer reconnected");
    // the database URL is logged with its password masked, and never whole
    assert!(log.contains("postgres:****@127.0.0.1"), "{log}");
    assert!(!log.contains("pw-that-must-not-leak"));
}

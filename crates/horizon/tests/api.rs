//! The HTTP contract over real HTTP: every bad input gets its status and a
//! problem body and changes nothing; users are isolated; idempotency keys
//! never make two jobs; operational routes (listing: `lists.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

async fn assert_problem(response: Response, status: StatusCode, detail_has: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "problem content type for {status}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(detail_has),
        "detail {detail:?} lacks {detail_has:?}"
    );
    body
}

async fn job_count(api: &common::Api) -> usize {
    let r = api
        .request(Method::GET, "/v1/jobs?limit=100")
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["jobs"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn bad_inputs_get_their_status_and_a_problem_body_and_change_nothing() {
    let server = Server::start().await;
    let alice = server.user("alice");
    // bodies POSTed to /v1/jobs, and what each must get
    let bodies: Vec<(String, StatusCode, &str)> = vec![
        ("{\"agent\": ".into(), StatusCode::BAD_REQUEST, "malformed JSON"),
        (
            json!({"agent": 42, "dataset_id": "d", "parameters": {}}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            json!({"agent": "ok", "dataset_id": "d", "parameters": [1, 2]}).to_string(),
            StatusCode::BAD_REQUEST,
            "parameters",
        ),
        (
            json!({"agent": "ok", "dataset_id": "d", "parameters": {}, "colour": "red"}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            json!({"agent": "NoSuchAgent", "dataset_id": "d", "parameters": {}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown agent \"NoSuchAgent\"",
        ),
        (
            json!({"agent": "ok", "dataset_id": "", "parameters": {}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dataset_id",
        ),
        (
            json!({"agent": "ok", "dataset_id": "x".repeat(257), "parameters": {}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dataset_id",
        ),
        // parameters over 64 KiB inside a body under the body limit: an invalid field
        (
            json!({"agent": "ok", "dataset_id": "d", "parameters": {"blob": "x".repeat(70 * 1024)}})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "parameters",
        ),
        // control characters in ids: NUL, newline, escape
        (
            json!({"agent": "ok", "dataset_id": "x\u{0}y", "parameters": {}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dataset_id must not contain control characters",
        ),
        (
            json!({"agent": "ok", "dataset_id": "line\nbreak", "parameters": {}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dataset_id must not contain control characters",
        ),
        (
            json!({"agent": "o\u{1b}k", "dataset_id": "d", "parameters": {}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "agent must not contain control characters",
        ),
        // a body over the server's limit
        (
            json!({"agent": "ok", "dataset_id": "d", "parameters": {"blob": "x".repeat(300 * 1024)}})
                .to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger",
        ),
    ];
    for (body, status, detail) in bodies {
        let r = alice
            .request(Method::POST, "/v1/jobs")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(r, status, detail).await;
    }
    // a bad header value
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .header("X-Correlation-ID", "x".repeat(300))
        .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {}}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "x-correlation-id").await;
    for (header, value) in [
        ("X-Correlation-ID", "tab\tinside"),
        ("Idempotency-Key", "key\twith-tab"),
    ] {
        let r = alice
            .request(Method::POST, "/v1/jobs")
            .header(header, value)
            .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {}}))
            .send()
            .await
            .unwrap();
        assert_problem(
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            &header.to_ascii_lowercase(),
        )
        .await;
    }
    // unknown routes, unknown jobs, bad list queries
    let gets = [
        ("/v1/nothing-here", StatusCode::NOT_FOUND, "no such route"),
        (
            "/v1/jobs/0192d7a4-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
            "not found",
        ),
        ("/v1/jobs/not-a-uuid", StatusCode::NOT_FOUND, "not found"),
        (
            "/v1/jobs?status=DONE",
            StatusCode::UNPROCESSABLE_ENTITY,
            "status",
        ),
        ("/v1/jobs?limit=abc", StatusCode::BAD_REQUEST, "query"),
        (
            "/v1/jobs?limit=1000",
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
        ),
    ];
    for (path, status, detail) in gets {
        let r = alice.request(Method::GET, path).send().await.unwrap();
        assert_problem(r, status, detail).await;
    }
    // nothing above made a job
    assert_eq!(job_count(&alice).await, 0);
}

#[tokio::test]
async fn missing_or_invalid_tokens_are_401() {
    let server = Server::start().await;
    let r = server
        .http
        .get(format!("{}/v1/jobs", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_problem(r, StatusCode::UNAUTHORIZED, "Authorization").await;
    let r = server
        .client("hzn_forged")
        .request(Method::GET, "/v1/jobs")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid").await;
    let r = server
        .http
        .post(format!("{}/v1/jobs", server.url))
        .header("Authorization", "Basic YWxpY2U6cHc=")
        .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {}}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED, "Bearer").await;
    // the scheme is case-insensitive
    let token = server.token("alice", false);
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = server
            .http
            .get(format!("{}/v1/jobs", server.url))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "scheme {scheme}");
    }
}

#[tokio::test]
async fn cancel_reasons_are_bounded_and_printable() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("sleep", json!({"seconds": 60})).await;
    let id = job["id"].as_str().unwrap();
    assert_problem(
        alice.cancel(id, &"r".repeat(1025)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at most 1024",
    )
    .await;
    assert_problem(
        alice.cancel(id, "bad\u{0}reason").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "control characters",
    )
    .await;
    let still: Value = alice
        .request(Method::GET, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(
        still["status"], "CANCELLED",
        "a refused cancel changed the job"
    );
    let r = alice.cancel(id, &"r".repeat(1024)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn database_errors_never_reach_a_response_body() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("sleep", json!({"seconds": 60})).await;
    let id = job["id"].as_str().unwrap();
    // break the schema under the running server: every read of a job now fails
    server.sql("ALTER TABLE jobs RENAME TO jobs_gone");
    let r = alice
        .request(Method::GET, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().await.unwrap();
    assert!(body.contains("reference"), "{body}");
    for leak in [
        "jobs",
        "sqlite",
        "no such table",
        "SELECT",
        "relation",
        "postgres",
    ] {
        assert!(!body.contains(leak), "body leaks {leak:?}: {body}");
    }
}

#[tokio::test]
async fn users_see_and_cancel_only_their_own_jobs_and_admins_see_all() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let admin = server.client(&server.token("root", true));
    let job = alice.submit("sleep", json!({"seconds": 60})).await;
    let id = job["id"].as_str().unwrap();

    let r = bob
        .request(Method::GET, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not found").await;
    let r = bob
        .request(Method::GET, &format!("/v1/jobs/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not found").await;
    assert_problem(
        bob.cancel(id, "mine now").await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    assert_eq!(job_count(&bob).await, 0);
    assert_ne!(alice.job(id).await["status"], "CANCELLED");

    assert_eq!(admin.job(id).await["user_id"], "alice");
    assert_eq!(job_count(&admin).await, 1);
    let r = admin.cancel(id, "maintenance").await;
    assert_eq!(r.status(), StatusCode::OK);
    let events = alice.events(id).await;
    assert_eq!(
        common::payload(&events, "job.cancelled")["cancelled_by"],
        "root"
    );
}

#[tokio::test]
async fn same_idempotency_key_never_makes_two_jobs() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let body = json!({"agent": "ok", "dataset_id": "d", "parameters": {"alpha": 1}});
    let send = |api: &common::Api, body: &Value| {
        api.request(Method::POST, "/v1/jobs")
            .header("Idempotency-Key", "run-7")
            .json(body)
            .send()
    };
    // concurrent first attempts, then a retry
    let (a, b) = tokio::join!(send(&alice, &body), send(&alice, &body));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.status(), StatusCode::CREATED);
    assert_eq!(b.status(), StatusCode::CREATED);
    let a: Value = a.json().await.unwrap();
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    let retry = send(&alice, &body).await.unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await.unwrap()["id"], a["id"]);
    assert_eq!(job_count(&alice).await, 1);
    // a different body with the same key is refused
    let other = json!({"agent": "ok", "dataset_id": "d", "parameters": {"alpha": 2}});
    assert_problem(
        send(&alice, &other).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "run-7",
    )
    .await;
    assert_eq!(job_count(&alice).await, 1);
    // keys are per user
    let bobs = send(&bob, &body).await.unwrap();
    assert_eq!(bobs.status(), StatusCode::CREATED);
    assert_ne!(bobs.json::<Value>().await.unwrap()["id"], a["id"]);
    // the job has exactly one submitted event
    let id = a["id"].as_str().unwrap();
    let submitted = alice
        .events(id)
        .await
        .iter()
        .filter(|e| e["event_type"] == "job.submitted")
        .count();
    assert_eq!(submitted, 1);
}

#[tokio::test]
async fn correlation_id_is_carried_into_every_event() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .header("X-Correlation-ID", "gateway-req-42")
        .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {"seconds": 0.5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-correlation-id"], "gateway-req-42");
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(job["correlation_id"], "gateway-req-42");
    alice
        .wait_for(id, None, std::time::Duration::from_secs(30))
        .await;
    let events = alice.events(id).await;
    assert!(events.len() >= 4);
    assert!(
        events
            .iter()
            .all(|e| e["correlation_id"] == "gateway-req-42")
    );
    // without the header one is generated
    let other = alice.submit("ok", json!({})).await;
    assert!(
        other["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
}

#[tokio::test]
async fn operational_routes_answer() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let id = alice.submit("ok", json!({"seconds": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .wait_for(&id, None, std::time::Duration::from_secs(30))
        .await;
    let get = |path: &str| server.http.get(format!("{}{path}", server.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("horizon_jobs{status=\"COMPLETED\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("horizon_job_submissions_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("horizon_job_transitions_total{from=\"RUNNING\",to=\"COMPLETED\"} 1"),
        "{metrics}"
    );
    // no Kafka here: no outbox gauge that would only grow
    assert!(!metrics.contains("horizon_outbox_depth "), "{metrics}");
    let openapi: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/events",
    ] {
        assert!(openapi["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    assert!(openapi["components"]["schemas"]["JobDto"].is_object());
}

#[tokio::test]
async fn events_are_paged() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    alice
        .wait_for(&id, Some("COMPLETED"), std::time::Duration::from_secs(30))
        .await;
    let mut seen = Vec::new();
    let mut path = format!("/v1/jobs/{id}/events?limit=1");
    loop {
        let page: Value = alice
            .request(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 1, "{page}");
        seen.extend(
            events
                .iter()
                .map(|e| e["event_type"].as_str().unwrap().to_owned()),
        );
        match page["next_after"].as_str() {
            Some(after) => path = format!("/v1/jobs/{id}/events?limit=1&after={after}"),
            None => break,
        }
    }
    seen.retain(|t| t != "job.metrics_recorded");
    assert_eq!(seen, common::COMPLETED_LIFE);
    for bad in ["0", "10001"] {
        let r = alice
            .request(Method::GET, &format!("/v1/jobs/{id}/events?limit={bad}"))
            .send()
            .await
            .unwrap();
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "limit").await;
    }
}

#[tokio::test]
async fn events_after_one_event_are_only_the_later_ones() {
    // no metrics sample among the four lifecycle events, however slow the
    // machine (the test counts them)
    let server = Server::start_with(common::ServerOptions {
        metrics_interval_ms: 600_000,
        ..common::ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let id = alice.submit("ok", json!({"seconds": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .wait_for(&id, None, std::time::Duration::from_secs(30))
        .await;
    let all = alice.events(&id).await;
    assert_eq!(all.len(), 4);
    let after = |event_id: &str| {
        alice
            .request(
                Method::GET,
                &format!("/v1/jobs/{id}/events?after={event_id}"),
            )
            .send()
    };
    let r = after(all[1]["event_id"].as_str().unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let later: Value = r.json().await.unwrap();
    assert_eq!(later["events"].as_array().unwrap(), &all[2..].to_vec());
    let r = after(all[3]["event_id"].as_str().unwrap()).await.unwrap();
    let none: Value = r.json().await.unwrap();
    assert!(none["events"].as_array().unwrap().is_empty());
    // an id that is not one of this job's events (no such event: 404), or
    // not an id at all (422)
    let other = bob.submit("ok", json!({"seconds": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bobs_first = bob.events(&other).await[0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        after(&bobs_first).await.unwrap(),
        StatusCode::NOT_FOUND,
        "has no event",
    )
    .await;
    assert_problem(
        after("yesterday").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "after",
    )
    .await;
}

/// The OpenAPI document passes a real validator (`openapi-spec-validator`
/// from PyPI; scripts/test.sh installs it): client generators reject an
/// invalid one.
#[tokio::test]
async fn the_openapi_document_is_valid_openapi() {
    let server = Server::start().await;
    let text = server.get_text("/openapi.json").await;
    let file = server.dir.path().join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new("openapi-spec-validator")
        .arg(&file)
        .output()
        .expect(
            "openapi-spec-validator (pip install openapi-spec-validator; scripts/test.sh does)",
        );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // every route documents the statuses it can answer
    let doc: Value = serde_json::from_str(&text).unwrap();
    let submit = &doc["paths"]["/v1/jobs"]["post"]["responses"];
    for code in ["201", "400", "401", "413", "415", "422", "500", "503"] {
        assert!(
            submit.get(code).is_some(),
            "POST /v1/jobs does not document {code}"
        );
    }
    assert_eq!(
        doc["paths"]["/v1/jobs"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap()["schema"]["minimum"],
        1
    );
    // the API, not this server's configuration: what `horizon openapi`
    // prints (the SDKs are generated from it), no agent named
    let printed = std::process::Command::new(common::BIN)
        .arg("openapi")
        .output()
        .unwrap();
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(doc, printed);
    let agent = &doc["components"]["schemas"]["SubmitJobRequest"]["properties"]["agent"];
    assert!(agent.get("enum").is_none(), "{agent}");
}

/// Each event of a list says which of the job's two sequences its
/// `sequence` counts in; each sequence is gap-free from 1 on its own.
#[tokio::test]
async fn event_lists_say_which_sequence_each_event_counts_in() {
    let server = Server::start_with(common::ServerOptions {
        metrics_interval_ms: 100,
        ..common::ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({"seconds": 1})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    alice
        .wait_for(&id, Some("COMPLETED"), std::time::Duration::from_secs(30))
        .await;
    let page: Value = alice
        .request(Method::GET, &format!("/v1/jobs/{id}/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = page["events"].as_array().unwrap();
    let streams = page["streams"].as_array().unwrap();
    assert_eq!(events.len(), streams.len());
    let mut next = std::collections::HashMap::from([("lifecycle", 1), ("metrics", 1)]);
    for (event, stream) in events.iter().zip(streams) {
        let stream = stream.as_str().unwrap();
        let want = if event["event_type"] == "job.metrics_recorded" {
            "metrics"
        } else {
            "lifecycle"
        };
        assert_eq!(stream, want, "{event}");
        let n = next.get_mut(stream).unwrap();
        assert_eq!(event["sequence"], *n, "{stream} counts on its own");
        *n += 1;
    }
    assert!(next["metrics"] > 1, "the job had metrics samples: {page}");
}

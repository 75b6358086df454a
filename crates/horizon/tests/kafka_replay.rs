//! Replay: stored events published again byte for byte, with one added
//! `horizon-replay` header, for one job, a time range, and to another
//! topic; through the CLI (progress) and the API; in the audit trail;
//! bad requests refused before anything is sent.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::kafka::{Record, consume};
use common::kafka_setup::{T, setup};
use common::{BIN, ServerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The record without the replay header, for comparing with the original.
fn without_replay(r: &Record) -> (String, i32, String, String, BTreeMap<String, String>) {
    let mut headers = r.headers.clone();
    headers.remove("horizon-replay");
    (
        r.topic.clone(),
        r.partition,
        r.key.clone(),
        r.raw.clone(),
        headers,
    )
}

fn replayed_by<'a>(records: &'a [Record], id: &str) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.headers.get("horizon-replay").map(String::as_str) == Some(id))
        .collect()
}

async fn wait_done(admin: &common::Api, id: &str) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let r = admin
            .request(Method::GET, &format!("/v1/admin/events/replay/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let progress: Value = r.json().await.unwrap();
        if progress["state"] != "running" {
            return progress;
        }
        assert!(
            Instant::now() < deadline,
            "replay {id} never ended: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn replays_of_a_job_a_time_range_and_to_another_topic_are_byte_for_byte() {
    let s = setup().await;
    let admin = s.server.client(&s.server.token("root", true));
    let (a, a_events) = s.run_job("ok", json!({"seconds": 0.1})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let boundary = horizon_core::timestamp::format(time::OffsetDateTime::now_utc());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (b, b_events) = s.run_job("fail", json!({"seconds": 0.1})).await;
    let all: Vec<Value> = a_events.iter().chain(&b_events).cloned().collect();
    s.consume_all(&all).await;
    let topics = [s.lifecycle.as_str(), s.metrics.as_str(), s.audit.as_str()];

    // bad requests: refused, nothing sent
    for (body, says) in [
        (json!({}), "name what to replay"),
        (json!({"job_id": "nope"}), "not a job id"),
        (json!({"since": "yesterday"}), "RFC 3339"),
        (json!({"from_position": 0}), "1 or more"),
        (
            json!({"from_position": 1, "to_topic": "no spaces"}),
            "topic name",
        ),
        (
            json!({"from_position": 1, "rate_per_second": 0}),
            "rate_per_second",
        ),
    ] {
        let r = admin
            .request(Method::POST, "/v1/admin/events/replay")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    // a user is not an admin
    let r = s
        .alice
        .request(Method::POST, "/v1/admin/events/replay")
        .json(&json!({"job_id": a}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // 1. one job, to its own topics, through the CLI (progress on stderr)
    let out = std::process::Command::new(BIN)
        .args(["events", "replay", "--job", &a, "--rate", "200"])
        .env("HORIZON_URL", &s.server.url)
        .env("HORIZON_TOKEN", &admin.token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("replayed "), "no progress shown: {stderr}");
    let replay_id = stdout.split_whitespace().nth(1).unwrap().to_owned();
    assert!(
        stdout.contains(&format!("done: {} event(s)", a_events.len())),
        "{stdout}"
    );
    let expected = a_events.len();
    let id = replay_id.clone();
    let records = consume(&s.broker.brokers, &topics, T, move |records| {
        replayed_by(records, &id).len() >= expected
    })
    .await;
    let replayed = replayed_by(&records, &replay_id);
    assert_eq!(replayed.len(), a_events.len());
    for r in &replayed {
        assert_eq!(r.key, a, "only job {a}'s events");
        let original = records
            .iter()
            .find(|o| {
                !o.headers.contains_key("horizon-replay")
                    && o.headers["ce_id"] == r.headers["ce_id"]
            })
            .unwrap();
        assert_eq!(without_replay(r), without_replay(original), "byte for byte");
    }
    // in order, as stored
    let sequences: Vec<u64> = replayed
        .iter()
        .filter(|r| r.topic == s.lifecycle)
        .map(|r| r.value["sequence"].as_u64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    // 2. a time range, to another topic, through the API
    let other = format!("replayed-{}", uuid::Uuid::now_v7().simple());
    let r = admin
        .request(Method::POST, "/v1/admin/events/replay")
        .json(&json!({"since": boundary, "to_topic": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let started: Value = r.json().await.unwrap();
    let range_id = started["replay_id"].as_str().unwrap().to_owned();
    let done = wait_done(&admin, &range_id).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["sent"], done["total"]);
    let total = done["total"].as_u64().unwrap() as usize;
    let moved = consume(&s.broker.brokers, &[&other], T, move |r| r.len() >= total).await;
    assert_eq!(moved.len(), total);
    let originals = consume(&s.broker.brokers, &topics, Duration::from_secs(5), |_| {
        false
    })
    .await;
    for r in &moved {
        assert_eq!(r.headers["horizon-replay"], range_id);
        assert_ne!(r.key, a, "job {a} ended before the range began");
        let original = originals
            .iter()
            .find(|o| {
                !o.headers.contains_key("horizon-replay")
                    && o.headers["ce_id"] == r.headers["ce_id"]
            })
            .unwrap_or_else(|| panic!("{} is no stored event", r.headers["ce_id"]));
        assert_eq!(r.raw, original.raw, "byte for byte");
        assert_eq!(r.key, original.key);
        let (_, _, _, _, mut headers) = without_replay(r);
        headers.remove("horizon-replay");
        assert_eq!(headers, without_replay(original).4);
    }
    for event in &b_events {
        let id = event["event_id"].as_str().unwrap();
        assert_eq!(
            moved.iter().filter(|r| r.headers["ce_id"] == id).count(),
            1,
            "job {b}'s event {id} in the range"
        );
    }

    // 3. both replays are in the audit trail, each naming its replay
    let audit: Value = admin
        .request(Method::GET, "/v1/audit?limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for id in [&replay_id, &range_id] {
        assert!(
            audit["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["action"] == "events.replay" && r["target"] == id.as_str()),
            "replay {id} is not in the audit trail"
        );
    }
    eprintln!(
        "replayed job {a} ({} events) and a time range ({total} events) byte for byte",
        a_events.len()
    );
}

#[tokio::test]
async fn replay_without_kafka_is_a_clear_conflict() {
    let server = common::Server::start_with(ServerOptions::default()).await;
    let admin = server.client(&server.token("root", true));
    let r = admin
        .request(Method::POST, "/v1/admin/events/replay")
        // (whole numbers written with a fraction are integers to JSON Schema)
        .json(&json!({"from_position": 1.0, "rate_per_second": 75.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Kafka is not configured"),
        "{problem}"
    );
}

/// Two deployments (two databases) sharing one transactional id and
/// position topic, a misconfiguration: the second one's relay finds a
/// position committed for another database and refuses it, saying so on
/// `/readyz`, instead of taking the other database's position as its own
/// (which marked its events published up to there without sending them).
#[tokio::test]
async fn a_relay_position_committed_for_another_database_is_refused() {
    let mut s = setup().await;
    let (_, events) = s.run_job("ok", json!({"seconds": 0})).await;
    s.consume_all(&events).await;
    // its position is committed to Kafka
    let deadline = Instant::now() + T;
    while s.server.readyz().await["kafka"]["position"].is_null() {
        assert!(Instant::now() < deadline, "no position committed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.server.kill9();
    // another deployment: a database of its own, the same [kafka] section
    let other = common::Server::start_with(ServerOptions {
        extra_toml: s.kafka_section.clone(),
        ..Default::default()
    })
    .await;
    let alice = other.user("alice");
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    alice.wait_for(&id, Some("COMPLETED"), T).await;
    let deadline = Instant::now() + T;
    loop {
        let ready = other.readyz().await;
        let problems = ready["problems"].to_string();
        if problems.contains("another database") {
            assert_eq!(ready["status"], "degraded");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other database's position was not refused: {ready:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // nothing of the second deployment was taken for sent
    assert!(
        other.metric("horizon_outbox_depth").await >= 4.0,
        "events of the second deployment were marked published"
    );
    let records = consume(
        &s.broker.brokers,
        &[&s.lifecycle],
        Duration::from_secs(3),
        |_| false,
    )
    .await;
    assert!(
        !records.iter().any(|r| r.key == id),
        "the second deployment's events reached Kafka"
    );
}

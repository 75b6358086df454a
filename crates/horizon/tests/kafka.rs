//! The event stream on Kafka, checked with an independent `read_committed`
//! consumer against Apache Kafka: every event once (or, at least once, as a droppable duplicate),
//! in per-job order, on the partition murmur2(job id) picks, with the
//! standard and CloudEvents headers and an envelope that validates — through
//! concurrency, a broker outage, a crash, and a database failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::ServerOptions;
use common::kafka::{Broker, Record, consume, partitions};
use common::kafka_setup::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

// ---- the big guarantees ----

#[tokio::test]
async fn twelve_concurrent_jobs_every_event_once_in_order_on_its_partition() {
    let s = setup().await;
    let partitions = partitions(&s.broker.brokers, &s.lifecycle);
    assert_eq!(partitions, 10, "default lifecycle partitions");
    assert_eq!(common::kafka::partitions(&s.broker.brokers, &s.metrics), 20);
    let agent_of = |i: usize| if i % 4 == 3 { "fail" } else { "ok" };
    let jobs = submit_concurrently(&s.alice, 12, agent_of, json!({"seconds": 0.4})).await;
    let mut expected = Vec::new();
    let mut per_job = Vec::new();
    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        s.alice.wait_for(id, None, T).await;
        let events = s.alice.events(id).await;
        expected.extend(events.clone());
        per_job.push((id.to_owned(), events));
    }
    let records = s.consume_all(&expected).await;
    let mut duplicates = 0;
    for (id, events) in &per_job {
        duplicates += assert_job_published(&s, &records, id, events);
    }
    assert_eq!(duplicates, 0, "no duplicates without crashes or outages");
    let used: std::collections::HashSet<i32> = records
        .iter()
        .filter(|r| r.topic == s.lifecycle)
        .map(|r| r.partition)
        .collect();
    assert!(used.len() > 1, "12 jobs all landed on one partition");
}

#[tokio::test]
async fn audit_records_reach_the_audit_trail_topic_byte_for_byte() {
    let s = setup().await;
    let admin = s.server.client(&s.server.token("root", true));
    let job = s.alice.submit("ok", json!({})).await;
    let id = job["id"].as_str().unwrap();
    let refused = s
        .server
        .http
        .get(format!("{}/v1/jobs/{id}", s.server.url))
        .bearer_auth("hzn_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let page: Value = admin
        .request(Method::GET, "/v1/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // token.create (alice), token.create (root), job.submit, the 401
    let records = page["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 4, "{records:?}");
    let wanted = records.len();
    let published = consume(&s.broker.brokers, &[&s.audit], T, move |r| {
        r.len() >= wanted
    })
    .await;
    assert_eq!(published.len(), records.len());
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("schemas/audit.recorded.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for record in &records {
        let event_id = record["event_id"].as_str().unwrap();
        let on_kafka = published
            .iter()
            .find(|r| r.key == event_id)
            .expect("every audit record is on the topic, keyed by its id");
        assert_eq!(&on_kafka.value, record);
        assert!(validator.is_valid(&on_kafka.value));
        assert_eq!(on_kafka.headers["ce_type"], "audit.recorded");
        assert_eq!(on_kafka.headers["ce_id"], event_id);
        assert_eq!(
            on_kafka.headers["correlation-id"],
            record["correlation_id"].as_str().unwrap()
        );
    }
    let submit = records
        .iter()
        .find(|r| r["action"] == "job.submit")
        .unwrap();
    assert_eq!(submit["actor"], "alice");
    assert_eq!(submit["target"], id);
    let denied = records.iter().find(|r| r["status"] == 401).unwrap();
    assert_eq!(denied["actor"], Value::Null);
    assert_eq!(denied["target"], id);
    // job events never go to the audit topic, nor audit records to the job topics
    assert!(published.iter().all(|r| r.topic == s.audit));
}

#[tokio::test]
async fn broker_outage_delays_but_loses_nothing_and_the_api_keeps_answering() {
    // (pages of 3 events: the backlog of the outage drains in transactions
    // of many store pages)
    let mut s = setup_own_broker(ServerOptions::default(), "batch_size = 3\n").await;
    if !s.broker.can_restart() {
        eprintln!("skipped: an external cluster cannot be stopped by the test");
        return;
    }
    let (first, first_events) = s.run_job("ok", json!({"seconds": 0.2})).await;
    s.broker.stop();
    // /readyz says so within seconds, and stays 200
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = s
            .server
            .http
            .get(format!("{}/readyz", s.server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        let body: Value = ready.json().await.unwrap();
        if body["kafka"]["state"] == "unreachable" {
            assert_eq!(body["status"], "degraded");
            assert!(body["kafka"]["last_error"].is_string(), "{body}");
            assert!(
                body["problems"].to_string().contains("cannot be reached"),
                "{body}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a stopped broker is not on /readyz: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // while Kafka is away: submissions, progress and reads all keep working
    let mut during = Vec::new();
    for i in 0..6 {
        let r = s
            .alice
            .request(Method::POST, "/v1/jobs")
            .json(&json!({"agent": if i == 5 { "fail" } else { "ok" }, "dataset_id": "d", "parameters": {"seconds": 0.3}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        during.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &during {
        let job = s.alice.wait_for(id, None, T).await;
        assert!(
            matches!(job["status"].as_str(), Some("COMPLETED" | "FAILED")),
            "job stalled: {job}"
        );
    }
    let ready = s
        .server
        .http
        .get(format!("{}/readyz", s.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(
        s.server.metric("horizon_outbox_depth").await > 0.0,
        "events should wait in the outbox"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    s.broker.start_again().await;
    let mut expected = first_events.clone();
    let mut per_job = vec![(first, first_events)];
    for id in during {
        let events = s.alice.events(&id).await;
        expected.extend(events.clone());
        per_job.push((id, events));
    }
    let records = s.consume_all(&expected).await;
    let mut duplicates = 0;
    for (id, events) in &per_job {
        duplicates += assert_job_published(&s, &records, id, events);
    }
    eprintln!(
        "broker outage: {} events, {duplicates} duplicates",
        expected.len()
    );
}

/// How the server is stopped while events stream.
enum Stop {
    Kill9,
    Sigterm,
}

/// Twelve jobs run; the server is stopped mid-stream and started again.
/// Returns (events, records, duplicates) once every event is on Kafka.
async fn stopped_mid_stream(stop: Stop) -> (usize, usize, usize) {
    let mut s = setup_with(
        ServerOptions {
            metrics_interval_ms: 100,
            slots: 6,
            ..Default::default()
        },
        "",
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let params = json!({"seconds": 0.5 + (i % 4) as f64 * 0.5});
        ids.push(
            s.alice.submit("ok", params).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    match stop {
        Stop::Kill9 => s.server.kill9(),
        Stop::Sigterm => {
            let status = s.server.sigterm();
            assert!(status.success(), "horizon serve exited with {status}");
            assert!(
                s.server.log().contains("relay stopped"),
                "{}",
                s.server.log()
            );
        }
    }
    s.server.start_again().await;
    let mut expected = Vec::new();
    let mut per_job = Vec::new();
    for id in &ids {
        let job = s.alice.wait_for(id, None, T).await;
        assert_eq!(job["status"], "COMPLETED");
        let events = s.alice.events(id).await;
        expected.extend(events.clone());
        per_job.push((id.clone(), events));
    }
    let records = s.consume_all(&expected).await;
    let mut duplicates = 0;
    for (id, events) in &per_job {
        duplicates += assert_job_published(&s, &records, id, events);
    }
    (expected.len(), records.len(), duplicates)
}

#[tokio::test]
async fn orchestrator_sigkill_mid_stream_loses_nothing_and_duplicates_are_droppable() {
    let (events, records, duplicates) = stopped_mid_stream(Stop::Kill9).await;
    eprintln!(
        "SIGKILL mid-stream: {events} events, {records} records, {duplicates} duplicates (same ce_id and sequence)"
    );
}

/// A store whose marks fail while a row is in `block_marks` (a real
/// SQLite error, raised by a trigger), with one job's first event in it.
async fn store_with_failing_marks() -> (
    std::sync::Arc<dyn horizon_store::Store>,
    sqlx::SqlitePool,
    horizon_core::Job,
    tempfile::TempDir,
) {
    use horizon_store::Store;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(horizon_store::SqliteStore::connect(&url).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for statement in [
        "CREATE TABLE block_marks (x INTEGER)",
        "CREATE TRIGGER fail_marks BEFORE UPDATE OF published_at ON events
         WHEN EXISTS (SELECT 1 FROM block_marks)
         BEGIN SELECT RAISE(ABORT, 'injected: disk I/O error'); END",
        "INSERT INTO block_marks VALUES (1)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let job = store
        .create_job(horizon_store::CreateJobParams {
            id: uuid::Uuid::now_v7(),
            user_id: "alice".into(),
            agent: "ok".into(),
            dataset_id: "d".into(),
            parameters: serde_json::Map::new(),
            backend: horizon_core::BackendKind::Local,
            resources: Default::default(),
            correlation_id: "c".into(),
            account: None,
            traceparent: None,
            cloned_from: None,
            retry: None,
            depends_on: Vec::new(),
            created_at: time::OffsetDateTime::now_utc(),
            idempotency: None,
            audit: None,
        })
        .await
        .unwrap()
        .job()
        .clone();
    (store, pool, job, dir)
}

fn relay_settings(brokers: &str, exactly_once: bool) -> horizon_kafka::KafkaSettings {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    horizon_kafka::KafkaSettings {
        brokers: brokers.to_owned(),
        lifecycle_topic: format!("dup-lifecycle-{unique}"),
        metrics_topic: format!("dup-metrics-{unique}"),
        transactional_id: format!("dup-relay-{unique}"),
        position_topic: format!("dup-positions-{unique}"),
        initial_backoff_ms: 100,
        max_backoff_ms: 200,
        exactly_once,
        ..Default::default()
    }
}

#[tokio::test]
async fn at_least_once_a_database_failing_after_kafka_acked_gives_duplicates_with_the_same_ce_id() {
    use std::sync::Arc;
    let broker = Broker::start().await;
    let (store, pool, job, _dir) = store_with_failing_marks().await;
    let settings = relay_settings(&broker.brokers, false);
    let lifecycle = settings.lifecycle_topic.clone();
    let relay = horizon_kafka::Relay::new(
        store.clone(),
        settings,
        Arc::new(tokio::sync::Notify::new()),
    );
    let status = relay.status();
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(relay.run(stop));
    // let it deliver and fail to mark a few times
    let deadline = std::time::Instant::now() + T;
    while status.snapshot().failures < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            status.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(status.snapshot().last_error.unwrap().contains("injected"));
    sqlx::query("DELETE FROM block_marks")
        .execute(&pool)
        .await
        .unwrap();
    while store.outbox_depth().await.unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "outbox never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    // every failed round had sent the event once; the last round marked it
    let sent = status.snapshot().failures as usize + 1;
    let id = job.id.to_string();
    let records = consume(&broker.brokers, &[&lifecycle], T, move |r| r.len() >= sent).await;
    let copies: Vec<&Record> = records.iter().filter(|r| r.key == id).collect();
    assert!(
        copies.len() >= 2,
        "expected re-sent copies, got {}",
        copies.len()
    );
    for copy in &copies {
        assert_eq!(copy.raw, copies[0].raw);
        assert_eq!(copy.headers["ce_id"], copies[0].headers["ce_id"]);
        assert_eq!(copy.value["sequence"], 1);
    }
    eprintln!(
        "database failure after ack: 1 event, {} duplicates, all with one ce_id",
        copies.len() - 1
    );
}

/// Exactly once: the marks are a cache of the position committed to Kafka.
/// The relay publishes while every mark fails, dies, and a new relay
/// resumes from Kafka's position: the event is there once, and the new
/// relay catches the store's mark up instead of sending it again. With
/// `exactly_once = false` the second relay re-sends it (the test fails).
#[tokio::test]
async fn exactly_once_marks_failing_after_the_commit_send_nothing_twice() {
    use std::sync::Arc;
    let broker = Broker::start().await;
    let (store, pool, job, _dir) = store_with_failing_marks().await;
    let settings = relay_settings(&broker.brokers, true);
    let lifecycle = settings.lifecycle_topic.clone();
    let start = |settings: horizon_kafka::KafkaSettings| {
        let relay = horizon_kafka::Relay::new(
            store.clone(),
            settings,
            Arc::new(tokio::sync::Notify::new()),
        );
        let status = relay.status();
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        (tokio::spawn(relay.run(stop)), status, stop_tx)
    };
    let (task, status, _stop) = start(settings.clone());
    let deadline = std::time::Instant::now() + T;
    let id = job.id.to_string();
    let seen = consume(&broker.brokers, &[&lifecycle], T, |r| !r.is_empty()).await;
    assert_eq!(seen.len(), 1, "{:?}", status.snapshot());
    // in Kafka, not marked in the store (every mark fails)
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    task.abort();
    let _ = task.await;
    sqlx::query("DELETE FROM block_marks")
        .execute(&pool)
        .await
        .unwrap();
    let (task, status, _stop) = start(settings);
    while store.outbox_depth().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new relay never caught the mark up: {:?}",
            status.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // give a wrong re-send time to show
    tokio::time::sleep(Duration::from_secs(2)).await;
    task.abort();
    let records = consume(
        &broker.brokers,
        &[&lifecycle],
        Duration::from_secs(5),
        |_| false,
    )
    .await;
    let copies: Vec<&Record> = records.iter().filter(|r| r.key == id).collect();
    assert_eq!(
        copies.len(),
        1,
        "a read_committed consumer must see the event once"
    );
}

// ---- containment: partial failures and events Kafka refuses ----

/// For every job and topic, the sequences in offset order never go back
/// (a duplicate right after its original is fine; 2, 1, 2 is not).
fn assert_never_reordered(records: &[Record]) {
    let mut last: std::collections::HashMap<(String, String), u64> = Default::default();
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| (r.topic.clone(), r.partition, r.offset));
    for r in sorted {
        let sequence = r.value["sequence"].as_u64().unwrap();
        let previous = last.insert((r.topic.clone(), r.key.clone()), sequence);
        if let Some(previous) = previous {
            assert!(
                sequence >= previous,
                "job {} on {}: #{sequence} after #{previous}",
                r.key,
                r.topic
            );
        }
    }
}

#[tokio::test]
async fn at_least_once_a_jobs_events_stay_in_order_when_deliveries_fail_part_way() {
    deliveries_fail_part_way(false, Duration::from_millis(2500)).await;
}

/// Exactly once: the outage outlasts the transaction's commit timeout, so
/// transactions abort and are retried whole.
#[tokio::test]
async fn exactly_once_a_jobs_events_stay_in_order_when_transactions_fail() {
    deliveries_fail_part_way(true, Duration::from_secs(9)).await;
}

async fn deliveries_fail_part_way(exactly_once: bool, outage: Duration) {
    let mut s = setup_own_broker(
        ServerOptions {
            metrics_interval_ms: 100,
            slots: 8,
            ..Default::default()
        },
        &format!(
            "message_timeout_ms = 1500\ninitial_backoff_ms = 50\nmax_backoff_ms = 500\nexactly_once = {exactly_once}\n"
        ),
    )
    .await;
    if !s.broker.can_restart() {
        eprintln!("skipped: an external cluster cannot be stopped by the test");
        return;
    }
    // the relay is up and publishing before the outage
    let deadline = std::time::Instant::now() + T;
    let warm_up = s.alice.submit("ok", json!({"seconds": 0})).await;
    while s.server.metric("horizon_events_published_total").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut jobs = submit_concurrently(&s.alice, 24, |_| "ok", json!({"seconds": 1.5})).await;
    jobs.push(warm_up);
    // stop the broker while events are being produced, with deliveries in
    // flight: they time out part-way while the jobs go on
    tokio::time::sleep(Duration::from_millis(700)).await;
    s.broker.stop();
    tokio::time::sleep(outage).await;
    s.broker.start_again().await;
    let mut expected = Vec::new();
    let mut per_job = Vec::new();
    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        s.alice.wait_for(id, None, T).await;
        let events = s.alice.events(id).await;
        expected.extend(events.clone());
        per_job.push((id.to_owned(), events));
    }
    // every event Horizon committed is acknowledged by Kafka and kept by it
    let records = s.consume_all_after_outage(&expected).await;
    assert_never_reordered(&records);
    let mut duplicates = 0;
    for (id, events) in &per_job {
        duplicates += assert_job_published(&s, &records, id, events);
    }
    // (exactly once, the outage may fail a transaction that holds only the
    // position record: every partition of the events was held back)
    let failure_metric = if exactly_once {
        "horizon_relay_transaction_failures_total"
    } else {
        "horizon_event_publish_failures_total"
    };
    assert!(
        s.server.metric(failure_metric).await > 0.0,
        "the outage caused no delivery failure: the test proved nothing\n{}",
        s.server
            .log()
            .lines()
            .filter(|l| l.contains("horizon_kafka") || l.contains("librdkafka"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "partial failure: {} events, {} records, {duplicates} duplicates, never reordered",
        expected.len(),
        records.len()
    );
}

#[tokio::test]
async fn an_event_kafka_refuses_is_parked_while_every_other_job_flows() {
    let dead_letter = format!("dead-letter-{}", uuid::Uuid::now_v7().simple());
    let mut s = setup_with(
        ServerOptions {
            env: vec![("HORIZON_TEST_PANIC_TASKS".into(), "relay".into())],
            ..Default::default()
        },
        &format!(
            "dead_letter_topic = \"{dead_letter}\"\nbatch_size = 2\n[kafka.producer]\n\"message.max.bytes\" = \"20000\"\n"
        ),
    )
    .await;
    // job.submitted of this job carries 30 KB of parameters: over the limit
    let big = s
        .alice
        .submit("ok", json!({"seconds": 0.2, "blob": "x".repeat(30_000)}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.alice.wait_for(&big, None, T).await;
    let others = submit_concurrently(&s.alice, 6, |_| "ok", json!({"seconds": 0.2})).await;
    let mut expected = Vec::new();
    let mut per_job = Vec::new();
    for job in &others {
        let id = job["id"].as_str().unwrap();
        s.alice.wait_for(id, None, T).await;
        let events = s.alice.events(id).await;
        expected.extend(events.clone());
        per_job.push((id.to_owned(), events));
    }
    // every other job's events arrive, whole and in order
    let records = s.consume_all(&expected).await;
    for (id, events) in &per_job {
        assert_job_published(&s, &records, id, events);
    }
    // none of the big job's lifecycle events overtook its parked first one
    assert!(
        !records
            .iter()
            .any(|r| r.key == big && r.topic == s.lifecycle),
        "a lifecycle event of the refused job reached the topic"
    );
    let admin = s.server.client(&s.server.token("ops", true));
    let parked: Value = admin
        .request(Method::GET, "/v1/admin/parked-events")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parked_types: Vec<&str> = parked["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["event"]["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        parked_types,
        [
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed"
        ],
        "{parked}"
    );
    let reason = parked["events"][0]["reason"].as_str().unwrap();
    assert!(reason.to_lowercase().contains("size"), "{reason}");
    assert!(
        parked["events"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("held behind"),
        "{parked}"
    );
    // a non-admin may not see them
    let r = s
        .alice
        .request(Method::GET, "/v1/admin/parked-events")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let ready: Value = serde_json::from_str(&s.server.get_text("/readyz").await).unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["kafka"]["parked"], 4, "{ready}");
    // the injected relay panic was survived, and shows
    assert_eq!(ready["tasks"]["relay"]["restarts"], 1, "{ready}");
    assert!(s.server.metric("horizon_events_parked_total").await >= 4.0);
    // the dead-letter topic names the refused event
    let submitted_id = parked["events"][0]["event"]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wanted = submitted_id.clone();
    let notices = consume(&s.broker.brokers, &[&dead_letter], T, move |records| {
        records
            .iter()
            .any(|r| r.value["event_id"] == wanted.as_str())
    })
    .await;
    assert!(
        notices
            .iter()
            .any(|r| r.value["event_id"] == submitted_id.as_str() && r.key == big),
        "no dead-letter notice for {submitted_id}"
    );

    // the operator raises the limit and sends them again: in order, all of them
    let config = std::fs::read_to_string(s.server.config_path()).unwrap();
    std::fs::write(
        s.server.config_path(),
        config.replace(
            "\"message.max.bytes\" = \"20000\"",
            "\"message.max.bytes\" = \"1000000\"",
        ),
    )
    .unwrap();
    s.server.restart().await;
    // the retry reaches a relay that is up and leading (it loaded the
    // parked events at its start and must learn that they were un-parked)
    let deadline = std::time::Instant::now() + T;
    loop {
        let ready: Value = serde_json::from_str(&s.server.get_text("/readyz").await).unwrap();
        if ready["kafka"]["role"] == "leader" && ready["kafka"]["state"] == "idle" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = std::process::Command::new(common::BIN)
        .args(["events", "retry-parked", "--job", &big])
        .env("HORIZON_URL", &s.server.url)
        .env("HORIZON_TOKEN", s.server.token("ops2", true))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 event(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = s.alice.events(&big).await;
    let records = s.consume_all(&events).await;
    assert_job_published(&s, &records, &big, &events);
    assert_never_reordered(&records);
    let ready: Value = serde_json::from_str(&s.server.get_text("/readyz").await).unwrap();
    assert_eq!(ready["kafka"]["parked"], 0, "{ready}");
}

#[tokio::test]
async fn sigterm_lets_the_relay_settle_so_a_restart_sends_nothing_twice() {
    let (_, _, duplicates) = stopped_mid_stream(Stop::Sigterm).await;
    assert_eq!(duplicates, 0, "a settled stop sends nothing twice");
}

/// Exactly once through a broker crash: the broker's JVM is SIGKILLed
/// under a steady load of submissions and started again. A
/// `read_committed` consumer sees every event once: none lost, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_sigkill_and_restart_under_load_lose_and_duplicate_nothing() {
    let mut s = setup_own_broker(
        ServerOptions {
            slots: 0,
            ..Default::default()
        },
        "message_timeout_ms = 5000\ninitial_backoff_ms = 100\nmax_backoff_ms = 1000\n",
    )
    .await;
    if !s.broker.can_restart() {
        eprintln!("skipped: an external cluster cannot be killed by the test");
        return;
    }
    let (stop_load, stopped) = tokio::sync::watch::channel(false);
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (api, stopped) = (s.alice.clone(), stopped.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                while !*stopped.borrow() {
                    let job = api.submit("ok", json!({"seconds": 0})).await;
                    ids.push(job["id"].as_str().unwrap().to_owned());
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                ids
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.broker.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.broker.start_again().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop_load.send(true);
    let mut ids = Vec::new();
    for loader in loaders {
        ids.extend(loader.await.unwrap());
    }
    let mut expected = Vec::new();
    let mut per_job = Vec::new();
    for id in &ids {
        let events = s.alice.events(id).await;
        expected.extend(events.clone());
        per_job.push((id.clone(), events));
    }
    let records = s.consume_all_after_outage(&expected).await;
    // a duplicate would come after its original: read a little longer
    tokio::time::sleep(Duration::from_secs(2)).await;
    let records = {
        let more = s.consume_all(&expected).await;
        if more.len() > records.len() {
            more
        } else {
            records
        }
    };
    let mut duplicates = 0;
    for (id, events) in &per_job {
        duplicates += assert_job_published(&s, &records, id, events);
    }
    assert_eq!(
        duplicates, 0,
        "read_committed consumers must see no duplicate"
    );
    eprintln!(
        "broker SIGKILL under load: {} jobs, {} events, 0 lost, 0 duplicates",
        ids.len(),
        expected.len()
    );
}

/// Run a third-party consumer (`kafkajs` or `java`, from `tools/clients/`),
/// read_committed, until `count` records came (and 2 s more, so that
/// duplicates would show); its records, one JSON object each.
async fn third_party_consume(
    client: &str,
    brokers: &str,
    topics: &str,
    count: usize,
) -> Vec<Value> {
    let root = common::repo_root();
    let clients = root.join("tools/clients");
    let (brokers, topics, client) = (brokers.to_owned(), topics.to_owned(), client.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut command = match client.as_str() {
            "kafkajs" => {
                let dir = clients.join("kafkajs");
                assert!(
                    dir.join("node_modules/kafkajs").is_dir(),
                    "kafkajs is not installed: run `npm ci --prefix tools/clients/kafkajs` (scripts/test.sh does)"
                );
                let mut c = std::process::Command::new("node");
                c.arg(dir.join("consume.mjs"));
                c
            }
            _ => {
                let out = std::process::Command::new("bash")
                    .arg(root.join("scripts/kafka.sh"))
                    .arg("install")
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                let libs = String::from_utf8(out.stdout).unwrap().trim().to_owned();
                let classes = tempfile::tempdir().unwrap().keep();
                let status = std::process::Command::new("javac")
                    .arg("-d")
                    .arg(&classes)
                    .arg("-cp")
                    .arg(format!("{libs}/*"))
                    .arg(clients.join("java/Consume.java"))
                    .status()
                    .unwrap();
                assert!(status.success(), "javac failed");
                let mut c = std::process::Command::new("java");
                c.arg("-cp")
                    .arg(format!("{libs}/*:{}", classes.display()))
                    .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
                    .arg("Consume");
                c
            }
        };
        let out = command
            .args([&brokers, &topics, &count.to_string(), "90000"])
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "the {client} consumer failed");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect::<Vec<Value>>()
    })
    .await
    .unwrap()
}

/// The clients a gateway's services use, kafkajs (npm) and the Java client
/// (Maven), both read_committed, read a test's events and agree with the
/// API: each event once, byte for byte, keyed by its job, with its ce_id.
#[tokio::test]
async fn kafkajs_and_the_java_client_read_committed_agree_with_the_api() {
    let s = setup().await;
    let mut expected = Vec::new();
    for agent in ["ok", "fail", "ok"] {
        let (_, events) = s.run_job(agent, json!({"seconds": 0.2})).await;
        expected.extend(events);
    }
    // every event is in Kafka before the clients start reading
    s.consume_all(&expected).await;
    let topics = format!("{},{}", s.lifecycle, s.metrics);
    for client in ["kafkajs", "java"] {
        let records = third_party_consume(client, &s.broker.brokers, &topics, expected.len()).await;
        assert_eq!(
            records.len(),
            expected.len(),
            "{client}: {} records for {} events",
            records.len(),
            expected.len()
        );
        for event in &expected {
            let id = event["event_id"].as_str().unwrap();
            let found: Vec<&Value> = records
                .iter()
                .filter(|r| r["headers"]["ce_id"] == id)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{client}: event {id} seen {} times",
                found.len()
            );
            let record = found[0];
            assert_eq!(record["key"], event["job_id"], "{client}: key of {id}");
            assert_eq!(
                record["value"].as_str().unwrap(),
                common::api_raw(id),
                "{client}: value of {id}"
            );
            assert_eq!(record["headers"]["ce_type"], event["event_type"]);
        }
        eprintln!("{client}: {} records agree with the API", records.len());
    }
}

/// Kafka unreachable from the start: the log names the brokers at once,
/// and `/readyz` turns degraded within seconds (not after the client's
/// one-minute default), while the API keeps working and events wait.
#[tokio::test]
async fn kafka_unreachable_at_start_is_said_within_seconds() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let server = common::Server::start_with(ServerOptions {
        extra_toml: format!("\n[kafka]\nbrokers = \"127.0.0.1:{closed}\"\n"),
        ..ServerOptions::default()
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = server.readyz().await;
        if ready["status"] == "degraded" {
            assert!(
                ready["problems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p.as_str().unwrap().starts_with("kafka:")),
                "{ready}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {ready} 20 s after start with no broker"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        server
            .log()
            .contains(&format!("connecting to Kafka at 127.0.0.1:{closed}")),
        "{}",
        server.log()
    );
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    alice
        .wait_for(job["id"].as_str().unwrap(), Some("COMPLETED"), T)
        .await;
}

//! The event stream on Kafka, checked with an independent consumer against a
//! real Kafka-protocol broker: every event once (or as a droppable duplicate),
//! in per-job order, on the partition murmur2(job id) picks, with the
//! standard and CloudEvents headers and an envelope that validates.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::kafka::{Broker, Record, consume, java_partition, murmur2, partitions};
use common::{Api, Server, ServerOptions, assert_valid_events};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

struct Setup {
    broker: Broker,
    server: Server,
    alice: Api,
    lifecycle: String,
    metrics: String,
}

async fn setup_with(options: ServerOptions, kafka_extra: &str) -> Setup {
    let broker = Broker::start().await;
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let lifecycle = format!("job-lifecycle-{unique}");
    let metrics = format!("job-metrics-{unique}");
    let extra_toml = format!(
        "{}\n[kafka]\nbrokers = \"{}\"\nlifecycle_topic = \"{lifecycle}\"\nmetrics_topic = \"{metrics}\"\n{kafka_extra}\n",
        options.extra_toml, broker.brokers
    );
    let server = Server::start_with(ServerOptions {
        extra_toml,
        ..options
    })
    .await;
    let alice = server.user("alice");
    Setup {
        broker,
        server,
        alice,
        lifecycle,
        metrics,
    }
}

async fn setup() -> Setup {
    setup_with(ServerOptions::default(), "").await
}

impl Setup {
    /// Submit and wait for the job's end; returns (job id, its API events).
    async fn run_job(&self, agent: &str, params: Value) -> (String, Vec<Value>) {
        let id = self.alice.submit(agent, params).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.alice.wait_for(&id, None, T).await;
        let events = self.alice.events(&id).await;
        (id, events)
    }

    /// Consume both topics until every given API event has arrived.
    async fn consume_all(&self, expected: &[Value]) -> Vec<Record> {
        let want: Vec<String> = expected
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect();
        let records = consume(
            &self.broker.brokers,
            &[&self.lifecycle, &self.metrics],
            T,
            move |records| {
                want.iter()
                    .all(|id| records.iter().any(|r| r.headers.get("ce_id") == Some(id)))
            },
        )
        .await;
        for event in expected {
            let id = event["event_id"].as_str().unwrap();
            assert!(
                records
                    .iter()
                    .any(|r| r.headers.get("ce_id").map(String::as_str) == Some(id)),
                "event {id} ({}) never reached Kafka\n{}",
                event["event_type"],
                self.server.log()
            );
        }
        records
    }
}

fn of_job<'a>(records: &'a [Record], job_id: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| r.key == job_id).collect()
}

/// What a consumer that drops duplicates by (stream, sequence) keeps.
fn first_occurrences<'a>(records: &[&'a Record]) -> Vec<&'a Record> {
    let mut seen = std::collections::HashSet::new();
    records
        .iter()
        .copied()
        .filter(|r| seen.insert((r.topic.clone(), r.value["sequence"].as_u64().unwrap())))
        .collect()
}

/// The full check of one job: the job's Kafka records, duplicates dropped,
/// are exactly its API events byte for byte, in order per stream, each on
/// murmur2's partition, with every header. Returns the duplicates seen.
fn assert_job_published(
    setup: &Setup,
    records: &[Record],
    job_id: &str,
    api_events: &[Value],
) -> usize {
    let lifecycle_partitions = partitions(&setup.broker.brokers, &setup.lifecycle);
    let metrics_partitions = partitions(&setup.broker.brokers, &setup.metrics);
    let mine = of_job(records, job_id);
    let kept = first_occurrences(&mine);
    let duplicates = mine.len() - kept.len();
    // a duplicate is the same event: same ce_id, same bytes
    for r in &mine {
        let original = kept
            .iter()
            .find(|k| k.topic == r.topic && k.value["sequence"] == r.value["sequence"])
            .unwrap();
        assert_eq!(r.raw, original.raw, "a duplicate differs from its original");
        assert_eq!(r.headers["ce_id"], original.headers["ce_id"]);
    }
    for (topic, stream_events) in [
        (
            &setup.lifecycle,
            api_events
                .iter()
                .filter(|e| e["event_type"] != "job.metrics_recorded")
                .collect::<Vec<_>>(),
        ),
        (
            &setup.metrics,
            api_events
                .iter()
                .filter(|e| e["event_type"] == "job.metrics_recorded")
                .collect(),
        ),
    ] {
        let on_topic: Vec<&&Record> = kept.iter().filter(|r| &r.topic == topic).collect();
        let raws: Vec<&str> = on_topic.iter().map(|r| r.raw.as_str()).collect();
        let api: Vec<String> = stream_events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        // byte for byte what the API returns, in the same order
        let reparsed: Vec<Value> = raws
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect();
        assert_eq!(
            reparsed,
            stream_events
                .iter()
                .map(|e| (*e).clone())
                .collect::<Vec<_>>(),
            "order/content on {topic}"
        );
        assert_eq!(raws.len(), api.len());
        let partitions = if *topic == setup.lifecycle {
            lifecycle_partitions
        } else {
            metrics_partitions
        };
        for r in on_topic {
            assert_eq!(
                r.partition,
                java_partition(job_id, partitions),
                "partition of {job_id} on {topic}"
            );
        }
    }
    for r in &mine {
        assert_headers(r);
    }
    assert_valid_events(&kept.iter().map(|r| r.value.clone()).collect::<Vec<_>>());
    duplicates
}

fn assert_headers(r: &Record) {
    let v = &r.value;
    let h = &r.headers;
    let expect = [
        ("content-type", "application/json".to_owned()),
        (
            "correlation-id",
            v["correlation_id"].as_str().unwrap().to_owned(),
        ),
        ("timestamp", v["timestamp"].as_str().unwrap().to_owned()),
        ("ce_specversion", "1.0".to_owned()),
        ("ce_id", v["event_id"].as_str().unwrap().to_owned()),
        ("ce_type", v["event_type"].as_str().unwrap().to_owned()),
        ("ce_time", v["timestamp"].as_str().unwrap().to_owned()),
        ("ce_subject", v["job_id"].as_str().unwrap().to_owned()),
        ("ce_partitionkey", v["job_id"].as_str().unwrap().to_owned()),
    ];
    for (key, value) in expect {
        assert_eq!(h.get(key), Some(&value), "header {key} of {}", r.raw);
    }
    assert!(
        h.get("ce_source").is_some_and(|s| !s.is_empty()),
        "ce_source"
    );
    assert_eq!(r.key, v["job_id"].as_str().unwrap());
}

#[test]
fn murmur2_matches_the_java_client() {
    // values from Apache Kafka's UtilsTest
    assert_eq!(murmur2(b"21"), -973932308);
    assert_eq!(murmur2(b"foobar"), -790332482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
    assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
    assert_eq!(
        murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
        -58897971
    );
    assert_eq!(murmur2(b"abc"), 479470107);
}

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
async fn broker_outage_delays_but_loses_nothing_and_the_api_keeps_answering() {
    let mut s = setup().await;
    if !s.broker.can_restart() {
        eprintln!("skipped: an external cluster cannot be stopped by the test");
        return;
    }
    let (first, first_events) = s.run_job("ok", json!({"seconds": 0.2})).await;
    s.broker.stop();
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

#[tokio::test]
async fn orchestrator_sigkill_mid_stream_loses_nothing_and_duplicates_are_droppable() {
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
    s.server.kill9();
    s.server.restart().await;
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
    eprintln!(
        "SIGKILL mid-stream: {} events, {} records, {duplicates} duplicates (same ce_id and sequence)",
        expected.len(),
        records.len()
    );
}

#[tokio::test]
async fn database_failing_after_kafka_acked_gives_duplicates_with_the_same_ce_id() {
    use horizon_store::Store;
    use std::sync::Arc;
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let store: Arc<dyn Store> = Arc::new(horizon_store::SqliteStore::connect(&url).await.unwrap());
    // a real database error, injected: marking events published fails while
    // a row is in block_marks (after Kafka has acknowledged them)
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
            correlation_id: "c".into(),
            created_at: time::OffsetDateTime::now_utc(),
            idempotency: None,
        })
        .await
        .unwrap()
        .job()
        .clone();
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let settings = horizon_kafka::KafkaSettings {
        brokers: broker.brokers.clone(),
        lifecycle_topic: format!("dup-lifecycle-{unique}"),
        metrics_topic: format!("dup-metrics-{unique}"),
        initial_backoff_ms: 100,
        max_backoff_ms: 200,
        ..Default::default()
    };
    let lifecycle = settings.lifecycle_topic.clone();
    let relay = horizon_kafka::Relay::new(
        store.clone(),
        settings,
        Arc::new(tokio::sync::Notify::new()),
    );
    let status = relay.status();
    let task = tokio::spawn(relay.run());
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

// ---- the original design's fifteen cases ----

/// One completed job with a correlation id, and its records.
async fn one_completed_job(s: &Setup) -> (String, Vec<Value>, Vec<Record>) {
    let r = s
        .alice
        .request(Method::POST, "/v1/jobs")
        .header("X-Correlation-ID", "corr-kafka-1")
        .json(&json!({"agent": "ok", "dataset_id": "survey-9", "parameters": {"seconds": 0.8, "alpha": 0.25}}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.alice.wait_for(&id, None, T).await;
    let events = s.alice.events(&id).await;
    let records = s.consume_all(&events).await;
    (id, events, records)
}

fn lifecycle_of<'a>(s: &Setup, records: &'a [Record], id: &str) -> Vec<&'a Record> {
    of_job(records, id)
        .into_iter()
        .filter(|r| r.topic == s.lifecycle)
        .collect()
}

fn record_of<'a>(records: &[&'a Record], event_type: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.value["event_type"] == event_type)
        .copied()
        .unwrap_or_else(|| panic!("no {event_type}"))
}

#[tokio::test]
async fn submitted_is_published_with_the_job_id_as_key() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    let submitted = record_of(&lifecycle_of(&s, &records, &id), "job.submitted");
    assert_eq!(submitted.key, id);
    assert_eq!(submitted.value["sequence"], 1);
}

#[tokio::test]
async fn submitted_carries_the_jobs_details() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    let payload = &record_of(&lifecycle_of(&s, &records, &id), "job.submitted").value["payload"];
    assert_eq!(payload["agent"], "ok");
    assert_eq!(payload["dataset_id"], "survey-9");
    assert_eq!(
        payload["parameters"],
        json!({"seconds": 0.8, "alpha": 0.25})
    );
    assert_eq!(payload["backend"], "local");
}

#[tokio::test]
async fn submitted_carries_the_correlation_id() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    for r in of_job(&records, &id) {
        assert_eq!(r.value["correlation_id"], "corr-kafka-1");
        assert_eq!(r.headers["correlation-id"], "corr-kafka-1");
    }
}

#[tokio::test]
async fn queued_is_published_after_the_backend_accepted_it() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    let lifecycle = lifecycle_of(&s, &records, &id);
    let queued = record_of(&lifecycle, "job.queued");
    assert_eq!(queued.value["previous_status"], "SUBMITTED");
    assert_eq!(queued.value["status"], "QUEUED");
    assert_eq!(queued.value["payload"]["backend"], "local");
    assert!(queued.offset > record_of(&lifecycle, "job.submitted").offset);
}

#[tokio::test]
async fn running_is_published() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    let running = record_of(&lifecycle_of(&s, &records, &id), "job.running");
    assert_eq!(running.value["status"], "RUNNING");
    let job = s.alice.job(&id).await;
    assert_eq!(
        running.value["payload"]["remote_job_id"],
        job["remote_job_id"]
    );
    assert!(running.value["payload"]["started_timestamp"].is_string());
}

#[tokio::test]
async fn completed_carries_the_execution_time() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    let completed = record_of(&lifecycle_of(&s, &records, &id), "job.completed");
    let seconds = completed.value["payload"]["execution_time_seconds"]
        .as_f64()
        .unwrap();
    assert!((0.7..30.0).contains(&seconds), "{seconds}");
    assert_eq!(completed.value["payload"]["exit_code"], 0);
}

#[tokio::test]
async fn failed_carries_the_error_details() {
    let s = setup().await;
    let (id, events) = s.run_job("fail", json!({"exit_code": 7})).await;
    let records = s.consume_all(&events).await;
    let failed = record_of(&lifecycle_of(&s, &records, &id), "job.failed");
    let payload = &failed.value["payload"];
    assert_eq!(payload["error_code"], "NONZERO_EXIT");
    assert_eq!(payload["exit_code"], 7);
    assert!(
        payload["error_message"]
            .as_str()
            .unwrap()
            .contains("status 7")
    );
    assert!(payload["failure_timestamp"].is_string());
}

#[tokio::test]
async fn cancelled_carries_who_and_why() {
    let s = setup().await;
    let id = s.alice.submit("sleep", json!({"seconds": 60})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.alice.wait_for(&id, Some("RUNNING"), T).await;
    assert_eq!(
        s.alice.cancel(&id, "superseded by run 8").await.status(),
        StatusCode::OK
    );
    let events = s.alice.events(&id).await;
    let records = s.consume_all(&events).await;
    let cancelled = record_of(&lifecycle_of(&s, &records, &id), "job.cancelled");
    assert_eq!(cancelled.value["payload"]["cancelled_by"], "alice");
    assert_eq!(
        cancelled.value["payload"]["cancellation_reason"],
        "superseded by run 8"
    );
    assert_eq!(cancelled.value["previous_status"], "RUNNING");
}

#[tokio::test]
async fn transition_order_is_preserved() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    let lifecycle = lifecycle_of(&s, &records, &id);
    let types: Vec<&str> = lifecycle
        .iter()
        .map(|r| r.value["event_type"].as_str().unwrap())
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
    let offsets: Vec<i64> = lifecycle.iter().map(|r| r.offset).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
}

#[tokio::test]
async fn job_id_is_the_partition_key() {
    let s = setup().await;
    let (id, _, records) = one_completed_job(&s).await;
    let n = partitions(&s.broker.brokers, &s.lifecycle);
    for r in lifecycle_of(&s, &records, &id) {
        assert_eq!(r.key, id);
        assert_eq!(r.headers["ce_partitionkey"], id);
        assert_eq!(r.partition, java_partition(&id, n));
    }
}

#[tokio::test]
async fn ten_concurrent_jobs_publish_without_conflicts() {
    let s = setup().await;
    let jobs = submit_concurrently(&s.alice, 10, |_| "ok", json!({"seconds": 0.2})).await;
    let mut expected = Vec::new();
    let mut per_job = Vec::new();
    for job in &jobs {
        let id = job["id"].as_str().unwrap().to_owned();
        s.alice.wait_for(&id, None, T).await;
        let events = s.alice.events(&id).await;
        expected.extend(events.clone());
        per_job.push((id, events));
    }
    let records = s.consume_all(&expected).await;
    let lifecycle_count = records.iter().filter(|r| r.topic == s.lifecycle).count();
    assert_eq!(
        lifecycle_count, 40,
        "10 jobs × 4 lifecycle events, each once"
    );
    for (id, events) in &per_job {
        assert_eq!(assert_job_published(&s, &records, id, events), 0);
    }
}

#[tokio::test]
async fn order_within_one_jobs_life_is_preserved() {
    let s = setup_with(
        ServerOptions {
            metrics_interval_ms: 100,
            ..Default::default()
        },
        "",
    )
    .await;
    let (id, events) = s.run_job("ok", json!({"seconds": 1.0})).await;
    assert!(
        events
            .iter()
            .filter(|e| e["event_type"] == "job.metrics_recorded")
            .count()
            >= 3
    );
    let records = s.consume_all(&events).await;
    for topic in [&s.lifecycle, &s.metrics] {
        let sequences: Vec<u64> = of_job(&records, &id)
            .iter()
            .filter(|r| &r.topic == topic)
            .map(|r| r.value["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(
            sequences,
            (1..=sequences.len() as u64).collect::<Vec<_>>(),
            "on {topic}"
        );
    }
}

/// Kafka away long enough for deliveries to time out, then back.
async fn publish_fails_then_recovers() -> Option<(Setup, String, Vec<Record>)> {
    let mut s = setup_with(
        ServerOptions::default(),
        "message_timeout_ms = 1000\ninitial_backoff_ms = 100\nmax_backoff_ms = 400\n",
    )
    .await;
    if !s.broker.can_restart() {
        eprintln!("skipped: an external cluster cannot be stopped by the test");
        return None;
    }
    // topics exist, the producer is connected, and everything so far is delivered
    let (_, warm_up) = s.run_job("ok", json!({"seconds": 0})).await;
    s.consume_all(&warm_up).await;
    // (a warm-up event may itself have timed out while the producer started)
    let failures_before = s
        .server
        .metric("horizon_event_publish_failures_total")
        .await;
    s.broker.stop();
    let (id, events) = s.run_job("ok", json!({"seconds": 0})).await;
    // wait until the relay has seen deliveries fail
    let deadline = std::time::Instant::now() + T;
    loop {
        if s.server
            .metric("horizon_event_publish_failures_total")
            .await
            > failures_before
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no publish failure recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.broker.start_again().await;
    let records = s.consume_all(&events).await;
    Some((s, id, records))
}

#[tokio::test]
async fn a_failed_publish_is_retried() {
    let Some((s, id, records)) = publish_fails_then_recovers().await else {
        return;
    };
    let events = s.alice.events(&id).await;
    let kept = first_occurrences(&of_job(&records, &id));
    assert_eq!(
        kept.len(),
        events.len(),
        "every event arrived after the retries"
    );
    let m = s.server.get_text("/metrics").await;
    assert!(
        s.server.metric("horizon_event_publish_retries_total").await >= 1.0,
        "{m}"
    );
    // and the outbox drains
    let deadline = std::time::Instant::now() + T;
    loop {
        if s.server.metric("horizon_outbox_depth").await == 0.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "outbox never drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn publish_failures_give_meaningful_logs_and_metrics() {
    let Some((s, id, _)) = publish_fails_then_recovers().await else {
        return;
    };
    let log = s.server.log();
    let line = log
        .lines()
        .find(|l| l.contains("Kafka did not accept event") && l.contains(&id))
        .unwrap_or_else(|| panic!("no log line names the failed event of job {id}:\n{log}"));
    assert!(
        line.contains("timed out") || line.contains("Timed out"),
        "{line}"
    );
    let m = s.server.get_text("/metrics").await;
    assert!(
        s.server
            .metric("horizon_event_publish_failures_total")
            .await
            >= 1.0
    );
    assert!(
        s.server.metric("horizon_events_published_total").await >= 8.0,
        "{m}"
    );
    assert!(
        m.contains("horizon_event_publish_latency_seconds_bucket"),
        "{m}"
    );
    let ready: Value = serde_json::from_str(&s.server.get_text("/readyz").await).unwrap();
    assert!(ready["kafka"]["failures"].as_u64().unwrap() >= 1, "{ready}");
    assert!(
        ready["kafka"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{ready}"
    );
}

#[tokio::test]
async fn standard_headers_are_on_every_message() {
    let s = setup_with(
        ServerOptions {
            metrics_interval_ms: 100,
            ..Default::default()
        },
        "",
    )
    .await;
    let (id, events) = s.run_job("ok", json!({"seconds": 0.6})).await;
    let records = s.consume_all(&events).await;
    let mine = of_job(&records, &id);
    assert!(
        mine.iter().any(|r| r.topic == s.metrics),
        "metrics records too"
    );
    for r in mine {
        assert_headers(r);
    }
}

/// Submit `n` jobs concurrently.
async fn submit_concurrently(
    api: &Api,
    n: usize,
    agent_of: impl Fn(usize) -> &'static str,
    params: Value,
) -> Vec<Value> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (api, agent, params) = (api.clone(), agent_of(i), params.clone());
            tokio::spawn(async move { api.submit(agent, params).await })
        })
        .collect();
    let mut jobs = Vec::new();
    for task in tasks {
        jobs.push(task.await.unwrap());
    }
    jobs
}

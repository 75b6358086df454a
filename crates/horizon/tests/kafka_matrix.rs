//! The original design's fifteen cases, each a named test against the broker:
//! submitted, transitions, ordering, errors and headers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::ServerOptions;
use common::kafka::{Record, java_partition, partitions};
use common::kafka_setup::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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
/// Also whether deliveries failed (rather than being held back while the
/// brokers were reported unreachable).
async fn publish_fails_then_recovers() -> Option<(Setup, String, Vec<Record>, bool)> {
    let mut s = setup_own_broker(
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
    // wait until the relay has seen deliveries fail: Kafka's client times
    // them out after message_timeout_ms. (It may also first report every
    // broker unreachable, which holds deliveries back without failing them:
    // then the recovery is still checked, and the failure path is not.)
    let deadline = std::time::Instant::now() + T;
    let since = std::time::Instant::now();
    let failed = loop {
        if s.server
            .metric("horizon_event_publish_failures_total")
            .await
            > failures_before
        {
            break true;
        }
        if since.elapsed() > Duration::from_secs(30)
            && s.server.readyz().await["kafka"]["unreachable_since"].is_string()
        {
            eprintln!(
                "the relay held deliveries back (brokers unreachable) instead of failing them"
            );
            break false;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no publish failure recorded: {}\n{}",
            s.server.readyz().await,
            s.server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    s.broker.start_again().await;
    let records = s.consume_all(&events).await;
    Some((s, id, records, failed))
}

#[tokio::test]
async fn a_failed_publish_is_retried() {
    let Some((s, id, records, failed)) = publish_fails_then_recovers().await else {
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
    if failed {
        assert!(
            s.server.metric("horizon_event_publish_retries_total").await >= 1.0,
            "{m}"
        );
    }
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
    let Some((s, id, _, failed)) = publish_fails_then_recovers().await else {
        return;
    };
    if !failed {
        // held back, not failed: nothing of a failure to log
        return;
    }
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
    // (the consumer can see a record a moment before the relay counts its
    // delivery report)
    let deadline = std::time::Instant::now() + T;
    while s.server.metric("horizon_events_published_total").await < 8.0 {
        assert!(std::time::Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// A W3C `traceparent` sent with the submission is kept with the job and
/// rides every one of its events on Kafka (the CloudEvents distributed
/// tracing extension, `ce_traceparent`, and `traceparent`); the envelope
/// itself is unchanged. A malformed one is ignored, as the W3C asks.
#[tokio::test]
async fn a_traceparent_rides_every_event_of_its_job() {
    let s = setup().await;
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let submit = |traceparent: &'static str| {
        s.alice
            .request(Method::POST, "/v1/jobs")
            .header("traceparent", traceparent)
            .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {"seconds": 0.2}}))
            .send()
    };
    let traced: Value = submit(trace).await.unwrap().json().await.unwrap();
    assert_eq!(traced["traceparent"], trace);
    let bad: Value = submit("00-xyz").await.unwrap().json().await.unwrap();
    assert_eq!(bad["traceparent"], Value::Null, "{bad}");
    let id = traced["id"].as_str().unwrap().to_owned();
    s.alice.wait_for(&id, None, T).await;
    let events = s.alice.events(&id).await;
    let records = s.consume_all(&events).await;
    let mine = of_job(&records, &id);
    assert_eq!(mine.len(), events.len());
    for r in mine {
        assert_eq!(
            r.headers.get("ce_traceparent").map(String::as_str),
            Some(trace)
        );
        assert_eq!(
            r.headers.get("traceparent").map(String::as_str),
            Some(trace)
        );
        assert!(r.value.get("traceparent").is_none(), "not in the envelope");
    }
    let other = bad["id"].as_str().unwrap().to_owned();
    s.alice.wait_for(&other, None, T).await;
    let events = s.alice.events(&other).await;
    for r in of_job(&s.consume_all(&events).await, &other) {
        assert!(!r.headers.contains_key("ce_traceparent"));
    }
}

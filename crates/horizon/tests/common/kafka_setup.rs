//! What the Kafka test suites share: a broker, a server publishing to it on
//! topics of its own, and the checks of what arrived.

use std::time::Duration;

use serde_json::Value;

use super::kafka::{Broker, Record, consume, java_partition, partitions};
use super::{Api, Server, ServerOptions, assert_valid_events};

pub const T: Duration = Duration::from_secs(120);

pub struct Setup {
    pub broker: Broker,
    pub server: Server,
    pub alice: Api,
    pub lifecycle: String,
    pub metrics: String,
    pub audit: String,
    /// The `[kafka]` section every process of this deployment uses (its
    /// topics, transactional id and position topic).
    pub kafka_section: String,
}

pub async fn setup_with(options: ServerOptions, kafka_extra: &str) -> Setup {
    setup_on(Broker::start().await, options, kafka_extra).await
}

/// Like `setup_with`, on a broker of the test's own, which it may stop.
pub async fn setup_own_broker(options: ServerOptions, kafka_extra: &str) -> Setup {
    setup_on(Broker::own(1).await, options, kafka_extra).await
}

pub async fn setup_on(broker: Broker, options: ServerOptions, kafka_extra: &str) -> Setup {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let lifecycle = format!("job-lifecycle-{unique}");
    let metrics = format!("job-metrics-{unique}");
    let audit = format!("audit-trail-{unique}");
    // a deployment of its own on a shared broker: its own transactional id
    // and position topic too
    let kafka_section = format!(
        "\n[kafka]\nbrokers = \"{}\"\nlifecycle_topic = \"{lifecycle}\"\nmetrics_topic = \"{metrics}\"\naudit_topic = \"{audit}\"\ntransactional_id = \"horizon-relay-{unique}\"\nposition_topic = \"relay-positions-{unique}\"\n{kafka_extra}\n",
        broker.brokers
    );
    let extra_toml = format!("{}{kafka_section}", options.extra_toml);
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
        audit,
        kafka_section,
    }
}

pub async fn setup() -> Setup {
    setup_with(ServerOptions::default(), "").await
}

impl Setup {
    /// Submit and wait for the job's end; returns (job id, its API events).
    pub async fn run_job(&self, agent: &str, params: Value) -> (String, Vec<Value>) {
        let id = self.alice.submit(agent, params).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.alice.wait_for(&id, None, T).await;
        let events = self.alice.events(&id).await;
        (id, events)
    }

    /// Read both topics until every given API event is there, or `timeout`.
    async fn consume_until_seen(&self, expected: &[Value], timeout: Duration) -> Vec<Record> {
        let want: Vec<String> = expected
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect();
        consume(
            &self.broker.brokers,
            &[&self.lifecycle, &self.metrics],
            timeout,
            move |records| {
                // (cheap enough to ask after every record, thousands of them)
                if records.len() < want.len() {
                    return false;
                }
                let seen = ce_ids(records);
                want.iter().all(|id| seen.contains(id.as_str()))
            },
        )
        .await
    }

    /// Consume both topics until every given API event has arrived.
    pub async fn consume_all(&self, expected: &[Value]) -> Vec<Record> {
        let records = self.consume_until_seen(expected, T).await;
        let seen = ce_ids(&records);
        for event in expected {
            let id = event["event_id"].as_str().unwrap();
            if seen.contains(id) {
                continue;
            }
            // Whether Horizon still holds it: an outbox (and dead letter) of
            // zero means Kafka acknowledged every event and Horizon marked
            // it published, i.e. the broker lost an acknowledged record.
            let depth = self.server.metric("horizon_outbox_depth").await;
            let parked = self.server.metric("horizon_events_parked").await;
            panic!(
                "event {id} ({}) never reached Kafka; Horizon's outbox holds {depth} \
                 unpublished and {parked} parked event(s) (0 and 0: acknowledged by \
                 the broker, then lost by it)\n{}",
                event["event_type"],
                self.server.log()
            );
        }
        records
    }
}

impl Setup {
    /// For a test that stopped and restarted the broker: wait until Horizon
    /// holds nothing back (outbox and dead letter empty: every event
    /// acknowledged by Kafka and marked published), then read the topics.
    /// Apache Kafka loses no record it acknowledged: every event must be there.
    pub async fn consume_all_after_outage(&self, expected: &[Value]) -> Vec<Record> {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let depth = self.server.metric("horizon_outbox_depth").await;
            let parked = self.server.metric("horizon_events_parked").await;
            if depth == 0.0 && parked == 0.0 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                // (the watcher's per-pass lines would hide the relay's)
                let full = self.server.log();
                let log: Vec<&str> = full
                    .lines()
                    .filter(|l| !l.contains("watcher pass"))
                    .collect();
                let from = log.len().saturating_sub(400);
                // (the summary last too: CI shows a failure's tail)
                let summary = format!(
                    "Horizon still holds {depth} unpublished and {parked} parked event(s); \
                     readyz: {}",
                    self.server.readyz().await
                );
                panic!(
                    "{summary}\n{}\n{}\n{summary}",
                    log[from..].join("\n"),
                    self.broker.logs_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.consume_all(expected).await
    }
}

/// The `ce_id` header (the event id) of every record.
fn ce_ids(records: &[Record]) -> std::collections::HashSet<&str> {
    records
        .iter()
        .filter_map(|r| r.headers.get("ce_id").map(String::as_str))
        .collect()
}

pub fn of_job<'a>(records: &'a [Record], job_id: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| r.key == job_id).collect()
}

/// What a consumer that drops duplicates by (stream, sequence) keeps.
pub fn first_occurrences<'a>(records: &[&'a Record]) -> Vec<&'a Record> {
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
pub fn assert_job_published(
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
        // byte for byte what the API returns, in the same order
        let api: Vec<String> = stream_events
            .iter()
            .map(|e| super::api_raw(e["event_id"].as_str().unwrap()))
            .collect();
        assert_eq!(raws, api, "order/bytes on {topic}");
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

pub fn assert_headers(r: &Record) {
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

/// Submit `n` jobs concurrently.
pub async fn submit_concurrently(
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

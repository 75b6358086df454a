//! Which partition each event goes to, and which partitions have no
//! leader: the relay's view of the topics' metadata, refreshed at most once
//! a second (a topic whose metadata could not be read is asked again
//! sooner, and keeps its last answer meanwhile).
//!
//! One partition without a leader (its only replica's broker is down)
//! must hold back only the jobs whose events go there; for that the relay
//! computes each event's partition itself (Kafka's default partitioner on
//! the job id) and names it on the record. A topic's partition count can
//! be *frozen* while the relay holds partitions of it back: partitions
//! added meanwhile would move held jobs elsewhere, ahead of their held
//! events (the count only grows, so the old partitions stay valid).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use horizon_store::OutboxEvent;
use rdkafka::producer::Producer;
use tokio::time::Instant;
use tracing::{info, warn};

use super::RelayProducer;
use crate::{KafkaSettings, partition_for};

/// A topic's partition.
pub(super) type PartKey = (String, i32);

/// How old the metadata may be before the relay asks again.
const MAX_AGE: Duration = Duration::from_secs(1);
/// How soon a topic whose metadata could not be read is asked again.
const RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
pub(super) struct Partitions {
    /// Partitions per topic, as the cluster says.
    counts: HashMap<String, i32>,
    /// Counts the relay keeps while it holds partitions of the topic back.
    frozen: HashMap<String, i32>,
    /// Partitions without a leader.
    leaderless: BTreeSet<PartKey>,
    /// When each topic was last read (successfully).
    refreshed: HashMap<String, Instant>,
    /// When the last attempt was made.
    tried: Option<Instant>,
}

impl Partitions {
    /// Ask the cluster again about topics whose answer is older than a
    /// second (or missing). A failure keeps the topic's last answer.
    pub(super) async fn refresh(&mut self, producer: &RelayProducer, settings: &KafkaSettings) {
        if self.tried.is_some_and(|at| at.elapsed() < RETRY) {
            return;
        }
        let stale: Vec<String> = [
            &settings.lifecycle_topic,
            &settings.metrics_topic,
            &settings.audit_topic,
        ]
        .into_iter()
        .filter(|t| {
            self.refreshed
                .get(*t)
                .is_none_or(|at| at.elapsed() >= MAX_AGE)
        })
        .cloned()
        .collect();
        if stale.is_empty() {
            return;
        }
        self.tried = Some(Instant::now());
        let producer = producer.clone();
        let Ok(answers) = tokio::task::spawn_blocking(move || fetch(&producer, stale)).await else {
            return;
        };
        for (topic, answer) in answers {
            let (count, leaderless) = match answer {
                Ok(answer) => answer,
                Err(err) => {
                    warn!(topic, "cannot read the metadata of topic {topic}: {err}");
                    continue;
                }
            };
            let before: BTreeSet<PartKey> = self
                .leaderless
                .iter()
                .filter(|k| k.0 == topic)
                .cloned()
                .collect();
            for key in leaderless.difference(&before) {
                warn!(
                    topic = %key.0, partition = key.1,
                    "partition {} of {} has no leader: its jobs' events wait, the others flow",
                    key.1, key.0
                );
            }
            for key in before.difference(&leaderless) {
                info!(topic = %key.0, partition = key.1,
                    "partition {} of {} has a leader again", key.1, key.0);
                self.leaderless.remove(key);
            }
            self.leaderless.extend(leaderless);
            if self
                .counts
                .insert(topic.clone(), count)
                .is_some_and(|c| c != count)
            {
                info!(topic, "topic {topic} has {count} partitions now");
            }
            self.refreshed.insert(topic, Instant::now());
        }
    }

    /// The partition count the relay uses for `topic`, if known.
    pub(super) fn count(&self, topic: &str) -> Option<i32> {
        self.frozen
            .get(topic)
            .or_else(|| self.counts.get(topic))
            .copied()
    }

    /// Whether the partition count of `topic` is known.
    pub(super) fn knows(&self, topic: &str) -> bool {
        self.count(topic).is_some()
    }

    /// Keep `count` for `topic` (the count its held partitions were
    /// computed with) until `thaw`.
    pub(super) fn freeze(&mut self, topic: &str, count: i32) {
        self.frozen.insert(topic.to_owned(), count);
    }

    /// Use the cluster's count again for every topic not in `keep`.
    pub(super) fn thaw(&mut self, keep: &BTreeSet<&str>) {
        self.frozen.retain(|topic, _| keep.contains(topic.as_str()));
    }

    /// The partition an event goes to, once the topic's size is known.
    pub(super) fn of(&self, settings: &KafkaSettings, outbox: &OutboxEvent) -> Option<PartKey> {
        let topic = settings.topic_of(outbox.event.stream);
        let count = self.count(topic)?;
        let key = outbox.event.job_id.to_string();
        Some((topic.to_owned(), partition_for(key.as_bytes(), count)))
    }

    /// The partitions of the relay's topics, as far as known.
    pub(super) fn total(&self) -> usize {
        self.counts.values().map(|n| *n as usize).sum()
    }

    /// Whether the cluster says the partition has no leader.
    pub(super) fn leaderless(&self, key: &PartKey) -> bool {
        self.leaderless.contains(key)
    }
}

type Answer = Result<(i32, BTreeSet<PartKey>), String>;

/// Per topic: its partition count and its partitions without a leader.
fn fetch(producer: &RelayProducer, topics: Vec<String>) -> Vec<(String, Answer)> {
    topics
        .into_iter()
        .map(|topic| {
            let answer = producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .map_err(|e| e.to_string())
                .and_then(|metadata| {
                    let t = metadata
                        .topics()
                        .iter()
                        .find(|t| t.name() == topic)
                        .ok_or_else(|| "not in the answer".to_owned())?;
                    if let Some(err) = t.error() {
                        return Err(format!("{err:?}"));
                    }
                    if t.partitions().is_empty() {
                        return Err("no partitions".to_owned());
                    }
                    let leaderless = t
                        .partitions()
                        .iter()
                        .filter(|p| p.leader() < 0)
                        .map(|p| (topic.clone(), p.id()))
                        .collect();
                    Ok((t.partitions().len() as i32, leaderless))
                });
            (topic, answer)
        })
        .collect()
}

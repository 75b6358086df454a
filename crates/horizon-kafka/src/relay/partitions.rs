//! Which partition each event goes to, and which partitions have no
//! leader: the relay's view of the topics' metadata, refreshed at most once
//! a second.
//!
//! One partition without a leader (its only replica's broker is down)
//! must hold back only the jobs whose events go there; for that the relay
//! computes each event's partition itself (Kafka's default partitioner on
//! the job id) and names it on the record.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use horizon_store::OutboxEvent;
use rdkafka::producer::Producer;
use tokio::time::Instant;
use tracing::{info, warn};

use super::RelayProducer;
use crate::{KafkaError, KafkaSettings, partition_for};

/// A topic's partition.
pub(super) type PartKey = (String, i32);

/// How old the metadata may be before the relay asks again.
const MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(super) struct Partitions {
    /// Partitions per topic, as the cluster says.
    counts: HashMap<String, i32>,
    /// Partitions without a leader.
    leaderless: BTreeSet<PartKey>,
    refreshed: Option<Instant>,
}

impl Partitions {
    /// Ask the cluster again when the last answer is older than a second.
    /// A failure keeps the last answer (and says so).
    pub(super) async fn refresh(&mut self, producer: &RelayProducer, settings: &KafkaSettings) {
        if self.refreshed.is_some_and(|at| at.elapsed() < MAX_AGE) {
            return;
        }
        self.refreshed = Some(Instant::now());
        let topics = [
            settings.lifecycle_topic.clone(),
            settings.metrics_topic.clone(),
            settings.audit_topic.clone(),
        ];
        let producer = producer.clone();
        let fetched = tokio::task::spawn_blocking(move || fetch(&producer, &topics)).await;
        match fetched {
            Ok(Ok((counts, leaderless))) => {
                for key in leaderless.difference(&self.leaderless) {
                    warn!(
                        topic = %key.0, partition = key.1,
                        "partition {} of {} has no leader: its jobs' events wait, the others flow",
                        key.1, key.0
                    );
                }
                for key in self.leaderless.difference(&leaderless) {
                    info!(topic = %key.0, partition = key.1,
                        "partition {} of {} has a leader again", key.1, key.0);
                }
                self.counts.extend(counts);
                self.leaderless = leaderless;
            }
            Ok(Err(err)) => warn!("cannot read the topics' metadata: {err}"),
            Err(err) => warn!("cannot read the topics' metadata: {err}"),
        }
    }

    /// The partition an event goes to, once the topic's size is known.
    pub(super) fn of(&self, settings: &KafkaSettings, outbox: &OutboxEvent) -> Option<PartKey> {
        let topic = settings.topic_of(outbox.event.stream);
        let count = *self.counts.get(topic)?;
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

/// Partition counts and leaderless partitions of `topics`.
fn fetch(
    producer: &RelayProducer,
    topics: &[String],
) -> Result<(HashMap<String, i32>, BTreeSet<PartKey>), KafkaError> {
    let mut counts = HashMap::new();
    let mut leaderless = BTreeSet::new();
    for topic in topics {
        let metadata = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(5))?;
        for t in metadata.topics() {
            if t.error().is_some() || t.partitions().is_empty() {
                continue;
            }
            counts.insert(t.name().to_owned(), t.partitions().len() as i32);
            for p in t.partitions() {
                if p.leader() < 0 {
                    leaderless.insert((t.name().to_owned(), p.id()));
                }
            }
        }
    }
    Ok((counts, leaderless))
}

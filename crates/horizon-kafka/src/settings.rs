//! The `[kafka]` section of the configuration.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// `host:port,…`; also `HORIZON_KAFKA_BROKERS`. Empty = no Kafka.
    pub brokers: String,
    /// Every job's lifecycle events (key: the job id).
    pub lifecycle_topic: String,
    /// Its partitions, when Horizon creates it.
    pub lifecycle_partitions: i32,
    /// Every job's `job.metrics` samples (key: the job id).
    pub metrics_topic: String,
    /// Its partitions, when Horizon creates it.
    pub metrics_partitions: i32,
    /// The audit trail (who did what): one record per message, keyed by the
    /// record's id.
    pub audit_topic: String,
    /// Its partitions, when Horizon creates it.
    pub audit_partitions: i32,
    /// Where a notice of every parked event goes (empty: nowhere).
    pub dead_letter_topic: String,
    /// Of the topics Horizon creates (3 on a production cluster).
    pub replication_factor: i32,
    /// Create missing topics at start-up (turn off where the cluster's ACLs
    /// forbid it and the topics are managed elsewhere).
    pub create_topics: bool,
    /// The CloudEvents `ce_source` of every event.
    pub source: String,
    /// Events read from the store per page (and, at least once, handed to
    /// the producer per round).
    pub batch_size: u32,
    /// Exactly once: events one transaction carries at most (new events, or
    /// a drain of partitions that were held back), read in pages of
    /// `batch_size` while a backlog waits (a transaction costs a few round
    /// trips to the broker whatever its size, so larger ones drain a
    /// backlog faster; with no backlog a transaction takes what is there).
    pub transaction_events: u32,
    /// How long librdkafka keeps retrying one message before reporting it
    /// failed; the relay then retries it itself.
    pub message_timeout_ms: u64,
    /// The relay's own backoff after a failed round: doubles up to the max.
    pub initial_backoff_ms: u64,
    /// The longest backoff between two rounds.
    pub max_backoff_ms: u64,
    /// Exactly once (the default): a transactional producer writes each
    /// batch of events and the relay's position in one Kafka transaction,
    /// so a `read_committed` consumer sees every event once whatever moment
    /// the relay dies at. `false`: an idempotent producer, at least once
    /// (for brokers without transactions).
    pub exactly_once: bool,
    /// The producer's `transactional.id`, the same in every process of one
    /// deployment (a new leader fences the old one through it); give each
    /// deployment sharing a cluster its own.
    pub transactional_id: String,
    /// Where the relay's position goes, in the transaction of the events it
    /// covers: a compacted topic of one partition, keyed by the
    /// transactional id.
    pub position_topic: String,
    /// At least once: events held in memory at most.
    pub window_events: usize,
    /// At least once: events of one partition held in memory at most, and
    /// at most its share of `window_events` (a partition without a leader
    /// then holds back only its own jobs; the rest of its events are read
    /// again from the store later).
    pub window_per_partition: usize,
    /// At least once: bytes of events held in memory at most.
    pub window_bytes: usize,
    /// Extra librdkafka properties (security.protocol, sasl.*, linger.ms, …).
    pub producer: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: String::new(),
            lifecycle_topic: "job-lifecycle".into(),
            lifecycle_partitions: 10,
            metrics_topic: "job-metrics".into(),
            metrics_partitions: 20,
            audit_topic: "audit-trail".into(),
            audit_partitions: 3,
            dead_letter_topic: "job-events-dead-letter".into(),
            replication_factor: 1,
            create_topics: true,
            source: "/horizon".into(),
            batch_size: 1000,
            transaction_events: 10_000,
            message_timeout_ms: 60_000,
            initial_backoff_ms: 200,
            max_backoff_ms: 10_000,
            exactly_once: true,
            transactional_id: "horizon-relay".into(),
            position_topic: "horizon-relay-positions".into(),
            window_events: 20_000,
            window_per_partition: 2_000,
            window_bytes: 64 << 20,
            producer: BTreeMap::new(),
        }
    }
}

impl KafkaSettings {
    pub fn enabled(&self) -> bool {
        !self.brokers.trim().is_empty()
    }

    /// Events one exactly-once transaction carries at most: never less
    /// than a store page.
    pub(crate) fn transaction_bound(&self) -> usize {
        self.transaction_events.max(self.batch_size) as usize
    }

    /// The producer's librdkafka configuration. The settings that the
    /// guarantees rest on come last so that `producer` cannot weaken them.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "1")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "200000")
            .set("retry.backoff.ms", "100")
            .set("retry.backoff.max.ms", "2000")
            .set("reconnect.backoff.max.ms", "2000")
            .set("compression.type", "none");
        for (key, value) in &self.producer {
            config.set(key, value);
        }
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            // the Java client's partitioner, so Java/Kafka Streams consumers co-partition
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", self.message_timeout_ms.to_string());
        if self.exactly_once {
            // librdkafka wants message.timeout.ms <= transaction.timeout.ms;
            // a zombie's open transaction is aborted at once by the next
            // leader's init, so this only bounds a transaction nobody ends
            config
                .set("transactional.id", &self.transactional_id)
                .set(
                    "transaction.timeout.ms",
                    self.message_timeout_ms.max(30_000).to_string(),
                )
                // a transaction's first request after a commit often meets
                // CONCURRENT_TRANSACTIONS while the broker still writes the
                // previous one's markers; librdkafka retries it after
                // retry.backoff.ms (doubling up to retry.backoff.max.ms)
                .set("retry.backoff.ms", "2");
        }
        config
    }

    /// A `read_committed` consumer's configuration (the relay reads its
    /// position back with it).
    pub fn consumer_config(&self) -> ClientConfig {
        let mut config = self.admin_config();
        config
            .set("group.id", format!("{}-position", self.transactional_id))
            .set("enable.auto.commit", "false")
            // the position read stops at the end of the partition
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed");
        config
    }

    /// The relay's `transactional.id` in `generation`: the configured id,
    /// then `id.1`, `id.2`, … (see the relay's `transactional.rs`).
    pub fn transactional_id_of(&self, generation: i64) -> String {
        if generation == 0 {
            self.transactional_id.clone()
        } else {
            format!("{}.{generation}", self.transactional_id)
        }
    }

    /// The topic of an event stream.
    pub fn topic_of(&self, stream: horizon_core::EventStream) -> &str {
        match stream {
            horizon_core::EventStream::Lifecycle => &self.lifecycle_topic,
            horizon_core::EventStream::Metrics => &self.metrics_topic,
            horizon_core::EventStream::Audit => &self.audit_topic,
        }
    }

    pub fn admin_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.producer {
            if key.starts_with("security.") || key.starts_with("sasl.") || key.starts_with("ssl.") {
                config.set(key, value);
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::producer::FutureProducer;

    use super::*;

    #[test]
    fn guarantees_cannot_be_weakened_by_extra_properties() {
        let mut settings = KafkaSettings {
            brokers: "127.0.0.1:9".into(),
            ..KafkaSettings::default()
        };
        settings.producer.insert("acks".into(), "1".into());
        settings
            .producer
            .insert("enable.idempotence".into(), "false".into());
        settings.producer.insert("linger.ms".into(), "20".into());
        let config = settings.producer_config();
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("partitioner"), Some("murmur2_random"));
        assert_eq!(config.get("linger.ms"), Some("20"), "tuning is allowed");
    }

    #[test]
    fn tls_and_sasl_clusters_are_supported() {
        let mut settings = KafkaSettings {
            brokers: "127.0.0.1:9".into(),
            ..KafkaSettings::default()
        };
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "horizon"),
            ("sasl.password", "secret"),
        ] {
            settings.producer.insert(key.into(), value.into());
        }
        // librdkafka refuses these at creation when built without TLS/SASL
        let producer: Result<FutureProducer, _> = settings.producer_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
        assert_eq!(
            settings.admin_config().get("security.protocol"),
            Some("SASL_SSL")
        );
    }
}

//! Horizon's outbox relay: every event the store commits reaches Kafka, in
//! per-job order — exactly once for `read_committed` consumers through a
//! transactional producer (the default), or at least once through an
//! idempotent one (`relay/`). And replay: stored events published again
//! (`replay.rs`).
//!
//! The relay reads unpublished events from the store in commit order. Exactly
//! once, it writes each batch with its position in one Kafka transaction and
//! resumes from the committed position; at least once, it marks events
//! published only after Kafka acknowledged them, so a crash in between
//! re-sends them with the same `ce_id` and `sequence`. Either way a broker
//! outage or a crash delays events but never loses them.
//!
//! Architecture invariant: this crate (the relay and replay) is the only
//! code that talks to Kafka, and it only reads the outbox (and sets its
//! published and parked marks) — it never changes a job.

/// The relay's Prometheus metrics (described by the server's telemetry).
pub mod metric_names {
    pub const PUBLISHED: &str = "horizon_events_published_total";
    pub const PUBLISH_FAILURES: &str = "horizon_event_publish_failures_total";
    pub const PUBLISH_RETRIES: &str = "horizon_event_publish_retries_total";
    pub const PUBLISH_LATENCY: &str = "horizon_event_publish_latency_seconds";
    pub const PARKED: &str = "horizon_events_parked_total";
    pub const TX_FAILURES: &str = "horizon_relay_transaction_failures_total";
    pub const HELD_PARTITIONS: &str = "horizon_relay_held_partitions";
}

mod message;
mod partitioner;
mod relay;
mod replay;
mod settings;
mod topics;

pub use message::{Headers, record_headers};
pub use partitioner::{murmur2, partition_for};
pub use relay::{Relay, RelaySnapshot, RelayStatus};
pub use replay::{REPLAY_HEADER, ReplayProgress, ReplayRequest, replay, valid_topic};
pub use settings::KafkaSettings;
pub use topics::ensure_topics;

/// What can go wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("cannot create topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
    #[error("store: {0}")]
    Store(#[from] horizon_store::StoreError),
    #[error("{0}")]
    Delivery(String),
}

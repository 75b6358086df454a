//! The exactly-once relay's position in Kafka: the record it commits with
//! each transaction, and reading the last one back on start.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::held::HeldRecord;
use crate::{KafkaError, KafkaSettings};

/// Records looked at per pass when reading the position back.
const POSITION_LOOKBACK: i64 = 1000;

/// The relay's position record (the value; the key is the transactional id).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PositionRecord {
    /// Every outbox event up to here is in Kafka (or parked).
    pub(super) position: i64,
    /// Events the transaction carried.
    pub(super) events: usize,
    /// RFC 3339
    pub(super) committed_at: String,
    /// Partitions held back, and from which position (see `held.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) held: Vec<HeldRecord>,
    /// The database whose outbox the position is in (`Store::database_id`;
    /// absent in records of releases before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) database: Option<String>,
}

/// The last position record of this relay's transactional id, read with a
/// `read_committed` consumer: the newest committed one is the largest
/// (positions only grow). Looks back `POSITION_LOOKBACK` records at a time.
pub(super) fn read_position(
    settings: &KafkaSettings,
) -> Result<Option<PositionRecord>, KafkaError> {
    let consumer: BaseConsumer = settings.consumer_config().create()?;
    let topic = settings.position_topic.as_str();
    let (low, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(10))?;
    if high <= low {
        return Ok(None);
    }
    let mut start = (high - POSITION_LOOKBACK).max(low);
    loop {
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(topic, 0, Offset::Offset(start))?;
        consumer.assign(&assignment)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut found: Option<PositionRecord> = None;
        loop {
            if std::time::Instant::now() > deadline {
                return Err(KafkaError::Delivery(format!(
                    "reading {topic} did not reach its end within 30 s (another producer's \
                     transaction open on it? give each deployment its own position_topic)"
                )));
            }
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(RdKafkaError::PartitionEOF(_))) => {
                    // read_committed stops at the last stable offset: below
                    // the high watermark, another producer's transaction is
                    // open on the topic (this id's were aborted by the init)
                    // and may hide a newer record: wait for it to end
                    let at = consumer
                        .position()?
                        .find_partition(topic, 0)
                        .and_then(|p| match p.offset() {
                            Offset::Offset(n) => Some(n),
                            _ => None,
                        })
                        .unwrap_or(high);
                    if at >= high {
                        break;
                    }
                }
                Some(Err(err)) => return Err(err.into()),
                Some(Ok(message)) => {
                    if message.key() != Some(settings.transactional_id.as_bytes()) {
                        continue;
                    }
                    let Some(payload) = message.payload() else {
                        continue;
                    };
                    match serde_json::from_slice::<PositionRecord>(payload) {
                        Ok(record) => {
                            if found.as_ref().is_none_or(|f| record.position >= f.position) {
                                found = Some(record);
                            }
                        }
                        Err(err) => {
                            return Err(KafkaError::Delivery(format!(
                                "a position record on {topic} (offset {}) is not valid: {err}",
                                message.offset()
                            )));
                        }
                    }
                }
            }
        }
        if found.is_some() || start == low {
            return Ok(found);
        }
        start = (start - 10 * POSITION_LOOKBACK).max(low);
    }
}

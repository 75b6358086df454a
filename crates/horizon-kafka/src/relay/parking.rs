//! Parking: events Kafka refuses for good are set aside in the store, with
//! the reason, announced on the dead-letter topic and counted; the later
//! events of the same job and stream are held behind them.

use std::collections::HashMap;

use horizon_store::OutboxEvent;
use rdkafka::producer::FutureRecord;
use time::OffsetDateTime;
use tracing::{error, warn};
use uuid::Uuid;

use super::{Key, Relay, RelayProducer, key_of};
use crate::KafkaError;
use crate::metric_names::PARKED;

/// Per job and stream with a parked event, that event's id.
pub(super) type ParkedKeys = HashMap<Key, Uuid>;

impl Relay {
    /// Which jobs and streams have a parked event, from the store.
    pub(super) async fn load_parked_keys(&self) -> Result<ParkedKeys, KafkaError> {
        let mut keys = HashMap::new();
        let mut after = 0;
        loop {
            let page = self.store.parked_events(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.position;
            for parked in &page {
                keys.entry((parked.event.job_id, parked.event.stream))
                    .or_insert(parked.event.event_id);
            }
        }
        let count = self.store.parked_count().await?;
        self.status.update(|s| s.parked = count);
        Ok(keys)
    }

    /// Set events aside for good: in the store, on the dead-letter topic (on
    /// `producer`: inside its open transaction in exactly-once mode), in the
    /// counters.
    pub(super) async fn park(
        &self,
        producer: &RelayProducer,
        parked_keys: &mut ParkedKeys,
        events: Vec<OutboxEvent>,
        reason: &str,
    ) -> Result<(), KafkaError> {
        let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
        self.store.park_events(&positions, reason).await?;
        for outbox in &events {
            let event = &outbox.event;
            parked_keys.entry(key_of(outbox)).or_insert(event.event_id);
            error!(job.id = %event.job_id, event.id = %event.event_id,
                "parked event {} ({} #{} of job {}): {reason}",
                event.event_id, event.event_type, event.sequence, event.job_id);
        }
        self.announce_parked(producer, &events, reason);
        metrics::counter!(PARKED).increment(events.len() as u64);
        let n = events.len() as u64;
        self.status.update(|s| {
            s.parked += n;
            s.last_parked_reason = Some(reason.to_owned());
        });
        Ok(())
    }

    /// A small notice per parked event on the dead-letter topic, best effort
    /// (the store is the durable record): handed to the relay's producer and
    /// not waited for.
    fn announce_parked(&self, producer: &RelayProducer, events: &[OutboxEvent], reason: &str) {
        let topic = &self.settings.dead_letter_topic;
        if topic.is_empty() {
            return;
        }
        let parked_at = horizon_core::timestamp::format(OffsetDateTime::now_utc());
        for outbox in events {
            let event = &outbox.event;
            let notice = serde_json::json!({
                "event_id": event.event_id,
                "job_id": event.job_id,
                "event_type": event.event_type.as_str(),
                "stream": event.stream.as_str(),
                "sequence": event.sequence,
                "topic": self.settings.topic_of(event.stream),
                "reason": reason,
                "parked_at": parked_at,
                "envelope_bytes": event.envelope.len(),
            });
            let payload = notice.to_string();
            let key = event.job_id.to_string();
            let record = FutureRecord::to(topic).key(&key).payload(&payload);
            if let Err((err, _)) = producer.send_result(record) {
                warn!(
                    "cannot announce parked event {} on {topic}: {err}",
                    event.event_id
                );
            }
        }
    }
}

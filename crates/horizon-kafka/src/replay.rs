//! Replay: stored events published again, byte for byte, with one added
//! header naming the replay (`horizon-replay: <replay id>`), for a consumer
//! that lost data or a new one that needs history. Any process can serve a
//! replay (it needs no leadership): it has a producer of its own,
//! idempotent and outside the relay's transactions, so what it sends is
//! visible to every consumer at once. Rate-limited; progress is kept for
//! `GET /v1/admin/events/replay/{id}`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use horizon_store::{ReplayFilter, Store};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::Header;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::message::{Headers, record_headers};
use crate::{KafkaError, KafkaSettings};

/// The header every replayed record carries: the replay's id.
pub const REPLAY_HEADER: &str = "horizon-replay";

/// Events read from the store per page.
const PAGE: u32 = 500;

/// What to replay, where, how fast.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub id: Uuid,
    pub filter: ReplayFilter,
    /// Another topic for every record (default: each event's own topic).
    pub to_topic: Option<String>,
    pub rate_per_second: u32,
}

/// A replay's progress (for the API and the CLI).
#[derive(Debug, Clone, Serialize)]
pub struct ReplayProgress {
    pub replay_id: Uuid,
    /// `running`, `done` or `failed`
    pub state: &'static str,
    /// Events the filter selected when the replay started.
    pub total: u64,
    /// Events Kafka acknowledged so far.
    pub sent: u64,
    pub error: Option<String>,
    /// RFC 3339
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl ReplayProgress {
    pub fn new(id: Uuid, total: u64) -> Self {
        ReplayProgress {
            replay_id: id,
            state: "running",
            total,
            sent: 0,
            error: None,
            started_at: horizon_core::timestamp::format(OffsetDateTime::now_utc()),
            finished_at: None,
        }
    }
}

/// Whether `name` is a legal Kafka topic name.
pub fn valid_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Run a replay to its end, updating `progress`; the number of events sent.
pub async fn replay(
    store: Arc<dyn Store>,
    settings: &KafkaSettings,
    request: &ReplayRequest,
    progress: Arc<Mutex<ReplayProgress>>,
) -> Result<u64, KafkaError> {
    let result = run(store, settings, request, &progress).await;
    let at = horizon_core::timestamp::format(OffsetDateTime::now_utc());
    let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
    p.finished_at = Some(at);
    match &result {
        Ok(_) => p.state = "done",
        Err(err) => {
            p.state = "failed";
            p.error = Some(err.to_string());
        }
    }
    result
}

async fn run(
    store: Arc<dyn Store>,
    settings: &KafkaSettings,
    request: &ReplayRequest,
    progress: &Mutex<ReplayProgress>,
) -> Result<u64, KafkaError> {
    // idempotent, not transactional: a replay must not fence the relay
    let producer_settings = KafkaSettings {
        exactly_once: false,
        ..settings.clone()
    };
    let producer: FutureProducer = producer_settings.producer_config().create()?;
    let replay_id = request.id.to_string();
    let rate = f64::from(request.rate_per_second.max(1));
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut after = 0;
    loop {
        let page = store
            .replay_events(
                &request.filter,
                after,
                PAGE.min(request.rate_per_second.max(1)),
            )
            .await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        let mut deliveries = Vec::with_capacity(page.len());
        for outbox in &page {
            let event = &outbox.event;
            let headers = Headers::of(event).map_err(|e| {
                KafkaError::Delivery(format!("stored event {} is not valid: {e}", event.event_id))
            })?;
            let topic = request
                .to_topic
                .as_deref()
                .unwrap_or_else(|| settings.topic_of(event.stream));
            loop {
                let record = FutureRecord::to(topic)
                    .key(&headers.job_id)
                    .payload(&event.envelope)
                    .headers(record_headers(&headers, &settings.source).insert(Header {
                        key: REPLAY_HEADER,
                        value: Some(&replay_id),
                    }));
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((err, _)) => return Err(err.into()),
                }
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => return Err(err.into()),
                Err(_) => {
                    return Err(KafkaError::Delivery(
                        "the replay's producer went away".into(),
                    ));
                }
            }
        }
        sent += page.len() as u64;
        progress.lock().unwrap_or_else(|e| e.into_inner()).sent = sent;
        // the rate limit: no faster than `rate` events a second on average
        let due = Duration::from_secs_f64(sent as f64 / rate);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    Ok(sent)
}

//! The relay loop: outbox → Kafka → marked published.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use horizon_core::EventStream;
use horizon_store::{OutboxEvent, Store};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use crate::message::{Headers, record_headers};
use crate::{KafkaError, KafkaSettings, ensure_topics};

use crate::metric_names::{PUBLISH_FAILURES, PUBLISH_LATENCY, PUBLISH_RETRIES, PUBLISHED};

/// How long an idle relay waits for a wake-up before looking anyway.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What the relay is doing, for `/readyz` and logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelaySnapshot {
    /// `starting`, `idle`, `publishing` or `retrying`
    pub state: &'static str,
    pub last_error: Option<String>,
    /// When Kafka last acknowledged an event (RFC 3339).
    pub last_ack: Option<String>,
    pub published: u64,
    pub failures: u64,
}

#[derive(Debug, Default)]
pub struct RelayStatus(Mutex<RelaySnapshot>);

impl RelayStatus {
    pub fn snapshot(&self) -> RelaySnapshot {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut RelaySnapshot)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

#[derive(Debug)]
pub struct Relay {
    store: Arc<dyn Store>,
    settings: KafkaSettings,
    wake: Arc<Notify>,
    status: Arc<RelayStatus>,
}

/// The outcome of one round.
enum Round {
    Idle,
    Published(usize),
}

impl Relay {
    /// `wake` is notified whenever the store commits an event.
    pub fn new(store: Arc<dyn Store>, settings: KafkaSettings, wake: Arc<Notify>) -> Self {
        let status = Arc::new(RelayStatus::default());
        status.update(|s| s.state = "starting");
        Relay {
            store,
            settings,
            wake,
            status,
        }
    }

    pub fn status(&self) -> Arc<RelayStatus> {
        self.status.clone()
    }

    fn backoff(&self, current: Duration) -> Duration {
        (current * 2).min(Duration::from_millis(self.settings.max_backoff_ms))
    }

    fn failed(&self, err: &KafkaError) {
        self.status.update(|s| {
            s.state = "retrying";
            s.last_error = Some(err.to_string());
            s.failures += 1;
        });
    }

    /// Run until the process ends.
    pub async fn run(self) {
        let initial = Duration::from_millis(self.settings.initial_backoff_ms.max(1));
        let mut backoff = initial;
        while let Err(err) = ensure_topics(&self.settings).await {
            warn!(
                "cannot create Kafka topics on {} yet, retrying in {backoff:?}: {err}",
                self.settings.brokers
            );
            self.failed(&err);
            tokio::time::sleep(backoff).await;
            backoff = self.backoff(backoff);
        }
        info!(brokers = %self.settings.brokers, "relaying events to Kafka topics {} and {}",
            self.settings.lifecycle_topic, self.settings.metrics_topic);
        backoff = initial;
        let mut producer: Option<FutureProducer> = None;
        let mut retrying = HashSet::new();
        loop {
            let current = match &producer {
                Some(p) => p,
                None => match self.settings.producer_config().create::<FutureProducer>() {
                    Ok(p) => producer.insert(p),
                    Err(err) => {
                        let err = KafkaError::from(err);
                        error!("cannot create the Kafka producer: {err}");
                        self.failed(&err);
                        tokio::time::sleep(backoff).await;
                        backoff = self.backoff(backoff);
                        continue;
                    }
                },
            };
            match self.round(current, &mut retrying).await {
                Ok(Round::Idle) => {
                    backoff = initial;
                    self.status.update(|s| s.state = "idle");
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(IDLE_WAIT) => {}
                    }
                }
                Ok(Round::Published(n)) => {
                    backoff = initial;
                    debug!(events = n, "published {n} events to Kafka");
                }
                Err(err) => {
                    warn!("publishing events to Kafka failed, retrying in {backoff:?}: {err}");
                    self.failed(&err);
                    if let Some((code, reason)) = current.client().fatal_error() {
                        error!(
                            "the Kafka producer hit a fatal error ({code}: {reason}); starting a new one"
                        );
                        producer = None;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = self.backoff(backoff);
                }
            }
        }
    }

    /// Hand one batch of unpublished events to the producer, wait for every
    /// delivery report, and mark the delivered ones published.
    async fn round(
        &self,
        producer: &FutureProducer,
        retrying: &mut HashSet<i64>,
    ) -> Result<Round, KafkaError> {
        let batch = self
            .store
            .unpublished_events(self.settings.batch_size)
            .await?;
        if batch.is_empty() {
            return Ok(Round::Idle);
        }
        self.status.update(|s| s.state = "publishing");
        let mut pending = Vec::with_capacity(batch.len());
        for outbox in &batch {
            if retrying.remove(&outbox.position) {
                metrics::counter!(PUBLISH_RETRIES).increment(1);
            }
            pending.push(self.enqueue(producer, outbox).await);
        }
        // Kafka acknowledges in order per partition; collect every report.
        let mut failed_jobs: HashSet<Uuid> = HashSet::new();
        let mut delivered = Vec::with_capacity(batch.len());
        let mut first_error = None;
        let now = OffsetDateTime::now_utc();
        for (outbox, sent) in batch.iter().zip(pending) {
            let result = match sent {
                Ok(future) => match future.await {
                    Ok(Ok(_delivery)) => Ok(()),
                    Ok(Err((err, _message))) => Err(err.to_string()),
                    Err(_canceled) => Err("the producer was dropped before delivery".to_owned()),
                },
                Err(err) => Err(err),
            };
            let job_id = outbox.event.job_id;
            if failed_jobs.contains(&job_id) {
                // an earlier event of this job failed: send this one again after it
                retrying.insert(outbox.position);
                continue;
            }
            match result {
                Ok(()) => {
                    delivered.push(outbox.position);
                    let latency = (OffsetDateTime::now_utc() - outbox.created_at).as_seconds_f64();
                    metrics::histogram!(PUBLISH_LATENCY).record(latency.max(0.0));
                }
                Err(err) => {
                    metrics::counter!(PUBLISH_FAILURES).increment(1);
                    warn!(job.id = %job_id, event.id = %outbox.event.event_id,
                        "Kafka did not accept event {} ({} #{} of job {job_id}): {err}",
                        outbox.event.event_id, outbox.event.event_type, outbox.event.sequence);
                    failed_jobs.insert(job_id);
                    retrying.insert(outbox.position);
                    first_error.get_or_insert(err);
                }
            }
        }
        self.store.mark_published(&delivered).await?;
        metrics::counter!(PUBLISHED).increment(delivered.len() as u64);
        let acked = delivered.len() as u64;
        self.status.update(|s| {
            s.published += acked;
            if acked > 0 {
                s.last_ack = now.format(&Rfc3339).ok();
            }
        });
        match first_error {
            Some(err) => Err(KafkaError::Delivery(format!(
                "{} of {} events were not delivered: {err}",
                batch.len() - delivered.len(),
                batch.len()
            ))),
            None => Ok(Round::Published(batch.len())),
        }
    }

    /// Put one event on the producer's queue, waiting while the queue is full.
    async fn enqueue(
        &self,
        producer: &FutureProducer,
        outbox: &OutboxEvent,
    ) -> Result<DeliveryFuture, String> {
        let event = &outbox.event;
        let headers =
            Headers::of(event).map_err(|e| format!("stored envelope is not valid: {e}"))?;
        let topic = match event.stream {
            EventStream::Lifecycle => &self.settings.lifecycle_topic,
            EventStream::Metrics => &self.settings.metrics_topic,
        };
        loop {
            let record = FutureRecord::to(topic)
                .key(&headers.job_id)
                .payload(&event.envelope)
                .headers(record_headers(&headers, &self.settings.source));
            match producer.send_result(record) {
                Ok(future) => return Ok(future),
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((err, _)) => return Err(err.to_string()),
            }
        }
    }
}

//! The relay loop: outbox → Kafka → marked published.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use horizon_core::EventStream;
use horizon_store::{OutboxEvent, Store};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::{error, info, warn};
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

/// Batches handed to the producer before the oldest one's reports are awaited.
const PIPELINE_DEPTH: usize = 4;

/// A batch handed to the producer, waiting for its delivery reports.
struct InFlight {
    events: Vec<OutboxEvent>,
    sent: Vec<Result<DeliveryFuture, String>>,
}

/// What is between the outbox and Kafka's acknowledgements.
#[derive(Default)]
struct Pipeline {
    /// The last position handed to the producer.
    cursor: i64,
    in_flight: VecDeque<InFlight>,
    /// Jobs with an undelivered event: their later events wait for it.
    failed_jobs: HashSet<Uuid>,
    /// Positions that failed or were held back, to count re-sends.
    retrying: HashSet<i64>,
}

enum Step {
    Idle,
    Progress,
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
        while self.settings.create_topics
            && let Err(err) = ensure_topics(&self.settings).await
        {
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
        let mut pipeline = Pipeline::default();
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
            match self.step(current, &mut pipeline).await {
                Ok(Step::Idle) => {
                    backoff = initial;
                    self.status.update(|s| s.state = "idle");
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(IDLE_WAIT) => {}
                    }
                }
                Ok(Step::Progress) => backoff = initial,
                Err(err) => {
                    warn!("publishing events to Kafka failed, retrying in {backoff:?}: {err}");
                    self.failed(&err);
                    // start again from the oldest unpublished event once every
                    // report still outstanding is in
                    for batch in std::mem::take(&mut pipeline.in_flight) {
                        for future in batch.sent.into_iter().flatten() {
                            let _ = future.await;
                        }
                    }
                    pipeline.cursor = 0;
                    pipeline.failed_jobs.clear();
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

    /// Keep up to `PIPELINE_DEPTH` batches with the producer, then settle the
    /// oldest: await its reports and mark what Kafka acknowledged.
    async fn step(&self, producer: &FutureProducer, p: &mut Pipeline) -> Result<Step, KafkaError> {
        while p.in_flight.len() < PIPELINE_DEPTH {
            let events = self
                .store
                .unpublished_events(p.cursor, self.settings.batch_size)
                .await?;
            let Some(last) = events.last() else { break };
            p.cursor = last.position;
            let mut sent = Vec::with_capacity(events.len());
            for outbox in &events {
                if p.retrying.remove(&outbox.position) {
                    metrics::counter!(PUBLISH_RETRIES).increment(1);
                }
                sent.push(self.enqueue(producer, outbox).await);
            }
            p.in_flight.push_back(InFlight { events, sent });
        }
        let Some(batch) = p.in_flight.pop_front() else {
            return Ok(Step::Idle);
        };
        self.status.update(|s| s.state = "publishing");
        self.settle(batch, p).await?;
        if p.failed_jobs.is_empty() {
            return Ok(Step::Progress);
        }
        // Something was not delivered: settle everything already sent (its
        // later events of the failed jobs are held back), then start over.
        let mut held = 0;
        while let Some(batch) = p.in_flight.pop_front() {
            held += batch.events.len();
            self.settle(batch, p).await?;
        }
        Err(KafkaError::Delivery(format!(
            "events of {} job(s) were not delivered; {held} later events were settled before retrying",
            p.failed_jobs.len()
        )))
    }

    /// Await one batch's delivery reports and mark the delivered events
    /// published, except those of a job whose earlier event failed.
    async fn settle(&self, batch: InFlight, p: &mut Pipeline) -> Result<(), KafkaError> {
        let mut delivered = Vec::with_capacity(batch.events.len());
        for (outbox, sent) in batch.events.iter().zip(batch.sent) {
            let result = match sent {
                Ok(future) => match future.await {
                    Ok(Ok(_delivery)) => Ok(()),
                    Ok(Err((err, _message))) => Err(err.to_string()),
                    Err(_canceled) => Err("the producer was dropped before delivery".to_owned()),
                },
                Err(err) => Err(err),
            };
            let job_id = outbox.event.job_id;
            if p.failed_jobs.contains(&job_id) {
                // an earlier event of this job failed: send this one again after it
                p.retrying.insert(outbox.position);
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
                    p.failed_jobs.insert(job_id);
                    p.retrying.insert(outbox.position);
                }
            }
        }
        self.store.mark_published(&delivered).await?;
        metrics::counter!(PUBLISHED).increment(delivered.len() as u64);
        let acked = delivered.len() as u64;
        let now = OffsetDateTime::now_utc();
        self.status.update(|s| {
            s.published += acked;
            if acked > 0 {
                s.last_ack = Some(horizon_core::timestamp::format(now));
            }
        });
        Ok(())
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

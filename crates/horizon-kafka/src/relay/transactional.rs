//! The exactly-once relay: each batch of events and the relay's position
//! in one Kafka transaction.
//!
//! The position is the last outbox position a committed transaction
//! covers, written as a record keyed by the `transactional.id` to the
//! position topic (one partition, compacted) inside the same transaction as
//! the events: a `read_committed` consumer sees the events of a batch if
//! and only if the position that covers them is committed too (the approach
//! of Kafka Connect's exactly-once source connectors, KIP-618). On start,
//! after `init_transactions` has fenced every older producer of the same id
//! and aborted its open transaction, the relay reads the position back and
//! resumes after it; the store's published marks are a cache of it, brought
//! up to it at start.
//!
//! Why one number is enough: outbox positions are handed out in commit
//! order (PostgreSQL: under the outbox lock; SQLite: one writer), so when
//! position P is visible every smaller position is, and "everything up to P
//! is in Kafka" is exact. A batch is sent whole or not at all, in position
//! order; per partition the idempotent producer keeps that order, and the
//! next batch starts only after the previous one committed, so a job's
//! events never overtake each other, also across aborted transactions.
//!
//! Parked events are skipped by the position (and remember, in the store,
//! that they were parked). `retry-parked` puts them back behind the
//! position; the relay finds them there (told by the API, or by its own
//! look every few seconds when another process took the request) and sends
//! them in a transaction of their own. Those re-sends are at least once: a
//! crash between their commit and their marks sends them again.

use std::time::Duration;

use futures_util::future::join_all;
use horizon_store::OutboxEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use super::parking::ParkedKeys;
use super::{Ended, Failure, IDLE_WAIT, Relay, RelayProducer, key_of, stop_requested};
use crate::metric_names::{PUBLISH_FAILURES, PUBLISH_LATENCY, PUBLISH_RETRIES, PUBLISHED};
use crate::{KafkaError, KafkaSettings};

/// How often the leader looks for un-parked events behind its position.
const RESEND_LOOK: Duration = Duration::from_secs(5);

/// Records looked at per pass when reading the position back.
const POSITION_LOOKBACK: i64 = 1000;

/// The relay's position record (the value; the key is the transactional id).
#[derive(Debug, Serialize, Deserialize)]
struct PositionRecord {
    /// Every outbox event up to here is in Kafka (or parked).
    position: i64,
    /// Events the transaction carried.
    events: usize,
    /// RFC 3339
    committed_at: String,
}

/// Why the transactional producer could not go on.
enum TxError {
    /// The producer is unusable (fenced, or another fatal error): stop
    /// leading; whoever holds the leadership next starts a new one.
    Fatal(String),
    /// Try again (the same batch) after a backoff.
    Passing(String),
}

impl std::fmt::Display for TxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxError::Fatal(reason) | TxError::Passing(reason) => f.write_str(reason),
        }
    }
}

fn tx_error(producer: &RelayProducer, err: &RdKafkaError) -> TxError {
    if let Some((code, reason)) = producer.client().fatal_error() {
        return TxError::Fatal(format!("{code:?}: {reason}"));
    }
    if let RdKafkaError::Transaction(e) = err
        && e.is_fatal()
    {
        return TxError::Fatal(e.to_string());
    }
    if matches!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
    ) {
        return TxError::Fatal(err.to_string());
    }
    TxError::Passing(err.to_string())
}

/// Marks published in the background, one store write at a time, retried
/// until they succeed (they are a cache: a crash only leaves them behind
/// the position, and the next start catches them up).
struct MarkQueue {
    tx: mpsc::UnboundedSender<Vec<i64>>,
    task: tokio::task::JoinHandle<()>,
}

impl MarkQueue {
    fn spawn(relay: &Relay) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<i64>>();
        let store = relay.store.clone();
        let task = tokio::spawn(async move {
            while let Some(mut positions) = rx.recv().await {
                while let Ok(more) = rx.try_recv() {
                    positions.extend(more);
                }
                let mut tries = 0;
                while let Err(err) = store.mark_published(&positions).await {
                    tries += 1;
                    warn!(
                        "cannot mark events published (a cache of Kafka's position), retrying: {err}"
                    );
                    if tries >= 30 && rx.is_closed() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
        MarkQueue { tx, task }
    }

    fn add(&self, positions: Vec<i64>) {
        if !positions.is_empty() {
            let _ = self.tx.send(positions);
        }
    }

    async fn flush(self) {
        drop(self.tx);
        let _ = tokio::time::timeout(super::SETTLE_ON_STOP, self.task).await;
    }
}

/// One batch for one transaction.
struct Batch {
    events: Vec<OutboxEvent>,
    /// The position to commit with it (unchanged for re-sends).
    position: i64,
    /// Un-parked events behind the position, sent again.
    resend: bool,
}

/// How a batch failed.
enum BatchError {
    /// The producer is unusable (fenced): stop leading.
    Fatal(String),
    /// Aborted: retry the batch after a backoff.
    Retry(String),
    /// The abort failed too: a new producer (its init aborts what is left).
    NewProducer(String),
}

impl BatchError {
    fn of(error: TxError) -> Self {
        match error {
            TxError::Fatal(reason) => BatchError::Fatal(reason),
            TxError::Passing(reason) => BatchError::NewProducer(reason),
        }
    }
}

impl Relay {
    /// Relay exactly once until stopped or fenced.
    pub(super) async fn run_transactional(&self, stop: &mut watch::Receiver<bool>) -> Ended {
        let mut failures = 0;
        // the last producer was replaced after a failed transaction
        let mut resend = false;
        loop {
            let started = match self.start_transactional().await {
                Ok(started) => started,
                Err(TxError::Fatal(reason)) => return Ended::Fenced(reason),
                Err(TxError::Passing(reason)) => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    warn!(
                        "cannot start the transactional producer, retrying in {delay:?}: {reason}"
                    );
                    self.failed(&reason);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        () = stop_requested(stop) => return Ended::Stopped,
                    }
                }
            };
            let (producer, cursor, parked_keys) = started;
            let marks = MarkQueue::spawn(self);
            // (a producer replaced after a failure starts with a retry)
            let ended = self
                .transact(
                    &producer,
                    cursor,
                    parked_keys,
                    &marks,
                    u32::from(resend),
                    stop,
                )
                .await;
            resend = true;
            marks.flush().await;
            match ended {
                Some(ended) => return ended,
                // the producer must be replaced (an abort failed)
                None => continue,
            }
        }
    }

    /// A producer with its transactions initialised (fencing every older
    /// producer of the id), the position read back, the marks caught up,
    /// and the parked keys loaded.
    async fn start_transactional(&self) -> Result<(RelayProducer, i64, ParkedKeys), TxError> {
        let producer = self
            .producer()
            .map_err(|e| TxError::Passing(format!("cannot create the producer: {e}")))?;
        let timeout = Duration::from_millis(self.settings.message_timeout_ms.max(10_000));
        let init = producer.clone();
        tokio::task::spawn_blocking(move || init.init_transactions(timeout))
            .await
            .map_err(|e| TxError::Passing(e.to_string()))?
            .map_err(|e| tx_error(&producer, &e))?;
        let settings = self.settings.clone();
        let record = tokio::task::spawn_blocking(move || read_position(&settings))
            .await
            .map_err(|e| TxError::Passing(e.to_string()))?
            .map_err(|e| TxError::Passing(format!("cannot read the relay's position: {e}")))?;
        let cursor = match &record {
            Some(record) => {
                let caught_up = self
                    .store
                    .mark_published_through(record.position)
                    .await
                    .map_err(|e| TxError::Passing(e.to_string()))?;
                info!(
                    position = record.position,
                    "resuming after position {} committed to Kafka at {} ({caught_up} mark(s) caught up)",
                    record.position,
                    record.committed_at
                );
                record.position
            }
            None => {
                info!("no relay position in Kafka yet: starting from the store's marks");
                0
            }
        };
        self.status
            .update(|s| s.position = record.as_ref().map(|r| r.position));
        let parked_keys = self
            .load_parked_keys()
            .await
            .map_err(|e| TxError::Passing(e.to_string()))?;
        Ok((producer, cursor, parked_keys))
    }

    /// The transaction loop. `None`: replace the producer and go on.
    async fn transact(
        &self,
        producer: &RelayProducer,
        mut cursor: i64,
        mut parked_keys: ParkedKeys,
        marks: &MarkQueue,
        mut failures: u32,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Ended> {
        // look for un-parked events at once, and again after each re-send
        // until none is left: they go before any newer event of their job
        let mut look_now = true;
        let mut last_look = Instant::now();
        loop {
            if *stop.borrow() {
                return Some(Ended::Stopped);
            }
            let look = look_now
                || self
                    .status
                    .rescan
                    .swap(false, std::sync::atomic::Ordering::SeqCst)
                || last_look.elapsed() >= RESEND_LOOK;
            let batch = match self.next_batch(cursor, look, &mut parked_keys).await {
                Ok(batch) => batch,
                Err(err) => {
                    self.outbox_unreadable(&err, stop).await;
                    continue;
                }
            };
            if look {
                last_look = Instant::now();
            }
            let Some(batch) = batch else {
                look_now = false;
                self.status.update(|s| s.set_state("idle"));
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_WAIT) => {}
                    () = stop_requested(stop) => {}
                }
                continue;
            };
            look_now = batch.resend;
            self.status.update(|s| s.set_state("publishing"));
            if failures > 0 {
                // the events of a failed transaction, sent again
                metrics::counter!(PUBLISH_RETRIES).increment(batch.events.len() as u64);
            }
            match self
                .send_batch(producer, &batch, &mut parked_keys, marks)
                .await
            {
                Ok(()) => {
                    failures = 0;
                    cursor = cursor.max(batch.position);
                }
                Err(BatchError::Fatal(reason)) => return Some(Ended::Fenced(reason)),
                Err(BatchError::Retry(reason) | BatchError::NewProducer(reason))
                    if *stop.borrow() =>
                {
                    warn!("the relay's transaction failed while stopping: {reason}");
                    return Some(Ended::Stopped);
                }
                Err(error) => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    let (reason, replace) = match error {
                        BatchError::NewProducer(reason) => (reason, true),
                        BatchError::Retry(reason) | BatchError::Fatal(reason) => (reason, false),
                    };
                    self.failed(&reason);
                    warn!("the relay's transaction failed, retrying it in {delay:?}: {reason}");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        () = stop_requested(stop) => return Some(Ended::Stopped),
                    }
                    if replace {
                        // its init aborts what this producer left open
                        return None;
                    }
                    // the batch is read again: events may have been parked
                    look_now = true;
                }
            }
        }
    }

    /// The next events to send. When `look`ing: the parked keys read again
    /// (an operator may have un-parked some), and un-parked events behind
    /// the cursor, if any, as a re-send. Else the events after the cursor;
    /// a batch with an event of a parked job looks first.
    async fn next_batch(
        &self,
        cursor: i64,
        look: bool,
        parked_keys: &mut ParkedKeys,
    ) -> Result<Option<Batch>, KafkaError> {
        let limit = self.settings.batch_size;
        if look {
            *parked_keys = self.load_parked_keys().await?;
            let behind = self.store.unparked_events(cursor, limit).await?;
            if !behind.is_empty() {
                info!(
                    "re-sending {} un-parked event(s) behind the relay's position",
                    behind.len()
                );
                return Ok(Some(Batch {
                    events: behind,
                    position: cursor,
                    resend: true,
                }));
            }
        }
        let events = self.store.unpublished_events(cursor, limit).await?;
        if !look
            && !parked_keys.is_empty()
            && events.iter().any(|e| parked_keys.contains_key(&key_of(e)))
        {
            // held behind a parked event, unless it was un-parked meanwhile
            return Box::pin(self.next_batch(cursor, true, parked_keys)).await;
        }
        Ok(events
            .last()
            .map(|last| last.position)
            .map(|position| Batch {
                events,
                position,
                resend: false,
            }))
    }

    /// One transaction: the batch's events (parking what Kafka refuses for
    /// good), then the position record, then the commit. On failure the
    /// transaction is aborted here, and what Kafka refused for good is
    /// parked, so that the retried batch leaves it out.
    async fn send_batch(
        &self,
        producer: &RelayProducer,
        batch: &Batch,
        parked_keys: &mut ParkedKeys,
        marks: &MarkQueue,
    ) -> Result<(), BatchError> {
        producer
            .begin_transaction()
            .map_err(|e| BatchError::of(tx_error(producer, &e)))?;
        let mut deliveries = Vec::with_capacity(batch.events.len());
        let mut sent: Vec<&OutboxEvent> = Vec::with_capacity(batch.events.len());
        let mut failed: Option<TxError> = None;
        for outbox in &batch.events {
            if let Some(cause) = parked_keys.get(&key_of(outbox)).copied() {
                self.park(
                    producer,
                    parked_keys,
                    vec![outbox.clone()],
                    &format!("held behind parked event {cause} of the same job"),
                )
                .await
                .map_err(|e| BatchError::Retry(e.to_string()))?;
                continue;
            }
            match self.enqueue(producer, outbox).await {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    sent.push(outbox);
                }
                Err(Failure::Permanent(reason)) => {
                    metrics::counter!(PUBLISH_FAILURES).increment(1);
                    self.park(
                        producer,
                        parked_keys,
                        vec![outbox.clone()],
                        &format!("Kafka refused it: {reason}"),
                    )
                    .await
                    .map_err(|e| BatchError::Retry(e.to_string()))?;
                }
                Err(Failure::Passing(reason)) => {
                    // (an abortable transaction refuses new records: what
                    // failed before is in the delivery reports)
                    failed = Some(TxError::Passing(reason));
                    break;
                }
            }
        }
        if failed.is_none() {
            let record = PositionRecord {
                position: batch.position,
                events: sent.len(),
                committed_at: horizon_core::timestamp::format(OffsetDateTime::now_utc()),
            };
            let payload =
                serde_json::to_string(&record).map_err(|e| BatchError::Retry(e.to_string()))?;
            match producer.send_result(
                FutureRecord::to(&self.settings.position_topic)
                    .key(&self.settings.transactional_id)
                    .payload(&payload),
            ) {
                Ok(delivery) => {
                    let position = batch.position;
                    deliveries.push(Box::pin(async move {
                        let result = match delivery.await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err((err, _))) => {
                                Err(Failure::Passing(format!("the position record: {err}")))
                            }
                            Err(_) => Err(Failure::Passing("the producer went away".into())),
                        };
                        // (not an event: matches none in `sent`)
                        (-position, result)
                    }));
                }
                Err((err, _)) => failed = Some(tx_error(producer, &err)),
            }
        }
        // every delivery report before the commit: the commit's own flush
        // would wait for them in steps of librdkafka's poll interval
        let mut reports = Vec::new();
        if failed.is_none() {
            reports = join_all(std::mem::take(&mut deliveries)).await;
            // a record that failed names the cause; records purged because
            // the transaction failed do not (the commit then says why)
            if let Some((_, Err(Failure::Passing(reason) | Failure::Permanent(reason)))) =
                reports.iter().find(|(_, r)| {
                    matches!(r, Err(Failure::Passing(reason) | Failure::Permanent(reason))
                        if !reason.contains("Purge"))
                })
            {
                failed = Some(TxError::Passing(reason.clone()));
            }
        }
        if failed.is_none() {
            let timeout = Duration::from_millis(self.settings.message_timeout_ms.max(1000) + 5000);
            let commit = producer.clone();
            match tokio::task::spawn_blocking(move || commit.commit_transaction(timeout)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => failed = Some(tx_error(producer, &err)),
                Err(err) => failed = Some(TxError::Passing(err.to_string())),
            }
        }
        if failed.is_none()
            && let Some((_, Err(Failure::Passing(reason) | Failure::Permanent(reason)))) =
                reports.iter().find(|(_, r)| r.is_err())
        {
            // (a transaction with a failed record does not commit: never
            // take a failed record for sent)
            failed = Some(TxError::Passing(reason.clone()));
        }
        if let Some(tx_failure) = failed {
            return Err(self
                .failed_batch(
                    producer,
                    tx_failure,
                    deliveries,
                    reports,
                    &sent,
                    parked_keys,
                )
                .await);
        }
        // committed: visible to read_committed consumers
        let now = OffsetDateTime::now_utc();
        for outbox in &sent {
            let latency = (now - outbox.created_at).as_seconds_f64();
            metrics::histogram!(PUBLISH_LATENCY).record(latency.max(0.0));
        }
        let n = sent.len() as u64;
        metrics::counter!(PUBLISHED).increment(n);
        self.status.acknowledged(n);
        self.status.update(|s| s.position = Some(batch.position));
        let positions: Vec<i64> = sent.iter().map(|e| e.position).collect();
        if batch.resend {
            // marked before the next look, which would send them again
            if let Err(err) = self.store.mark_published(&positions).await {
                warn!("cannot mark re-sent events published (they may be sent again): {err}");
            }
        } else {
            marks.add(positions);
        }
        Ok(())
    }

    /// A transaction failed: abort it, count and log its events, park
    /// those Kafka refused for good. What to do next.
    async fn failed_batch(
        &self,
        producer: &RelayProducer,
        tx_failure: TxError,
        deliveries: Vec<super::idempotent::Delivery>,
        mut reports: Vec<(i64, Result<(), Failure>)>,
        sent: &[&OutboxEvent],
        parked_keys: &mut ParkedKeys,
    ) -> BatchError {
        if let TxError::Fatal(reason) = tx_failure {
            return BatchError::Fatal(reason);
        }
        metrics::counter!(PUBLISH_FAILURES).increment(sent.len() as u64);
        let aborted = self.abort(producer).await;
        reports.extend(join_all(deliveries).await);
        for (position, result) in reports {
            let Err(failure) = result else { continue };
            let Some(outbox) = sent.iter().find(|e| e.position == position) else {
                continue;
            };
            let event = &outbox.event;
            match failure {
                Failure::Permanent(reason) => {
                    if let Err(err) = self
                        .park(
                            producer,
                            parked_keys,
                            vec![(*outbox).clone()],
                            &format!("Kafka refused it: {reason}"),
                        )
                        .await
                    {
                        return BatchError::Retry(err.to_string());
                    }
                }
                Failure::Passing(reason) => {
                    warn!(job.id = %event.job_id, event.id = %event.event_id,
                        "Kafka did not accept event {} ({} #{} of job {}), retrying its transaction: {tx_failure} (the event: {reason})",
                        event.event_id, event.event_type, event.sequence, event.job_id);
                }
            }
        }
        match aborted {
            Ok(()) => BatchError::Retry(tx_failure.to_string()),
            Err(TxError::Fatal(reason)) => BatchError::Fatal(reason),
            Err(TxError::Passing(reason)) => BatchError::NewProducer(format!(
                "{tx_failure}; the abort failed too ({reason}): starting a new producer"
            )),
        }
    }

    async fn abort(&self, producer: &RelayProducer) -> Result<(), TxError> {
        let timeout = Duration::from_millis(self.settings.message_timeout_ms.max(1000) + 5000);
        let abort = producer.clone();
        tokio::task::spawn_blocking(move || abort.abort_transaction(timeout))
            .await
            .map_err(|e| TxError::Passing(e.to_string()))?
            .map_err(|e| tx_error(producer, &e))
    }
}

/// The last position record of this relay's transactional id, read with a
/// `read_committed` consumer: the newest committed one is the largest
/// (positions only grow). Looks back `POSITION_LOOKBACK` records at a time.
fn read_position(settings: &KafkaSettings) -> Result<Option<PositionRecord>, KafkaError> {
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

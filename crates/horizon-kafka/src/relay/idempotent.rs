//! The at-least-once relay: an idempotent producer, at most one event per
//! job and stream with it at a time.
//!
//! **Order.** A job's events must never appear on a topic out of order, even
//! when deliveries fail part-way. librdkafka alone cannot promise that: a
//! message that times out, or a batch the broker refuses, can fail while a
//! later message of the same partition is delivered. So the relay keeps at
//! most one event per (job, stream) with the producer: the next event of that
//! job and stream is handed over only once Kafka acknowledged the previous
//! one. Different jobs are independent, so thousands of events are in flight
//! at once (one per job) and a failure holds back only the job it belongs to.
//!
//! An event that fails for a passing reason (broker away, timeout) is
//! retried with capped exponential backoff, alone; every other job keeps
//! flowing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use horizon_store::OutboxEvent;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureRecord, Producer};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};
use uuid::Uuid;

use super::partitions::Partitions;
use super::window::{Marks, Window};
use super::{
    Ended, Failure, IDLE_WAIT, Relay, RelayProducer, SETTLE_ON_STOP, classify, key_of,
    stop_requested,
};
use crate::KafkaError;
use crate::message::{Headers, record_headers};
use crate::metric_names::{PUBLISH_FAILURES, PUBLISH_LATENCY, PUBLISH_RETRIES};

pub(super) type Delivery = Pin<Box<dyn Future<Output = (i64, Result<(), Failure>)> + Send>>;

/// What ended a run of the publishing loop.
enum Published {
    Stopped,
    /// The producer hit a fatal error and must be replaced.
    Fatal(String),
}

impl Relay {
    /// Relay at least once until stopped.
    pub(super) async fn run_idempotent(&self, stop: &mut watch::Receiver<bool>) -> Ended {
        let mut window = Window::default();
        // (kept across producers: the window's full partitions need it)
        let mut partitions = Partitions::default();
        // later events of a job and stream with a parked event park too,
        // across restarts
        loop {
            match self.load_parked_keys().await {
                Ok(keys) => {
                    window.parked_keys = keys;
                    break;
                }
                Err(err) => {
                    warn!("cannot read parked events, retrying: {err}");
                    self.failed(&err.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_WAIT) => {}
                        () = stop_requested(stop) => return Ended::Stopped,
                    }
                }
            }
        }
        let mut failures = 0;
        loop {
            let producer = match self.producer(0) {
                Ok(p) => p,
                Err(err) => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    error!("cannot create the Kafka producer, retrying in {delay:?}: {err}");
                    self.failed(&err.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        () = stop_requested(stop) => return Ended::Stopped,
                    }
                }
            };
            window.reset();
            match self
                .publish(&producer, &mut window, &mut partitions, stop)
                .await
            {
                Published::Stopped => return Ended::Stopped,
                Published::Fatal(reason) => {
                    error!("the Kafka producer hit a fatal error ({reason}); starting a new one");
                    self.failed(&reason);
                }
            }
        }
    }

    /// Publish until stopped or until the producer fails fatally.
    async fn publish(
        &self,
        producer: &RelayProducer,
        window: &mut Window,
        partitions: &mut Partitions,
        stop: &mut watch::Receiver<bool>,
    ) -> Published {
        let mut in_flight: FuturesUnordered<Delivery> = FuturesUnordered::new();
        let mut stopping_since: Option<Instant> = None;
        let mut marks = Marks::default();
        loop {
            marks.pump(self, window).await;
            partitions.refresh(producer, &self.settings).await;
            if window.may_rewind(self.partition_bound(partitions)) {
                // what was acknowledged is marked first: read again, it
                // would be sent twice
                marks.flush(self, window).await;
                window.rewind(self.partition_bound(partitions));
            }
            let stopping = *stop.borrow();
            if stopping && stopping_since.is_none() {
                info!(
                    "relay stopping: settling {} event(s) in flight",
                    in_flight.len()
                );
                stopping_since = Some(Instant::now());
            }
            if stopping
                && (in_flight.is_empty()
                    || stopping_since.is_some_and(|s| s.elapsed() > SETTLE_ON_STOP))
            {
                marks.flush(self, window).await;
                return Published::Stopped;
            }
            if !stopping {
                if self.status.rescan.swap(false, Ordering::SeqCst) {
                    // un-parked events lie behind the cursor
                    window.cursor = 0;
                    window.caught_up = false;
                    match self.load_parked_keys().await {
                        Ok(keys) => window.parked_keys = keys,
                        Err(err) => {
                            warn!("cannot read parked events: {err}");
                            self.status.rescan.store(true, Ordering::SeqCst);
                        }
                    }
                }
                if let Err(err) = self.fill(producer, window, partitions).await {
                    self.outbox_unreadable(&err, stop).await;
                    continue;
                }
                let next_retry = window.due(Instant::now());
                self.send_ready(producer, window, &mut in_flight).await;
                if in_flight.is_empty() {
                    if window.pending.is_empty() {
                        self.status.update(|s| s.set_state("idle"));
                    }
                    let wait = next_retry
                        .map_or(IDLE_WAIT, |at| at.saturating_duration_since(Instant::now()))
                        .min(IDLE_WAIT);
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(wait) => {}
                        () = stop_requested(stop) => {}
                    }
                    window.caught_up = false;
                    continue;
                }
            }
            self.status.update(|s| s.set_state("publishing"));
            // wait for one report (or for new work), then take every report
            // that is in, so marks are written in groups
            let mut done = Vec::new();
            tokio::select! {
                Some(report) = in_flight.next() => done.push(report),
                () = self.wake.notified(), if !stopping && self.has_room(window) => {
                    window.caught_up = false;
                }
                () = stop_requested(stop), if !stopping => {}
                () = tokio::time::sleep(IDLE_WAIT) => window.caught_up = false,
            }
            while let Some(Some(report)) = in_flight.next().now_or_never() {
                done.push(report);
            }
            let (delivered, parking) = self.settle(producer, window, done).await;
            // (what Kafka acknowledged is marked even when parking failed)
            marks.add(delivered);
            if let Err(err) = parking {
                warn!("cannot park events: {err}");
                self.failed(&err.to_string());
                window.cursor = 0;
                window.caught_up = false;
            }
            marks.pump(self, window).await;
            if let Some((code, reason)) = producer.client().fatal_error() {
                // wait for every report before the producer is dropped
                let rest: Vec<_> = in_flight.collect().await;
                let (delivered, parking) = self.settle(producer, window, rest).await;
                marks.add(delivered);
                if let Err(err) = parking {
                    warn!("cannot park events: {err}");
                }
                marks.flush(self, window).await;
                return Published::Fatal(format!("{code}: {reason}"));
            }
        }
    }

    /// Events of one partition the window takes at most: its share of the
    /// window, so that partitions without a leader can never fill it.
    fn partition_bound(&self, partitions: &Partitions) -> usize {
        let share = self.settings.window_events / partitions.total().max(1);
        self.settings.window_per_partition.min(share).max(1)
    }

    fn has_room(&self, window: &Window) -> bool {
        window.pending.len() < self.settings.window_events
            && window.bytes < self.settings.window_bytes
    }

    /// Read more of the outbox into the window.
    async fn fill(
        &self,
        producer: &RelayProducer,
        window: &mut Window,
        partitions: &Partitions,
    ) -> Result<(), KafkaError> {
        while !window.caught_up && self.has_room(window) {
            let events = self
                .store
                .unpublished_events(window.cursor, self.settings.batch_size)
                .await?;
            let Some(last) = events.last() else {
                window.caught_up = true;
                break;
            };
            window.cursor = last.position;
            let full = events.len() == self.settings.batch_size as usize;
            let mut behind: Vec<(OutboxEvent, Uuid)> = Vec::new();
            for outbox in events {
                match window.parked_keys.get(&key_of(&outbox)) {
                    Some(cause) => behind.push((outbox, *cause)),
                    None => {
                        let partition = partitions.of(&self.settings, &outbox);
                        window.add(outbox, partition, self.partition_bound(partitions));
                    }
                }
            }
            for (outbox, cause) in behind {
                self.park(
                    producer,
                    &mut window.parked_keys,
                    vec![outbox],
                    &format!("held behind parked event {cause} of the same job"),
                )
                .await?;
            }
            if !full {
                window.caught_up = true;
            }
        }
        Ok(())
    }

    /// Hand every ready head to the producer.
    async fn send_ready(
        &self,
        producer: &RelayProducer,
        window: &mut Window,
        in_flight: &mut FuturesUnordered<Delivery>,
    ) {
        while let Some(position) = window.ready.pop_first() {
            let Some(pending) = window.pending.get(&position) else {
                continue;
            };
            if pending.failures > 0 {
                metrics::counter!(PUBLISH_RETRIES).increment(1);
            }
            let partition = pending.partition.as_ref().map(|k| k.1);
            match self.enqueue(producer, &pending.outbox, partition).await {
                Ok(delivery) => in_flight.push(delivery),
                Err(failure) => in_flight.push(Box::pin(async move { (position, Err(failure)) })),
            }
        }
    }

    /// Record delivery reports: the acknowledged events (to mark
    /// published), and retry or park the others. Parking may fail (the
    /// store is away); the acknowledged events are returned all the same.
    async fn settle(
        &self,
        producer: &RelayProducer,
        window: &mut Window,
        reports: Vec<(i64, Result<(), Failure>)>,
    ) -> (Vec<i64>, Result<(), KafkaError>) {
        let mut delivered = Vec::with_capacity(reports.len());
        let mut refused = Vec::new();
        let now = OffsetDateTime::now_utc();
        for (position, result) in reports {
            match result {
                Ok(()) => {
                    if let Some(pending) = window.acked(position) {
                        let latency = (now - pending.outbox.created_at).as_seconds_f64();
                        metrics::histogram!(PUBLISH_LATENCY).record(latency.max(0.0));
                        delivered.push(position);
                    }
                }
                Err(Failure::Passing(reason)) => {
                    let Some(pending) = window.pending.get_mut(&position) else {
                        continue;
                    };
                    pending.failures += 1;
                    let delay = self.backoff(pending.failures);
                    let event = &pending.outbox.event;
                    metrics::counter!(PUBLISH_FAILURES).increment(1);
                    warn!(job.id = %event.job_id, event.id = %event.event_id,
                        "Kafka did not accept event {} ({} #{} of job {}), retrying in {delay:?}: {reason}",
                        event.event_id, event.event_type, event.sequence, event.job_id);
                    self.failed(&reason);
                    window.retry_later(position, Instant::now() + delay);
                }
                Err(Failure::Permanent(reason)) => refused.push((position, reason)),
            }
        }
        let mut parking = Ok(());
        for (position, reason) in refused {
            metrics::counter!(PUBLISH_FAILURES).increment(1);
            if let Err(err) = self.park_refused(producer, window, position, &reason).await {
                parking = Err(err);
            }
        }
        (delivered, parking)
    }

    /// Park an event Kafka refused for good, and its job's later events.
    async fn park_refused(
        &self,
        producer: &RelayProducer,
        window: &mut Window,
        position: i64,
        reason: &str,
    ) -> Result<(), KafkaError> {
        let taken = window.take_key(position);
        let Some(cause) = taken.first() else {
            return Ok(());
        };
        let cause_id = cause.outbox.event.event_id;
        window.parked_keys.insert(key_of(&cause.outbox), cause_id);
        let mut taken = taken.into_iter().map(|p| p.outbox);
        if let Some(first) = taken.next() {
            self.park(
                producer,
                &mut window.parked_keys,
                vec![first],
                &format!("Kafka refused it: {reason}"),
            )
            .await?;
        }
        let rest: Vec<_> = taken.collect();
        if !rest.is_empty() {
            self.park(
                producer,
                &mut window.parked_keys,
                rest,
                &format!("held behind parked event {cause_id} of the same job"),
            )
            .await?;
        }
        Ok(())
    }

    /// Put one event on the producer's queue, waiting while the queue is full.
    pub(super) async fn enqueue(
        &self,
        producer: &RelayProducer,
        outbox: &OutboxEvent,
        partition: Option<i32>,
    ) -> Result<Delivery, Failure> {
        let event = &outbox.event;
        let position = outbox.position;
        let headers = Headers::of(event)
            .map_err(|e| Failure::Permanent(format!("stored envelope is not valid: {e}")))?;
        let topic = self.settings.topic_of(event.stream);
        loop {
            let mut record = FutureRecord::to(topic)
                .key(&headers.job_id)
                .payload(&event.envelope)
                .headers(record_headers(&headers, &self.settings.source));
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            match producer.send_result(record) {
                Ok(future) => {
                    return Ok(Box::pin(async move {
                        let result = match future.await {
                            Ok(Ok(_delivery)) => Ok(()),
                            Ok(Err((err, _message))) => Err(classify(&err)),
                            Err(_canceled) => Err(Failure::Passing(
                                "the producer was dropped before delivery".to_owned(),
                            )),
                        };
                        (position, result)
                    }));
                }
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((err, _)) => return Err(classify(&err)),
            }
        }
    }
}

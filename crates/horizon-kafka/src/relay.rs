//! The relay loop: outbox → Kafka → marked published (or parked).
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
//! **Containment.** An event that fails for a passing reason (broker away,
//! timeout) is retried with capped exponential backoff, alone; every other
//! job keeps flowing. An event Kafka refuses for good (too large for the
//! topic, not authorized, invalid) is *parked*: set aside in the store with
//! the reason, announced on the dead-letter topic, counted, and shown on
//! `/readyz`; the later events of the same job and stream are parked behind
//! it, so nothing overtakes it. `horizon events retry-parked` sends them
//! again, in order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use horizon_core::EventStream;
use horizon_store::{OutboxEvent, Store};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::message::{Headers, record_headers};
use crate::metric_names::{PARKED, PUBLISH_FAILURES, PUBLISH_LATENCY, PUBLISH_RETRIES, PUBLISHED};
use crate::{KafkaError, KafkaSettings, ensure_topics};

/// How long an idle relay waits for a wake-up before looking anyway.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Events held in memory between the outbox and Kafka, at most.
const WINDOW: usize = 20_000;

/// How long a stopping relay waits for what it has in flight.
const SETTLE_ON_STOP: Duration = Duration::from_secs(15);

/// What the relay is doing, for `/readyz` and logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelaySnapshot {
    /// `starting`, `idle`, `publishing`, `retrying`, `unreachable` (the
    /// Kafka client cannot reach the brokers) or `stopped`
    pub state: &'static str,
    pub last_error: Option<String>,
    /// When the Kafka client last reported it could not reach the brokers
    /// (RFC 3339); cleared by the next acknowledgement.
    pub unreachable_since: Option<String>,
    /// When Kafka last acknowledged an event (RFC 3339).
    pub last_ack: Option<String>,
    pub published: u64,
    pub failures: u64,
    /// Events Kafka refused for good, waiting for `horizon events retry-parked`.
    pub parked: u64,
    pub last_parked_reason: Option<String>,
}

impl RelaySnapshot {
    /// Change the state, unless the brokers are unreachable: that stays
    /// until Kafka acknowledges something again.
    fn set_state(&mut self, state: &'static str) {
        if self.unreachable_since.is_none() {
            self.state = state;
        }
    }
}

#[derive(Debug, Default)]
pub struct RelayStatus {
    snapshot: Mutex<RelaySnapshot>,
    /// Set when parked events were un-parked: the relay reads the outbox again
    /// from its oldest event.
    rescan: AtomicBool,
}

impl RelayStatus {
    pub fn snapshot(&self) -> RelaySnapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut RelaySnapshot)) {
        f(&mut self.snapshot.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Parked events were un-parked (`count` of them): send them again.
    pub fn unparked(&self, count: u64) {
        self.update(|s| s.parked = s.parked.saturating_sub(count));
        self.rescan.store(true, Ordering::SeqCst);
    }
}

/// The Kafka client's own reports: an unreachable broker shows on
/// `/readyz` within seconds, not only when a message times out.
#[derive(Debug)]
pub struct RelayContext {
    status: Arc<RelayStatus>,
}

impl rdkafka::client::ClientContext for RelayContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode::{AllBrokersDown, BrokerTransportFailure};
        let transport = matches!(
            error.rdkafka_error_code(),
            Some(AllBrokersDown | BrokerTransportFailure)
        );
        warn!("Kafka client: {error}: {reason}");
        if transport {
            let at = horizon_core::timestamp::format(OffsetDateTime::now_utc());
            self.status.update(|s| {
                s.state = "unreachable";
                s.last_error = Some(format!("{error}: {reason}"));
                s.unreachable_since.get_or_insert(at);
            });
        }
    }
}

/// The relay's producer, with its context.
type RelayProducer = FutureProducer<RelayContext>;

#[derive(Debug, Clone)]
pub struct Relay {
    store: Arc<dyn Store>,
    settings: KafkaSettings,
    wake: Arc<Notify>,
    status: Arc<RelayStatus>,
}

type Key = (Uuid, EventStream);

fn key_of(outbox: &OutboxEvent) -> Key {
    (outbox.event.job_id, outbox.event.stream)
}

/// How often a standby process asks for the relay's leadership.
const LEADERSHIP_RETRY: Duration = Duration::from_secs(2);
/// How often the leader checks it still leads.
const LEADERSHIP_CHECK: Duration = Duration::from_secs(3);

/// Why a delivery failed.
enum Failure {
    /// Retrying cannot help: park the event.
    Permanent(String),
    /// Try again after a backoff.
    Passing(String),
}

fn classify(err: &RdKafkaError) -> Failure {
    use RDKafkaErrorCode as C;
    match err.rdkafka_error_code() {
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::MessageBatchTooLarge
            | C::InvalidRecord
            | C::InvalidTopic
            | C::TopicAuthorizationFailed
            | C::PolicyViolation,
        ) => Failure::Permanent(err.to_string()),
        _ => Failure::Passing(err.to_string()),
    }
}

type Delivery = Pin<Box<dyn Future<Output = (i64, Result<(), Failure>)> + Send>>;

/// An event read from the outbox and not yet published or parked.
struct Pending {
    outbox: OutboxEvent,
    failures: u32,
}

/// The events between the outbox and Kafka's acknowledgements.
#[derive(Default)]
struct Window {
    /// The last position read from the outbox.
    cursor: i64,
    pending: HashMap<i64, Pending>,
    /// Per job and stream, its events in order; the head is the one with
    /// the producer, or waiting to be (re)sent.
    queues: HashMap<Key, VecDeque<i64>>,
    /// Heads that may be sent now, oldest first.
    ready: BTreeSet<i64>,
    /// Heads waiting out a backoff after a passing failure.
    retry: Vec<(Instant, i64)>,
    /// Jobs and streams with a parked event: their later events park too.
    parked_keys: HashMap<Key, Uuid>,
    /// The last read reached the end of the outbox and no commit was
    /// signalled since: reading again would find nothing.
    caught_up: bool,
}

impl Window {
    /// Take an event read from the outbox; false if it is already here.
    fn add(&mut self, outbox: OutboxEvent) -> bool {
        let position = outbox.position;
        if self.pending.contains_key(&position) {
            return false;
        }
        let queue = self.queues.entry(key_of(&outbox)).or_default();
        if queue.is_empty() {
            self.ready.insert(position);
        }
        queue.push_back(position);
        self.pending.insert(
            position,
            Pending {
                outbox,
                failures: 0,
            },
        );
        true
    }

    /// Kafka acknowledged the head of its queue: the next one may go.
    fn acked(&mut self, position: i64) -> Option<Pending> {
        let pending = self.pending.remove(&position)?;
        let key = key_of(&pending.outbox);
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|p| *p != position);
            match queue.front() {
                Some(next) => {
                    self.ready.insert(*next);
                }
                None => {
                    self.queues.remove(&key);
                }
            }
        }
        Some(pending)
    }

    /// Remove the whole queue of `position`'s job and stream (it is parked).
    fn take_key(&mut self, position: i64) -> Vec<Pending> {
        let Some(key) = self.pending.get(&position).map(|p| key_of(&p.outbox)) else {
            return Vec::new();
        };
        let queue = self.queues.remove(&key).unwrap_or_default();
        queue
            .into_iter()
            .filter_map(|p| {
                self.ready.remove(&p);
                self.retry.retain(|(_, r)| *r != p);
                self.pending.remove(&p)
            })
            .collect()
    }

    fn retry_later(&mut self, position: i64, at: Instant) {
        self.retry.push((at, position));
    }

    /// Move heads whose backoff is over to `ready`; when the next one is due.
    fn due(&mut self, now: Instant) -> Option<Instant> {
        let mut next = None::<Instant>;
        let ready = &mut self.ready;
        self.retry.retain(|(at, position)| {
            if *at <= now {
                ready.insert(*position);
                false
            } else {
                next = Some(next.map_or(*at, |n| n.min(*at)));
                true
            }
        });
        next
    }

    /// Every head back to ready (a new producer; nothing is in flight).
    fn reset(&mut self) {
        self.retry.clear();
        self.ready = self
            .queues
            .values()
            .filter_map(|q| q.front().copied())
            .collect();
    }
}

/// Marking acknowledged events published, in the background: one store
/// write at a time, gathering what Kafka acknowledged meanwhile, so the
/// relay keeps sending while the mark commits.
#[derive(Default)]
struct Marks {
    pending: Vec<i64>,
    running: Option<tokio::task::JoinHandle<Result<(), horizon_store::StoreError>>>,
}

impl Marks {
    fn add(&mut self, delivered: Vec<i64>) {
        self.pending.extend(delivered);
    }

    /// Take the result of a finished mark, start the next one.
    async fn pump(&mut self, relay: &Relay, window: &mut Window) {
        if let Some(task) = &self.running {
            if !task.is_finished() {
                return;
            }
            if let Some(task) = self.running.take() {
                Self::result(relay, window, task.await);
            }
        }
        if self.pending.is_empty() {
            return;
        }
        let positions = std::mem::take(&mut self.pending);
        let (store, status, wake) = (
            relay.store.clone(),
            relay.status.clone(),
            relay.wake.clone(),
        );
        self.running = Some(tokio::spawn(async move {
            store.mark_published(&positions).await?;
            let acked = positions.len() as u64;
            metrics::counter!(PUBLISHED).increment(acked);
            let at = horizon_core::timestamp::format(OffsetDateTime::now_utc());
            status.update(|s| {
                s.published += acked;
                s.last_ack = Some(at);
                if s.unreachable_since.take().is_some() && s.state == "unreachable" {
                    s.state = "publishing";
                }
            });
            // let the relay start the next mark at once
            wake.notify_one();
            Ok(())
        }));
    }

    /// Wait for the mark in progress and mark what is left.
    async fn flush(&mut self, relay: &Relay, window: &mut Window) {
        if let Some(task) = self.running.take() {
            Self::result(relay, window, task.await);
        }
        self.pump(relay, window).await;
        if let Some(task) = self.running.take() {
            Self::result(relay, window, task.await);
        }
    }

    fn result(
        relay: &Relay,
        window: &mut Window,
        result: Result<Result<(), horizon_store::StoreError>, tokio::task::JoinError>,
    ) {
        let err = match result {
            Ok(Ok(())) => return,
            Ok(Err(err)) => err.to_string(),
            Err(err) => err.to_string(),
        };
        // the marks did not happen: the events stay unpublished and are read
        // and sent again (a duplicate, never a loss)
        warn!("cannot mark events published: {err}");
        relay.failed(&err);
        window.cursor = 0;
        window.caught_up = false;
    }
}

/// Resolves once a stop is requested; never, if nobody can request one.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What ended a run of the publishing loop.
enum Ended {
    Stopped,
    /// The producer hit a fatal error and must be replaced.
    Fatal(String),
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

    fn backoff(&self, failures: u32) -> Duration {
        let initial = self.settings.initial_backoff_ms.max(1);
        let factor = 2u64.saturating_pow(failures.saturating_sub(1).min(30));
        Duration::from_millis(
            initial
                .saturating_mul(factor)
                .min(self.settings.max_backoff_ms),
        )
    }

    fn failed(&self, err: &str) {
        self.status.update(|s| {
            s.set_state("retrying");
            s.last_error = Some(err.to_owned());
            s.failures += 1;
        });
    }

    /// Run until `stop` turns true; then settle what is in flight and return.
    /// With several processes on one database only one relays at a time:
    /// this one waits until it holds the relay's leadership, relays while it
    /// does, and goes back to waiting if it loses it (its database
    /// connection broke); another takes over when the leader dies.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let mut guard = loop {
                match self.store.relay_leadership().await {
                    Ok(Some(guard)) => break guard,
                    Ok(None) => self.status.update(|s| s.set_state("standby")),
                    Err(err) => {
                        warn!("cannot ask for the relay's leadership: {err}");
                        self.failed(&err.to_string());
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(LEADERSHIP_RETRY) => {}
                    () = stop_requested(&mut stop) => return self.stopped(),
                }
            };
            info!("this process relays the outbox");
            // stop the leading run when asked to, or when leadership is lost
            let (lead_stop, lead_stopped) = watch::channel(false);
            let mut outer = stop.clone();
            let watchdog = tokio::spawn(async move {
                let lost = loop {
                    tokio::select! {
                        () = stop_requested(&mut outer) => break false,
                        _ = tokio::time::sleep(LEADERSHIP_CHECK) => {
                            if !guard.still_held().await {
                                break true;
                            }
                        }
                    }
                };
                let _ = lead_stop.send(true);
                (lost, guard)
            });
            self.clone().run_leading(lead_stopped).await;
            match watchdog.await {
                Ok((true, _)) => {
                    warn!("the relay's leadership was lost; waiting to get it back");
                }
                _ => return,
            }
        }
    }

    async fn run_leading(self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0;
        while self.settings.create_topics
            && let Err(err) = ensure_topics(&self.settings).await
        {
            failures += 1;
            let delay = self.backoff(failures);
            warn!(
                "cannot create Kafka topics on {} yet, retrying in {delay:?}: {err}",
                self.settings.brokers
            );
            self.failed(&err.to_string());
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                () = stop_requested(&mut stop) => return self.stopped(),
            }
        }
        info!(brokers = %self.settings.brokers, "relaying events to Kafka topics {}, {} and {}",
            self.settings.lifecycle_topic, self.settings.metrics_topic, self.settings.audit_topic);
        let mut window = Window::default();
        // later events of a job and stream with a parked event park too,
        // across restarts
        while let Err(err) = self.load_parked_keys(&mut window).await {
            warn!("cannot read parked events, retrying: {err}");
            self.failed(&err.to_string());
            tokio::select! {
                _ = tokio::time::sleep(IDLE_WAIT) => {}
                () = stop_requested(&mut stop) => return self.stopped(),
            }
        }
        let mut failures = 0;
        loop {
            let context = RelayContext {
                status: self.status.clone(),
            };
            let producer = match self
                .settings
                .producer_config()
                .create_with_context::<_, RelayProducer>(context)
            {
                Ok(p) => p,
                Err(err) => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    error!("cannot create the Kafka producer, retrying in {delay:?}: {err}");
                    self.failed(&err.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        () = stop_requested(&mut stop) => return self.stopped(),
                    }
                }
            };
            window.reset();
            match self.publish(&producer, &mut window, &mut stop).await {
                Ended::Stopped => return self.stopped(),
                Ended::Fatal(reason) => {
                    error!("the Kafka producer hit a fatal error ({reason}); starting a new one");
                    self.failed(&reason);
                }
            }
        }
    }

    fn stopped(&self) {
        self.status.update(|s| s.state = "stopped");
        info!("relay stopped");
    }

    /// Publish until stopped or until the producer fails fatally.
    async fn publish(
        &self,
        producer: &RelayProducer,
        window: &mut Window,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        let mut in_flight: FuturesUnordered<Delivery> = FuturesUnordered::new();
        let mut stopping_since: Option<Instant> = None;
        let mut marks = Marks::default();
        loop {
            marks.pump(self, window).await;
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
                return Ended::Stopped;
            }
            if !stopping {
                if self.status.rescan.swap(false, Ordering::SeqCst) {
                    // un-parked events lie behind the cursor
                    window.cursor = 0;
                    window.caught_up = false;
                    if let Err(err) = self.load_parked_keys(window).await {
                        warn!("cannot read parked events: {err}");
                        self.status.rescan.store(true, Ordering::SeqCst);
                    }
                }
                if let Err(err) = self.fill(window).await {
                    warn!("cannot read the outbox: {err}");
                    self.failed(&err.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_WAIT) => {}
                        () = stop_requested(stop) => {}
                    }
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
                () = self.wake.notified(), if !stopping && window.pending.len() < WINDOW => {
                    window.caught_up = false;
                }
                () = stop_requested(stop), if !stopping => {}
                () = tokio::time::sleep(IDLE_WAIT) => window.caught_up = false,
            }
            while let Some(Some(report)) = in_flight.next().now_or_never() {
                done.push(report);
            }
            match self.settle(window, done).await {
                Ok(delivered) => marks.add(delivered),
                Err(err) => {
                    warn!("cannot park events: {err}");
                    self.failed(&err.to_string());
                    window.cursor = 0;
                    window.caught_up = false;
                }
            }
            marks.pump(self, window).await;
            if let Some((code, reason)) = producer.client().fatal_error() {
                // wait for every report before the producer is dropped
                let rest: Vec<_> = in_flight.collect().await;
                match self.settle(window, rest).await {
                    Ok(delivered) => marks.add(delivered),
                    Err(err) => warn!("cannot park events: {err}"),
                }
                marks.flush(self, window).await;
                return Ended::Fatal(format!("{code}: {reason}"));
            }
        }
    }

    /// Which jobs and streams have a parked event, from the store.
    async fn load_parked_keys(&self, window: &mut Window) -> Result<(), KafkaError> {
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
        window.parked_keys = keys;
        Ok(())
    }

    /// Read more of the outbox into the window.
    async fn fill(&self, window: &mut Window) -> Result<(), KafkaError> {
        while !window.caught_up && window.pending.len() < WINDOW {
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
                        window.add(outbox);
                    }
                }
            }
            for (outbox, cause) in behind {
                self.park(
                    window,
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
            match self.enqueue(producer, &pending.outbox).await {
                Ok(delivery) => in_flight.push(delivery),
                Err(failure) => in_flight.push(Box::pin(async move { (position, Err(failure)) })),
            }
        }
    }

    /// Record delivery reports: mark the acknowledged events published, and
    /// retry or park the others.
    async fn settle(
        &self,
        window: &mut Window,
        reports: Vec<(i64, Result<(), Failure>)>,
    ) -> Result<Vec<i64>, KafkaError> {
        let mut delivered = Vec::with_capacity(reports.len());
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
                Err(Failure::Permanent(reason)) => {
                    metrics::counter!(PUBLISH_FAILURES).increment(1);
                    let taken = window.take_key(position);
                    let Some(cause) = taken.first() else { continue };
                    let cause_id = cause.outbox.event.event_id;
                    window.parked_keys.insert(key_of(&cause.outbox), cause_id);
                    let mut taken = taken.into_iter().map(|p| p.outbox);
                    if let Some(first) = taken.next() {
                        self.park(window, vec![first], &format!("Kafka refused it: {reason}"))
                            .await?;
                    }
                    let rest: Vec<_> = taken.collect();
                    if !rest.is_empty() {
                        self.park(
                            window,
                            rest,
                            &format!("held behind parked event {cause_id} of the same job"),
                        )
                        .await?;
                    }
                }
            }
        }
        Ok(delivered)
    }

    /// Set events aside for good: in the store, on the dead-letter topic, in
    /// the counters.
    async fn park(
        &self,
        window: &mut Window,
        events: Vec<OutboxEvent>,
        reason: &str,
    ) -> Result<(), KafkaError> {
        let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
        self.store.park_events(&positions, reason).await?;
        for outbox in &events {
            let event = &outbox.event;
            window
                .parked_keys
                .entry(key_of(outbox))
                .or_insert(event.event_id);
            error!(job.id = %event.job_id, event.id = %event.event_id,
                "parked event {} ({} #{} of job {}): {reason}",
                event.event_id, event.event_type, event.sequence, event.job_id);
        }
        self.announce_parked(&events, reason).await;
        metrics::counter!(PARKED).increment(events.len() as u64);
        let n = events.len() as u64;
        self.status.update(|s| {
            s.parked += n;
            s.last_parked_reason = Some(reason.to_owned());
        });
        Ok(())
    }

    /// A small notice per parked event on the dead-letter topic, best effort:
    /// the store is the durable record.
    async fn announce_parked(&self, events: &[OutboxEvent], reason: &str) {
        let topic = &self.settings.dead_letter_topic;
        if topic.is_empty() {
            return;
        }
        let Ok(producer) = self.settings.producer_config().create::<FutureProducer>() else {
            return;
        };
        let parked_at = horizon_core::timestamp::format(OffsetDateTime::now_utc());
        for outbox in events {
            let event = &outbox.event;
            let notice = serde_json::json!({
                "event_id": event.event_id,
                "job_id": event.job_id,
                "event_type": event.event_type.as_str(),
                "stream": event.stream.as_str(),
                "sequence": event.sequence,
                "topic": self.topic_of(event.stream),
                "reason": reason,
                "parked_at": parked_at,
                "envelope_bytes": event.envelope.len(),
            });
            let payload = notice.to_string();
            let key = event.job_id.to_string();
            let record = FutureRecord::to(topic).key(&key).payload(&payload);
            if let Err((err, _)) = producer.send(record, Duration::from_secs(5)).await {
                warn!(
                    "cannot announce parked event {} on {topic}: {err}",
                    event.event_id
                );
            }
        }
    }

    fn topic_of(&self, stream: EventStream) -> &str {
        match stream {
            EventStream::Lifecycle => &self.settings.lifecycle_topic,
            EventStream::Metrics => &self.settings.metrics_topic,
            EventStream::Audit => &self.settings.audit_topic,
        }
    }

    /// Put one event on the producer's queue, waiting while the queue is full.
    async fn enqueue(
        &self,
        producer: &RelayProducer,
        outbox: &OutboxEvent,
    ) -> Result<Delivery, Failure> {
        let event = &outbox.event;
        let position = outbox.position;
        let headers = Headers::of(event)
            .map_err(|e| Failure::Permanent(format!("stored envelope is not valid: {e}")))?;
        let topic = self.topic_of(event.stream);
        loop {
            let record = FutureRecord::to(topic)
                .key(&headers.job_id)
                .payload(&event.envelope)
                .headers(record_headers(&headers, &self.settings.source));
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

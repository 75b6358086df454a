//! The relay: outbox → Kafka, in per-job order, by the one process that
//! holds the relay's leadership.
//!
//! **Leadership** (`run`). Several processes may share a database; one
//! relays. It holds the store's leadership (on PostgreSQL a lease on the
//! database's clock) and renews it every `LEADERSHIP_RENEWAL`; a leader that
//! cannot renew, a relay task that panics, or a producer that Kafka fences
//! gives the role up, and a standby takes it once the lease expires. The
//! leading run and the renewals run in one task, so a panic drops the
//! leadership with everything else (it used to leave a watchdog holding it).
//!
//! **Exactly once** (`transactional.rs`, the default): each batch of events
//! and the relay's position (the last outbox position it covers) are
//! written in one Kafka transaction; on start the relay reads the position
//! back and resumes after it. The store's published marks are a cache of
//! that position. A zombie leader is fenced by Kafka: the next leader's
//! `init_transactions` bumps the producer epoch of the shared
//! `transactional.id`, so the zombie's writes fail and it stops relaying.
//!
//! **At least once** (`idempotent.rs`, `exactly_once = false`): an
//! idempotent producer with at most one event per job and stream in flight;
//! events are marked published once Kafka acknowledged them, so a crash
//! between the two re-sends them (same `ce_id` and `sequence`).
//!
//! **Containment** (both): an event Kafka refuses for good (too large, not
//! authorized, invalid) is *parked* (`parking.rs`): set aside in the store
//! with the reason, announced on the dead-letter topic, counted and shown on
//! `/readyz`; the later events of the same job and stream park behind it,
//! so nothing overtakes it. `horizon events retry-parked` sends them again.

mod batches;
mod held;
mod idempotent;
mod parking;
mod partitions;
mod position;
mod start;
mod transactional;
mod window;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use horizon_core::EventStream;
use horizon_store::{LEADERSHIP_RENEWAL, OutboxEvent, Store};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::{KafkaError, KafkaSettings};

/// How long an idle relay waits for a wake-up before looking anyway.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// How long a stopping relay waits for what it has in flight.
const SETTLE_ON_STOP: Duration = Duration::from_secs(15);

/// How often a standby process asks for the relay's leadership.
const LEADERSHIP_RETRY: Duration = Duration::from_millis(1500);

/// What the relay is doing, for `/readyz` and logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelaySnapshot {
    /// `starting`, `standby`, `idle`, `publishing`, `retrying`,
    /// `unreachable` (the Kafka client cannot reach the brokers) or `stopped`
    pub state: &'static str,
    /// `exactly-once` or `at-least-once`
    pub mode: &'static str,
    /// Whether this process relays (`leader`) or waits (`standby`).
    pub role: &'static str,
    /// The leadership's epoch while this process leads.
    pub leader_epoch: Option<i64>,
    /// When and why this process last lost the relay's role (RFC 3339 and
    /// reason), e.g. fenced by a newer leader after a freeze.
    pub lost_role: Option<String>,
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
    /// Exactly once: the last outbox position committed to Kafka.
    pub position: Option<i64>,
    /// Exactly once: the producer's `transactional.id` (the configured one,
    /// with `.N` once a stuck transaction made the relay move on).
    pub transactional_id: Option<String>,
    /// Exactly once: partitions held back (no leader, or their records
    /// failed), each with the first position not yet in Kafka; their jobs'
    /// events wait while every other partition flows.
    pub held_partitions: Vec<String>,
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

    /// Kafka acknowledged `count` events.
    fn acknowledged(&self, count: u64) {
        let at = horizon_core::timestamp::format(OffsetDateTime::now_utc());
        self.update(|s| {
            s.published += count;
            s.last_ack = Some(at);
            if s.unreachable_since.take().is_some() && s.state == "unreachable" {
                s.state = "publishing";
            }
        });
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

/// The leadership, held by the relay's loop (renewals) and the leading run.
type SharedLeadership = Arc<tokio::sync::Mutex<Box<dyn horizon_store::Leadership>>>;

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

/// Resolves once a stop is requested; never, if nobody can request one.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What ended a leading run.
enum Ended {
    /// Asked to stop (shutdown, or the leadership was lost).
    Stopped,
    /// Kafka fenced this producer: another process leads now.
    Fenced(String),
}

/// Test hook: `HORIZON_TEST_RELAY_PANIC_WHILE_LEADING=1` makes the relay
/// panic once, after it took the leadership and its producer started.
static PANIC_WHILE_LEADING: AtomicBool = AtomicBool::new(true);

fn inject_panic_while_leading() {
    if std::env::var_os("HORIZON_TEST_RELAY_PANIC_WHILE_LEADING").is_some()
        && PANIC_WHILE_LEADING.swap(false, Ordering::SeqCst)
    {
        panic!("injected by HORIZON_TEST_RELAY_PANIC_WHILE_LEADING");
    }
}

impl Relay {
    /// `wake` is notified whenever the store commits an event.
    pub fn new(store: Arc<dyn Store>, settings: KafkaSettings, wake: Arc<Notify>) -> Self {
        let status = Arc::new(RelayStatus::default());
        let mode = if settings.exactly_once {
            "exactly-once"
        } else {
            "at-least-once"
        };
        status.update(|s| {
            s.state = "starting";
            s.mode = mode;
            s.role = "standby";
        });
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

    fn lost_role(&self, reason: &str) {
        let at = horizon_core::timestamp::format(OffsetDateTime::now_utc());
        self.status.update(|s| {
            s.role = "standby";
            s.leader_epoch = None;
            s.state = "standby";
            s.lost_role = Some(format!("{at}: {reason}"));
        });
    }

    /// Run until `stop` turns true; then settle what is in flight and return.
    /// With several processes on one database only one relays at a time:
    /// this one waits until it holds the relay's leadership, relays while it
    /// does, and goes back to waiting when it loses it.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let guard = loop {
                match self.store.relay_leadership().await {
                    Ok(Some(guard)) => break guard,
                    Ok(None) => self.status.update(|s| {
                        s.set_state("standby");
                        s.role = "standby";
                    }),
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
            let epoch = guard.epoch();
            // shared with the leading run, which moves the transactional id
            // to a new generation under it
            let guard: SharedLeadership = Arc::new(tokio::sync::Mutex::new(guard));
            info!(
                epoch,
                "this process relays the outbox (leadership epoch {epoch})"
            );
            self.status.update(|s| {
                s.role = "leader";
                s.leader_epoch = Some(epoch);
            });
            // the leading run and the renewals share this task: a panic
            // drops the leadership along with the run
            let (lead_stop, lead_stopped) = watch::channel(false);
            let mut leading = std::pin::pin!(self.clone().run_leading(lead_stopped, guard.clone()));
            let mut renewals = tokio::time::interval(LEADERSHIP_RENEWAL);
            renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            renewals.tick().await;
            let (mut asked_to_stop, mut lease_lost) = (false, false);
            let ended = loop {
                tokio::select! {
                    ended = &mut leading => break ended,
                    // (renewed while a stopping run settles, too)
                    _ = renewals.tick(), if !lease_lost => {
                        // (the leading run may hold it, moving the
                        // generation, which renews the lease too: waiting
                        // here would stop polling that run)
                        let Ok(mut held) = guard.try_lock() else { continue };
                        if !held.still_held().await {
                            lease_lost = true;
                            let _ = lead_stop.send(true);
                        }
                    }
                    () = stop_requested(&mut stop), if !asked_to_stop => {
                        asked_to_stop = true;
                        let _ = lead_stop.send(true);
                    }
                }
            };
            guard.lock().await.release().await;
            drop(guard);
            match ended {
                Ended::Stopped if asked_to_stop => return self.stopped(),
                Ended::Stopped => {
                    let reason = "the relay's leadership lease could not be renewed (another process may lead now)";
                    error!("{reason}; this process stops relaying and stands by");
                    self.lost_role(reason);
                }
                Ended::Fenced(reason) => {
                    let reason = format!(
                        "Kafka fenced this process's producer ({reason}): another process leads now"
                    );
                    error!("{reason}; this process stops relaying and stands by");
                    self.lost_role(&reason);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(LEADERSHIP_RETRY) => {}
                () = stop_requested(&mut stop) => return self.stopped(),
            }
        }
    }

    async fn run_leading(
        self,
        mut stop: watch::Receiver<bool>,
        leadership: SharedLeadership,
    ) -> Ended {
        info!(brokers = %self.settings.brokers,
            "connecting to Kafka at {} (creating missing topics: {})",
            self.settings.brokers, self.settings.create_topics);
        let mut failures = 0;
        while self.settings.create_topics
            && let Err(err) = crate::topics::ensure_topics_with(
                &self.settings,
                RelayContext {
                    status: self.status.clone(),
                },
            )
            .await
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
                () = stop_requested(&mut stop) => return Ended::Stopped,
            }
        }
        info!(brokers = %self.settings.brokers, mode = self.status.snapshot().mode,
            "relaying events to Kafka topics {}, {} and {}",
            self.settings.lifecycle_topic, self.settings.metrics_topic, self.settings.audit_topic);
        inject_panic_while_leading();
        if self.settings.exactly_once {
            self.run_transactional(&mut stop, &leadership).await
        } else {
            self.run_idempotent(&mut stop).await
        }
    }

    fn stopped(&self) {
        self.status.update(|s| {
            s.state = "stopped";
            s.role = "standby";
        });
        info!("relay stopped");
    }

    /// The outbox could not be read: say so, then wait a moment (or for a stop).
    async fn outbox_unreadable(&self, err: &KafkaError, stop: &mut watch::Receiver<bool>) {
        warn!("cannot read the outbox: {err}");
        self.failed(&err.to_string());
        tokio::select! {
            _ = tokio::time::sleep(IDLE_WAIT) => {}
            () = stop_requested(stop) => {}
        }
    }

    /// A producer; exactly once, with the transactional id of `generation`.
    fn producer(&self, generation: i64) -> Result<RelayProducer, RdKafkaError> {
        let context = RelayContext {
            status: self.status.clone(),
        };
        let mut config = self.settings.producer_config();
        if self.settings.exactly_once {
            config.set(
                "transactional.id",
                self.settings.transactional_id_of(generation),
            );
        }
        config.create_with_context::<_, RelayProducer>(context)
    }
}

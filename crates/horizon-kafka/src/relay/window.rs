//! The at-least-once relay's state: the window of events between the
//! outbox and Kafka's acknowledgements, and the marks written behind it.

use std::collections::{BTreeSet, HashMap, VecDeque};

use horizon_store::OutboxEvent;
use tokio::time::Instant;
use tracing::warn;
use uuid::Uuid;

use super::{Key, Relay, key_of};
use crate::metric_names::PUBLISHED;

/// An event read from the outbox and not yet published or parked.
pub(super) struct Pending {
    pub(super) outbox: OutboxEvent,
    pub(super) failures: u32,
}

/// The events between the outbox and Kafka's acknowledgements.
#[derive(Default)]
pub(super) struct Window {
    /// The last position read from the outbox.
    pub(super) cursor: i64,
    pub(super) pending: HashMap<i64, Pending>,
    /// Per job and stream, its events in order; the head is the one with
    /// the producer, or waiting to be (re)sent.
    pub(super) queues: HashMap<Key, VecDeque<i64>>,
    /// Heads that may be sent now, oldest first.
    pub(super) ready: BTreeSet<i64>,
    /// Heads waiting out a backoff after a passing failure.
    pub(super) retry: Vec<(Instant, i64)>,
    /// Jobs and streams with a parked event: their later events park too.
    pub(super) parked_keys: HashMap<Key, Uuid>,
    /// The last read reached the end of the outbox and no commit was
    /// signalled since: reading again would find nothing.
    pub(super) caught_up: bool,
}

impl Window {
    /// Take an event read from the outbox; false if it is already here.
    pub(super) fn add(&mut self, outbox: OutboxEvent) -> bool {
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
    pub(super) fn acked(&mut self, position: i64) -> Option<Pending> {
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
    pub(super) fn take_key(&mut self, position: i64) -> Vec<Pending> {
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

    pub(super) fn retry_later(&mut self, position: i64, at: Instant) {
        self.retry.push((at, position));
    }

    /// Move heads whose backoff is over to `ready`; when the next one is due.
    pub(super) fn due(&mut self, now: Instant) -> Option<Instant> {
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
    pub(super) fn reset(&mut self) {
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
pub(super) struct Marks {
    pub(super) pending: Vec<i64>,
    running: Option<tokio::task::JoinHandle<Result<(), horizon_store::StoreError>>>,
}

impl Marks {
    pub(super) fn add(&mut self, delivered: Vec<i64>) {
        self.pending.extend(delivered);
    }

    /// Take the result of a finished mark, start the next one.
    pub(super) async fn pump(&mut self, relay: &Relay, window: &mut Window) {
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
            status.acknowledged(acked);
            // let the relay start the next mark at once
            wake.notify_one();
            Ok(())
        }));
    }

    /// Wait for the mark in progress and mark what is left.
    pub(super) async fn flush(&mut self, relay: &Relay, window: &mut Window) {
        if let Some(task) = self.running.take() {
            Self::result(relay, window, task.await);
        }
        self.pump(relay, window).await;
        if let Some(task) = self.running.take() {
            Self::result(relay, window, task.await);
        }
    }

    pub(super) fn result(
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

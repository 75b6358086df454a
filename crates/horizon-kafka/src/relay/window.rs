//! The at-least-once relay's state: the window of events between the
//! outbox and Kafka's acknowledgements, and the marks written behind it.
//!
//! The window is bounded in events, in bytes, and per partition: once a
//! partition has `window_per_partition` events here (its leader is away,
//! say), its later events are left in the store, and every later event of
//! that partition too, so that none overtakes another of its job; when it
//! has drained to half, the window reads the store again from the first
//! event it left of that partition (the other full ones leave theirs again).

use std::collections::{BTreeSet, HashMap, VecDeque};

use horizon_store::OutboxEvent;
use tokio::time::Instant;
use tracing::{debug, warn};
use uuid::Uuid;

use super::partitions::PartKey;
use super::{Key, Relay, key_of};
use crate::metric_names::PUBLISHED;

/// An event read from the outbox and not yet published or parked.
pub(super) struct Pending {
    pub(super) outbox: OutboxEvent,
    pub(super) failures: u32,
    /// Where it goes, when the topic's metadata is known.
    pub(super) partition: Option<PartKey>,
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
    /// Events here per partition, and bytes of all.
    per_partition: HashMap<PartKey, usize>,
    pub(super) bytes: usize,
    /// Partitions that reached their bound, each with the first of its
    /// events left in the store (every later one of it was left too).
    full: HashMap<PartKey, i64>,
}

impl Window {
    /// Take an event read from the outbox, unless its partition is full
    /// (`per_partition` events here, or left before): then it stays in the
    /// store, read again after a rewind. False if not taken.
    pub(super) fn add(
        &mut self,
        outbox: OutboxEvent,
        partition: Option<PartKey>,
        per_partition: usize,
    ) -> bool {
        let position = outbox.position;
        if self.pending.contains_key(&position) {
            return false;
        }
        if let Some(key) = &partition {
            let here = self.per_partition.get(key).copied().unwrap_or(0);
            if self.full.contains_key(key) || here >= per_partition {
                if let std::collections::hash_map::Entry::Vacant(entry) =
                    self.full.entry(key.clone())
                {
                    entry.insert(position);
                    debug!(topic = %key.0, partition = key.1,
                        "partition {} of {} has {here} events waiting: its later events stay in the store until it drains",
                        key.1, key.0);
                }
                return false;
            }
            *self.per_partition.entry(key.clone()).or_default() += 1;
        }
        self.bytes += outbox.event.envelope.len();
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
                partition,
            },
        );
        true
    }

    /// An event leaves the window (acknowledged or parked).
    fn left(&mut self, pending: &Pending) {
        self.bytes = self
            .bytes
            .saturating_sub(pending.outbox.event.envelope.len());
        if let Some(key) = &pending.partition
            && let Some(here) = self.per_partition.get_mut(key)
        {
            *here = here.saturating_sub(1);
            if *here == 0 {
                self.per_partition.remove(key);
            }
        }
    }

    /// Whether a full partition drained to half its bound: then read the
    /// store again from the first event it left (`rewind`), after the
    /// marks of what was acknowledged are written.
    pub(super) fn may_rewind(&self, per_partition: usize) -> bool {
        self.full
            .keys()
            .any(|key| self.per_partition.get(key).copied().unwrap_or(0) <= per_partition / 2)
    }

    pub(super) fn rewind(&mut self, per_partition: usize) {
        let drained: Vec<(PartKey, i64)> = self
            .full
            .iter()
            .filter(|(key, _)| {
                self.per_partition.get(*key).copied().unwrap_or(0) <= per_partition / 2
            })
            .map(|(key, from)| (key.clone(), *from))
            .collect();
        for (key, from) in drained {
            self.full.remove(&key);
            self.cursor = self.cursor.min(from - 1);
            self.caught_up = false;
        }
    }

    /// Kafka acknowledged the head of its queue: the next one may go.
    pub(super) fn acked(&mut self, position: i64) -> Option<Pending> {
        let pending = self.pending.remove(&position)?;
        self.left(&pending);
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
        let taken: Vec<Pending> = queue
            .into_iter()
            .filter_map(|p| {
                self.ready.remove(&p);
                self.retry.retain(|(_, r)| *r != p);
                self.pending.remove(&p)
            })
            .collect();
        for pending in &taken {
            self.left(pending);
        }
        taken
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

#[cfg(test)]
mod tests {
    use horizon_core::{EventStream, EventType};
    use horizon_store::StoredEvent;
    use time::OffsetDateTime;

    use super::*;

    fn event(position: i64, job: Uuid) -> OutboxEvent {
        OutboxEvent {
            position,
            created_at: OffsetDateTime::now_utc(),
            event: StoredEvent {
                event_id: Uuid::now_v7(),
                job_id: job,
                event_type: EventType::Submitted,
                stream: EventStream::Lifecycle,
                sequence: position as u64,
                envelope: "{}".into(),
                traceparent: None,
            },
        }
    }

    fn part(p: i32) -> Option<PartKey> {
        Some(("t".to_owned(), p))
    }

    #[test]
    fn a_full_partition_leaves_its_later_events_in_the_store_until_it_drains() {
        let mut window = Window::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        // partition 0 holds two events at most; partition 1 is not bounded by it
        assert!(window.add(event(1, a), part(0), 2));
        assert!(window.add(event(2, a), part(0), 2));
        assert!(!window.add(event(3, a), part(0), 2));
        assert!(window.add(event(4, b), part(1), 2));
        window.cursor = 4;
        assert_eq!(window.bytes, 6);
        assert!(!window.may_rewind(2));
        // the partition acknowledged one: under its bound again, but a later
        // event of it must not overtake the one left in the store
        let _ = window.acked(1);
        assert!(!window.add(event(5, a), part(0), 2));
        assert!(window.may_rewind(2));
        window.rewind(2);
        assert_eq!(window.cursor, 2, "read again from the first event left");
        assert!(!window.caught_up);
        assert!(window.add(event(3, a), part(0), 2));
        assert!(!window.add(event(4, b), part(1), 2), "already here");
    }

    #[test]
    fn a_drained_partition_rewinds_without_waiting_for_another_full_one() {
        let mut window = Window::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(window.add(event(1, a), part(0), 1));
        assert!(window.add(event(2, b), part(1), 1));
        assert!(!window.add(event(3, a), part(0), 1));
        assert!(!window.add(event(4, b), part(1), 1));
        window.cursor = 4;
        // partition 1 drains; partition 0 stays full (no leader, say)
        let _ = window.acked(2);
        assert!(window.may_rewind(1));
        window.rewind(1);
        assert_eq!(window.cursor, 3, "from partition 1's first left event");
        assert!(
            !window.add(event(3, a), part(0), 1),
            "partition 0 still full"
        );
        assert!(window.add(event(4, b), part(1), 1));
        assert!(!window.may_rewind(1));
    }

    #[test]
    fn parked_events_leave_the_window_and_its_counts() {
        let mut window = Window::default();
        let a = Uuid::now_v7();
        assert!(window.add(event(1, a), part(0), 1));
        let taken = window.take_key(1);
        assert_eq!(taken.len(), 1);
        assert_eq!(window.bytes, 0);
        assert!(window.add(event(2, a), part(0), 1));
    }
}

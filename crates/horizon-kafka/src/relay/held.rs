//! Exactly once: partitions the relay holds back, and from where.
//!
//! When a partition has no leader (its broker is down and nothing else
//! holds a replica) or its records keep timing out, the relay goes on with
//! every other partition and *holds* that one: the position moves past its
//! events without sending them, and the position record says, per held
//! partition, the first outbox position not yet in Kafka. Every event of
//! that partition from there up to the position is still to send (a job's
//! events all go to one partition, so a held job waits as a whole, in
//! order). When the partition is back, the relay *drains* it: its held
//! events, oldest first, in transactions of their own whose position record
//! moves its `from` forward, until it reaches the position and the
//! partition is released. Crash-safe for the same reason as the position:
//! the held map is in the record that commits with the events.
//!
//! Memory does not grow with a partition's backlog: the relay keeps one
//! number per held partition and reads the events from the store again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::partitions::PartKey;

/// A held partition in the position record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct HeldRecord {
    pub(super) topic: String,
    pub(super) partition: i32,
    /// The first outbox position of this partition not yet in Kafka.
    pub(super) from: i64,
    /// The topic's partition count its jobs were placed with (kept while
    /// it is held; 0: not recorded).
    #[serde(default)]
    pub(super) partitions: i32,
}

#[derive(Debug, Clone)]
struct HeldPart {
    from: i64,
    /// The topic's partition count when it was held.
    count: i32,
    /// Drains (or sends) that failed since it was held.
    failures: u32,
    /// Not drained before this (after a failure).
    retry_at: Option<Instant>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Held {
    parts: BTreeMap<PartKey, HeldPart>,
}

impl Held {
    pub(super) fn from_records(records: &[HeldRecord]) -> Self {
        let parts = records
            .iter()
            .map(|r| {
                (
                    (r.topic.clone(), r.partition),
                    HeldPart {
                        from: r.from,
                        count: r.partitions,
                        failures: 0,
                        retry_at: None,
                    },
                )
            })
            .collect();
        Held { parts }
    }

    pub(super) fn records(&self) -> Vec<HeldRecord> {
        self.parts
            .iter()
            .map(|((topic, partition), part)| HeldRecord {
                topic: topic.clone(),
                partition: *partition,
                from: part.from,
                partitions: part.count,
            })
            .collect()
    }

    /// For `/readyz`: `topic/partition from position N`.
    pub(super) fn describe(&self) -> Vec<String> {
        self.parts
            .iter()
            .map(|((topic, partition), part)| {
                format!("{topic}/{partition} from position {}", part.from)
            })
            .collect()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub(super) fn contains(&self, key: &PartKey) -> bool {
        self.parts.contains_key(key)
    }

    /// Whether the event at `position` of partition `key` is held back.
    pub(super) fn covers(&self, key: &PartKey, position: i64) -> bool {
        self.parts.get(key).is_some_and(|p| position >= p.from)
    }

    pub(super) fn from(&self, key: &PartKey) -> Option<i64> {
        self.parts.get(key).map(|p| p.from)
    }

    /// The lowest `from` of all held partitions.
    pub(super) fn lowest(&self) -> Option<i64> {
        self.parts.values().map(|p| p.from).min()
    }

    /// The partition counts of the topics with held partitions (recorded
    /// ones only).
    pub(super) fn counts(&self) -> BTreeMap<&str, i32> {
        self.parts
            .iter()
            .filter(|(_, p)| p.count > 0)
            .map(|((topic, _), p)| (topic.as_str(), p.count))
            .collect()
    }

    /// The topics with held partitions.
    pub(super) fn topics(&self) -> BTreeSet<&str> {
        self.parts.keys().map(|(topic, _)| topic.as_str()).collect()
    }

    /// After a restart of the same leader at `position` (read back): keep
    /// the back-off of partitions held before, and holds not committed yet
    /// (for events after the position, so still valid).
    pub(super) fn keep_uncommitted(&mut self, before: &Held, position: i64) {
        for (key, part) in &before.parts {
            match self.parts.get_mut(key) {
                Some(mine) => {
                    mine.failures = part.failures;
                    mine.retry_at = part.retry_at;
                }
                None if part.from > position => {
                    self.parts.insert(key.clone(), part.clone());
                }
                None => {}
            }
        }
    }

    /// Hold `key` (of a topic of `count` partitions) from `position` on
    /// (unless it is held already); `delay`: not before then will it be
    /// drained.
    pub(super) fn hold(
        &mut self,
        key: PartKey,
        position: i64,
        count: i32,
        delay: Option<Duration>,
    ) {
        self.parts.entry(key).or_insert(HeldPart {
            from: position,
            count,
            failures: u32::from(delay.is_some()),
            retry_at: delay.map(|d| Instant::now() + d),
        });
    }

    /// Held partitions that may be drained now: not leaderless, and past
    /// their backoff.
    pub(super) fn drainable(&self, leaderless: impl Fn(&PartKey) -> bool) -> BTreeSet<PartKey> {
        let now = Instant::now();
        self.parts
            .iter()
            .filter(|(key, part)| !leaderless(key) && part.retry_at.is_none_or(|at| at <= now))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// A drain of `keys` read every held event of theirs up to `through`:
    /// the next one is after it; `done`: none is left up to the position.
    pub(super) fn drained(&mut self, keys: &BTreeSet<PartKey>, through: i64, done: bool) {
        for key in keys {
            if done {
                self.parts.remove(key);
            } else if let Some(part) = self.parts.get_mut(key) {
                part.from = part.from.max(through + 1);
            }
        }
    }

    /// A drain of `keys` failed: try again after `backoff(failures)`.
    pub(super) fn drain_failed(
        &mut self,
        keys: &BTreeSet<PartKey>,
        backoff: impl Fn(u32) -> Duration,
    ) {
        for key in keys {
            if let Some(part) = self.parts.get_mut(key) {
                part.failures += 1;
                part.retry_at = Some(Instant::now() + backoff(part.failures));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartKey {
        ("t".to_owned(), p)
    }

    #[test]
    fn a_held_partition_covers_its_events_from_the_first_held_one() {
        let mut held = Held::default();
        held.hold(key(1), 10, 4, None);
        // held already: the first hold's position stays
        held.hold(key(1), 20, 4, None);
        assert!(!held.covers(&key(1), 9));
        assert!(held.covers(&key(1), 10));
        assert!(held.covers(&key(1), 25));
        assert!(!held.covers(&key(2), 25));
        assert_eq!(held.lowest(), Some(10));
    }

    #[test]
    fn the_record_round_trips() {
        let mut held = Held::default();
        held.hold(key(3), 7, 4, None);
        held.hold(key(0), 9, 4, Some(Duration::from_secs(5)));
        let back = Held::from_records(&held.records());
        assert_eq!(back.records(), held.records());
        let json = serde_json::to_string(&held.records()).expect("serialises");
        assert_eq!(
            json,
            r#"[{"topic":"t","partition":0,"from":9,"partitions":4},{"topic":"t","partition":3,"from":7,"partitions":4}]"#
        );
    }

    #[test]
    fn leaderless_and_backing_off_partitions_are_not_drained() {
        let mut held = Held::default();
        held.hold(key(1), 10, 4, None);
        held.hold(key(2), 11, 4, Some(Duration::from_secs(60)));
        held.hold(key(3), 12, 4, None);
        let drainable = held.drainable(|k| k.1 == 3);
        assert_eq!(drainable, BTreeSet::from([key(1)]));
    }

    #[test]
    fn a_restarted_leader_keeps_its_back_off_and_holds_past_the_position() {
        let mut before = Held::default();
        before.hold(key(1), 10, 4, Some(Duration::from_secs(60)));
        // not committed: after the position read back (20), so still valid
        before.hold(key(2), 25, 4, Some(Duration::from_secs(60)));
        // not committed and before the position: a stale guess
        before.hold(key(3), 15, 4, None);
        let mut read_back = Held::from_records(&[HeldRecord {
            topic: "t".into(),
            partition: 1,
            from: 10,
            partitions: 4,
        }]);
        read_back.keep_uncommitted(&before, 20);
        assert!(read_back.contains(&key(2)));
        assert!(!read_back.contains(&key(3)));
        assert!(read_back.drainable(|_| false).is_empty(), "back-offs kept");
    }

    #[test]
    fn a_drain_moves_from_forward_and_releases_when_done() {
        let mut held = Held::default();
        held.hold(key(1), 10, 4, None);
        held.hold(key(2), 5, 4, None);
        let keys = BTreeSet::from([key(1), key(2)]);
        held.drained(&keys, 30, false);
        assert_eq!(held.from(&key(1)), Some(31));
        assert_eq!(held.from(&key(2)), Some(31));
        held.drain_failed(&BTreeSet::from([key(1)]), |_| Duration::from_secs(60));
        assert_eq!(held.drainable(|_| false), BTreeSet::from([key(2)]));
        held.drained(&BTreeSet::from([key(2)]), 40, true);
        assert!(!held.contains(&key(2)));
        assert!(!held.is_empty());
    }
}

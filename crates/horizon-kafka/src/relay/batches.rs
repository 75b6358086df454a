//! Exactly once: what goes into the next transaction. New events after
//! the position (but those of held partitions), a drain of held partitions
//! back with a leader, or un-parked events behind the position; and, at
//! start, the store's marks caught up with the position read back.

use std::collections::BTreeSet;

use horizon_store::OutboxEvent;
use tracing::{info, warn};

use super::held::Held;
use super::parking::ParkedKeys;
use super::partitions::{PartKey, Partitions};
use super::{Relay, key_of};
use crate::KafkaError;

/// A drain of held partitions reads at most this many times a
/// transaction's allowance of events (`transaction_events`) from the store
/// per transaction: enough to gain on a backlog whose new events go to the
/// held partitions too.
const DRAIN_READ: usize = 2;

/// One batch for one transaction.
pub(super) struct Batch {
    pub(super) events: Vec<OutboxEvent>,
    /// The position to commit with it (unchanged for re-sends and drains).
    pub(super) position: i64,
    /// Un-parked events behind the position, sent again.
    pub(super) resend: bool,
    /// The held partitions once it commits (written in its position record).
    pub(super) held: Held,
    /// A drain: the held partitions whose events it carries.
    pub(super) drain: Option<BTreeSet<PartKey>>,
}

impl Batch {
    fn new(events: Vec<OutboxEvent>, position: i64, held: &Held) -> Self {
        Batch {
            events,
            position,
            resend: false,
            held: held.clone(),
            drain: None,
        }
    }
}

/// The leader's state between transactions.
pub(super) struct Leading {
    /// The store's `database_id`, written into every position record.
    pub(super) database: String,
    pub(super) cursor: i64,
    pub(super) parked_keys: ParkedKeys,
    pub(super) held: Held,
    pub(super) partitions: Partitions,
}

impl Leading {
    /// Hold `key` back from `position` on, with the topic's count frozen
    /// while it is held.
    pub(super) fn hold(&mut self, key: PartKey, position: i64, delay: Option<std::time::Duration>) {
        let count = self.partitions.count(&key.0).unwrap_or(0);
        if count > 0 {
            self.partitions.freeze(&key.0, count);
        }
        self.held.hold(key, position, count, delay);
    }

    /// After the held partitions changed (committed): counts of topics
    /// with none held follow the cluster again.
    pub(super) fn held_changed(&mut self) {
        let topics = self.held.topics();
        self.partitions.thaw(&topics);
    }

    /// Whether a held partition may go now: it has a leader, its back-off
    /// is over, and its topic's partition count is known.
    fn drainable(&self) -> BTreeSet<PartKey> {
        self.held
            .drainable(|key| self.partitions.leaderless(key) || !self.partitions.knows(&key.0))
    }
}

impl Relay {
    /// Bring the store's marks up to the position: every event up to it,
    /// but those of held partitions (they are not in Kafka yet) and
    /// un-parked ones waiting to be sent again.
    pub(super) async fn catch_up_marks(
        &self,
        position: i64,
        held: &Held,
        partitions: &Partitions,
    ) -> Result<u64, KafkaError> {
        // (a hold not committed yet may start after the position: nothing
        // past the position is marked, ever)
        let Some(lowest) = held.lowest().filter(|lowest| *lowest <= position) else {
            return Ok(self.store.mark_published_through(position).await?);
        };
        let mut caught_up = self.store.mark_published_through(lowest - 1).await?;
        if held.topics().iter().any(|t| !partitions.knows(t)) {
            // which partition an event goes to is not known: leave the
            // rest unmarked (the marks are a cache)
            return Ok(caught_up);
        }
        let unparked: BTreeSet<i64> = self
            .unparked_behind(position)
            .await?
            .iter()
            .map(|e| e.position)
            .collect();
        let mut after = lowest - 1;
        loop {
            let page = self
                .store
                .unpublished_events(after, self.settings.batch_size)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.position;
            let sent: Vec<i64> = page
                .iter()
                .filter(|e| e.position <= position && !unparked.contains(&e.position))
                .filter(|e| {
                    partitions
                        .of(&self.settings, e)
                        .is_some_and(|key| !held.covers(&key, e.position))
                })
                .map(|e| e.position)
                .collect();
            caught_up += sent.len() as u64;
            self.store.mark_published(&sent).await?;
            if after >= position || page.len() < self.settings.batch_size as usize {
                break;
            }
        }
        Ok(caught_up)
    }

    /// Every un-parked event behind `position` (waiting to be sent again).
    async fn unparked_behind(&self, position: i64) -> Result<Vec<OutboxEvent>, KafkaError> {
        // (un-parking is an operator's act: a handful, read whole)
        Ok(self.store.unparked_events(position, u32::MAX).await?)
    }

    /// The next events to send. When `look`ing: the parked keys read again
    /// (an operator may have un-parked some), and un-parked events behind
    /// the cursor, if any, as a re-send (but not those of a partition
    /// without a leader, or held back and not yet drainable). Else the
    /// events after the cursor (store pages up to `transaction_events`),
    /// but those of held partitions, and of partitions without a leader
    /// (held from here on); a batch with an event of a parked job looks
    /// first, and a later page with one waits for the next batch.
    pub(super) async fn next_batch(
        &self,
        leading: &mut Leading,
        look: bool,
    ) -> Result<Option<Batch>, KafkaError> {
        let limit = self.settings.batch_size;
        let cursor = leading.cursor;
        if look {
            leading.parked_keys = self.load_parked_keys().await?;
            let drainable = leading.drainable();
            let behind: Vec<OutboxEvent> = self
                .store
                .unparked_events(cursor, limit)
                .await?
                .into_iter()
                .filter(|e| match leading.partitions.of(&self.settings, e) {
                    Some(key) => {
                        !leading.partitions.leaderless(&key)
                            && (!leading.held.contains(&key) || drainable.contains(&key))
                    }
                    None => !leading
                        .held
                        .topics()
                        .contains(self.settings.topic_of(e.event.stream)),
                })
                .collect();
            if !behind.is_empty() {
                info!(
                    "re-sending {} un-parked event(s) behind the relay's position",
                    behind.len()
                );
                let mut batch = Batch::new(behind, cursor, &leading.held);
                batch.resend = true;
                return Ok(Some(batch));
            }
        }
        // pages until the transaction holds `transaction_events`, or the
        // outbox is read to its end
        let most = self.settings.transaction_bound();
        let mut send = Vec::new();
        let mut position = None;
        let (mut after, mut read) = (cursor, 0);
        'pages: loop {
            // (the last page only as large as the rest of the allowance)
            let page = limit.min(u32::try_from(most - read).unwrap_or(limit));
            let events = self.store.unpublished_events(after, page).await?;
            let Some(last) = events.last().map(|e| e.position) else {
                break;
            };
            let full = events.len() == page as usize;
            if !look
                && !leading.parked_keys.is_empty()
                && events
                    .iter()
                    .any(|e| leading.parked_keys.contains_key(&key_of(e)))
            {
                if read > 0 {
                    // this page waits for the next transaction, which looks
                    break;
                }
                // held behind a parked event, unless it was un-parked meanwhile
                return Box::pin(self.next_batch(leading, true)).await;
            }
            read += events.len();
            for outbox in events {
                let Some(key) = leading.partitions.of(&self.settings, &outbox) else {
                    if leading
                        .held
                        .topics()
                        .contains(self.settings.topic_of(outbox.event.stream))
                    {
                        // its topic has held partitions and its partition is
                        // not known: it might be one of them; the batch ends
                        // before it
                        break 'pages;
                    }
                    position = Some(outbox.position);
                    send.push(outbox);
                    continue;
                };
                position = Some(outbox.position);
                if leading.held.contains(&key) {
                    continue;
                }
                if leading.partitions.leaderless(&key) {
                    warn!(topic = %key.0, partition = key.1,
                        "holding back partition {} of {} from position {}: it has no leader",
                        key.1, key.0, outbox.position);
                    leading.hold(key, outbox.position, None);
                    continue;
                }
                send.push(outbox);
            }
            after = last;
            if !full || read >= most {
                break;
            }
        }
        Ok(position.map(|position| Batch::new(send, position, &leading.held)))
    }

    /// Held partitions that are back: their held events, oldest first, up
    /// to the position (`transaction_events` at most, from twice as many
    /// events read, so that a drain gains on a backlog). Not a
    /// partition with un-parked events waiting: those go first, in a
    /// re-send.
    pub(super) async fn drain_batch(&self, leading: &Leading) -> Result<Option<Batch>, KafkaError> {
        let mut keys = leading.drainable();
        if keys.is_empty() {
            return Ok(None);
        }
        for outbox in self.unparked_behind(leading.cursor).await? {
            if let Some(key) = leading.partitions.of(&self.settings, &outbox) {
                keys.remove(&key);
            }
        }
        let Some(lowest) = keys.iter().filter_map(|k| leading.held.from(k)).min() else {
            return Ok(None);
        };
        let limit = self.settings.batch_size;
        let most = self.settings.transaction_bound();
        let pages = (most * DRAIN_READ).div_ceil(limit.max(1) as usize);
        let mut events = Vec::new();
        let (mut after, mut done) = (lowest - 1, false);
        'pages: for _ in 0..pages {
            let page = self.store.unpublished_events(after, limit).await?;
            let full = page.len() == limit as usize;
            for outbox in page {
                if outbox.position > leading.cursor {
                    done = true;
                    break 'pages;
                }
                let Some(key) = leading.partitions.of(&self.settings, &outbox) else {
                    // (cannot tell whether it is one of them: stop here)
                    break 'pages;
                };
                after = outbox.position;
                if keys.contains(&key) && leading.held.covers(&key, outbox.position) {
                    events.push(outbox);
                    if events.len() >= most {
                        break 'pages;
                    }
                }
            }
            if !full {
                done = true;
                break;
            }
        }
        let mut held = leading.held.clone();
        held.drained(&keys, after, done);
        info!(
            "draining {} held event(s) of {} partition(s) back with a leader{}",
            events.len(),
            keys.len(),
            if done { " (all of them)" } else { "" }
        );
        let mut batch = Batch::new(events, leading.cursor, &held);
        batch.drain = Some(keys);
        Ok(Some(batch))
    }
}

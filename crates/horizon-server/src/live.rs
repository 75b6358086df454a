//! Live events: one tail of the event log per process, fanned out to every
//! open stream (`api/stream.rs`).
//!
//! The tail follows the store's commit order (`replay_events`: SQLite's
//! position, PostgreSQL's sequenced `seq`, the same numbers in every process
//! of a deployment), woken by this process's commits and, on PostgreSQL, by
//! every other process's (LISTEN/NOTIFY), with a slow poll besides. What it
//! reads it broadcasts once; each stream picks its own events out. A stream
//! starts (or resumes) from the store itself and switches to the broadcast,
//! so a subscriber never depends on having been there when an event was
//! committed; one that falls behind the broadcast reads from the store
//! again.
//!
//! While no stream is open the tail reads no events: it only moves its head
//! to the store's `last_position` (one index look-up; on PostgreSQL a
//! sequencing round at most once a second, so numbering keeps up), at most
//! every 250 ms, read *before* it checks that nobody subscribed. A stream
//! that subscribes after that check catches up from the store past that
//! head by itself, and one that subscribed before it keeps the tail
//! reading from its old head; either way nothing is skipped. (Every process of a deployment used
//! to read every event, subscribers or not: the largest database cost of a
//! submission, growing with the processes.)

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use horizon_core::{EventStream, JobStatus};
use horizon_store::{OutboxEvent, ReplayFilter, Store, StoreError};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast};
use tracing::warn;
use uuid::Uuid;

/// Events a slow subscriber may be behind before it reads from the store.
const BROADCAST_CAPACITY: usize = 4096;

/// The most events read per store query.
pub const PAGE: u32 = 500;

/// A look at the store even without a bell (commits of a process whose
/// NOTIFY was lost).
const POLL: Duration = Duration::from_secs(1);

/// While no stream is open, the head is moved at most this often: every
/// process hears every commit of the deployment, and one look-up per commit
/// per process grew the database's work with the processes. A stream that
/// opens meanwhile makes the tail read the events since, a moment's worth.
const IDLE_HEAD_EVERY: Duration = Duration::from_millis(250);

/// One committed event of a job, as streams need it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// Its place in the commit order (the global stream's event id).
    pub position: i64,
    pub event_id: Uuid,
    pub job_id: Uuid,
    pub user_id: String,
    pub stream: EventStream,
    pub sequence: u64,
    pub event_type: String,
    /// The job's status after it (none on a sweep's events).
    pub status: Option<JobStatus>,
    /// The event's envelope, exactly as stored and published.
    pub envelope: Arc<str>,
}

impl LiveEvent {
    /// The last event a job will ever have.
    pub fn is_terminal(&self) -> bool {
        self.stream == EventStream::Lifecycle && self.status.is_some_and(JobStatus::is_terminal)
    }
}

/// The fields of an envelope a stream filters on.
#[derive(Deserialize)]
struct Head {
    user_id: String,
    /// (a sweep's events have none)
    #[serde(default)]
    status: Option<JobStatus>,
    event_type: String,
}

impl TryFrom<OutboxEvent> for LiveEvent {
    type Error = StoreError;

    fn try_from(event: OutboxEvent) -> Result<Self, StoreError> {
        let head: Head = serde_json::from_str(&event.event.envelope).map_err(|err| {
            StoreError::Corrupt(format!("stored event is not an envelope: {err}"))
        })?;
        Ok(LiveEvent {
            position: event.position,
            event_id: event.event.event_id,
            job_id: event.event.job_id,
            user_id: head.user_id,
            stream: event.event.stream,
            sequence: event.event.sequence,
            event_type: head.event_type,
            status: head.status,
            envelope: Arc::from(event.event.envelope),
        })
    }
}

#[derive(Debug)]
pub struct LiveHub {
    store: Arc<dyn Store>,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// The last position broadcast.
    head: AtomicI64,
    bell: Arc<Notify>,
}

impl LiveHub {
    /// `bell` rings on commits (this process's and others').
    pub fn new(store: Arc<dyn Store>, bell: Arc<Notify>) -> Arc<LiveHub> {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        Arc::new(LiveHub {
            store,
            sender,
            head: AtomicI64::new(-1),
            bell,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// The position the broadcast has reached (-1 before the tail started).
    pub fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }

    /// Follow the commit order forever.
    pub async fn run(self: Arc<Self>) {
        let all = ReplayFilter {
            jobs_only: true,
            ..ReplayFilter::default()
        };
        // from now: what was committed before is read from the store by
        // whichever stream asks for it
        let mut head = loop {
            match self.store.replay_span(&all).await {
                Ok(span) => break span.last_position,
                Err(err) => {
                    warn!("live events: cannot read the event log yet: {err}");
                    tokio::time::sleep(POLL).await;
                }
            }
        };
        self.head.store(head, Ordering::Release);
        let mut head_read = tokio::time::Instant::now();
        loop {
            let _ = tokio::time::timeout(POLL, self.bell.notified()).await;
            if self.sender.receiver_count() == 0 {
                if head_read.elapsed() < IDLE_HEAD_EVERY {
                    // (a head behind by less than that is caught up by
                    // the next stream's first read)
                    continue;
                }
                // (the position first, then the check: see the module's doc)
                head_read = tokio::time::Instant::now();
                match self.store.last_position().await {
                    Ok(last) if self.sender.receiver_count() == 0 => {
                        head = head.max(last);
                        self.head.store(head, Ordering::Release);
                        continue;
                    }
                    Ok(_) => {}
                    Err(err) => {
                        warn!("live events: reading the event log: {err}");
                        continue;
                    }
                }
            }
            loop {
                let page = match self.store.replay_events(&all, head, PAGE).await {
                    Ok(page) => page,
                    Err(err) => {
                        warn!("live events: reading the event log: {err}");
                        break;
                    }
                };
                let full = page.len() == PAGE as usize;
                for event in page {
                    head = head.max(event.position);
                    match LiveEvent::try_from(event) {
                        // (no subscriber is not an error)
                        Ok(event) => drop(self.sender.send(Arc::new(event))),
                        Err(err) => warn!("live events: {err}"),
                    }
                }
                self.head.store(head, Ordering::Release);
                if !full {
                    break;
                }
            }
        }
    }
}

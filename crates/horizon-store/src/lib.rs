//! Horizon's store: the port every other part persists through, and its
//! implementations.
//!
//! The store owns three promises: a job's status changes only by
//! compare-and-set on the status it was read with; every change writes exactly
//! one event in the same transaction (the transactional outbox); a job's events
//! are numbered per stream from 1 with no gap and no duplicate.

mod cluster;
mod decide;
mod error;
mod migrations;
mod params;
mod postgres;
mod sqlite;
mod webhooks;
mod writer;

#[cfg(test)]
mod tests;

pub use cluster::{Cluster, ProcessInfo, RelayLeaseInfo};
pub use error::StoreError;
pub use params::{
    Applied, AuditFilter, CreateJobParams, CreateSweepParams, Created, Fence, IdempotencyParams,
    JobTiming, ListJobsParams, OutboxEvent, ParkedEvent, ReplayFilter, ReplaySpan, StoredEvent,
    SweepCreated, SweepsTended, TokenInfo, TokenOwner,
};
pub use postgres::{PgOptions, PgStore};

/// How many jobs this process took over from silent processes (several
/// processes on PostgreSQL), each also logged.
pub fn jobs_taken_over() -> u64 {
    postgres::TAKEN_OVER.load(std::sync::atomic::Ordering::Relaxed)
}

/// How many commit notifications (PostgreSQL LISTEN/NOTIFY) this process
/// has heard from other processes' and its own writes.
pub fn commit_notifications_heard() -> u64 {
    postgres::NOTIFICATIONS_HEARD.load(std::sync::atomic::Ordering::Relaxed)
}
pub use sqlite::SqliteStore;
pub use webhooks::{Delivery, DeliveryState, DueDelivery, NewDelivery, Outcome, Subscription};

use async_trait::async_trait;
use horizon_core::sweep::Sweep;
use horizon_core::{AuditRecord, BackendKind, Command, Job, JobStatus, MetricsSample};
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything Horizon persists, behind one trait so that PostgreSQL can join
/// SQLite without touching the domain.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Insert a SUBMITTED job and its `job.submitted` event; with an
    /// idempotency key already used by this user for the same request, return
    /// the job it made instead.
    async fn create_job(&self, params: CreateJobParams) -> Result<Created, StoreError>;

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError>;

    /// Newest first.
    async fn list_jobs(&self, params: ListJobsParams) -> Result<Vec<Job>, StoreError>;

    /// The outcome and times of jobs created at or after `since` (only
    /// `user`'s when given), newest first, at most `limit`: what per-agent
    /// statistics are computed from.
    async fn job_timings(
        &self,
        user: Option<&str>,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<JobTiming>, StoreError>;

    /// Decide `command` with the domain's transition function and persist the
    /// result with compare-and-set, writing its event in the same transaction.
    async fn apply(&self, id: Uuid, command: Command) -> Result<Applied, StoreError> {
        self.apply_fenced(id, command, None).await
    }

    /// `apply`, by the process that claimed the job (`fence`): nothing
    /// changes, and `StoreError::Fenced` says so, when another process has
    /// claimed it since. Without a fence (an API request): any process.
    /// A store only one process uses has no one to fence.
    async fn apply_fenced(
        &self,
        id: Uuid,
        command: Command,
        fence: Option<Fence>,
    ) -> Result<Applied, StoreError>;

    /// Record a resource sample of a job as a `job.metrics_recorded` event.
    async fn record_metrics(
        &self,
        id: Uuid,
        sample: MetricsSample,
    ) -> Result<StoredEvent, StoreError>;

    /// A job's events: lifecycle and metrics, in the order they were written;
    /// with `after`, only those written after that event of the job; at most
    /// `limit` of them.
    async fn job_events(
        &self,
        id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Jobs of one backend in any of `statuses`, oldest first; with `after`,
    /// only jobs after that one (a page cursor). SUBMITTED jobs not ready
    /// to hand over (waiting for dependencies, or gated by their sweep)
    /// are left out.
    async fn jobs_in_status(
        &self,
        backend: BackendKind,
        statuses: &[JobStatus],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// How many jobs are in each status.
    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>, StoreError>;

    /// Events neither published nor parked whose position is after `after`,
    /// in commit order.
    async fn unpublished_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    async fn mark_published(&self, positions: &[i64]) -> Result<(), StoreError>;

    /// Events waiting to be published (parked ones excluded).
    /// Events that were parked, un-parked (`unpark_events`) and not yet
    /// published again, up to position `through`, oldest first: what the
    /// exactly-once relay finds behind its position and sends again.
    async fn unparked_events(
        &self,
        through: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Stored events that `filter` selects, published or not, after
    /// position `after`, in position order: what a replay re-publishes.
    async fn replay_events(
        &self,
        filter: &ReplayFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// How many stored events `filter` selects, and the last one's position.
    async fn replay_span(&self, filter: &ReplayFilter) -> Result<ReplaySpan, StoreError>;

    /// The highest position handed out so far (0 when there is none), one
    /// index look-up: a reader that goes on after it later misses nothing
    /// (positions are handed out in commit order). On PostgreSQL, events
    /// committed but not yet numbered are not counted; it runs a
    /// sequencing round itself at most once a second, so that numbering
    /// keeps up when nothing else reads the outbox.
    async fn last_position(&self) -> Result<i64, StoreError>;

    /// Mark every unpublished event up to `position` that was never parked
    /// as published: the exactly-once relay catching its cache up with the
    /// position it committed to Kafka. An event that was ever parked is
    /// left alone (an un-parked one waits behind the position to be sent
    /// again). Returns how many were marked.
    async fn mark_published_through(&self, position: i64) -> Result<u64, StoreError>;

    async fn outbox_depth(&self) -> Result<u64, StoreError>;

    /// When the oldest event still waiting for Kafka (not parked) was
    /// written: how far behind the relay is. `None` when none waits.
    async fn outbox_oldest(&self) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Retention: delete up to `limit` ended jobs that finished before
    /// `before`, with their events and idempotency keys; with
    /// `published_only` (Kafka on) none that has an event not yet published
    /// (parked ones included). Returns their ids (their directories go too).
    async fn prune_jobs(
        &self,
        before: time::OffsetDateTime,
        published_only: bool,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Retention: delete up to `limit` audit records older than `before`
    /// (only published ones with `published_only`). Returns how many.
    async fn prune_audit(
        &self,
        before: time::OffsetDateTime,
        published_only: bool,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// A consistent copy of the whole database into the new file `to`,
    /// taken while the server runs (SQLite's `VACUUM INTO`). PostgreSQL:
    /// refused with the way to do it (`pg_dump`).
    async fn backup(&self, to: &std::path::Path) -> Result<(), StoreError>;

    /// The database's identity, made when it was created: the exactly-once
    /// relay writes it into its position records and refuses one written
    /// for another database.
    async fn database_id(&self) -> Result<String, StoreError>;

    /// Set events aside that Kafka refused for good, with the reason.
    async fn park_events(&self, positions: &[i64], reason: &str) -> Result<(), StoreError>;

    /// Parked events, oldest first, after position `after`.
    async fn parked_events(&self, after: i64, limit: u32) -> Result<Vec<ParkedEvent>, StoreError>;

    async fn parked_count(&self) -> Result<u64, StoreError>;

    /// Keep one audit record, durably, and queue it in the outbox (stream
    /// `audit`) for the audit-trail topic.
    async fn record_audit(&self, record: AuditRecord) -> Result<(), StoreError>;

    /// Audit records whose outbox position is after `after`, oldest first,
    /// at most `limit`; only those `filter` lets through. Each with its
    /// position (the page cursor) and its JSON as stored and published.
    async fn audit_records(
        &self,
        after: i64,
        limit: u32,
        filter: &AuditFilter,
    ) -> Result<Vec<(i64, String)>, StoreError>;

    /// Un-park every parked event (or those of one job) so the relay sends
    /// them again; returns how many.
    async fn unpark_events(&self, job: Option<Uuid>) -> Result<u64, StoreError>;

    async fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        admin: bool,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<(), StoreError>;

    /// The owner of a token that is neither revoked nor expired.
    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, StoreError>;

    /// Every token, newest first.
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;

    /// Revoke the one token whose id (hash) starts with `id` (at least 8 hex
    /// digits); returns how many matched (0 or 1; more is refused, nothing
    /// revoked).
    async fn revoke_token(&self, id: &str) -> Result<u64, StoreError>;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// A new webhook subscription.
    async fn create_subscription(&self, subscription: Subscription) -> Result<(), StoreError>;

    /// Webhook subscriptions: one user's, or every one (`None`).
    async fn subscriptions(&self, user: Option<&str>) -> Result<Vec<Subscription>, StoreError>;

    /// Delete a subscription with its deliveries (none is sent after);
    /// how many were deleted (0 or 1).
    async fn delete_subscription(&self, id: Uuid) -> Result<u64, StoreError>;

    /// A new secret; the current one stays valid (deliveries signed with
    /// both) until `previous_until`.
    async fn rotate_subscription(
        &self,
        id: Uuid,
        secret: String,
        previous_until: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Disable a subscription (when and why), or enable it again (`None`).
    async fn set_subscription_disabled(
        &self,
        id: Uuid,
        disabled: Option<(OffsetDateTime, String)>,
    ) -> Result<u64, StoreError>;

    /// Record the deliveries of the events between the subscription's
    /// cursor `from` and `to`, and move it to `to`, in one transaction;
    /// nothing (0) when the cursor is no longer at `from` (another process
    /// did it).
    async fn fan_out(
        &self,
        id: Uuid,
        from: i64,
        to: i64,
        deliveries: Vec<NewDelivery>,
    ) -> Result<u64, StoreError>;

    /// Claim up to `limit` due deliveries for `process` until `until`: pending,
    /// their time come, of enabled subscriptions, each the oldest pending
    /// one of its job for its subscription.
    /// `mail_only`: only e-mail subscriptions' (the rest of a digest).
    async fn claim_deliveries(
        &self,
        process: Uuid,
        until: OffsetDateTime,
        limit: u32,
        mail_only: bool,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Record how an attempt of a claimed delivery went (nothing when the
    /// claim was lost or the subscription deleted meanwhile).
    async fn finish_delivery(
        &self,
        id: Uuid,
        process: Uuid,
        outcome: Outcome,
    ) -> Result<u64, StoreError>;

    /// A subscription's deliveries by id (oldest first), after `after`.
    async fn deliveries(
        &self,
        subscription: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Send deliveries `from`..=`to` of a subscription again (pending now,
    /// a fresh retry window); how many.
    async fn redeliver(&self, subscription: Uuid, from: Uuid, to: Uuid) -> Result<u64, StoreError>;

    /// This process is alive. Several `horizon serve` processes share a
    /// PostgreSQL database: each calls this every few seconds, and a process
    /// silent for longer than `PROCESS_TIMEOUT` is taken to be dead, its jobs
    /// free to claim. A store only one process uses (SQLite) ignores it.
    async fn heartbeat(&self, _process: Uuid) -> Result<(), StoreError> {
        Ok(())
    }

    /// Say where this process runs local jobs (`local_scope`: its host and
    /// local jobs directory), before its first claim. Only a process of the
    /// same scope takes over a silent process's local jobs that have left
    /// SUBMITTED (their programs may still run there). A store only one
    /// process uses has no one to tell.
    async fn register_process(&self, _process: Uuid, _local_scope: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// An operator says `host` is gone for good: the local jobs of its
    /// processes may be taken over by any process (their programs are
    /// lost with the host). Returns how many processes were on it.
    async fn host_gone(&self, _host: &str) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// The jobs of one backend in `statuses` that `process` handles: those it
    /// owns, after claiming those that no live process owns (new ones, and
    /// those of a process that died). Oldest first, paged like
    /// `jobs_in_status`. With one process, every job is its own.
    async fn claim_jobs(
        &self,
        _process: Uuid,
        backend: BackendKind,
        statuses: &[JobStatus],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        self.jobs_in_status(backend, statuses, after, limit).await
    }

    /// Make a sweep and all its jobs (each SUBMITTED with its
    /// `job.submitted` event, after the sweep's `sweep.submitted`) in one
    /// transaction; with an idempotency key this user used before for the
    /// same request, the sweep it made instead.
    async fn create_sweep(&self, params: CreateSweepParams) -> Result<SweepCreated, StoreError>;

    /// A sweep with how many of its jobs are in each status.
    async fn get_sweep(&self, id: Uuid) -> Result<Option<Sweep>, StoreError>;

    /// One round over the open sweeps: release gated jobs of those with
    /// room under their concurrency limit, and complete (with their
    /// `sweep.completed` event) those whose jobs all ended.
    async fn tend_sweeps(&self) -> Result<SweepsTended, StoreError>;

    /// Jobs waiting in SUBMITTED for their dependencies, by id, after
    /// `after` (any process may resolve them).
    async fn waiting_jobs(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Job>, StoreError>;

    /// A waiting job's dependencies are met, or (`scheduler_dependency`)
    /// handed to its scheduler with it: it may be handed over now. False
    /// when it no longer waited (or is no longer SUBMITTED).
    async fn stop_waiting(
        &self,
        id: Uuid,
        scheduler_dependency: Option<String>,
    ) -> Result<bool, StoreError>;

    /// Jobs whose dependencies went to their scheduler and that have not
    /// started (SUBMITTED or QUEUED), by id, after `after`: Horizon still
    /// cancels one whose condition can no longer be met.
    async fn scheduler_dependent_jobs(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Jobs of `backend` whose next attempt is due (QUEUED after a retry,
    /// not held, `next_attempt_at` past), that `process` owns (with one
    /// process: all of them); the soonest due first.
    async fn due_attempts(
        &self,
        process: Uuid,
        backend: BackendKind,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// About to hand `jobs` (each with the claim epoch it was read with) to
    /// their scheduler: record it, durably, before the act
    /// (`Job::handed_over`), for those still SUBMITTED and owned by
    /// `process` under that claim (with one process: all SUBMITTED ones).
    /// Returns those it recorded: only they may be handed over.
    async fn mark_handing_over(
        &self,
        process: Uuid,
        jobs: &[(Uuid, i64)],
    ) -> Result<Vec<Uuid>, StoreError>;

    /// The processes sharing this store and who holds the relay's lease
    /// (for operators). A store only one process uses knows of none: the
    /// caller is the only one.
    async fn cluster(&self) -> Result<Cluster, StoreError> {
        Ok(Cluster::default())
    }

    /// Become the one process that relays the outbox to Kafka: `Some` guard
    /// while this process holds it (held until the guard is dropped or the
    /// process dies), `None` when another process does.
    async fn relay_leadership(&self) -> Result<Option<Box<dyn Leadership>>, StoreError> {
        Ok(Some(Box::new(SoleProcess::default())))
    }

    /// Ring `bell` after every commit of this store that wrote events (or
    /// un-parked some), so the outbox relay publishes within milliseconds
    /// instead of at its next poll. Set once.
    fn ring_on_commit(&self, _bell: std::sync::Arc<tokio::sync::Notify>) {}

    /// Ring `bell` whenever another process commits events (PostgreSQL:
    /// LISTEN/NOTIFY), so this one's relay and workers need not poll for
    /// them; a store only one process uses has nothing to hear. Runs in the
    /// background for the life of the process.
    fn listen_for_commits(&self, _bell: std::sync::Arc<tokio::sync::Notify>) {}
}

/// How long a process may be silent before others take its jobs over.
pub const PROCESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6);

/// Held by the relaying process.
#[async_trait]
pub trait Leadership: Send + Sync {
    /// Renew it; whether it is still held. The relay calls this every
    /// `LEADERSHIP_RENEWAL` and stops relaying when it returns false.
    async fn still_held(&mut self) -> bool;

    /// How many times the leadership changed hands before this holder took
    /// it (for logs and `/readyz`).
    fn epoch(&self) -> i64 {
        1
    }

    /// The exactly-once relay's transactional-id generation: the id in
    /// use, which the next leader must fence. Recorded with the leadership.
    fn generation(&self) -> i64;

    /// Move to the next generation (the id in use is stuck behind a
    /// transaction that cannot end); `None` when this holder no longer
    /// holds the leadership (it must not produce then).
    async fn next_generation(&mut self) -> Result<Option<i64>, StoreError>;

    /// Give it up now, so that another process need not wait for it to
    /// expire.
    async fn release(&mut self) {}
}

/// How often the relay's leader renews its leadership.
pub const LEADERSHIP_RENEWAL: std::time::Duration = std::time::Duration::from_millis(1500);

/// The leadership of a store that only one process uses. Its generation
/// starts at 0 with each process: no other process can hold an id to fence.
#[derive(Default)]
struct SoleProcess {
    generation: i64,
}

#[async_trait]
impl Leadership for SoleProcess {
    async fn still_held(&mut self) -> bool {
        true
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    async fn next_generation(&mut self) -> Result<Option<i64>, StoreError> {
        self.generation += 1;
        Ok(Some(self.generation))
    }
}

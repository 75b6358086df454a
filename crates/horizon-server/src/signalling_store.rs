//! A store that rings a bell after every commit that wrote an event, so the
//! outbox relay publishes within milliseconds instead of at its next poll.

use std::sync::Arc;

use async_trait::async_trait;
use horizon_core::{BackendKind, Command, Job, JobStatus, MetricsSample};
use horizon_store::{
    Applied, CreateJobParams, Created, ListJobsParams, OutboxEvent, ParkedEvent, Store, StoreError,
    StoredEvent, TokenInfo, TokenOwner,
};
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Debug)]
pub struct SignallingStore {
    inner: Arc<dyn Store>,
    committed: Arc<Notify>,
}

impl SignallingStore {
    pub fn new(inner: Arc<dyn Store>, committed: Arc<Notify>) -> Self {
        SignallingStore { inner, committed }
    }

    fn ring<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_ok() {
            self.committed.notify_one();
        }
        result
    }
}

#[async_trait]
impl Store for SignallingStore {
    async fn create_job(&self, params: CreateJobParams) -> Result<Created, StoreError> {
        self.ring(self.inner.create_job(params).await)
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        self.inner.get_job(id).await
    }

    async fn list_jobs(&self, params: ListJobsParams) -> Result<Vec<Job>, StoreError> {
        self.inner.list_jobs(params).await
    }

    async fn apply_fenced(
        &self,
        id: Uuid,
        command: Command,
        fence: Option<horizon_store::Fence>,
    ) -> Result<Applied, StoreError> {
        self.ring(self.inner.apply_fenced(id, command, fence).await)
    }

    async fn record_metrics(
        &self,
        id: Uuid,
        sample: MetricsSample,
    ) -> Result<StoredEvent, StoreError> {
        self.ring(self.inner.record_metrics(id, sample).await)
    }

    async fn record_audit(&self, record: horizon_core::AuditRecord) -> Result<(), StoreError> {
        self.ring(self.inner.record_audit(record).await)
    }

    async fn audit_records(
        &self,
        after: i64,
        limit: u32,
        actor: Option<&str>,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.inner.audit_records(after, limit, actor).await
    }

    async fn job_events(
        &self,
        id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.job_events(id, after, limit).await
    }

    async fn jobs_in_status(
        &self,
        backend: BackendKind,
        statuses: &[JobStatus],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        self.inner
            .jobs_in_status(backend, statuses, after, limit)
            .await
    }

    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>, StoreError> {
        self.inner.count_by_status().await
    }

    async fn unpublished_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.inner.unpublished_events(after, limit).await
    }

    async fn mark_published(&self, positions: &[i64]) -> Result<(), StoreError> {
        self.inner.mark_published(positions).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.inner.outbox_depth().await
    }

    async fn park_events(&self, positions: &[i64], reason: &str) -> Result<(), StoreError> {
        self.inner.park_events(positions, reason).await
    }

    async fn parked_events(&self, after: i64, limit: u32) -> Result<Vec<ParkedEvent>, StoreError> {
        self.inner.parked_events(after, limit).await
    }

    async fn parked_count(&self) -> Result<u64, StoreError> {
        self.inner.parked_count().await
    }

    async fn unpark_events(&self, job: Option<Uuid>) -> Result<u64, StoreError> {
        // un-parked events are new work for the relay
        self.ring(self.inner.unpark_events(job).await)
    }

    async fn create_token(
        &self,
        token_hash: &str,
        user_id: &str,
        admin: bool,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.inner
            .create_token(token_hash, user_id, admin, expires_at)
            .await
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        self.inner.find_token(token_hash).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.inner.list_tokens().await
    }

    async fn revoke_token(&self, id: &str) -> Result<u64, StoreError> {
        self.inner.revoke_token(id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn heartbeat(&self, process: Uuid) -> Result<(), StoreError> {
        self.inner.heartbeat(process).await
    }

    async fn claim_jobs(
        &self,
        process: Uuid,
        backend: BackendKind,
        statuses: &[JobStatus],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        self.inner
            .claim_jobs(process, backend, statuses, after, limit)
            .await
    }

    async fn register_process(&self, process: Uuid, local_scope: &str) -> Result<(), StoreError> {
        self.inner.register_process(process, local_scope).await
    }

    async fn host_gone(&self, host: &str) -> Result<u64, StoreError> {
        self.inner.host_gone(host).await
    }

    async fn mark_handing_over(
        &self,
        process: Uuid,
        jobs: &[(Uuid, i64)],
    ) -> Result<Vec<Uuid>, StoreError> {
        self.inner.mark_handing_over(process, jobs).await
    }

    async fn replay_events(
        &self,
        filter: &horizon_store::ReplayFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<horizon_store::OutboxEvent>, StoreError> {
        self.inner.replay_events(filter, after, limit).await
    }

    async fn replay_span(
        &self,
        filter: &horizon_store::ReplayFilter,
    ) -> Result<horizon_store::ReplaySpan, StoreError> {
        self.inner.replay_span(filter).await
    }

    async fn unparked_events(
        &self,
        through: i64,
        limit: u32,
    ) -> Result<Vec<horizon_store::OutboxEvent>, StoreError> {
        self.inner.unparked_events(through, limit).await
    }

    async fn mark_published_through(&self, position: i64) -> Result<u64, StoreError> {
        self.inner.mark_published_through(position).await
    }

    async fn relay_leadership(
        &self,
    ) -> Result<Option<Box<dyn horizon_store::Leadership>>, StoreError> {
        self.inner.relay_leadership().await
    }

    fn listen_for_commits(&self, bell: Arc<Notify>) {
        self.inner.listen_for_commits(bell);
    }
}

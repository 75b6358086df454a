//! What can go wrong in the store.

use horizon_core::TransitionError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("job {0} not found")]
    NotFound(Uuid),
    #[error("job {job} has no event {event}")]
    UnknownEvent { job: Uuid, event: Uuid },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The job kept changing under us; the caller may try again.
    #[error("job {0} changed concurrently; try again")]
    Conflict(Uuid),
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyMismatch { key: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the same call may succeed later (the database was busy or away).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict(_) | StoreError::Database(_))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

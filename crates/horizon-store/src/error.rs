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
    /// The job has ended: nothing more is recorded about it.
    #[error("job {0} has ended")]
    Ended(Uuid),
    /// Another process claimed the job since this one did (this one went
    /// silent for too long): it writes nothing for the job any more.
    #[error("job {0} was claimed by another process: this one no longer writes for it")]
    Fenced(Uuid),
    /// The database (or its writer) cannot take writes now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database cannot be used by this release (migrated by a newer one).
    #[error("{0}")]
    Incompatible(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An error of the SQLite writer's own connection (rusqlite).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the database itself is away, busy or out of resources (as
    /// opposed to a query or data problem): the one case worth a 503.
    pub fn is_unavailable(&self) -> bool {
        let err = match self {
            StoreError::Unavailable(_) => return true,
            StoreError::Database(err) => err,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
                use rusqlite::ErrorCode as C;
                return matches!(
                    failure.code,
                    C::DatabaseBusy
                        | C::DatabaseLocked
                        | C::OutOfMemory
                        | C::ReadOnly
                        | C::SystemIoFailure
                        | C::DiskFull
                        | C::CannotOpen
                        | C::FileLockingProtocolFailed
                );
            }
            _ => return false,
        };
        match err {
            // (a connection cut while it was being made, e.g. during TLS
            // negotiation, reads as a protocol error: the database is not
            // reachable properly, and a new connection is the remedy)
            sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                // SQLite primary result codes: BUSY 5, LOCKED 6, NOMEM 7,
                // READONLY 8, IOERR 10, FULL 13, CANTOPEN 14, PROTOCOL 15;
                // PostgreSQL classes 08 (connection), 53 (resources), 57 (shutdown).
                let code = db.code().unwrap_or_default();
                let primary = code.parse::<i64>().map(|c| c & 0xff).ok();
                matches!(primary, Some(5 | 6 | 7 | 8 | 10 | 13 | 14 | 15))
                    || ["08", "53", "57"]
                        .iter()
                        .any(|class| code.starts_with(class))
            }
            _ => false,
        }
    }

    /// True when the same call may succeed later (the database was busy or away).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict(_)
                | StoreError::Database(_)
                | StoreError::Sqlite(_)
                | StoreError::Unavailable(_)
        )
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

//! The relay's leadership on PostgreSQL: a lease row (`relay_lease`) whose
//! expiry is on the database's clock, so processes on different hosts need
//! no synchronised clocks.
//!
//! The leader renews it every `RENEW_EVERY` on a connection of its own with
//! a statement timeout, and stops leading by itself once it could not renew
//! for `HOLD_WITHOUT_RENEWAL` by its own clock (it cannot know whether a
//! renewal that timed out took effect). A standby takes the lease when it has
//! expired, so a dead, frozen (SIGSTOP) or partitioned leader is replaced
//! within `LEASE_TTL` plus a standby's retry interval. A session advisory
//! lock (the earlier design) lived as long as a frozen leader's TCP session.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use uuid::Uuid;

use crate::{Leadership, StoreError};

/// How long a lease lasts without renewal.
const LEASE_TTL: Duration = Duration::from_secs(6);
/// How often the leader renews it (the relay calls `still_held` this often).
const RENEW_EVERY: Duration = crate::LEADERSHIP_RENEWAL;
/// A lease statement that takes longer than this has failed.
pub(super) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);

const LEASE: &str = "relay";

/// How long after its last successful renewal was sent a holder goes on
/// believing it holds the lease when renewals fail: the next check may
/// start up to `RENEW_EVERY` later and take `STATEMENT_TIMEOUT`, and must
/// still end before the lease can expire.
const HOLD_WITHOUT_RENEWAL: Duration = LEASE_TTL
    .saturating_sub(RENEW_EVERY)
    .saturating_sub(STATEMENT_TIMEOUT);

/// A connection of its own, every statement on it limited to
/// `STATEMENT_TIMEOUT` (the lease; the process heartbeat).
pub(super) async fn connect(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    let mut conn = tokio::time::timeout(STATEMENT_TIMEOUT * 2, options.connect())
        .await
        .map_err(|_| {
            StoreError::Unavailable("connecting for the relay lease timed out".into())
        })??;
    // (STATEMENT_TIMEOUT, in milliseconds)
    sqlx::query("SET statement_timeout = 2000")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// Take the lease if it is free or expired: `Some` when this caller leads.
pub(super) async fn acquire(
    options: &PgConnectOptions,
    process: Option<Uuid>,
) -> Result<Option<Box<dyn Leadership>>, StoreError> {
    let mut conn = connect(options).await?;
    let holder = Uuid::now_v7();
    let asked = Instant::now();
    let row: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO relay_lease (name, holder, epoch, expires_at, process)
         VALUES ($1, $2, 1, now() + make_interval(secs => $3), $4)
         ON CONFLICT (name) DO UPDATE
            SET holder = EXCLUDED.holder, epoch = relay_lease.epoch + 1,
                expires_at = EXCLUDED.expires_at, process = EXCLUDED.process
          WHERE relay_lease.expires_at < now()
         RETURNING epoch, generation",
    )
    .bind(LEASE)
    .bind(holder)
    .bind(LEASE_TTL.as_secs_f64())
    .bind(process)
    .fetch_optional(&mut conn)
    .await?;
    Ok(row.map(|(epoch, generation)| {
        Box::new(PgLease {
            options: options.clone(),
            conn: Some(conn),
            holder,
            epoch,
            generation,
            renewed: asked,
        }) as Box<dyn Leadership>
    }))
}

struct PgLease {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
    holder: Uuid,
    epoch: i64,
    generation: i64,
    /// When the last renewal that succeeded was sent (local clock).
    renewed: Instant,
}

impl PgLease {
    async fn renew(&mut self) -> Result<bool, StoreError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.options).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE relay_lease SET expires_at = now() + make_interval(secs => $4)
              WHERE name = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(LEASE)
        .bind(self.holder)
        .bind(self.epoch)
        .bind(LEASE_TTL.as_secs_f64())
        .execute(conn)
        .await;
        match done {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(err) => {
                // a fresh connection next time
                self.conn = None;
                Err(err.into())
            }
        }
    }
}

#[async_trait]
impl Leadership for PgLease {
    async fn still_held(&mut self) -> bool {
        let sent = Instant::now();
        let renewal = tokio::time::timeout(STATEMENT_TIMEOUT, self.renew()).await;
        match renewal {
            Ok(Ok(true)) => {
                self.renewed = sent;
                true
            }
            // another process holds it now
            Ok(Ok(false)) => false,
            Ok(Err(err)) => {
                tracing::warn!("cannot renew the relay's lease: {err}");
                self.renewed.elapsed() < HOLD_WITHOUT_RENEWAL
            }
            Err(_) => {
                tracing::warn!("renewing the relay's lease timed out");
                self.conn = None;
                self.renewed.elapsed() < HOLD_WITHOUT_RENEWAL
            }
        }
    }

    fn epoch(&self) -> i64 {
        self.epoch
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    async fn next_generation(&mut self) -> Result<Option<i64>, StoreError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.options).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        // only while this holder's lease is unexpired: a zombie that wakes
        // up must not pick an id the next leader does not know of
        // (a renewal too)
        let sent = Instant::now();
        let next: Option<i64> = sqlx::query_scalar(
            "UPDATE relay_lease SET generation = generation + 1,
                    expires_at = now() + make_interval(secs => $4)
              WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()
             RETURNING generation",
        )
        .bind(LEASE)
        .bind(self.holder)
        .bind(self.epoch)
        .bind(LEASE_TTL.as_secs_f64())
        .fetch_optional(conn)
        .await
        .inspect_err(|_| self.conn = None)?;
        if let Some(next) = next {
            self.generation = next;
            self.renewed = sent;
        }
        Ok(next)
    }

    async fn release(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = tokio::time::timeout(
                STATEMENT_TIMEOUT,
                sqlx::query(
                    "UPDATE relay_lease SET expires_at = now() - interval '1 second'
                      WHERE name = $1 AND holder = $2 AND epoch = $3",
                )
                .bind(LEASE)
                .bind(self.holder)
                .bind(self.epoch)
                .execute(conn),
            )
            .await;
        }
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

impl Drop for PgLease {
    /// Dropped without `release` (the relay task panicked): give the lease
    /// back in the background so a restarted relay need not wait it out.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let (holder, epoch) = (self.holder, self.epoch);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = sqlx::query(
                    "UPDATE relay_lease SET expires_at = now() - interval '1 second'
                      WHERE name = $1 AND holder = $2 AND epoch = $3",
                )
                .bind(LEASE)
                .bind(holder)
                .bind(epoch)
                .execute(&mut conn)
                .await;
            });
        }
    }
}

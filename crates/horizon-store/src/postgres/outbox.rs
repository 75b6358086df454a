//! The relay's order on PostgreSQL: the sequencing step and every read or
//! mark the relay (and a replay) makes by outbox position.
//!
//! Writers insert events without any lock shared between processes, so a
//! `bigserial` handed out at insert time is not commit order: a transaction
//! may commit after a younger one, and a reader following "position >
//! last seen" would skip its events. Instead, committed events are numbered
//! after the fact: `event_order.seq`, the outbox position every method here
//! speaks of, is given by [`Sequencer::round`], run before each read of new
//! events.
//!
//! A round numbers, in one statement, the events it sees committed and not
//! yet numbered, above `low_water`, in `events.position` order. That keeps
//! a job's order: its events are written one transaction after another
//! (each locks the job's row), so a later one is inserted after the earlier
//! one committed: it has a higher position, and a round that sees it sees
//! the earlier one too. Seqs only grow (a round starts from the highest
//! committed seq), so a reader never skips one.
//!
//! `low_water` keeps the rounds' scans short. Writers take their
//! transaction id before they insert (`pg_current_xact_id()` in the
//! writer's first statement), and a round reads the positions handed out
//! so far (`through`) before it takes its snapshot: every position up to
//! `through` not visible in the snapshot belongs to a transaction the
//! snapshot lists as running. Once all of those have ended (the oldest
//! running transaction is younger than the newest of them), every position
//! up to `through` is numbered or will never commit, and `low_water`
//! moves up to it.

use std::collections::VecDeque;

use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, PgPool, Row};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::events::event_from_row;
use crate::StoreError;
use crate::params::{OutboxEvent, ParkedEvent, ReplayFilter, ReplaySpan};

/// One round's promise: every position up to `through` is numbered once
/// every transaction up to `newest_running` has ended.
#[derive(Debug, Clone, Copy)]
struct Round {
    through: i64,
    newest_running: i64,
}

/// Rounds not yet known final, oldest first (this process's own; another
/// process's sequencer keeps its own and shares only `low_water`).
#[derive(Debug, Default)]
pub(super) struct Sequencer {
    rounds: Mutex<VecDeque<Round>>,
    /// When this sequencer last ran a round that did not fail.
    last_round: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Rounds kept waiting for their transactions to end, at most.
const MAX_ROUNDS: usize = 256;

/// The most events numbered in one round.
const ROUND_LIMIT: i64 = 20_000;

impl Sequencer {
    /// Number the committed events not numbered yet. Two sequencers at once
    /// (two processes reading the outbox during a takeover) cannot both
    /// commit the same seq: the loser's round fails on the primary key and
    /// leaves the numbering to the winner.
    pub(super) async fn round(&self, pool: &PgPool) -> Result<(), StoreError> {
        let mut rounds = self.rounds.lock().await;
        // the pending rounds change only once this one committed: a round
        // rolled back promises nothing
        let mut pending = rounds.clone();
        let result = match round(pool, &mut pending).await {
            Ok(()) => {
                *rounds = pending;
                Ok(())
            }
            Err(Lost::Race) => Ok(()),
            Err(Lost::Error(err)) => Err(err),
        };
        if result.is_ok()
            && let Ok(mut last) = self.last_round.lock()
        {
            *last = Some(std::time::Instant::now());
        }
        result
    }

    /// A round, unless this sequencer ran one less than `age` ago: keeps
    /// the numbering current when nothing else reads the outbox (no Kafka,
    /// no stream open, no webhook), so that events do not pile up
    /// unnumbered for the next reader.
    pub(super) async fn round_if_older_than(
        &self,
        pool: &PgPool,
        age: std::time::Duration,
    ) -> Result<(), StoreError> {
        let recent = self
            .last_round
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() < age);
        if recent {
            return Ok(());
        }
        self.round(pool).await
    }
}

/// Why a round numbered nothing.
enum Lost {
    /// Another sequencer numbered the same events first.
    Race,
    Error(StoreError),
}

impl<E: Into<StoreError>> From<E> for Lost {
    fn from(err: E) -> Self {
        Lost::Error(err.into())
    }
}

async fn round(pool: &PgPool, rounds: &mut VecDeque<Round>) -> Result<(), Lost> {
    let mut conn = pool.acquire().await?;
    // the positions handed out so far, read before the snapshot
    let through: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_position_seq",
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    // the snapshot's oldest running transaction, and this round's own id:
    // every transaction that may hold a position up to `through` took its
    // id before that position, so before this one
    let (oldest_running, own): (i64, i64) = sqlx::query_as(
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
                pg_current_xact_id()::text::bigint",
    )
    .fetch_one(&mut *tx)
    .await?;
    let low_water: i64 = sqlx::query_scalar("SELECT low_water FROM outbox_sequencer WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    // the rounds whose transactions have all ended since
    let mut settled = low_water;
    while let Some(round) = rounds.front().copied() {
        if round.newest_running >= oldest_running {
            break;
        }
        settled = settled.max(round.through);
        rounds.pop_front();
    }
    // (scanned from the old low-water mark: what the settled rounds waited
    // for may have committed just now)
    let numbered: Vec<i64> = sqlx::query_scalar(
        "WITH todo AS (
            SELECT e.position FROM events e
             WHERE e.position > $1
               AND NOT EXISTS (SELECT 1 FROM event_order o WHERE o.position = e.position)
             ORDER BY e.position LIMIT $2),
         base AS (SELECT COALESCE(max(seq), 0) AS b FROM event_order)
         INSERT INTO event_order (seq, position)
         SELECT base.b + row_number() OVER (ORDER BY todo.position), todo.position
           FROM todo, base
         RETURNING position",
    )
    .bind(low_water)
    .bind(ROUND_LIMIT)
    .fetch_all(&mut *tx)
    .await
    .map_err(lost_race)?;
    // this round's own promise: a full round settles only what it read
    let this = Round {
        through: if numbered.len() >= ROUND_LIMIT as usize {
            numbered.iter().copied().max().unwrap_or(low_water)
        } else {
            through
        },
        newest_running: own,
    };
    if rounds.len() >= MAX_ROUNDS
        && let Some(last) = rounds.back_mut()
    {
        // (a transaction that runs for long holds every round back: the
        // newest rounds settle together rather than one entry a round)
        last.through = last.through.max(this.through);
        last.newest_running = this.newest_running;
    } else {
        rounds.push_back(this);
    }
    if settled > low_water {
        sqlx::query("UPDATE outbox_sequencer SET low_water = GREATEST(low_water, $1) WHERE id = 1")
            .bind(settled)
            .execute(&mut *tx)
            .await
            .map_err(lost_race)?;
    }
    if numbered.is_empty() && settled == low_water {
        // nothing written: no commit to wait for (the promise stands)
        tx.rollback().await?;
        return Ok(());
    }
    tx.commit().await.map_err(lost_race)
}

/// Another sequencer numbered the same events first (a unique violation or
/// a serialization failure): not an error of the read that asked.
fn lost_race(err: sqlx::Error) -> Lost {
    if let sqlx::Error::Database(db) = &err
        && matches!(db.code().as_deref(), Some("23505" | "40001"))
    {
        return Lost::Race;
    }
    Lost::Error(err.into())
}

/// The outbox's rows with their seq (`relay_position`), as outbox events.
const SELECT: &str = "SELECT e.*, o.seq AS relay_position
    FROM event_order o JOIN events e ON e.position = o.position";

fn outbox_from_row(row: &PgRow) -> Result<OutboxEvent, StoreError> {
    Ok(OutboxEvent {
        position: row.try_get("relay_position")?,
        created_at: row.try_get("created_at")?,
        event: event_from_row(row)?,
    })
}

/// Where a read from the start may begin: the lowest seq of an event in
/// the state asked for (a scan of that state's partial index, not of the
/// whole history).
async fn floor(pool: &PgPool, parked: bool, after: i64) -> Result<i64, StoreError> {
    if after > 0 {
        return Ok(after);
    }
    let sql = if parked {
        "SELECT min(o.seq) - 1 FROM events e JOIN event_order o ON o.position = e.position
          WHERE e.published_at IS NULL AND e.parked_at IS NOT NULL"
    } else {
        "SELECT min(o.seq) - 1 FROM events e JOIN event_order o ON o.position = e.position
          WHERE e.published_at IS NULL AND e.parked_at IS NULL"
    };
    let lowest: Option<i64> = sqlx::query_scalar(sql).fetch_one(pool).await?;
    Ok(lowest.unwrap_or(after).max(after))
}

async fn outbox_rows(
    pool: &PgPool,
    parked: bool,
    after: i64,
    limit: u32,
) -> Result<Vec<PgRow>, StoreError> {
    let after = floor(pool, parked, after).await?;
    let state = if parked {
        "e.parked_at IS NOT NULL"
    } else {
        "e.parked_at IS NULL"
    };
    let sql = format!(
        "{SELECT} WHERE o.seq > $1 AND e.published_at IS NULL AND {state}
         ORDER BY o.seq LIMIT $2"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?)
}

/// Events neither published nor parked after `after`, numbering those
/// committed since the last round first.
pub(super) async fn unpublished(
    pool: &PgPool,
    sequencer: &Sequencer,
    after: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    sequencer.round(pool).await?;
    let rows = outbox_rows(pool, false, after, limit).await?;
    rows.iter().map(outbox_from_row).collect()
}

pub(super) async fn parked(
    pool: &PgPool,
    after: i64,
    limit: u32,
) -> Result<Vec<ParkedEvent>, StoreError> {
    let rows = outbox_rows(pool, true, after, limit).await?;
    rows.iter()
        .map(|row| {
            Ok(ParkedEvent {
                position: row.try_get("relay_position")?,
                parked_at: row.try_get("parked_at")?,
                reason: row.try_get("park_reason")?,
                event: event_from_row(row)?,
            })
        })
        .collect()
}

/// Un-parked events waiting to be sent again, up to `through`.
pub(super) async fn unparked(
    pool: &PgPool,
    through: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let sql = format!(
        "{SELECT} WHERE e.published_at IS NULL AND e.parked_at IS NULL
           AND e.park_reason IS NOT NULL AND o.seq <= $1
         ORDER BY o.seq LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(through)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(outbox_from_row).collect()
}

/// The stored events a replay selects, after `after` (numbering those
/// committed since the last round first).
pub(super) async fn replay(
    pool: &PgPool,
    sequencer: &Sequencer,
    filter: &ReplayFilter,
    after: i64,
    limit: u32,
) -> Result<Vec<OutboxEvent>, StoreError> {
    sequencer.round(pool).await?;
    let sql = format!(
        "{SELECT} WHERE o.seq > $1 AND o.seq >= $2
           AND ($3::uuid IS NULL OR e.job_id = $3) AND ($4::timestamptz IS NULL OR e.created_at >= $4)
           AND ($6::bigint IS NULL OR o.seq <= $6)
           AND ($7::text IS NULL OR e.job_id IN (SELECT id FROM jobs WHERE user_id = $7))
           AND (NOT $8 OR e.stream <> 'audit')
         ORDER BY o.seq LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(filter.from_position.unwrap_or(0))
        .bind(filter.job_id)
        .bind(filter.since)
        .bind(i64::from(limit))
        .bind(filter.through_position)
        .bind(&filter.user_id)
        .bind(filter.jobs_only)
        .fetch_all(pool)
        .await?;
    rows.iter().map(outbox_from_row).collect()
}

/// What a replay selects, numbering the events committed since the last
/// round first (a replay takes in everything committed before it began).
pub(super) async fn replay_span(
    pool: &PgPool,
    sequencer: &Sequencer,
    filter: &ReplayFilter,
) -> Result<ReplaySpan, StoreError> {
    sequencer.round(pool).await?;
    let (n, last): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(MAX(o.seq), 0)
           FROM event_order o JOIN events e ON e.position = o.position
          WHERE o.seq >= $1
           AND ($2::uuid IS NULL OR e.job_id = $2) AND ($3::timestamptz IS NULL OR e.created_at >= $3)
           AND ($4::bigint IS NULL OR o.seq <= $4)
           AND ($5::text IS NULL OR e.job_id IN (SELECT id FROM jobs WHERE user_id = $5))
           AND (NOT $6 OR e.stream <> 'audit')",
    )
    .bind(filter.from_position.unwrap_or(0))
    .bind(filter.job_id)
    .bind(filter.since)
    .bind(filter.through_position)
    .bind(&filter.user_id)
    .bind(filter.jobs_only)
    .fetch_one(pool)
    .await?;
    Ok(ReplaySpan {
        count: u64::try_from(n).unwrap_or(0),
        last_position: last,
    })
}

pub(super) async fn mark_published(
    conn: &mut PgConnection,
    positions: &[i64],
) -> Result<(), StoreError> {
    if positions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE events SET published_at = $1
          WHERE position IN (SELECT position FROM event_order WHERE seq = ANY($2))",
    )
    .bind(OffsetDateTime::now_utc())
    .bind(positions)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every event up to `position` that was never parked is published (the
/// exactly-once relay's position, committed to Kafka).
pub(super) async fn mark_published_through(
    conn: &mut PgConnection,
    position: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE events e SET published_at = $1 FROM event_order o
         WHERE o.position = e.position AND o.seq <= $2
           AND e.published_at IS NULL AND e.parked_at IS NULL AND e.park_reason IS NULL",
    )
    .bind(OffsetDateTime::now_utc())
    .bind(position)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

pub(super) async fn park(
    conn: &mut PgConnection,
    positions: &[i64],
    reason: &str,
) -> Result<(), StoreError> {
    if positions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE events SET parked_at = $1, park_reason = $2
         WHERE published_at IS NULL
           AND position IN (SELECT position FROM event_order WHERE seq = ANY($3))",
    )
    .bind(OffsetDateTime::now_utc())
    .bind(reason)
    .bind(positions)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

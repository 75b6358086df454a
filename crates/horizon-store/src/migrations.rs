//! Schema migrations, shared by both stores: each one applied is logged with
//! its number and name, and a database migrated by a newer release (one that
//! has a migration this binary does not know) is refused with a message
//! that says so, instead of sqlx's "migration N was previously applied but
//! is missing in the resolved migrations".

use sqlx::migrate::{MigrateError, Migrator};
use tracing::info;

use crate::StoreError;

const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";

/// The versions applied so far (none: a new database).
pub(crate) async fn applied_pg(pool: &sqlx::PgPool) -> Vec<i64> {
    sqlx::query_scalar(APPLIED)
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

/// The versions applied so far (none: a new database).
pub(crate) async fn applied_sqlite(pool: &sqlx::SqlitePool) -> Vec<i64> {
    sqlx::query_scalar(APPLIED)
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

/// Log what `run` applied: the versions in `after` not in `before`.
pub(crate) fn log_applied(migrator: &Migrator, database: &str, before: &[i64], after: &[i64]) {
    for migration in migrator.iter() {
        if after.contains(&migration.version) && !before.contains(&migration.version) {
            info!(
                migration = migration.version,
                "{database}: applied migration {:04} ({})",
                migration.version,
                migration.description
            );
        }
    }
    if after.len() == before.len() {
        info!(
            "{database}: schema up to date (migration {:04})",
            after.last().copied().unwrap_or(0)
        );
    }
}

/// `run`'s error, with the one an operator meets after a downgrade said
/// plainly.
pub(crate) fn refused(migrator: &Migrator, database: &str, err: MigrateError) -> StoreError {
    match err {
        MigrateError::VersionMissing(version) => StoreError::Incompatible(format!(
            "the {database} database was migrated by a newer Horizon: it has migration {version:04}, \
             this release knows migrations up to {:04}. Run the newer release (or restore the \
             backup made before the upgrade)",
            migrator.iter().map(|m| m.version).max().unwrap_or(0)
        )),
        other => other.into(),
    }
}

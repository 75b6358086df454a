//! Converting between SQLite rows and domain values.

use std::str::FromStr;

use horizon_core::{BackendKind, Job, JobError, JobStatus, Resources};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

pub(crate) fn format_time(at: OffsetDateTime) -> String {
    horizon_core::timestamp::format(at)
}

pub(crate) fn parse_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    horizon_core::timestamp::parse(text)
        .map_err(|err| StoreError::Corrupt(format!("timestamp {text:?}: {err}")))
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|err| StoreError::Corrupt(format!("uuid {text:?}: {err}")))
}

fn opt_time(row: &SqliteRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .as_deref()
        .map(parse_time)
        .transpose()
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

pub(crate) fn job_from_row(row: &SqliteRow) -> Result<Job, StoreError> {
    let parameters: String = row.try_get("parameters")?;
    let error = match row.try_get::<Option<String>, _>("error_code")? {
        Some(code) => Some(JobError {
            code,
            message: row
                .try_get::<Option<String>, _>("error_message")?
                .unwrap_or_default(),
            exit_code: row.try_get("error_exit_code")?,
        }),
        None => None,
    };
    Ok(Job {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        user_id: row.try_get("user_id")?,
        agent: row.try_get("agent")?,
        dataset_id: row.try_get("dataset_id")?,
        parameters: serde_json::from_str(&parameters)?,
        backend: BackendKind::from_str(&row.try_get::<String, _>("backend")?).map_err(corrupt)?,
        resources: match row.try_get::<Option<String>, _>("resources")? {
            Some(text) => serde_json::from_str(&text)?,
            None => Resources::default(),
        },
        status: JobStatus::from_str(&row.try_get::<String, _>("status")?).map_err(corrupt)?,
        remote_job_id: row.try_get("remote_job_id")?,
        correlation_id: row.try_get("correlation_id")?,
        error,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
        started_at: opt_time(row, "started_at")?,
        finished_at: opt_time(row, "finished_at")?,
        lifecycle_sequence: u64::try_from(row.try_get::<i64, _>("lifecycle_sequence")?)
            .map_err(corrupt)?,
        metrics_sequence: u64::try_from(row.try_get::<i64, _>("metrics_sequence")?)
            .map_err(corrupt)?,
    })
}

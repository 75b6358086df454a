//! Converting between SQLite rows and domain values.

use std::str::FromStr;

use horizon_core::{BackendKind, Job, JobError, JobStatus, Resources};
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

/// The columns of a row by name, NULL as `None`.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError>;

    fn required_text(&self, column: &str) -> Result<String, StoreError> {
        self.text(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {column} is NULL")))
    }
    fn required_int(&self, column: &str) -> Result<i64, StoreError> {
        self.int(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {column} is NULL")))
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(column)?)
    }
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.get(column)?)
    }
}

fn opt_time(row: &impl Columns, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.text(column)?.as_deref().map(parse_time).transpose()
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

pub(crate) fn job_from_row(row: &impl Columns) -> Result<Job, StoreError> {
    let parameters = row.required_text("parameters")?;
    let error = match row.text("error_code")? {
        Some(code) => Some(JobError {
            code,
            message: row.text("error_message")?.unwrap_or_default(),
            exit_code: row
                .int("error_exit_code")?
                .map(i32::try_from)
                .transpose()
                .map_err(corrupt)?,
        }),
        None => None,
    };
    Ok(Job {
        id: parse_uuid(&row.required_text("id")?)?,
        user_id: row.required_text("user_id")?,
        agent: row.required_text("agent")?,
        dataset_id: row.required_text("dataset_id")?,
        parameters: serde_json::from_str(&parameters)?,
        backend: BackendKind::from_str(&row.required_text("backend")?).map_err(corrupt)?,
        resources: match row.text("resources")? {
            Some(text) => serde_json::from_str(&text)?,
            None => Resources::default(),
        },
        status: JobStatus::from_str(&row.required_text("status")?).map_err(corrupt)?,
        remote_job_id: row.text("remote_job_id")?,
        correlation_id: row.required_text("correlation_id")?,
        error,
        created_at: parse_time(&row.required_text("created_at")?)?,
        updated_at: parse_time(&row.required_text("updated_at")?)?,
        started_at: opt_time(row, "started_at")?,
        finished_at: opt_time(row, "finished_at")?,
        lifecycle_sequence: u64::try_from(row.required_int("lifecycle_sequence")?)
            .map_err(corrupt)?,
        metrics_sequence: u64::try_from(row.required_int("metrics_sequence")?).map_err(corrupt)?,
        handed_over: row.text("handed_over_at")?.is_some(),
        // (one process: nothing to fence)
        claim_epoch: 0,
        account: row.text("account")?,
        location: row.text("location")?,
        traceparent: row.text("traceparent")?,
        held: row.int("held")?.unwrap_or(0) != 0,
        cloned_from: row
            .text("cloned_from")?
            .map(|id| parse_uuid(&id))
            .transpose()?,
        attempt: u32::try_from(row.int("attempt")?.unwrap_or(1)).map_err(corrupt)?,
        max_attempts: u32::try_from(row.int("max_attempts")?.unwrap_or(1)).map_err(corrupt)?,
        retry: match row.text("retry_policy")? {
            Some(text) => Some(serde_json::from_str(&text)?),
            None => None,
        },
        next_attempt_at: opt_time(row, "next_attempt_at")?,
        depends_on: match row.text("depends_on")? {
            Some(text) => serde_json::from_str(&text)?,
            None => Vec::new(),
        },
        waiting: row.int("waiting")?.unwrap_or(0) != 0,
        sweep_id: row
            .text("sweep_id")?
            .map(|id| parse_uuid(&id))
            .transpose()?,
        sweep_index: row
            .int("sweep_index")?
            .map(u32::try_from)
            .transpose()
            .map_err(corrupt)?,
        gated: row.int("gated")?.unwrap_or(0) != 0,
        scheduler_dependency: row.text("scheduler_dependency")?,
        queued_at: opt_time(row, "queued_at")?,
        exit_code: row
            .int("exit_code")?
            .map(i32::try_from)
            .transpose()
            .map_err(corrupt)?,
    })
}

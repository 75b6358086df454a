//! Retention (`[retention]`): ended jobs with their events and directories,
//! and audit records, deleted once older than their configured age, in the
//! background, a batch at a time (never one whose events have not reached
//! Kafka, when Kafka is on). The API answers 404 for a pruned job.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use horizon_store::Store;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::RetentionSettings;
use crate::telemetry::PRUNED;

/// What one process prunes, and where its jobs' directories are.
#[derive(Debug, Clone)]
pub struct Retention {
    pub store: Arc<dyn Store>,
    pub settings: RetentionSettings,
    /// With Kafka on, only what Kafka has.
    pub published_only: bool,
    /// Directories `<dir>/<job id>` to remove with a pruned job (the local
    /// jobs directory; Slurm's when it is on this machine).
    pub job_dirs: Vec<PathBuf>,
}

impl Retention {
    /// The directories jobs of these settings have on this machine.
    pub fn job_dirs_of(settings: &crate::config::Settings) -> Vec<PathBuf> {
        let mut dirs = vec![
            settings
                .local
                .jobs_dir
                .clone()
                .unwrap_or_else(|| settings.data_dir.join("jobs")),
        ];
        if settings.slurm.ssh.is_none() {
            dirs.push(
                settings
                    .slurm
                    .jobs_dir
                    .as_ref()
                    .map_or_else(|| settings.data_dir.join("slurm"), PathBuf::from),
            );
        }
        dirs
    }

    /// Whether anything is to be pruned at all.
    pub fn enabled(&self) -> bool {
        self.settings.ended_jobs.is_some() || self.settings.audit.is_some()
    }

    /// Prune forever, every `interval_ms`.
    pub async fn run(self) {
        let mut every =
            tokio::time::interval(Duration::from_millis(self.settings.interval_ms.max(100)));
        loop {
            every.tick().await;
            if let Err(err) = self.pass().await {
                warn!("retention pass failed (tried again next pass): {err}");
            }
        }
    }

    /// One pass: batches until nothing older is left.
    pub async fn pass(&self) -> Result<(), horizon_store::StoreError> {
        let batch = self.settings.batch.clamp(1, 10_000);
        let now = OffsetDateTime::now_utc();
        if let Some(age) = self.settings.ended_jobs {
            let before = now - age;
            let mut total = 0;
            loop {
                let ids = self
                    .store
                    .prune_jobs(before, self.published_only, batch)
                    .await?;
                for id in &ids {
                    for dir in &self.job_dirs {
                        let path = dir.join(id.to_string());
                        match std::fs::remove_dir_all(&path) {
                            Ok(()) => {}
                            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                            Err(err) => warn!(job.id = %id,
                                "cannot remove the directory {} of pruned job {id}: {err}",
                                path.display()),
                        }
                    }
                }
                total += ids.len();
                metrics::counter!(PRUNED, "what" => "jobs").increment(ids.len() as u64);
                if ids.len() < batch as usize {
                    break;
                }
                // (a breath between batches for the requests)
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if total > 0 {
                info!("retention: pruned {total} job(s) that ended before {before}");
            }
        }
        if let Some(age) = self.settings.audit {
            let before = now - age;
            let mut total = 0;
            loop {
                let n = self
                    .store
                    .prune_audit(before, self.published_only, batch)
                    .await?;
                total += n;
                metrics::counter!(PRUNED, "what" => "audit").increment(n);
                if n < u64::from(batch) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if total > 0 {
                info!("retention: pruned {total} audit record(s) older than {before}");
            }
        }
        Ok(())
    }
}

//! Holding and releasing a pending Slurm job (`scontrol uhold` / `release`):
//! a user hold (`JobHeldUser`, as if by the job's owner, who may release it
//! too), not an administrator's (`scontrol hold` run by Slurm's own user).

use horizon_core::Job;

use super::SlurmBackend;
use crate::BackendError;

impl SlurmBackend {
    /// `scontrol uhold|release <id>` for a job Slurm has (QUEUED).
    pub(super) async fn scontrol_hold(&self, job: &Job, hold: bool) -> Result<(), BackendError> {
        let verb = if hold { "hold" } else { "release" };
        let command = if hold { "uhold" } else { "release" };
        let Some(remote) = &job.remote_job_id else {
            return Err(BackendError::Rejected(format!(
                "job {} has no Slurm job id yet: nothing to {verb}",
                job.id
            )));
        };
        let output = self
            .run(vec![
                self.command("scontrol"),
                command.to_owned(),
                remote.clone(),
            ])
            .await?;
        if output.success {
            return Ok(());
        }
        let complaint = output.complaint();
        // started, ended or gone: no longer pending, nothing to hold
        let lower = complaint.to_lowercase();
        if lower.contains("pending")
            || lower.contains("already")
            || lower.contains("invalid job id")
            || lower.contains("completed")
        {
            Err(BackendError::Rejected(format!(
                "Slurm job {remote} cannot be {verb}ed: {complaint}"
            )))
        } else {
            Err(BackendError::Unavailable(format!(
                "scontrol {command} {remote}: {complaint}"
            )))
        }
    }
}

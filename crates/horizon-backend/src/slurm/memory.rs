//! Running out of memory on Slurm without cgroups: with
//! `JobAcctGatherParams=OverMemoryKill` Slurm kills a step past its `--mem`
//! when it samples it, reports the job FAILED (signal 9, often with the
//! reason `JobLaunchFailure`), and says why only in the job's stderr
//! (`slurmstepd: error: Exceeded job memory limit`). A failure of a job
//! that asked for memory is read again from there, so that it is
//! `SCHEDULER_OUT_OF_MEMORY` (which retry policies can escalate), not a
//! launch failure or a signal. With cgroups Slurm says `OUT_OF_MEMORY`
//! itself (`state.rs`).

use horizon_core::{Job, error_codes};

use super::SlurmBackend;
use crate::{Backend, LogRange, LogStream, Update};

/// How much of the end of stderr is read.
const TAIL_BYTES: u64 = 8192;

/// What slurmstepd writes when it kills a step past its memory.
fn says_out_of_memory(stderr: &str) -> bool {
    stderr.contains("Exceeded job memory limit") || stderr.contains("exceeded memory limit")
}

impl SlurmBackend {
    /// `update` with its error made `SCHEDULER_OUT_OF_MEMORY` when the job
    /// asked for memory, failed otherwise than by its own exit code, and
    /// its stderr says Slurm killed it for memory.
    pub(super) async fn out_of_memory(&self, job: &Job, update: Update) -> Update {
        let Update::Failed {
            started_at,
            finished_at,
            mut error,
        } = update
        else {
            return update;
        };
        let candidate = job.resources.memory_mb.is_some()
            && match error.code.as_str() {
                error_codes::LAUNCH_FAILED | error_codes::KILLED_BY_SIGNAL => true,
                // (a shell reports a killed program as 128 + its signal)
                error_codes::NONZERO_EXIT => error.exit_code.is_none_or(|code| code > 128),
                _ => false,
            };
        if candidate
            && let Ok(chunk) = self
                .logs(job, LogStream::Stderr, LogRange::Tail(TAIL_BYTES))
                .await
            && says_out_of_memory(&String::from_utf8_lossy(&chunk.bytes))
        {
            error.code = error_codes::SCHEDULER_OUT_OF_MEMORY.to_owned();
            error.message = format!(
                "Slurm killed it past its memory of {} MB ({})",
                job.resources.memory_mb.unwrap_or_default(),
                error.message
            );
        }
        Update::Failed {
            started_at,
            finished_at,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurmstepd_s_words_are_recognized() {
        assert!(says_out_of_memory(
            "slurmstepd-localhost: error: Exceeded job memory limit\n"
        ));
        assert!(says_out_of_memory(
            "error: StepId=1605.batch exceeded memory limit (330072064 > 104857600), being killed"
        ));
        assert!(!says_out_of_memory("Traceback: ValueError"));
    }
}

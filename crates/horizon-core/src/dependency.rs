//! Jobs that run after others: a dependency names a job and a condition on
//! how it ended. Pure: whether a condition is met, pending, or can never be
//! met, from the other job's status.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::job::ParseError;
use crate::status::JobStatus;

/// How the job depended on must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// It COMPLETED.
    AfterOk,
    /// It ended, however.
    AfterAny,
    /// It FAILED or was CANCELLED.
    AfterNotOk,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::AfterOk => "after_ok",
            Condition::AfterAny => "after_any",
            Condition::AfterNotOk => "after_not_ok",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Condition {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "after_ok" => Ok(Condition::AfterOk),
            "after_any" => Ok(Condition::AfterAny),
            "after_not_ok" => Ok(Condition::AfterNotOk),
            other => Err(ParseError::new("dependency condition", other)),
        }
    }
}

/// One job, or one sweep (all its jobs), that must have ended a certain way
/// first. Exactly one of `job_id` and `sweep_id` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_id: Option<Uuid>,
    pub condition: Condition,
}

/// Where a dependency stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Met,
    /// The job depended on has not ended yet.
    Pending,
    /// It ended otherwise: this condition can never be met.
    Never,
}

impl Dependency {
    pub fn on_job(job_id: Uuid, condition: Condition) -> Self {
        Dependency {
            job_id: Some(job_id),
            sweep_id: None,
            condition,
        }
    }

    pub fn on_sweep(sweep_id: Uuid, condition: Condition) -> Self {
        Dependency {
            job_id: None,
            sweep_id: Some(sweep_id),
            condition,
        }
    }

    /// The id of what it waits for (a job's or a sweep's).
    pub fn target(&self) -> Uuid {
        self.job_id.or(self.sweep_id).unwrap_or_default()
    }

    /// Given how many of the sweep's jobs are in each status: met once all
    /// ended as the condition says (`after_ok`: all COMPLETED; `after_any`:
    /// all ended; `after_not_ok`: all ended, at least one not COMPLETED);
    /// `after_ok` can never be met once one ended otherwise (Slurm's
    /// `kill_invalid_depend`), `after_not_ok` once all COMPLETED.
    pub fn standing_of_sweep(&self, counts: &BTreeMap<JobStatus, u64>) -> Standing {
        let n = |s: JobStatus| counts.get(&s).copied().unwrap_or(0);
        let not_ok = n(JobStatus::Failed) + n(JobStatus::Cancelled);
        let unfinished = n(JobStatus::Submitted) + n(JobStatus::Queued) + n(JobStatus::Running);
        match self.condition {
            Condition::AfterOk if not_ok > 0 => Standing::Never,
            Condition::AfterNotOk if unfinished == 0 && not_ok == 0 => Standing::Never,
            _ if unfinished > 0 => Standing::Pending,
            _ => Standing::Met,
        }
    }

    /// Given the status of the job depended on.
    pub fn standing(&self, status: JobStatus) -> Standing {
        if !status.is_terminal() {
            return Standing::Pending;
        }
        let met = match self.condition {
            Condition::AfterOk => status == JobStatus::Completed,
            Condition::AfterAny => true,
            Condition::AfterNotOk => status != JobStatus::Completed,
        };
        if met { Standing::Met } else { Standing::Never }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_condition_against_each_status() {
        use JobStatus::*;
        let dep = |condition| Dependency::on_job(Uuid::nil(), condition);
        for status in [Submitted, Queued, Running] {
            for c in [
                Condition::AfterOk,
                Condition::AfterAny,
                Condition::AfterNotOk,
            ] {
                assert_eq!(dep(c).standing(status), Standing::Pending);
            }
        }
        assert_eq!(dep(Condition::AfterOk).standing(Completed), Standing::Met);
        assert_eq!(dep(Condition::AfterOk).standing(Failed), Standing::Never);
        assert_eq!(dep(Condition::AfterOk).standing(Cancelled), Standing::Never);
        assert_eq!(dep(Condition::AfterAny).standing(Failed), Standing::Met);
        assert_eq!(
            dep(Condition::AfterNotOk).standing(Completed),
            Standing::Never
        );
        assert_eq!(
            dep(Condition::AfterNotOk).standing(Cancelled),
            Standing::Met
        );
        assert_eq!("after_not_ok".parse(), Ok(Condition::AfterNotOk));
        assert!("after".parse::<Condition>().is_err());
    }

    #[test]
    fn a_sweep_is_met_when_all_its_jobs_ended_so() {
        use JobStatus::*;
        let counts = |pairs: &[(JobStatus, u64)]| pairs.iter().copied().collect();
        let ok = Dependency::on_sweep(Uuid::nil(), Condition::AfterOk);
        let any = Dependency::on_sweep(Uuid::nil(), Condition::AfterAny);
        let not_ok = Dependency::on_sweep(Uuid::nil(), Condition::AfterNotOk);
        let running = counts(&[(Running, 2), (Completed, 3)]);
        assert_eq!(ok.standing_of_sweep(&running), Standing::Pending);
        assert_eq!(any.standing_of_sweep(&running), Standing::Pending);
        let all_ok = counts(&[(Completed, 5)]);
        assert_eq!(ok.standing_of_sweep(&all_ok), Standing::Met);
        assert_eq!(not_ok.standing_of_sweep(&all_ok), Standing::Never);
        let one_failed = counts(&[(Running, 2), (Failed, 1), (Completed, 2)]);
        assert_eq!(ok.standing_of_sweep(&one_failed), Standing::Never);
        assert_eq!(not_ok.standing_of_sweep(&one_failed), Standing::Pending);
        let ended = counts(&[(Cancelled, 1), (Completed, 4)]);
        assert_eq!(any.standing_of_sweep(&ended), Standing::Met);
        assert_eq!(not_ok.standing_of_sweep(&ended), Standing::Met);
        let stored: Dependency = serde_json::from_str(
            r#"{"job_id":"00000000-0000-0000-0000-000000000000","condition":"after_ok"}"#,
        )
        .expect("a dependency stored before sweeps");
        assert_eq!(stored, Dependency::on_job(Uuid::nil(), Condition::AfterOk));
    }
}

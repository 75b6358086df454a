//! Jobs that run after others: a dependency names a job and a condition on
//! how it ended. Pure: whether a condition is met, pending, or can never be
//! met, from the other job's status.

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

/// One job that must have ended a certain way first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub job_id: Uuid,
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
        let dep = |condition| Dependency {
            job_id: Uuid::nil(),
            condition,
        };
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
}

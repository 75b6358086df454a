//! Retry policies: which failures of a job are worth another attempt, when
//! the next one starts, and with what resources (escalation after running
//! out of memory or time). Pure: the caller brings the clock and the jitter.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::job::{Job, JobError, error_codes};
use crate::resources::Resources;
use crate::transition::Command;

/// The longest a backoff grows to.
const MAX_BACKOFF_SECONDS: f64 = 3600.0;

/// An agent's retry policy (narrowed per request), kept with each job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Every run counts, the first included: 3 means up to two retries.
    pub attempts: u32,
    /// The wait before the first retry; doubled for each later one (at most
    /// an hour), with up to ±20 % jitter.
    #[serde(default = "default_backoff")]
    pub backoff_seconds: f64,
    /// Error codes that are retried (`NODE_FAIL`, `PREEMPTED`,
    /// `SCHEDULER_TIMEOUT`, `SCHEDULER_OUT_OF_MEMORY`, `LAUNCH_FAILED`,
    /// `AGENT_LOST`, …).
    #[serde(default)]
    pub on: Vec<String>,
    /// Exit codes of a `NONZERO_EXIT` that are retried.
    #[serde(default)]
    pub exit_codes: Vec<i32>,
    /// After `SCHEDULER_OUT_OF_MEMORY`, the next attempt asks for this many
    /// times the memory (capped by the agent's maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_factor: Option<f64>,
    /// After `SCHEDULER_TIMEOUT`, the next attempt asks for this many times
    /// the wall time (capped by the agent's maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walltime_factor: Option<f64>,
    /// The agent's maxima, which escalation does not pass (recorded with
    /// the job when it was submitted).
    #[serde(default)]
    pub max_resources: Resources,
}

fn default_backoff() -> f64 {
    10.0
}

impl RetryPolicy {
    /// Whether this failure is one the policy retries.
    pub fn covers(&self, error: &JobError) -> bool {
        if error.code == error_codes::NONZERO_EXIT {
            return error
                .exit_code
                .is_some_and(|code| self.exit_codes.contains(&code));
        }
        self.on.contains(&error.code)
    }

    /// How long to wait before attempt `next` (2 for the first retry);
    /// `jitter` in [-1, 1] moves it by up to 20 %.
    pub fn backoff(&self, next: u32, jitter: f64) -> f64 {
        let doublings = next.saturating_sub(2).min(30);
        let base = (self.backoff_seconds.max(0.0) * f64::from(1u32 << doublings.min(20)))
            .min(MAX_BACKOFF_SECONDS);
        (base * (1.0 + 0.2 * jitter.clamp(-1.0, 1.0))).max(0.0)
    }

    /// The resources of the next attempt after `error`.
    pub fn escalate(&self, resources: Resources, error: &JobError) -> Resources {
        let mut next = resources;
        let grow = |value: u64, factor: f64, max: Option<u64>| -> u64 {
            let grown = ((value as f64) * factor).ceil() as u64;
            let grown = grown.max(value);
            max.map_or(grown, |max| grown.min(max.max(value)))
        };
        if error.code == error_codes::SCHEDULER_OUT_OF_MEMORY
            && let (Some(factor), Some(mb)) = (self.memory_factor, resources.memory_mb)
        {
            next.memory_mb = Some(grow(mb, factor, self.max_resources.memory_mb));
        }
        if error.code == error_codes::SCHEDULER_TIMEOUT
            && let (Some(factor), Some(minutes)) =
                (self.walltime_factor, resources.walltime_minutes)
        {
            let max = self.max_resources.walltime_minutes.map(u64::from);
            let grown = grow(u64::from(minutes), factor, max);
            next.walltime_minutes = Some(u32::try_from(grown).unwrap_or(u32::MAX));
        }
        next
    }

    /// Check a policy from the configuration or a request: the message
    /// names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.attempts == 0 {
            return Err("retry.attempts must be at least 1 (the first run counts)".into());
        }
        if self.attempts > 100 {
            return Err(format!("retry.attempts is {}; at most 100", self.attempts));
        }
        if !self.backoff_seconds.is_finite() || self.backoff_seconds < 0.0 {
            return Err("retry.backoff_seconds must be 0 or more".into());
        }
        for (name, factor) in [
            ("memory_factor", self.memory_factor),
            ("walltime_factor", self.walltime_factor),
        ] {
            if let Some(factor) = factor
                && !(factor.is_finite() && (1.0..=100.0).contains(&factor))
            {
                return Err(format!(
                    "retry.{name} must be between 1 and 100, got {factor}"
                ));
            }
        }
        Ok(())
    }
}

/// What happens after `job`'s attempt failed with `error` at `at`: another
/// attempt (a `Command::Retry`) when its policy covers the failure and
/// attempts are left, else its failure (`Command::Fail`).
pub fn after_failure(job: &Job, error: JobError, at: OffsetDateTime, jitter: f64) -> Command {
    match &job.retry {
        Some(policy) if job.attempt < job.max_attempts && policy.covers(&error) => {
            let next = job.attempt + 1;
            let wait = policy.backoff(next, jitter);
            let due = at + time::Duration::seconds_f64(wait);
            Command::Retry {
                resources: policy.escalate(job.resources, &error),
                next_attempt_at: due,
                error,
                at,
            }
        }
        _ => Command::Fail { error, at },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            backoff_seconds: 10.0,
            on: vec!["NODE_FAIL".into(), "SCHEDULER_OUT_OF_MEMORY".into()],
            exit_codes: vec![75],
            memory_factor: Some(2.0),
            walltime_factor: Some(1.5),
            max_resources: Resources {
                memory_mb: Some(3000),
                ..Resources::default()
            },
        }
    }

    #[test]
    fn covers_the_codes_and_exit_codes_it_names_only() {
        let p = policy();
        assert!(p.covers(&JobError::new("NODE_FAIL", "")));
        assert!(!p.covers(&JobError::new("PREEMPTED", "")));
        assert!(p.covers(&JobError::new("NONZERO_EXIT", "").with_exit_code(75)));
        assert!(!p.covers(&JobError::new("NONZERO_EXIT", "").with_exit_code(1)));
        assert!(!p.covers(&JobError::new("NONZERO_EXIT", "")));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = policy();
        assert_eq!(p.backoff(2, 0.0), 10.0);
        assert_eq!(p.backoff(3, 0.0), 20.0);
        assert_eq!(p.backoff(4, 1.0), 48.0);
        assert_eq!(p.backoff(2, -1.0), 8.0);
        assert_eq!(p.backoff(40, 0.0), MAX_BACKOFF_SECONDS);
    }

    #[test]
    fn escalation_grows_the_resource_that_ran_out_up_to_the_maximum() {
        let p = policy();
        let asked = Resources {
            memory_mb: Some(1000),
            walltime_minutes: Some(10),
            ..Resources::default()
        };
        let oom = JobError::new("SCHEDULER_OUT_OF_MEMORY", "");
        assert_eq!(p.escalate(asked, &oom).memory_mb, Some(2000));
        assert_eq!(p.escalate(asked, &oom).walltime_minutes, Some(10));
        let bigger = Resources {
            memory_mb: Some(2000),
            ..asked
        };
        assert_eq!(p.escalate(bigger, &oom).memory_mb, Some(3000), "capped");
        let timeout = JobError::new("SCHEDULER_TIMEOUT", "");
        assert_eq!(p.escalate(asked, &timeout).walltime_minutes, Some(15));
        assert_eq!(p.escalate(asked, &timeout).memory_mb, Some(1000));
        assert_eq!(p.escalate(asked, &JobError::new("NODE_FAIL", "")), asked);
    }
}

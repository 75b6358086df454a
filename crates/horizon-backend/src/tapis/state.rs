//! What a Tapis job's status and condition mean for a Horizon job. Pure, so
//! every status and condition is tested without a Tapis.

use horizon_core::{JobError, JobStatus, error_codes};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Update;

/// The parts of a Tapis job Horizon reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapisJob {
    pub uuid: String,
    pub status: String,
    pub condition: Option<String>,
    pub last_message: Option<String>,
    /// The application's exit code, as text (`"0"`, `"3"`).
    pub remote_result_info: Option<String>,
    pub remote_started: Option<OffsetDateTime>,
    pub ended: Option<OffsetDateTime>,
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn time(value: &Value) -> Option<OffsetDateTime> {
    value
        .as_str()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

impl TapisJob {
    /// From a Job object (`GET /v3/jobs/{uuid}`'s `result`).
    pub fn from_json(job: &Value) -> Option<TapisJob> {
        Some(TapisJob {
            uuid: text(&job["uuid"])?,
            status: text(&job["status"])?.to_ascii_uppercase(),
            condition: text(&job["condition"]),
            last_message: text(&job["lastMessage"]),
            remote_result_info: text(&job["remoteResultInfo"])
                .or_else(|| job["remoteResultInfo"].as_i64().map(|n| n.to_string())),
            remote_started: time(&job["remoteStarted"]),
            ended: time(&job["ended"]).or_else(|| time(&job["remoteEnded"])),
        })
    }
}

/// What was last said about a job's side state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Noted {
    #[default]
    Nothing,
    Blocked,
    Paused,
}

impl Noted {
    pub fn as_str(self) -> &'static str {
        match self {
            Noted::Nothing => "",
            Noted::Blocked => "blocked",
            Noted::Paused => "paused",
        }
    }

    pub fn parse(text: &str) -> Noted {
        match text.trim() {
            "blocked" => Noted::Blocked,
            "paused" => Noted::Paused,
            _ => Noted::Nothing,
        }
    }
}

/// Tapis's statuses before the application runs.
const WAITING: [&str; 6] = [
    "PENDING",
    "PROCESSING_INPUTS",
    "STAGING_INPUTS",
    "STAGING_JOB",
    "SUBMITTING_JOB",
    "QUEUED",
];

/// A failed job's condition as Horizon's error code.
pub fn error_code(condition: &str) -> String {
    match condition {
        "JOB_REMOTE_OUTCOME_ERROR" => error_codes::NONZERO_EXIT.to_owned(),
        "SCHEDULER_TIMEOUT" | "SCHEDULER_DEADLINE" | "JOB_EXECUTION_MONITORING_TIMEOUT" => {
            error_codes::SCHEDULER_TIMEOUT.to_owned()
        }
        "SCHEDULER_OUT_OF_MEMORY" => error_codes::SCHEDULER_OUT_OF_MEMORY.to_owned(),
        "JOB_LAUNCH_FAILURE" => error_codes::LAUNCH_FAILED.to_owned(),
        "SCHEDULER_CANCELLED"
        | "SCHEDULER_TERMINATED"
        | "SCHEDULER_STOPPED"
        | "CANCELLED_BY_USER" => error_codes::CANCELLED_EXTERNALLY.to_owned(),
        "JOB_INVALID_DEFINITION" => error_codes::SCHEDULER_REJECTED.to_owned(),
        // Tapis's own: staging, archiving, monitoring, recovery failures
        other => format!("TAPIS_{other}"),
    }
}

/// What a Tapis job's state means: the updates to report, in order, and
/// what is noted afterwards. Unknown statuses (they appear in the wild)
/// change nothing.
pub fn decide(
    status: JobStatus,
    noted: Noted,
    job: &TapisJob,
    now: OffsetDateTime,
) -> (Vec<Update>, Noted) {
    let note = |reason: String| Update::Note { reason, at: now };
    let why = job
        .last_message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let finished = job.ended.unwrap_or(now);
    let started = job.remote_started;
    let fail = |code: String, message: String, exit_code: Option<i32>| Update::Failed {
        started_at: if status == JobStatus::Running {
            started.or(Some(finished))
        } else {
            started
        },
        finished_at: finished,
        error: JobError {
            code,
            message,
            exit_code,
        },
    };
    match job.status.as_str() {
        s if WAITING.contains(&s) => match noted {
            Noted::Nothing => (vec![], noted),
            _ => (vec![note(format!("resumed ({s})"))], Noted::Nothing),
        },
        "RUNNING" | "ARCHIVING" => {
            let mut updates = Vec::new();
            if noted != Noted::Nothing {
                updates.push(note(format!("resumed ({})", job.status)));
            }
            if status == JobStatus::Queued {
                updates.push(Update::Running {
                    remote_job_id: Some(job.uuid.clone()),
                    started_at: started.unwrap_or(now),
                });
            }
            (updates, Noted::Nothing)
        }
        "BLOCKED" | "PAUSED" => {
            let now_noted = if job.status == "BLOCKED" {
                Noted::Blocked
            } else {
                Noted::Paused
            };
            if noted == now_noted {
                (vec![], noted)
            } else {
                (
                    vec![note(format!("{}{why}", job.status.to_ascii_lowercase()))],
                    now_noted,
                )
            }
        }
        "FINISHED" => (
            vec![Update::Succeeded {
                started_at: started.unwrap_or(finished),
                finished_at: finished,
                exit_code: 0,
            }],
            Noted::Nothing,
        ),
        "FAILED" => {
            let condition = job
                .condition
                .clone()
                .unwrap_or_else(|| "UNKNOWN".to_owned());
            let code = error_code(&condition);
            let exit_code = if code == error_codes::NONZERO_EXIT {
                job.remote_result_info
                    .as_deref()
                    .and_then(|r| r.trim().parse::<i32>().ok())
            } else {
                None
            };
            let message = format!("Tapis job {} failed ({condition}){why}", job.uuid);
            (vec![fail(code, message, exit_code)], Noted::Nothing)
        }
        "CANCELLED" => (
            vec![fail(
                error_codes::CANCELLED_EXTERNALLY.to_owned(),
                format!("Tapis job {} was cancelled outside Horizon{why}", job.uuid),
                None,
            )],
            Noted::Nothing,
        ),
        _ => (vec![], noted),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-29 06:00:00 UTC);

    fn job(status: &str, condition: Option<&str>, exit: &str) -> TapisJob {
        TapisJob::from_json(&json!({
            "uuid": "79234b2a-0995-4632-956e-b940d10607ba-007",
            "status": status,
            "condition": condition,
            "lastMessage": "Setting job status.",
            "remoteResultInfo": exit,
            "remoteStarted": "2026-11-29T05:59:00.123456Z",
            "ended": if matches!(status, "FINISHED" | "FAILED" | "CANCELLED") { json!("2026-11-29T05:59:30Z") } else { Value::Null },
            "parameterSet": "{\"appArgs\":[]}",
        }))
        .unwrap()
    }

    fn names(updates: &[Update]) -> Vec<String> {
        updates
            .iter()
            .map(|u| match u {
                Update::Running { .. } => "running".to_owned(),
                Update::Succeeded { .. } => "succeeded".to_owned(),
                Update::Failed { error, .. } => format!("{} {:?}", error.code, error.exit_code),
                Update::Note { reason, .. } => format!("note {reason}"),
                Update::Metrics(_) => "metrics".to_owned(),
            })
            .collect()
    }

    #[test]
    fn every_status_maps() {
        for waiting in WAITING {
            let (u, _) = decide(
                JobStatus::Queued,
                Noted::Nothing,
                &job(waiting, None, "0"),
                NOW,
            );
            assert!(u.is_empty(), "{waiting}");
        }
        let (u, _) = decide(
            JobStatus::Queued,
            Noted::Nothing,
            &job("RUNNING", None, "0"),
            NOW,
        );
        assert_eq!(names(&u), ["running"]);
        let (u, _) = decide(
            JobStatus::Running,
            Noted::Nothing,
            &job("ARCHIVING", None, "0"),
            NOW,
        );
        assert!(u.is_empty());
        let (u, _) = decide(
            JobStatus::Running,
            Noted::Nothing,
            &job("FINISHED", Some("NORMAL_COMPLETION"), "0"),
            NOW,
        );
        assert_eq!(names(&u), ["succeeded"]);
        let (u, _) = decide(
            JobStatus::Running,
            Noted::Nothing,
            &job("FAILED", Some("JOB_REMOTE_OUTCOME_ERROR"), "3"),
            NOW,
        );
        assert_eq!(names(&u), ["NONZERO_EXIT Some(3)"]);
        let (u, _) = decide(
            JobStatus::Running,
            Noted::Nothing,
            &job("FAILED", Some("SCHEDULER_TIMEOUT"), "0"),
            NOW,
        );
        assert_eq!(names(&u), ["SCHEDULER_TIMEOUT None"]);
        let (u, _) = decide(
            JobStatus::Queued,
            Noted::Nothing,
            &job("FAILED", Some("JOB_UNABLE_TO_STAGE_INPUTS"), "0"),
            NOW,
        );
        assert_eq!(names(&u), ["TAPIS_JOB_UNABLE_TO_STAGE_INPUTS None"]);
        let (u, _) = decide(
            JobStatus::Running,
            Noted::Nothing,
            &job("CANCELLED", Some("CANCELLED_BY_USER"), "0"),
            NOW,
        );
        assert_eq!(names(&u), ["CANCELLED_EXTERNALLY None"]);
        // statuses from older or newer services change nothing
        let (u, n) = decide(
            JobStatus::Running,
            Noted::Nothing,
            &job("ARCHIVING_FAILED_V2", None, "0"),
            NOW,
        );
        assert!(u.is_empty());
        assert_eq!(n, Noted::Nothing);
    }

    #[test]
    fn blocked_and_paused_are_noted_once_and_their_end_too() {
        let (u, n) = decide(
            JobStatus::Queued,
            Noted::Nothing,
            &job("BLOCKED", None, "0"),
            NOW,
        );
        assert_eq!(names(&u), ["note blocked: Setting job status."]);
        let (u, n) = decide(JobStatus::Queued, n, &job("BLOCKED", None, "0"), NOW);
        assert!(u.is_empty());
        let (u, n) = decide(JobStatus::Queued, n, &job("RUNNING", None, "0"), NOW);
        assert_eq!(names(&u), ["note resumed (RUNNING)", "running"]);
        assert_eq!(n, Noted::Nothing);
        let (u, _) = decide(JobStatus::Running, n, &job("PAUSED", None, "0"), NOW);
        assert_eq!(names(&u), ["note paused: Setting job status."]);
    }

    #[test]
    fn job_fields_held_in_strings_and_numbers_both_read() {
        let j =
            TapisJob::from_json(&json!({"uuid": "u", "status": "failed", "remoteResultInfo": 7}))
                .unwrap();
        assert_eq!(j.status, "FAILED");
        assert_eq!(j.remote_result_info.as_deref(), Some("7"));
        assert!(TapisJob::from_json(&json!({"status": "RUNNING"})).is_none());
    }
}

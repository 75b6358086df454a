//! Reading Slurm's answers and deciding what they mean for a Horizon job.
//! Pure functions, so every state and reason is tested without a cluster.

use horizon_core::{JobError, JobStatus, error_codes};
use time::OffsetDateTime;

use crate::Update;

/// `squeue -O` fields, in this order, `|`-separated (no width limit).
/// (`WorkDir` last: a path, joined back if it holds a `|`.)
pub const SQUEUE_FORMAT: &str =
    "JobArrayID:|,Name:|,State:|,Reason:|,StartTime:|,EndTime:|,exit_code:|,WorkDir:|";

/// `sacct -o` fields, in this order (`-P`: `|`-separated).
pub const SACCT_FORMAT: &str = "JobID,JobName,State,ExitCode,Start,End,WorkDir";

/// One job as `squeue` (or `sacct`) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmJob {
    pub id: String,
    pub name: String,
    pub state: String,
    pub reason: String,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    pub exit: ExitStatus,
    /// The job's working directory (`--chdir`), when Slurm said it.
    pub work_dir: Option<String>,
}

/// How a job's batch script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitStatus {
    pub code: i32,
    pub signal: i32,
}

impl ExitStatus {
    /// `3:0` (code:signal, scontrol/sacct), or a raw wait status (squeue's
    /// `exit_code` in 22.05: code << 8 | signal).
    pub fn parse(text: &str) -> ExitStatus {
        let text = text.trim();
        if let Some((code, signal)) = text.split_once(':') {
            return ExitStatus {
                code: code.parse().unwrap_or(0),
                signal: signal.parse().unwrap_or(0),
            };
        }
        let raw: i32 = text.parse().unwrap_or(0);
        ExitStatus {
            code: (raw >> 8) & 0xff,
            signal: raw & 0x7f,
        }
    }
}

/// Epoch seconds (`SLURM_TIME_FORMAT=%s`); "N/A", "NONE", "Unknown", 0 → none.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    match text.trim().parse::<i64>() {
        Ok(secs) if secs > 0 => OffsetDateTime::from_unix_timestamp(secs).ok(),
        _ => None,
    }
}

/// Parse `squeue -h -O SQUEUE_FORMAT` output; lines that do not fit are skipped.
pub fn parse_squeue(output: &str) -> Vec<SlurmJob> {
    output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            if fields.len() < 7 || fields[0].is_empty() {
                return None;
            }
            Some(SlurmJob {
                id: fields[0].to_owned(),
                name: fields[1].to_owned(),
                state: base_state(fields[2]),
                reason: fields[3].to_owned(),
                start: parse_time(fields[4]),
                end: parse_time(fields[5]),
                exit: ExitStatus::parse(fields[6]),
                work_dir: work_dir(&fields, 7),
            })
        })
        .collect()
}

/// `sacct -X -P -n -o JobID,JobName,State,ExitCode,Start,End` lines.
pub fn parse_sacct(output: &str) -> Vec<SlurmJob> {
    output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            if fields.len() < 6 || fields[0].is_empty() || fields[0].contains('.') {
                return None;
            }
            let state = base_state(fields[2]);
            Some(SlurmJob {
                id: fields[0].to_owned(),
                name: fields[1].to_owned(),
                // sacct has no reason column; "CANCELLED by 0" carries who
                reason: fields[2]
                    .split_once(' ')
                    .map(|(_, r)| r.to_owned())
                    .unwrap_or_default(),
                state,
                start: parse_time(fields[4]),
                end: parse_time(fields[5]),
                exit: ExitStatus::parse(fields[3]),
                work_dir: work_dir(&fields, 6),
            })
        })
        .collect()
}

/// The last field on, a path that may hold the separator (none if empty).
fn work_dir(fields: &[&str], from: usize) -> Option<String> {
    let rest = fields.get(from..)?.join("|");
    let rest = rest.trim().trim_end_matches('|').trim();
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// "CANCELLED by 0" → "CANCELLED"; "COMPLETING+" → "COMPLETING".
fn base_state(text: &str) -> String {
    text.split([' ', '+'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase()
}

/// What Horizon last said about a job's side-state, so a note is written
/// once per change, not once per poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Noted {
    #[default]
    Nothing,
    Held,
    Suspended,
    Requeued,
}

impl Noted {
    pub fn as_str(self) -> &'static str {
        match self {
            Noted::Nothing => "",
            Noted::Held => "held",
            Noted::Suspended => "suspended",
            Noted::Requeued => "requeued",
        }
    }

    pub fn parse(text: &str) -> Noted {
        match text.trim() {
            "held" => Noted::Held,
            "suspended" => Noted::Suspended,
            "requeued" => Noted::Requeued,
            _ => Noted::Nothing,
        }
    }
}

/// What a job's Slurm state means: the updates to report (in order) and
/// what is noted afterwards. `status` is the job's status in Horizon.
pub fn decide(
    status: JobStatus,
    noted: Noted,
    job: &SlurmJob,
    now: OffsetDateTime,
) -> (Vec<Update>, Noted) {
    let note = |reason: String| Update::Note { reason, at: now };
    let with_reason = |what: &str| {
        if job.reason.is_empty() || job.reason == "None" {
            what.to_owned()
        } else {
            format!("{what} ({})", job.reason)
        }
    };
    let started = job.start.filter(|s| job.end.is_none_or(|e| *s <= e));
    let finished = job.end.unwrap_or(now);
    let fail = |code: &str, message: String, exit_code: Option<i32>| {
        let mut error = JobError::new(code, message);
        error.exit_code = exit_code;
        // the program certainly ran when it exited or ran out of time or
        // memory (even if it started and ended within one second, which
        // Slurm's whole-second times cannot tell apart); a job cancelled
        // or lost while pending never started
        let certainly = matches!(
            job.state.as_str(),
            "FAILED" | "SPECIAL_EXIT" | "TIMEOUT" | "OUT_OF_MEMORY"
        ) && job.reason != "JobLaunchFailure";
        let ran = certainly
            || status == JobStatus::Running
            || job.start.is_some_and(|s| job.end.is_none_or(|e| s < e));
        Update::Failed {
            started_at: if ran {
                started.or(Some(finished))
            } else {
                None
            },
            finished_at: finished,
            error,
        }
    };
    let slurm = format!("Slurm job {}: {}", job.id, with_reason(&job.state));
    match job.state.as_str() {
        "PENDING" => {
            let held = job.reason.starts_with("JobHeld") || job.reason == "held";
            if status == JobStatus::Running && noted != Noted::Requeued {
                return (
                    vec![note(with_reason("requeued by Slurm"))],
                    Noted::Requeued,
                );
            }
            match (held, noted) {
                (true, Noted::Held) => (vec![], noted),
                (true, _) => (vec![note(with_reason("held"))], Noted::Held),
                (false, Noted::Held) => (vec![note("released".to_owned())], Noted::Nothing),
                (false, _) => (vec![], noted),
            }
        }
        "RUNNING" | "CONFIGURING" | "COMPLETING" | "STAGE_OUT" | "RESIZING" | "SIGNALING" => {
            let mut updates = Vec::new();
            match noted {
                Noted::Suspended => updates.push(note("resumed".to_owned())),
                Noted::Requeued if status == JobStatus::Running => {
                    updates.push(note("running again after requeue".to_owned()))
                }
                Noted::Held if status == JobStatus::Running => {
                    updates.push(note("released".to_owned()))
                }
                _ => {}
            }
            if status == JobStatus::Queued {
                updates.push(Update::Running {
                    remote_job_id: Some(job.id.clone()),
                    started_at: job.start.unwrap_or(now),
                });
            }
            (updates, Noted::Nothing)
        }
        "SUSPENDED" | "PREEMPTED" if status == JobStatus::Running && job.end.is_none() => {
            if noted == Noted::Suspended {
                (vec![], noted)
            } else {
                (vec![note(with_reason("suspended"))], Noted::Suspended)
            }
        }
        "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => {
            if noted == Noted::Requeued {
                (vec![], noted)
            } else {
                (
                    vec![note(with_reason(&format!("requeued ({})", job.state)))],
                    Noted::Requeued,
                )
            }
        }
        "COMPLETED" => (
            vec![Update::Succeeded {
                started_at: started.unwrap_or(finished),
                finished_at: finished,
                exit_code: 0,
            }],
            Noted::Nothing,
        ),
        "FAILED" if job.reason == "JobLaunchFailure" => (
            vec![fail(error_codes::LAUNCH_FAILED, slurm, None)],
            Noted::Nothing,
        ),
        "FAILED" | "SPECIAL_EXIT" => {
            let update = if job.exit.signal != 0 {
                fail(
                    error_codes::KILLED_BY_SIGNAL,
                    format!("ended by signal {} ({slurm})", job.exit.signal),
                    None,
                )
            } else {
                fail(
                    error_codes::NONZERO_EXIT,
                    format!("exited with status {} ({slurm})", job.exit.code),
                    Some(job.exit.code),
                )
            };
            (vec![update], Noted::Nothing)
        }
        "TIMEOUT" | "DEADLINE" => (
            vec![fail(
                error_codes::SCHEDULER_TIMEOUT,
                format!("ran past its wall time ({slurm})"),
                None,
            )],
            Noted::Nothing,
        ),
        "OUT_OF_MEMORY" => (
            vec![fail(
                error_codes::SCHEDULER_OUT_OF_MEMORY,
                format!("ran out of memory ({slurm})"),
                None,
            )],
            Noted::Nothing,
        ),
        "NODE_FAIL" | "BOOT_FAIL" => (
            vec![fail(
                error_codes::NODE_FAIL,
                format!("a node failed ({slurm})"),
                None,
            )],
            Noted::Nothing,
        ),
        "CANCELLED" => (
            vec![fail(
                error_codes::CANCELLED_EXTERNALLY,
                format!("cancelled outside Horizon ({slurm})"),
                None,
            )],
            Noted::Nothing,
        ),
        "PREEMPTED" => (
            vec![fail(
                error_codes::PREEMPTED,
                format!("preempted ({slurm})"),
                None,
            )],
            Noted::Nothing,
        ),
        "REVOKED" => (
            vec![fail(
                error_codes::CANCELLED_EXTERNALLY,
                format!("revoked by another cluster ({slurm})"),
                None,
            )],
            Noted::Nothing,
        ),
        _ => (vec![], noted),
    }
}

/// Slurm's durations: `MM:SS(.mmm)`, `HH:MM:SS`, `D-HH:MM:SS`, in seconds.
pub fn parse_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (d.parse::<f64>().ok()?, rest),
        None => (0.0, text),
    };
    let mut seconds = 0.0;
    for part in rest.split(':') {
        seconds = seconds * 60.0 + part.parse::<f64>().ok()?;
    }
    Some(days * 86_400.0 + seconds)
}

/// Slurm's sizes (`66100K`, `1.5M`, `2G`, `0`) in megabytes.
pub fn parse_size_mb(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, factor) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 1.0 / 1024.0),
        'M' | 'm' => (&text[..text.len() - 1], 1.0),
        'G' | 'g' => (&text[..text.len() - 1], 1024.0),
        'T' | 't' => (&text[..text.len() - 1], 1024.0 * 1024.0),
        _ => (text, 1.0 / (1024.0 * 1024.0)), // bytes
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// One line of `sstat -n -P -o JobID,AveCPU,MaxRSS`: (Slurm id without
/// the step, CPU seconds, resident MB).
pub fn parse_sstat(output: &str) -> Vec<(String, f64, f64)> {
    output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            let id = fields.first()?.split('.').next()?.to_owned();
            let cpu = parse_duration(fields.get(1)?)?;
            let rss = parse_size_mb(fields.get(2)?).unwrap_or(0.0);
            Some((id, cpu, rss))
        })
        .collect()
}

/// Whether `sbatch`'s complaint is passing (the controller is busy or away)
/// rather than a refusal of this job.
pub fn is_transient_submit_error(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "socket timed out",
        "unable to contact slurm controller",
        "temporarily unable",
        "resource temporarily unavailable",
        "zero bytes were transmitted",
        "connection refused",
        "not responding",
        "communication connection failure",
        "slurm_persist_conn_open",
        "try again",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-29 06:00:00 UTC);

    fn job(state: &str, reason: &str, exit: &str) -> SlurmJob {
        SlurmJob {
            id: "42".into(),
            name: "0193".into(),
            state: state.into(),
            reason: reason.into(),
            start: parse_time("1795929700"),
            end: if matches!(state, "PENDING" | "RUNNING" | "SUSPENDED") {
                None
            } else {
                parse_time("1795929712")
            },
            exit: ExitStatus::parse(exit),
            work_dir: None,
        }
    }

    fn codes(updates: &[Update]) -> Vec<String> {
        updates
            .iter()
            .map(|u| match u {
                Update::Running { .. } => "running".to_owned(),
                Update::Succeeded { exit_code, .. } => format!("succeeded {exit_code}"),
                Update::Failed { error, .. } => format!("{} {:?}", error.code, error.exit_code),
                Update::Note { reason, .. } => format!("note {reason}"),
                Update::Metrics(_) => "metrics".to_owned(),
            })
            .collect()
    }

    #[test]
    fn squeue_lines_parse_with_raw_wait_status() {
        let out = "1|0190-abc|FAILED|NonZeroExitCode|1795929712|1795929712|768|\n\
                   3|x2|CANCELLED|None|1795929728|1795929729|15|\n\
                   2|01938a7e|PENDING|JobHeldUser|N/A|N/A|0|\n";
        let jobs = parse_squeue(out);
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].exit, ExitStatus { code: 3, signal: 0 });
        assert_eq!(
            jobs[1].exit,
            ExitStatus {
                code: 0,
                signal: 15
            }
        );
        assert_eq!(jobs[2].start, None);
        assert_eq!(jobs[2].reason, "JobHeldUser");
        assert_eq!(jobs[0].work_dir, None);
        // the working directory, last, may hold the separator
        let jobs = parse_squeue("5|n|RUNNING|None|1|N/A|0|/shared/a|b/work|\n");
        assert_eq!(jobs[0].work_dir.as_deref(), Some("/shared/a|b/work"));
        assert_eq!(ExitStatus::parse("3:0"), ExitStatus { code: 3, signal: 0 });
        assert_eq!(ExitStatus::parse("0:9"), ExitStatus { code: 0, signal: 9 });
    }

    #[test]
    fn sacct_lines_parse_and_skip_steps() {
        let out =
            "7|abc|CANCELLED by 0|0:15|1795929700|1795929712\n7.batch|batch|CANCELLED|0:15|1|2\n";
        let jobs = parse_sacct(out);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].state, "CANCELLED");
        assert_eq!(jobs[0].reason, "by 0");
        assert_eq!(jobs[0].work_dir, None);
        let jobs = parse_sacct("8|abc|COMPLETED|0:0|1|2|/scratch/j/work\n");
        assert_eq!(jobs[0].work_dir.as_deref(), Some("/scratch/j/work"));
    }

    #[test]
    fn every_final_state_maps_to_its_outcome() {
        let cases = [
            ("COMPLETED", "None", "0", "succeeded 0"),
            ("FAILED", "NonZeroExitCode", "768", "NONZERO_EXIT Some(3)"),
            ("FAILED", "NonZeroExitCode", "0:9", "KILLED_BY_SIGNAL None"),
            ("FAILED", "JobLaunchFailure", "0", "LAUNCH_FAILED None"),
            ("TIMEOUT", "TimeLimit", "0", "SCHEDULER_TIMEOUT None"),
            ("DEADLINE", "None", "0", "SCHEDULER_TIMEOUT None"),
            (
                "OUT_OF_MEMORY",
                "OutOfMemory",
                "0",
                "SCHEDULER_OUT_OF_MEMORY None",
            ),
            ("NODE_FAIL", "NodeDown", "0", "NODE_FAIL None"),
            ("BOOT_FAIL", "None", "0", "NODE_FAIL None"),
            ("CANCELLED", "None", "15", "CANCELLED_EXTERNALLY None"),
            ("PREEMPTED", "None", "0", "PREEMPTED None"),
        ];
        for (state, reason, exit, want) in cases {
            let (updates, _) = decide(
                JobStatus::Running,
                Noted::Nothing,
                &job(state, reason, exit),
                NOW,
            );
            assert_eq!(codes(&updates), vec![want.to_owned()], "{state}/{reason}");
        }
    }

    #[test]
    fn a_program_that_failed_within_a_second_did_run() {
        let mut quick = job("FAILED", "NonZeroExitCode", "768");
        quick.start = quick.end;
        let (updates, _) = decide(JobStatus::Queued, Noted::Nothing, &quick, NOW);
        match &updates[..] {
            [Update::Failed { started_at, .. }] => assert!(started_at.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_job_cancelled_while_pending_never_started() {
        let mut pending = job("CANCELLED", "None", "0");
        pending.start = pending.end;
        let (updates, _) = decide(JobStatus::Queued, Noted::Nothing, &pending, NOW);
        match &updates[..] {
            [Update::Failed { started_at, .. }] => assert_eq!(*started_at, None),
            other => panic!("{other:?}"),
        }
        // one that ran between two polls did start
        let (updates, _) = decide(
            JobStatus::Queued,
            Noted::Nothing,
            &job("FAILED", "", "768"),
            NOW,
        );
        match &updates[..] {
            [Update::Failed { started_at, .. }] => assert!(started_at.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn held_released_suspended_requeued_are_noted_once_each() {
        let held = job("PENDING", "JobHeldUser", "0");
        let (u, n) = decide(JobStatus::Queued, Noted::Nothing, &held, NOW);
        assert_eq!(codes(&u), vec!["note held (JobHeldUser)"]);
        let (u, n) = decide(JobStatus::Queued, n, &held, NOW);
        assert!(u.is_empty(), "noted again: {u:?}");
        let (u, n) = decide(JobStatus::Queued, n, &job("PENDING", "Priority", "0"), NOW);
        assert_eq!(codes(&u), vec!["note released"]);
        assert_eq!(n, Noted::Nothing);
        let (u, n) = decide(
            JobStatus::Queued,
            Noted::Held,
            &job("RUNNING", "None", "0"),
            NOW,
        );
        assert_eq!(codes(&u), vec!["running"]);
        assert_eq!(n, Noted::Nothing);

        let (u, n) = decide(
            JobStatus::Running,
            Noted::Nothing,
            &job("SUSPENDED", "None", "0"),
            NOW,
        );
        assert_eq!(codes(&u), vec!["note suspended"]);
        let (u, _) = decide(JobStatus::Running, n, &job("SUSPENDED", "None", "0"), NOW);
        assert!(u.is_empty());
        let (u, n) = decide(JobStatus::Running, n, &job("RUNNING", "None", "0"), NOW);
        assert_eq!(codes(&u), vec!["note resumed"]);

        let (u, n) = decide(
            JobStatus::Running,
            n,
            &job("PENDING", "BeginTime", "0"),
            NOW,
        );
        assert_eq!(codes(&u), vec!["note requeued by Slurm (BeginTime)"]);
        let (u, n) = decide(
            JobStatus::Running,
            n,
            &job("PENDING", "BeginTime", "0"),
            NOW,
        );
        assert!(u.is_empty());
        let (u, _) = decide(JobStatus::Running, n, &job("RUNNING", "None", "0"), NOW);
        assert_eq!(codes(&u), vec!["note running again after requeue"]);
    }

    #[test]
    fn sstat_durations_and_sizes_parse() {
        assert_eq!(parse_duration("00:02.500"), Some(2.5));
        assert_eq!(parse_duration("01:00:03"), Some(3603.0));
        assert_eq!(parse_duration("1-00:00:01"), Some(86_401.0));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_size_mb("66100K").map(|m| m.round()), Some(65.0));
        assert_eq!(parse_size_mb("2G"), Some(2048.0));
        assert_eq!(parse_size_mb("1048576"), Some(1.0));
        assert_eq!(
            parse_sstat("41.batch|00:00:02|66100K|1690114|1693\n"),
            vec![("41".to_owned(), 2.0, 66100.0 / 1024.0)]
        );
    }

    #[test]
    fn submit_errors_tell_passing_from_refused() {
        assert!(is_transient_submit_error(
            "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"
        ));
        assert!(is_transient_submit_error(
            "sbatch: error: Unable to contact slurm controller (connect failure)"
        ));
        assert!(!is_transient_submit_error(
            "sbatch: error: Batch job submission failed: Invalid partition name specified"
        ));
        assert!(!is_transient_submit_error(
            "sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)"
        ));
    }
}

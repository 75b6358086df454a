use proptest::prelude::*;
use serde_json::Map;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::*;
use crate::event::EventType;
use crate::job::BackendKind;

fn job() -> Job {
    let at = datetime!(2026-02-16 10:00:00 UTC);
    Job {
        id: Uuid::nil(),
        user_id: "alice".into(),
        agent: "AlphaCal".into(),
        dataset_id: "ds-1".into(),
        parameters: Map::new(),
        backend: BackendKind::Local,
        resources: Default::default(),
        status: JobStatus::Submitted,
        remote_job_id: None,
        correlation_id: "c-1".into(),
        error: None,
        created_at: at,
        updated_at: at,
        started_at: None,
        finished_at: None,
        queued_at: None,
        exit_code: None,
        lifecycle_sequence: 1,
        metrics_sequence: 0,
        handed_over: false,
        claim_epoch: 0,
        account: None,
        traceparent: None,
        location: None,
        held: false,
        cloned_from: None,
        attempt: 1,
        max_attempts: 1,
        retry: None,
        next_attempt_at: None,
        depends_on: Vec::new(),
        waiting: false,
        sweep_id: None,
        sweep_index: None,
        gated: false,
        scheduler_dependency: None,
    }
}

fn at(seconds: i64) -> OffsetDateTime {
    datetime!(2026-02-16 10:00:00 UTC) + time::Duration::seconds(seconds)
}

#[test]
fn happy_path_emits_one_event_per_step() {
    let mut j = job();
    let steps = [
        (
            Command::Queue {
                remote_job_id: None,
                location: None,
                at: at(1),
            },
            JobStatus::Queued,
            EventType::Queued,
        ),
        (
            Command::Start {
                remote_job_id: Some("42".into()),
                at: at(2),
            },
            JobStatus::Running,
            EventType::Running,
        ),
        (
            Command::Complete {
                exit_code: 0,
                at: at(12),
            },
            JobStatus::Completed,
            EventType::Completed,
        ),
    ];
    for (command, status, event_type) in steps {
        let t = transition(&j, command).expect("legal");
        assert_eq!(t.to, status);
        assert_eq!(t.payload.event_type(), event_type);
        j = t.apply_to(&j);
    }
    assert_eq!(j.lifecycle_sequence, 4);
    assert_eq!(j.remote_job_id.as_deref(), Some("42"));
    assert_eq!(j.queued_at, Some(at(1)));
    assert_eq!(j.started_at, Some(at(2)));
    assert_eq!(j.finished_at, Some(at(12)));
    // a success's exit code is kept too
    assert_eq!(j.exit_code, Some(0));
    assert_eq!(j.error, None);
}

#[test]
fn a_failure_keeps_its_exit_code_and_a_cancel_has_none() {
    let mut running = job();
    running.status = JobStatus::Running;
    let failed = transition(
        &running,
        Command::Fail {
            error: JobError::new("NONZERO_EXIT", "exit 7").with_exit_code(7),
            at: at(5),
        },
    )
    .expect("legal")
    .apply_to(&running);
    assert_eq!(failed.exit_code, Some(7));
    let cancelled = transition(
        &running,
        Command::Cancel {
            by: "alice".into(),
            reason: "x".into(),
            at: at(5),
        },
    )
    .expect("legal")
    .apply_to(&running);
    assert_eq!(cancelled.exit_code, None);
}

#[test]
fn completion_reports_execution_time() {
    let mut j = job();
    j.status = JobStatus::Running;
    j.started_at = Some(at(0));
    let t = transition(
        &j,
        Command::Complete {
            exit_code: 0,
            at: at(90),
        },
    )
    .expect("legal");
    match t.payload {
        EventPayload::Completed(p) => assert_eq!(p.execution_time_seconds, 90.0),
        other => panic!("unexpected payload {other:?}"),
    }
}

#[test]
fn cancelling_a_completed_job_is_refused_with_a_clear_message() {
    let mut j = job();
    j.status = JobStatus::Completed;
    let err = transition(
        &j,
        Command::Cancel {
            by: "alice".into(),
            reason: "oops".into(),
            at: at(1),
        },
    )
    .expect_err("terminal");
    assert_eq!(
        err.to_string(),
        "job is COMPLETED, which is final: it cannot cancel"
    );
}

#[test]
fn submitted_job_cannot_start_without_being_queued() {
    let err = transition(
        &job(),
        Command::Start {
            remote_job_id: None,
            at: at(1),
        },
    )
    .expect_err("illegal");
    assert!(matches!(
        err,
        TransitionError::Illegal {
            status: JobStatus::Submitted,
            ..
        }
    ));
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Queue {
            remote_job_id: Some("r".into()),
            location: None,
            at: at(1)
        }),
        Just(Command::Start {
            remote_job_id: None,
            at: at(2)
        }),
        (0..4i32).prop_map(|exit_code| Command::Complete {
            exit_code,
            at: at(3)
        }),
        Just(Command::Fail {
            error: JobError::new("NONZERO_EXIT", "boom"),
            at: at(4)
        }),
        Just(Command::Cancel {
            by: "u".into(),
            reason: "r".into(),
            at: at(5)
        }),
        Just(Command::Note {
            reason: "held".into(),
            at: at(6)
        }),
        Just(Command::Hold {
            by: "u".into(),
            reason: "wait".into(),
            at: at(7)
        }),
        Just(Command::Release {
            by: "u".into(),
            reason: "go".into(),
            at: at(8)
        }),
        Just(Command::Retry {
            error: JobError::new("NODE_FAIL", "node down"),
            next_attempt_at: at(20),
            resources: Resources::default(),
            at: at(9)
        }),
    ]
}

/// Which commands the contract accepts from each status (written out here,
/// independently of `transition`).
fn accepts(job: &Job, command: &str) -> bool {
    use JobStatus::*;
    let status = job.status;
    match (status, command) {
        // held before it started, once; released only when held
        (Submitted, "hold") => !job.held && !job.handed_over,
        (Queued, "hold") => !job.held,
        (Submitted | Queued, "release") => job.held,
        // a retry while attempts are left; the next attempt is queued
        // again, and does not start before
        (Queued | Running, "retry") => job.attempt < job.max_attempts,
        (Queued, "queue") => job.next_attempt_at.is_some(),
        (Queued, "start") => job.next_attempt_at.is_none(),
        _ => matches!(
            (status, command),
            (Submitted, "queue")
                | (Queued, "start")
                | (Running, "complete")
                | (Submitted | Queued | Running, "fail" | "cancel")
                | (Queued | Running, "note")
        ),
    }
}

/// The edges of the state machine, as the contract lists them.
fn allowed(from: JobStatus, to: JobStatus) -> bool {
    use JobStatus::*;
    matches!(
        (from, to),
        (Submitted, Submitted | Queued | Failed | Cancelled)
            | (Queued, Queued | Running | Failed | Cancelled)
            | (Running, Running | Queued | Completed | Failed | Cancelled)
    )
}

proptest! {
    #[test]
    fn no_command_sequence_leaves_a_terminal_status_or_skips_an_event(
        commands in proptest::collection::vec(command(), 0..20),
        handed_over in any::<bool>(),
        max_attempts in 1u32..4,
    ) {
        let mut j = job();
        j.handed_over = handed_over;
        j.max_attempts = max_attempts;
        let mut events = vec![EventType::Submitted];
        for command in commands {
            let before = j.clone();
            let command_name = command.name();
            match transition(&j, command) {
                Ok(t) => {
                    prop_assert!(!before.status.is_terminal());
                    prop_assert_eq!(t.from, before.status);
                    prop_assert!(allowed(t.from, t.to), "{} -> {}", t.from, t.to);
                    events.push(t.payload.event_type());
                    j = t.apply_to(&j);
                    prop_assert_eq!(j.lifecycle_sequence, before.lifecycle_sequence + 1);
                    // only a job that has not started is held; a hold or a
                    // release changes nothing else
                    prop_assert!(!j.held || matches!(j.status, JobStatus::Submitted | JobStatus::Queued));
                    // attempts count up one at a time, never past the most
                    prop_assert!(j.attempt <= j.max_attempts);
                    if command_name == "retry" {
                        prop_assert_eq!(j.attempt, before.attempt + 1);
                        prop_assert_eq!(j.status, JobStatus::Queued);
                        prop_assert!(j.next_attempt_at.is_some() && j.remote_job_id.is_none());
                    } else {
                        prop_assert_eq!(j.attempt, before.attempt);
                    }
                    if matches!(command_name, "hold" | "release") {
                        prop_assert_eq!(j.status, before.status);
                        prop_assert_eq!(j.held, command_name == "hold");
                        prop_assert_eq!(t.payload.event_type(), EventType::StatusChanged);
                    }
                }
                // a refusal must be one the contract calls for
                Err(err) => prop_assert!(
                    !accepts(&before, command_name),
                    "{} refused from {}: {err}", command_name, before.status
                ),
            }
            if before.status.is_terminal() {
                prop_assert_eq!(&j, &before);
            }
        }
        // exactly one event per applied command, numbered without gaps
        prop_assert_eq!(events.len() as u64, j.lifecycle_sequence);
        // RUNNING is never reached without QUEUED first, COMPLETED never without RUNNING
        let pos = |t: EventType| events.iter().position(|e| *e == t);
        if let Some(running) = pos(EventType::Running) {
            prop_assert!(pos(EventType::Queued).is_some_and(|q| q < running));
        }
        if let Some(done) = pos(EventType::Completed) {
            prop_assert!(pos(EventType::Running).is_some_and(|r| r < done));
        }
        // at most one terminal event, and it is the last
        let terminal = events.iter().filter(|e| matches!(e, EventType::Completed | EventType::Failed | EventType::Cancelled)).count();
        prop_assert!(terminal <= 1);
        if terminal == 1 {
            prop_assert!(j.status.is_terminal());
            prop_assert!(j.finished_at.is_some());
        }
    }
}

#[test]
fn event_times_never_go_back_within_a_job() {
    let mut queued = job();
    queued.status = JobStatus::Queued;
    queued.updated_at = at(10);
    // Slurm says it started at a whole second before Horizon saw it queued
    let started = transition(
        &queued,
        Command::Start {
            remote_job_id: None,
            at: at(9),
        },
    )
    .expect("starts");
    assert_eq!(started.at, at(10));
    let later = transition(
        &queued,
        Command::Start {
            remote_job_id: None,
            at: at(12),
        },
    )
    .expect("starts");
    assert_eq!(later.at, at(12));
}

//! The supervisor: a small process (`horizon supervise`) that stands between
//! the server and an agent's program.
//!
//! It leads the job's process group, starts the program directly (no shell),
//! waits for it and writes `exit.json`. Because it records how the program
//! ended, a server that crashed and restarted learns the outcome of jobs that
//! ran while it was away instead of running them again. It ignores SIGTERM,
//! SIGINT and SIGHUP so that a cancellation (SIGTERM to the whole group) ends
//! the program first and the supervisor still records it.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};

use super::files::{self, ExitRecord, StartRecord};

/// Run `program args…` for the job whose directory is `job_dir`; returns the
/// exit record it wrote.
pub async fn supervise(
    job_dir: &Path,
    program: &OsString,
    args: &[OsString],
) -> io::Result<ExitRecord> {
    files::write_atomic(
        &job_dir.join(files::SUPERVISOR_PID),
        std::process::id().to_string().as_bytes(),
    )?;
    // Keep these alive: while registered, the signals are caught, not fatal.
    let _term = signal(SignalKind::terminate())?;
    let _int = signal(SignalKind::interrupt())?;
    let _hup = signal(SignalKind::hangup())?;

    let open = |name: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(job_dir.join(name))
    };
    let started_at = OffsetDateTime::now_utc();
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(open(files::STDOUT)?)
        .stderr(open(files::STDERR)?)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let record = ExitRecord {
                exit_code: None,
                signal: None,
                launch_error: Some(format!("cannot start {}: {err}", program.to_string_lossy())),
                started_at,
                finished_at: OffsetDateTime::now_utc(),
            };
            files::write_json(&job_dir.join(files::EXIT), &record)?;
            return Ok(record);
        }
    };
    if let Some(agent_pid) = child.id() {
        files::write_json(
            &job_dir.join(files::STARTED),
            &StartRecord {
                agent_pid,
                started_at,
            },
        )?;
    }
    let status = child.wait().await?;
    let record = ExitRecord {
        exit_code: status.code(),
        signal: status.signal(),
        launch_error: None,
        started_at,
        finished_at: OffsetDateTime::now_utc(),
    };
    files::write_json(&job_dir.join(files::EXIT), &record)?;
    Ok(record)
}

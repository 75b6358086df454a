//! The job directory: what the local backend and its supervisor write for
//! each job, so that a restarted server can tell what became of it.
//!
//! ```text
//! <jobs_dir>/<job id>/
//!   params.json      the job's parameters (HORIZON_PARAMS_FILE)
//!   supervisor.pid   "<pid> <start time>" of the supervisor (its pid is the
//!                    job's process group; the start time tells it from a
//!                    later process that got the same pid)
//!   start_attempts   how many starts failed for a passing reason (durable)
//!   work/            the program's working directory
//!   started.json     {agent_pid, started_at}, once the program runs
//!   exit.json        {exit_code | signal | launch_error, started_at, finished_at}
//!   stdout.log, stderr.log, supervisor.log
//! ```

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const PARAMS: &str = "params.json";
pub const SUPERVISOR_PID: &str = "supervisor.pid";
pub const STARTED: &str = "started.json";
pub const EXIT: &str = "exit.json";
pub const STDOUT: &str = "stdout.log";
pub const STDERR: &str = "stderr.log";
pub const SUPERVISOR_LOG: &str = "supervisor.log";
pub const START_ATTEMPTS: &str = "start_attempts";
pub const WORK: &str = "work";

/// Who the supervisor is: pid and start time (clock ticks after boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidRecord {
    pub pid: i32,
    /// Absent only in files written by older versions.
    pub start_time: Option<u64>,
}

impl PidRecord {
    pub fn to_line(self) -> String {
        match self.start_time {
            Some(t) => format!("{} {t}\n", self.pid),
            None => format!("{}\n", self.pid),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartRecord {
    pub agent_pid: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Set when the program could not be started at all.
    pub launch_error: Option<String>,
    /// The supervisor stopped the program at its wall time.
    #[serde(default)]
    pub timed_out: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

/// Write a file so that readers see either nothing or all of it, and so that
/// it survives a power loss once this returns (file, then directory, synced).
/// For what a restarted machine must still know: how a job ended.
pub fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replace(path, bytes, true)
}

/// Write a file so that readers see either nothing or all of it; it survives
/// the crash of a process, not a power loss (after which no job's processes
/// survive either: pid files and parameters are rewritten or moot).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replace(path, bytes, false)
}

fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    if durable {
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if durable && let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// [`write_json`], synced to disk before it returns.
pub fn write_json_durable<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_durable(path, &bytes)
}

/// Read a JSON file; `None` when it does not exist (yet).
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {err}", path.display()),
            )
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

pub fn read_pid(dir: &Path) -> io::Result<Option<PidRecord>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    match std::fs::read_to_string(dir.join(SUPERVISOR_PID)) {
        Ok(text) => {
            let mut parts = text.split_whitespace();
            let pid = parts
                .next()
                .unwrap_or_default()
                .parse()
                .map_err(|err| invalid(format!("supervisor.pid: {err}")))?;
            let start_time = parts
                .next()
                .map(str::parse)
                .transpose()
                .map_err(|err| invalid(format!("supervisor.pid: {err}")))?;
            Ok(Some(PidRecord { pid, start_time }))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Record `pid` (running, not yet reaped, so not reused) as the job's
/// supervisor, with its start time, atomically.
pub fn write_pid(dir: &Path, pid: i32) -> io::Result<()> {
    let record = PidRecord {
        pid,
        start_time: super::procfs::start_time(pid),
    };
    write_atomic(&dir.join(SUPERVISOR_PID), record.to_line().as_bytes())
}

/// How many starts of this job failed for a passing reason.
pub fn read_start_attempts(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join(START_ATTEMPTS))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// The last non-empty line of a job's stderr, for failure messages.
pub fn last_stderr_line(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join(STDERR)).ok()?;
    let tail = &text[text.len().saturating_sub(4096)..];
    let line = String::from_utf8_lossy(tail)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())?
        .trim()
        .to_owned();
    Some(line.chars().take(500).collect())
}

pub fn job_dir(jobs_dir: &Path, job_id: &uuid::Uuid) -> PathBuf {
    jobs_dir.join(job_id.to_string())
}

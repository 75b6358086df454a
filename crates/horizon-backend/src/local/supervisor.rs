//! The supervisor: a small process (`horizon supervise`) that stands between
//! the server and an agent's program.
//!
//! It leads the job's process group, starts the program directly (no shell),
//! waits for it and writes `exit.json`. Because it records how the program
//! ended, a server that crashed and restarted learns the outcome of jobs that
//! ran while it was away instead of running them again. It ignores SIGTERM,
//! SIGINT and SIGHUP so that a cancellation (SIGTERM to the whole group) ends
//! the program first and the supervisor still records it. When the program
//! has ended, whatever it left running in the group (a background child) is
//! stopped too: SIGTERM, then SIGKILL after a short grace.
//!
//! The program runs in the job's `work/` directory with the environment the
//! backend gave the supervisor (a minimal one), and, when configured, as an
//! unprivileged user.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};

use super::files::{self, ExitRecord, StartRecord};
use super::procfs;

/// How long leftovers of an ended program get between SIGTERM and SIGKILL.
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// How long a program past its wall time gets between SIGTERM and SIGKILL.
const WALLTIME_GRACE: Duration = Duration::from_secs(5);

/// What the supervisor runs, and how.
#[derive(Debug, Clone, Default)]
pub struct Supervised {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Run the program as this user and group (needs the supervisor to be root).
    pub run_as: Option<(u32, u32)>,
    /// Stop the program (SIGTERM, then SIGKILL) once it has run this long.
    pub walltime: Option<Duration>,
    /// Limit the program's address space to this many bytes (RLIMIT_AS):
    /// an allocation past it fails inside the program.
    pub memory_bytes: Option<u64>,
}

impl Supervised {
    /// Read `--walltime-secs N` / `--memory-mb N` (shared by both supervisor
    /// front ends); `None` when `flag` is not one of them.
    pub fn take_limit(&mut self, flag: &str, value: Option<&str>) -> Option<Result<(), String>> {
        let parse = |value: Option<&str>| {
            value
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{flag} needs a whole number"))
        };
        match flag {
            "--walltime-secs" => Some(parse(value).map(|n| {
                self.walltime = Some(Duration::from_secs(n));
            })),
            "--memory-mb" => Some(parse(value).map(|n| {
                self.memory_bytes = Some(n.saturating_mul(1024 * 1024));
            })),
            _ => None,
        }
    }
}

/// Run the program for the job whose directory is `job_dir`; returns the
/// exit record it wrote.
pub async fn supervise(job_dir: &Path, what: &Supervised) -> io::Result<ExitRecord> {
    let me = i32::try_from(std::process::id()).map_err(io::Error::other)?;
    // The local backend records this process (pid and start time) as soon as
    // it has started it, and has usually done so by now; write the record
    // only when it has not (yet), or when this runs on its own. Both write
    // the same line, atomically.
    let recorded = files::read_pid(job_dir)
        .ok()
        .flatten()
        .is_some_and(|record| record.pid == me && record.start_time.is_some());
    if !recorded {
        files::write_pid(job_dir, me)?;
    }
    // Orphans of the program (what it left running in the background) become
    // this process's children, so `stop_stragglers` can tell at once, with no
    // scan of /proc, when nothing is left.
    if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("cannot become the job's subreaper ({err}); leftovers are found by a scan");
    }
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
    let program = &what.program;
    let started_at = OffsetDateTime::now_utc();
    let mut command = tokio::process::Command::new(program);
    command
        .args(&what.args)
        .current_dir(job_dir.join(files::WORK))
        .stdin(Stdio::null())
        .stdout(open(files::STDOUT)?)
        .stderr(open(files::STDERR)?);
    if let Some((uid, gid)) = what.run_as {
        command.uid(uid).gid(gid);
    }
    if let Some(bytes) = what.memory_bytes {
        // inherited by the program; set here, after this process's own
        // set-up, since only the program's allocations should meet it
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_AS, bytes, bytes)
            .map_err(io::Error::from)?;
    }
    let spawned = command.spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let record = ExitRecord {
                exit_code: None,
                signal: None,
                launch_error: Some(format!("cannot start {}: {err}", program.to_string_lossy())),
                timed_out: false,
                started_at,
                finished_at: OffsetDateTime::now_utc(),
            };
            files::write_json_durable(&job_dir.join(files::EXIT), &record)?;
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
    let mut timed_out = false;
    let status = match what.walltime {
        None => child.wait().await?,
        Some(walltime) => tokio::select! {
            status = child.wait() => status?,
            () = tokio::time::sleep(walltime) => {
                timed_out = true;
                stop_past_walltime(me, &mut child).await?
            }
        },
    };
    let record = ExitRecord {
        exit_code: status.code(),
        signal: status.signal(),
        launch_error: None,
        timed_out,
        started_at,
        finished_at: OffsetDateTime::now_utc(),
    };
    files::write_json_durable(&job_dir.join(files::EXIT), &record)?;
    stop_stragglers(me).await;
    Ok(record)
}

/// The program ran past its wall time: SIGTERM to the group (this process
/// ignores it), SIGKILL to what is left after a grace.
async fn stop_past_walltime(
    me: i32,
    child: &mut tokio::process::Child,
) -> io::Result<std::process::ExitStatus> {
    let _ = nix::sys::signal::killpg(Pid::from_raw(me), Signal::SIGTERM);
    match tokio::time::timeout(WALLTIME_GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// Whether any process this supervisor started is still there, running or
/// not yet reaped (as the program's subreaper, its orphans are ours).
/// Reaps those that have ended. True when unsure.
fn has_descendants() -> bool {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            // one ended straggler reaped: look again
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => continue,
            Ok(_) => return true,
            Err(nix::errno::Errno::ECHILD) => return false,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

/// Stop what the program left running in the job's process group (this
/// process leads it and is spared: it handles SIGTERM and is never SIGKILLed).
async fn stop_stragglers(me: i32) {
    if !has_descendants() {
        // the common case: the program left nothing behind
        return;
    }
    let left = procfs::group_members(me, me);
    if left.is_empty() {
        return;
    }
    for pid in &left {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + STRAGGLER_GRACE;
    while tokio::time::Instant::now() < deadline {
        if procfs::group_members(me, me).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pid in procfs::group_members(me, me) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

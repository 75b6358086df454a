//! Reading a process's CPU time, resident memory and I/O operations from
//! Linux's /proc, and checking that a pid still belongs to a given job.

use std::path::Path;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcReading {
    /// user + system CPU time, in clock ticks
    pub cpu_ticks: u64,
    pub rss_kib: u64,
    /// read and write system calls (syscr + syscw); 0 where /proc/PID/io is unreadable
    pub io_operations: u64,
}

pub fn clock_ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(100)
}

pub fn read(pid: u32) -> Option<ProcReading> {
    let base = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(base.join("stat")).ok()?;
    // the command name may hold spaces and parentheses: fields start after the last ')'
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    if matches!(fields.first(), Some(&"Z" | &"X")) {
        // exited, not yet reaped: no memory left to read (a reading would
        // say 0 MB)
        return None;
    }
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(base.join("status")).ok()?;
    // (absent while the process is being torn down: no reading then either)
    let rss_kib = field_value(&status, "VmRSS:")?;
    let io_operations = std::fs::read_to_string(base.join("io"))
        .ok()
        .map(|io| field_value(&io, "syscr:").unwrap_or(0) + field_value(&io, "syscw:").unwrap_or(0))
        .unwrap_or(0);
    Some(ProcReading {
        cpu_ticks: utime + stime,
        rss_kib,
        io_operations,
    })
}

fn field_value(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The fields of /proc/PID/stat after the command name; `fields[0]` is field 3.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.get(stat.rfind(')')? + 2..)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

/// When the process started, in clock ticks after boot (field 22): with the
/// pid, an identity no later process can share.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// True when `pid` is still the very process that was recorded with
/// `start_time`: a recycled pid (another program, or an operator's
/// `tail -f` on the job's log) is not mistaken for the job's supervisor.
pub fn is_same_process(pid: i32, start_time: u64) -> bool {
    match stat_fields(pid) {
        // a zombie has ended; it only waits to be reaped
        Some(fields) => {
            fields.first().map(String::as_str) != Some("Z")
                && fields.get(19).and_then(|t| t.parse::<u64>().ok()) == Some(start_time)
        }
        None => false,
    }
}

/// True when `pid` runs `horizon supervise … --job-id <job_id>` (for pid
/// files written before start times were recorded).
pub fn is_supervisor_of(pid: i32, job_id: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let text = String::from_utf8_lossy(&cmdline);
    let args: Vec<&str> = text.split('\0').collect();
    let supervisor = args.contains(&"supervise")
        || args
            .first()
            .is_some_and(|program| program.ends_with("horizon-supervise"));
    supervisor && args.windows(2).any(|w| w == ["--job-id", job_id])
}

/// The live processes of process group `pgid`, except `except`.
pub fn group_members(pgid: i32, except: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != except)
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|f| {
                f.first().map(String::as_str) != Some("Z")
                    && f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let reading = read(std::process::id()).expect("own /proc entry");
        assert!(reading.rss_kib > 0);
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn an_exited_process_not_yet_reaped_gives_no_reading() {
        // (a reading of a zombie said 0 MB: a metrics sample of 0 MB was
        // recorded when the sampling met a job's agent at its exit)
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stat_fields(i32::try_from(pid).expect("pid"))
            .and_then(|f| f.first().cloned())
            .as_deref()
            != Some("Z")
        {
            assert!(std::time::Instant::now() < deadline, "true never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(read(pid), None);
        child.wait().expect("reap");
    }

    #[test]
    fn identity_is_pid_and_start_time() {
        let me = i32::try_from(std::process::id()).expect("pid");
        let started = start_time(me).expect("own start time");
        assert!(is_same_process(me, started));
        assert!(!is_same_process(me, started + 1), "a recycled pid passed");
        assert!(!is_same_process(i32::MAX, started));
    }

    #[test]
    fn group_members_finds_a_child_in_its_own_group() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("sleep");
        let pid = i32::try_from(child.id()).expect("pid");
        assert_eq!(group_members(pid, -1), vec![pid]);
        assert!(group_members(pid, pid).is_empty());
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(group_members(pid, -1).is_empty());
    }
}

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
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(base.join("status")).ok()?;
    let rss_kib = field_value(&status, "VmRSS:").unwrap_or(0);
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

/// True when `pid` is a live process whose command line mentions `marker`
/// (the job id): a recycled pid is not mistaken for the job's supervisor.
pub fn is_alive_with(pid: i32, marker: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let text = String::from_utf8_lossy(&cmdline);
    text.split('\0').any(|arg| arg.contains(marker))
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
    fn pid_of_another_job_is_not_alive_for_this_one() {
        let me = i32::try_from(std::process::id()).expect("pid");
        assert!(!is_alive_with(me, "no-such-job-0d5e"));
        assert!(!is_alive_with(i32::MAX, "anything"));
    }
}

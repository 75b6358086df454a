//! The supervisor binary on its own: it records how the program ended and
//! stops what the program left running, however it left it.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn supervise(dir: &Path, script: &str) -> std::process::ExitStatus {
    std::fs::create_dir_all(dir.join("work")).expect("work dir");
    // as the local backend starts it: leading the job's process group
    Command::new(env!("CARGO_BIN_EXE_horizon-supervise"))
        .arg("--job-dir")
        .arg(dir)
        .args(["--job-id", "test", "--", "/bin/sh", "-c", script])
        .process_group(0)
        .status()
        .expect("run horizon-supervise")
}

fn alive(pid: i32) -> bool {
    // a zombie counts as gone: it runs nothing
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

fn pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .expect("pid file")
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect()
}

#[test]
fn a_program_that_leaves_nothing_behind_has_its_exit_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = supervise(dir.path(), "exit 3");
    assert!(!status.success());
    let exit = std::fs::read_to_string(dir.path().join("exit.json")).expect("exit.json");
    assert!(exit.contains("\"exit_code\":3"), "{exit}");
}

#[test]
fn what_the_program_left_running_is_stopped_orphans_included() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("left.pids");
    // a background child, and a grandchild whose parent exits at once (it is
    // reparented to the supervisor, the program's subreaper)
    let script = format!(
        "sleep 300 & echo $! > {list}; sh -c 'sleep 301 & echo $! >> {list}' ; exit 0",
        list = list.display()
    );
    let status = supervise(dir.path(), &script);
    assert!(status.success());
    let left = pids(&list);
    assert_eq!(left.len(), 2, "{left:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while left.iter().any(|pid| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in left {
        assert!(
            !alive(pid),
            "process {pid} the program left is still running"
        );
    }
}

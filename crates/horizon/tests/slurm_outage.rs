//! A real scheduler outage: slurmctld itself is stopped for two minutes
//! while jobs are running and more are submitted. No job fails; `/readyz`
//! says `degraded`, naming Slurm, within a poll or two; once slurmctld is
//! back every job completes, each submitted once.
//!
//! Its own test binary: the other Slurm tests would fail while the
//! controller is away (test binaries run one after another).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::slurm::{skip, slurm_ids_named, slurm_toml};
use common::{Server, ServerOptions};
use serde_json::{Value, json};

const OUTAGE: Duration = Duration::from_secs(120);

fn controller_pid() -> Option<String> {
    let dir = std::env::var("SLURM_DIR").unwrap_or_else(|_| "/tmp/horizon-slurm".into());
    std::fs::read_to_string(format!("{dir}/run/slurmctld.pid"))
        .ok()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
}

fn stop_controller() {
    let pid = controller_pid().expect("slurmctld's pid file (scripts/slurm.sh up)");
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Command::new("kill")
        .args(["-0", &pid])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(Instant::now() < deadline, "slurmctld did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_controller() {
    let conf = std::env::var("SLURM_CONF").unwrap_or_else(|_| "/etc/slurm/slurm.conf".into());
    assert!(
        Command::new("slurmctld")
            .args(["-f", &conf])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Command::new("squeue")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(Instant::now() < deadline, "slurmctld did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Puts slurmctld back however the test ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if controller_pid().is_none_or(|pid| {
            !Command::new("kill")
                .args(["-0", &pid])
                .status()
                .is_ok_and(|s| s.success())
        }) {
            start_controller();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurmctld_stopped_for_two_minutes_fails_no_job() {
    if skip() {
        return;
    }
    let server = Server::start_with(ServerOptions {
        extra_toml: slurm_toml("{runs}"),
        // as in production: only the time-out (an hour) fails a submission
        dispatch_max_attempts: 0,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let job = alice.submit("s-ok", json!({"seconds": 15})).await;
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        alice
            .wait_for(id, Some("RUNNING"), Duration::from_secs(60))
            .await;
    }
    let _restore = Restore;
    stop_controller();
    let stopped = Instant::now();
    // degraded, naming Slurm, within a poll or two (polls every 200 ms)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready: Value = server.readyz().await;
        let named = ready["problems"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p.as_str().unwrap_or("").contains("slurm")));
        if ready["status"] == "degraded" && named {
            break;
        }
        assert!(Instant::now() < deadline, "not degraded: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("degraded {:?} after slurmctld stopped", stopped.elapsed());
    // more jobs while it is away
    for _ in 0..3 {
        let job = alice.submit("s-ok", json!({"seconds": 1})).await;
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    while stopped.elapsed() < OUTAGE {
        for id in &ids {
            let job = alice.job(id).await;
            assert!(
                !matches!(job["status"].as_str(), Some("FAILED" | "CANCELLED")),
                "a job ended during the outage: {job}"
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    start_controller();
    for id in &ids {
        let done = alice.wait_for(id, None, Duration::from_secs(180)).await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
        assert_eq!(slurm_ids_named(id).len(), 1, "job {id} submitted once");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.readyz().await["status"] != "ready" {
        assert!(
            Instant::now() < deadline,
            "still degraded after Slurm came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

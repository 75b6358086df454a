//! Helpers of the tests against a real Slurm (`scripts/slurm.sh up`).
#![allow(dead_code, clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, ServerOptions, repo_root};

pub fn skip() -> bool {
    if std::env::var_os("HORIZON_TEST_SKIP_SLURM").is_some() {
        eprintln!("HORIZON_TEST_SKIP_SLURM is set: skipping a Slurm test");
        return true;
    }
    let ok = Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no Slurm here: start one with `scripts/slurm.sh up` (or set HORIZON_TEST_SKIP_SLURM=1)"
    );
    false
}

/// `slurm_toml` with one more `[slurm]` setting (`key = "value"`).
pub fn slurm_toml_with(key: &str, value: &dyn std::fmt::Display) -> String {
    slurm_toml("{runs}").replace("\n[slurm]\n", &format!("\n[slurm]\n{key} = \"{value}\"\n"))
}

/// Agents that run the test agent through Slurm, beside the local ones.
pub fn slurm_toml(runs: &str) -> String {
    let agent = repo_root().join("crates/horizon/tests/agents/testagent.py");
    let agent = agent.display();
    let mut toml = String::new();
    for (name, mode, extra) in [
        ("s-ok", "ok", ""),
        ("s-fail", "fail", ""),
        ("s-sleep", "sleep", ""),
        ("s-parked", "ok", "partition = \"parked\"\n"),
        ("s-nowhere", "ok", "partition = \"no-such-partition\"\n"),
        (
            "s-limited",
            "ok",
            "default_resources = { walltime_minutes = 5, memory_mb = 100 }\nmax_resources = { walltime_minutes = 60, nodes = 1 }\n",
        ),
    ] {
        toml.push_str(&format!(
            "\n[agents.{name}]\nbackend = \"slurm\"\nprogram = \"/usr/bin/python3\"\nargs = [\"{agent}\", \"{mode}\"]\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{runs}\" }}\n{extra}"
        ));
    }
    // a cheap agent (a shell script) for sweeps of many points
    let quick = repo_root().join("crates/horizon/tests/agents/quick.sh");
    toml.push_str(&format!(
        "\n[agents.s-quick]\nbackend = \"slurm\"\nprogram = \"/bin/sh\"\nargs = [\"{}\"]\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{runs}\" }}\n",
        quick.display()
    ));
    toml.push_str(
        "\n[slurm]\npoll_interval_ms = 200\ncommand_timeout_ms = 20000\nmetrics_interval_ms = 300\n",
    );
    toml
}

pub async fn slurm_server(env: Vec<(String, String)>) -> Server {
    Server::start_with(ServerOptions {
        env,
        extra_toml: slurm_toml("{runs}"),
        ..ServerOptions::default()
    })
    .await
}

/// What Slurm itself says of a job (`squeue -t all`), e.g. "CANCELLED".
pub fn slurm_state(remote: &str) -> String {
    let out = Command::new("squeue")
        .args(["-h", "-t", "all", "-j", remote, "-O", "State:|"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_end_matches('|')
        .to_owned()
}

pub fn slurm_field(remote: &str, field: &str) -> String {
    let out = Command::new("squeue")
        .args(["-h", "-t", "all", "-j", remote, "-O", &format!("{field}:|")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_end_matches('|')
        .to_owned()
}

/// Slurm jobs named after a Horizon job.
pub fn slurm_ids_named(name: &str) -> Vec<String> {
    let out = Command::new("squeue")
        .args(["-h", "-t", "all", "--name", name, "-O", "JobID:|"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches('|').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

pub fn scontrol(args: &[&str]) {
    let out = Command::new("scontrol").args(args).output().unwrap();
    assert!(out.status.success(), "scontrol {args:?}: {out:?}");
}

pub async fn wait_until<F: Fn() -> bool>(what: &str, timeout: Duration, check: F) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect()
}

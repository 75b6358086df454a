//! Failure containment: one job that cannot start, a corrupt record, a
//! recycled pid or a program's leftovers stay that job's problem; programs
//! run with a minimal environment in their own directory and, configured to
//! run as another user, cannot open the database.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Server, ServerOptions, pid_alive, repo_root};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(60);

fn testagent() -> String {
    repo_root()
        .join("crates/horizon/tests/agents/testagent.py")
        .display()
        .to_string()
}

#[tokio::test]
async fn a_program_that_vanished_before_the_start_fails_the_job_at_once() {
    let scratch = tempfile::tempdir().unwrap();
    let program = scratch.path().join("vanishing-agent");
    std::fs::write(&program, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start_with(ServerOptions {
        slots: 1,
        extra_toml: format!(
            "[agents.vanish]\nbackend = \"local\"\nprogram = \"{}\"\n",
            program.display()
        ),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    // the one slot is taken, so the next job waits in QUEUED
    let sleeper = alice.submit("sleep", json!({"seconds": 60})).await;
    let sleeper = sleeper["id"].as_str().unwrap();
    alice.wait_for(sleeper, Some("RUNNING"), LONG).await;
    let job = alice.submit("vanish", json!({})).await;
    let id = job["id"].as_str().unwrap();
    alice.wait_for(id, Some("QUEUED"), LONG).await;
    std::fs::remove_file(&program).unwrap();
    alice.cancel(sleeper, "free the slot").await;
    let job = alice.wait_for(id, None, LONG).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["code"], "LAUNCH_FAILED", "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not exist"), "{message}");
    // refused before anything was spawned for it
    assert!(!server.job_dir(id).join("supervisor.pid").exists());
}

#[tokio::test]
async fn five_thousand_jobs_that_cannot_start_do_not_delay_a_normal_one() {
    let mut server = Server::start_with(ServerOptions {
        extra_toml: "[agents.missing]\nbackend = \"local\"\nprogram = \"/nonexistent/agent\"\n"
            .into(),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    // 5,000 QUEUED jobs of an agent whose program does not exist, older than
    // any job submitted later, written straight into the database
    server.kill9();
    let db = server.data_dir().join("horizon.db");
    let status = std::process::Command::new("python3")
        .arg(repo_root().join("scripts/insert-queued-jobs.py"))
        .arg(&db)
        .args(["5000", "alice", "missing"])
        .status()
        .unwrap();
    assert!(status.success());
    server.restart().await;
    let started = Instant::now();
    let job = alice.submit("ok", json!({"seconds": 0.1})).await;
    let id = job["id"].as_str().unwrap();
    let job = alice.wait_for(id, None, Duration::from_secs(90)).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    eprintln!(
        "normal job completed {:?} after submission",
        started.elapsed()
    );
    let failed: Value = alice
        .request(reqwest::Method::GET, "/v1/jobs?status=FAILED&limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        failed["jobs"][0]["error"]["code"], "LAUNCH_FAILED",
        "{failed}"
    );
}

#[tokio::test]
async fn a_corrupt_exit_record_fails_that_job_only() {
    let server = Server::start_with(ServerOptions {
        slots: 2,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("sleep", json!({"seconds": 60})).await;
    let broken = job["id"].as_str().unwrap();
    alice.wait_for(broken, Some("RUNNING"), LONG).await;
    let dir = server.job_dir(broken);
    let pid_line = std::fs::read_to_string(dir.join("supervisor.pid")).unwrap();
    let pid: i32 = pid_line.split_whitespace().next().unwrap().parse().unwrap();
    std::fs::write(dir.join("exit.json"), b"\x00garbage{{").unwrap();
    let next = alice.submit("ok", json!({})).await;
    let next = next["id"].as_str().unwrap();

    assert_eq!(
        alice.wait_for(next, None, LONG).await["status"],
        "COMPLETED"
    );
    let job = alice.wait_for(broken, None, LONG).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["code"], "AGENT_LOST");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{job}"
    );
    // and its program was stopped
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) {
        assert!(Instant::now() < deadline, "supervisor {pid} still alive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_recycled_pid_does_not_keep_a_job_running() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice.submit("sleep", json!({"seconds": 60})).await;
    let id = job["id"].as_str().unwrap();
    alice.wait_for(id, Some("RUNNING"), LONG).await;
    let dir = server.job_dir(id);
    let line = std::fs::read_to_string(dir.join("supervisor.pid")).unwrap();
    let mut parts = line.split_whitespace();
    let pid: i32 = parts.next().unwrap().parse().unwrap();
    let start_time = parts.next().expect("start time recorded").to_owned();
    // the supervisor and its program die without a trace, and an operator's
    // `tail -f` on the job's log gets the supervisor's pid
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut tail = std::process::Command::new("tail")
        .arg("-f")
        .arg(dir.join("stderr.log"))
        .spawn()
        .unwrap();
    std::fs::write(
        dir.join("supervisor.pid"),
        format!("{} {start_time}\n", tail.id()),
    )
    .unwrap();
    let job = alice.wait_for(id, None, Duration::from_secs(20)).await;
    tail.kill().unwrap();
    tail.wait().unwrap();
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["code"], "AGENT_LOST", "{job}");
}

#[tokio::test]
async fn what_a_program_leaves_running_is_stopped_when_it_ends() {
    let server = Server::start_with(ServerOptions {
        extra_toml: format!(
            "[agents.orphan]\nbackend = \"local\"\nprogram = \"python3\"\nargs = [\"{}\", \"orphan\"]\n",
            testagent()
        ),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("orphan", json!({})).await;
    let id = job["id"].as_str().unwrap();
    let job = alice.wait_for(id, None, LONG).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let stdout = std::fs::read_to_string(server.job_dir(id).join("stdout.log")).unwrap();
    let leftover: i32 = stdout.trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(leftover) {
        assert!(
            Instant::now() < deadline,
            "the job's background `sleep` ({leftover}) outlived it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The peek agent's report of what it could see.
async fn peek(run_as: Option<&str>) -> (Server, Value) {
    // the database, from the program's working directory <data>/jobs/<id>/work
    let options = ServerOptions {
        extra_toml: format!(
            "[agents.peek]\nbackend = \"local\"\nprogram = \"/usr/bin/python3\"\nargs = [\"{}\", \"peek\", \"../../../horizon.db\"]\n",
            testagent()
        ),
        run_as: run_as.map(str::to_owned),
        ..ServerOptions::default()
    };
    let server = Server::start_with(options).await;
    // the agent reads these: let another user pass through the test's tempdir
    std::fs::set_permissions(server.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let alice = server.user("alice");
    let job = alice.submit("peek", json!({})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let job = alice.wait_for(&id, None, LONG).await;
    assert_eq!(job["status"], "COMPLETED", "{job}\n{}", server.log());
    let out = std::fs::read_to_string(server.job_dir(&id).join("stdout.log")).unwrap();
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    let cwd = server.job_dir(&id).join("work");
    assert_eq!(report["cwd"], cwd.display().to_string(), "{report}");
    (server, report)
}

#[tokio::test]
async fn programs_get_a_minimal_environment_and_their_own_directory() {
    let (_server, report) = peek(None).await;
    let env: Vec<&str> = report["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in [
        "HORIZON_JOB_ID",
        "HORIZON_DATASET_ID",
        "HORIZON_PARAMS_FILE",
        "PATH",
    ] {
        assert!(env.contains(&name), "{name} missing from {env:?}");
    }
    // nothing of the server's own environment (RUST_LOG is set by the harness)
    for name in ["RUST_LOG", "HOME", "HORIZON_TEST_RUNS_DIR"] {
        assert!(!env.contains(&name), "{name} leaked into {env:?}");
    }
}

#[tokio::test]
async fn a_program_run_as_another_user_cannot_open_the_database() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: run_as needs the tests to run as root");
        return;
    }
    let (_server, report) = peek(Some("nobody")).await;
    assert_eq!(report["uid"], 65534, "{report}");
    let db = report["db"].as_str().unwrap();
    assert!(
        db.starts_with("denied"),
        "the program opened horizon.db: {report}"
    );
}

#[tokio::test]
async fn a_panicking_background_task_is_restarted_and_shown_on_readyz() {
    let server = Server::start_with(ServerOptions {
        env: vec![(
            "HORIZON_TEST_PANIC_TASKS".into(),
            "dispatcher,watcher".into(),
        )],
        ..ServerOptions::default()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let ready: Value = serde_json::from_str(&server.get_text("/readyz").await).unwrap();
        let restarted = |task: &str| ready["tasks"][task]["restarts"].as_u64() == Some(1);
        if restarted("dispatcher-local") && restarted("watcher-local") {
            break ready;
        }
        assert!(Instant::now() < deadline, "no restarts seen: {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ready["status"], "degraded", "{ready}");
    let problems = ready["problems"].to_string();
    assert!(problems.contains("watcher-local panicked"), "{problems}");
    assert!(
        ready["tasks"]["watcher-local"]["last_panic"]
            .as_str()
            .unwrap()
            .contains("injected"),
        "{ready}"
    );
    let metrics = server.get_text("/metrics").await;
    for task in ["dispatcher", "watcher"] {
        let line = format!("horizon_task_panics_total{{task=\"{task}\"}} 1");
        assert!(metrics.contains(&line), "no {line:?} in\n{metrics}");
    }
    // and the restarted tasks do their work
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({})).await;
    let job = alice
        .wait_for(job["id"].as_str().unwrap(), None, LONG)
        .await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
}

/// Submit with resources, as JSON, and return the job.
async fn submit_with(api: &common::Api, agent: &str, params: Value, resources: Value) -> Value {
    let r = api
        .request(reqwest::Method::POST, "/v1/jobs")
        .json(&json!({"agent": agent, "dataset_id": "d", "parameters": params, "resources": resources}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_local_backend_enforces_memory_and_wall_time() {
    let server = Server::start().await;
    let alice = server.user("alice");
    // over its memory: the allocation fails inside the program
    let greedy = submit_with(&alice, "hog", json!({"mb": 200}), json!({"memory_mb": 64})).await;
    // within it: runs normally
    let modest = submit_with(&alice, "hog", json!({"mb": 8}), json!({"memory_mb": 256})).await;
    // past its wall time: stopped, SCHEDULER_TIMEOUT
    let slow = submit_with(
        &alice,
        "sleep",
        json!({"seconds": 600}),
        json!({"walltime_minutes": 1}),
    )
    .await;

    let id = greedy["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    // (it said so: a failed allocation under its limit)
    assert_eq!(done["error"]["code"], "SCHEDULER_OUT_OF_MEMORY");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MemoryError"),
        "{done}"
    );
    let id = modest["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");

    let id = slow["id"].as_str().unwrap();
    let started = Instant::now();
    let done = alice.wait_for(id, None, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"]["code"], "SCHEDULER_TIMEOUT", "{done}");
    assert!(
        started.elapsed() >= Duration::from_secs(40),
        "stopped too early"
    );
    let pid: i32 = done["remote_job_id"].as_str().unwrap().parse().unwrap();
    assert!(
        !pid_alive(pid),
        "the supervisor of a timed-out job still runs"
    );
}

//! The Slurm backend against a real Slurm (`scripts/slurm.sh up` starts a
//! single-node one; `scripts/test.sh` does it for you). End to end over
//! HTTP: the server runs sbatch, squeue, sacct and scancel for real.
//!
//! Set `HORIZON_TEST_SKIP_SLURM=1` to skip these on a machine without Slurm;
//! without it a missing Slurm fails the tests rather than passing them.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::slurm::*;
use common::{Server, ServerOptions, assert_lifecycle, payload};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn a_job_runs_to_completion_on_slurm_with_the_same_events_as_local() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    let on_slurm = alice.submit("s-ok", json!({"seconds": 0.2})).await;
    let on_local = alice.submit("ok", json!({"seconds": 0.2})).await;
    let id = on_slurm["id"].as_str().unwrap();
    assert_eq!(on_slurm["backend"], "slurm");
    let done = alice.wait_for(id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let remote = done["remote_job_id"].as_str().unwrap().to_owned();
    assert!(remote.parse::<u64>().is_ok(), "remote id {remote:?}");
    assert_eq!(slurm_state(&remote), "COMPLETED");
    assert_eq!(
        slurm_ids_named(id),
        vec![remote.clone()],
        "job name = Horizon id"
    );
    assert_eq!(server.runs_of(id), 1);

    let events = alice.events(id).await;
    assert_lifecycle(
        id,
        &events,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
    assert_eq!(payload(&events, "job.queued")["remote_job_id"], remote);
    assert_eq!(payload(&events, "job.queued")["backend"], "slurm");
    assert_eq!(payload(&events, "job.completed")["exit_code"], 0);

    // the same agent on the local backend: the same event types and payload shapes
    let local_id = on_local["id"].as_str().unwrap();
    alice
        .wait_for(local_id, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    let local_events = alice.events(local_id).await;
    let lifecycle = |events: &[Value]| -> Vec<(String, Vec<String>)> {
        events
            .iter()
            .filter(|e| e["event_type"] != "job.metrics_recorded")
            .map(|e| {
                let mut keys: Vec<String> =
                    e["payload"].as_object().unwrap().keys().cloned().collect();
                keys.sort();
                (e["event_type"].as_str().unwrap().to_owned(), keys)
            })
            .collect()
    };
    assert_eq!(lifecycle(&events), lifecycle(&local_events));

    // the program's output is there, through the API
    let r = alice
        .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("done after"), "stdout: {text:?}");
}

#[tokio::test]
async fn a_failing_program_fails_with_its_exit_code_and_stderr_is_readable() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    let job = alice.submit("s-fail", json!({"exit_code": 3})).await;
    let id = job["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"]["code"], "NONZERO_EXIT");
    assert_eq!(done["error"]["exit_code"], 3);
    let events = alice.events(id).await;
    assert_lifecycle(
        id,
        &events,
        &["job.submitted", "job.queued", "job.running", "job.failed"],
    );
    assert_eq!(payload(&events, "job.failed")["error_code"], "NONZERO_EXIT");
    let r = alice
        .request(
            Method::GET,
            &format!("/v1/jobs/{id}/logs?stream=stderr&tail=1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.text().await.unwrap(),
        "something went wrong in the calibration\n"
    );
}

#[tokio::test]
async fn cancel_while_pending_and_while_running_is_confirmed_by_slurm() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    // pending: its partition is down, so it waits
    let pending = alice.submit("s-parked", json!({})).await;
    let pending_id = pending["id"].as_str().unwrap();
    let queued = alice
        .wait_for(pending_id, Some("QUEUED"), Duration::from_secs(30))
        .await;
    let pending_remote = queued["remote_job_id"].as_str().unwrap().to_owned();
    assert_eq!(slurm_state(&pending_remote), "PENDING");
    // running
    let running = alice.submit("s-sleep", json!({"seconds": 120})).await;
    let running_id = running["id"].as_str().unwrap();
    let job = alice
        .wait_for(running_id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    let running_remote = job["remote_job_id"].as_str().unwrap().to_owned();
    assert_eq!(slurm_state(&running_remote), "RUNNING");
    // while it runs, Slurm's accounting (sstat) gives its resource samples;
    // the first may be taken before Slurm has measured the python process
    // (a fraction of a MB), the later ones show it
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = alice.events(running_id).await;
        let samples: Vec<&Value> = events
            .iter()
            .filter(|e| e["event_type"] == "job.metrics_recorded")
            .collect();
        if let Some(first) = samples.first() {
            assert_eq!(first["status"], "RUNNING");
            assert_eq!(first["sequence"], 1);
            common::assert_valid_events(&events);
        }
        let largest = samples
            .iter()
            .filter_map(|e| e["payload"]["memory_usage_mb"].as_f64())
            .fold(0.0, f64::max);
        if largest > 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no sstat sample shows the python process's memory: {samples:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for (id, remote) in [(pending_id, &pending_remote), (running_id, &running_remote)] {
        let r = alice.cancel(id, "not needed").await;
        assert_eq!(r.status(), StatusCode::OK);
        let job: Value = r.json().await.unwrap();
        assert_eq!(job["status"], "CANCELLED");
        wait_until("Slurm to report CANCELLED", Duration::from_secs(30), || {
            slurm_state(remote) == "CANCELLED"
        })
        .await;
    }
    // nothing follows the cancellation, even after Slurm's own report
    tokio::time::sleep(Duration::from_millis(800)).await;
    for id in [pending_id, running_id] {
        let events = alice.events(id).await;
        assert_eq!(types(&events).last().unwrap(), "job.cancelled", "{id}");
        assert_eq!(alice.job(id).await["status"], "CANCELLED");
    }
}

#[tokio::test]
async fn held_released_and_cancelled_outside_horizon() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    let job = alice.submit("s-parked", json!({"seconds": 0.1})).await;
    let id = job["id"].as_str().unwrap();
    let queued = alice
        .wait_for(id, Some("QUEUED"), Duration::from_secs(30))
        .await;
    let remote = queued["remote_job_id"].as_str().unwrap().to_owned();
    scontrol(&["hold", &remote]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = alice.events(id).await;
        if types(&events).contains(&"job.status_changed".to_owned()) {
            let changed = payload(&events, "job.status_changed");
            assert!(
                changed["reason"].as_str().unwrap().starts_with("held"),
                "{changed}"
            );
            assert_eq!(changed["previous_status"], "QUEUED");
            assert_eq!(changed["current_status"], "QUEUED");
            break;
        }
        assert!(Instant::now() < deadline, "no status_changed for the hold");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // released into a partition that runs it
    scontrol(&["update", &format!("jobid={remote}"), "partition=debug"]);
    scontrol(&["release", &remote]);
    let done = alice.wait_for(id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let events = alice.events(id).await;
    let seen: Vec<String> = types(&events)
        .into_iter()
        .filter(|t| t != "job.metrics_recorded")
        .collect();
    // held, then released (unless Slurm started it before the next poll)
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "job.status_changed")
        .map(|e| e["payload"]["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.len() == 1 || (reasons.len() == 2 && reasons[1] == "released"),
        "{reasons:?}"
    );
    assert_eq!(seen.len(), 4 + reasons.len(), "{seen:?}");
    assert_eq!(
        seen[..3],
        ["job.submitted", "job.queued", "job.status_changed"]
    );
    assert_eq!(seen[seen.len() - 2..], ["job.running", "job.completed"]);
    assert_lifecycle(
        id,
        &events,
        &seen.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    // someone scancels a running job behind Horizon's back
    let job = alice.submit("s-sleep", json!({"seconds": 120})).await;
    let id = job["id"].as_str().unwrap();
    let running = alice
        .wait_for(id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    let remote = running["remote_job_id"].as_str().unwrap();
    let out = Command::new("scancel").arg(remote).output().unwrap();
    assert!(out.status.success());
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["error"]["code"], "CANCELLED_EXTERNALLY", "{done}");
}

#[tokio::test]
async fn slurm_refusals_and_resource_limits() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    // a partition Slurm does not have: refused by sbatch, for good
    let job = alice.submit("s-nowhere", json!({})).await;
    let id = job["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["error"]["code"], "SCHEDULER_REJECTED", "{done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid partition"),
        "{done}"
    );

    // over the agent's maximum: 422 naming the limit, and no job
    let before = alice
        .request(Method::GET, "/v1/jobs")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["jobs"]
        .as_array()
        .unwrap()
        .len();
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(
            &json!({"agent": "s-limited", "dataset_id": "d", "parameters": {},
                      "resources": {"walltime_minutes": 61}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("walltime_minutes = 61 is over this agent's maximum of 60"),
        "{problem}"
    );
    let after = alice
        .request(Method::GET, "/v1/jobs")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);

    // within limits: defaults filled in and handed to Slurm as its options
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(
            &json!({"agent": "s-limited", "dataset_id": "d", "parameters": {"seconds": 0.1},
                      "resources": {"walltime_minutes": 7, "cores_per_node": 2}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let job: Value = r.json().await.unwrap();
    assert_eq!(
        job["resources"],
        json!({"walltime_minutes": 7, "cores_per_node": 2, "memory_mb": 100})
    );
    let id = job["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let remote = done["remote_job_id"].as_str().unwrap();
    assert_eq!(slurm_field(remote, "TimeLimit"), "7:00");
    assert_eq!(slurm_field(remote, "MinMemory"), "100M");
    assert_eq!(slurm_field(remote, "cpus-per-task"), "2");
}

#[tokio::test]
async fn a_crash_right_after_sbatch_does_not_submit_twice() {
    if skip() {
        return;
    }
    let mut server = slurm_server(vec![(
        "HORIZON_TEST_CRASH_AFTER_SBATCH".to_owned(),
        "1".to_owned(),
    )])
    .await;
    let alice = server.user("alice");
    let job = alice.submit("s-ok", json!({"seconds": 0.2})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    // the server aborts once sbatch has answered
    let deadline = Instant::now() + Duration::from_secs(30);
    while server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the server did not crash after sbatch"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        slurm_ids_named(&id).len(),
        1,
        "sbatch ran once before the crash"
    );
    server.kill9();
    server.remove_env("HORIZON_TEST_CRASH_AFTER_SBATCH");
    server.start_again().await;
    let alice = server.user("alice");
    let done = alice.wait_for(&id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let ids = slurm_ids_named(&id);
    assert_eq!(ids.len(), 1, "submitted twice: {ids:?}");
    assert_eq!(done["remote_job_id"], ids[0]);
    assert_eq!(server.runs_of(&id), 1);
    assert_lifecycle(
        &id,
        &alice.events(&id).await,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
}

#[tokio::test]
async fn a_job_past_its_wall_time_fails_with_scheduler_timeout() {
    if skip() {
        return;
    }
    let server = slurm_server(vec![]).await;
    let alice = server.user("alice");
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(
            &json!({"agent": "s-sleep", "dataset_id": "d", "parameters": {"seconds": 600},
                      "resources": {"walltime_minutes": 1}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Slurm enforces a one-minute limit some 60-100 s after the start
    let done = alice.wait_for(&id, None, Duration::from_secs(240)).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"]["code"], "SCHEDULER_TIMEOUT", "{done}");
    assert_eq!(
        slurm_state(done["remote_job_id"].as_str().unwrap()),
        "TIMEOUT"
    );
    let events = alice.events(&id).await;
    assert_lifecycle(
        &id,
        &events,
        &["job.submitted", "job.queued", "job.running", "job.failed"],
    );
    assert_eq!(
        payload(&events, "job.failed")["error_code"],
        "SCHEDULER_TIMEOUT"
    );
}

/// A real OpenSSH server on a loopback port, in front of the same Slurm,
/// that lets in only the key it made (`scripts/sshd-install.sh` installs it).
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl Sshd {
    fn start() -> Sshd {
        let sshd = std::path::Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "no sshd here: run scripts/sshd-install.sh (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let keygen = |name: &str| {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(name))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        keygen("host_key");
        keygen("client_key");
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let port = common::free_port();
        let host_pub = std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap();
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", host_pub.join(" ")),
        )
        .unwrap();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n\
             UsePAM no\nLogLevel VERBOSE\nMaxSessions 50\nMaxStartups 50\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { dir, port, child }
    }

    /// `[slurm]` for reaching the cluster through this sshd.
    fn slurm_toml(&self, jobs_dir: &std::path::Path) -> String {
        format!(
            "jobs_dir = \"{jobs}\"\n[slurm.ssh]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"root\"\n\
             identity_file = \"{d}/client_key\"\nknown_hosts = \"{d}/known_hosts\"\n",
            jobs = jobs_dir.display(),
            port = self.port,
            d = self.dir.path().display()
        )
    }

    /// How many times a client logged in.
    fn logins(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("sshd.log"))
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ssh_server(sshd: &Sshd, jobs_dir: &std::path::Path, env: Vec<(String, String)>) -> Server {
    // the Slurm agents; [slurm] (last in that text) gains jobs_dir and [slurm.ssh]
    let toml = format!("{}{}", slurm_toml("{runs}"), sshd.slurm_toml(jobs_dir));
    Server::start_with(ServerOptions {
        env,
        extra_toml: toml,
        ..ServerOptions::default()
    })
    .await
}

#[tokio::test]
async fn over_ssh_jobs_complete_fail_cancel_and_log_through_one_connection() {
    if skip() {
        return;
    }
    let sshd = Sshd::start();
    let jobs_dir = tempfile::tempdir().unwrap();
    let server = ssh_server(&sshd, jobs_dir.path(), vec![]).await;
    let alice = server.user("alice");
    let ok = alice.submit("s-ok", json!({"seconds": 0.2})).await;
    let fail = alice.submit("s-fail", json!({"exit_code": 4})).await;
    let sleep = alice.submit("s-sleep", json!({"seconds": 120})).await;
    let ok_id = ok["id"].as_str().unwrap();
    let fail_id = fail["id"].as_str().unwrap();
    let sleep_id = sleep["id"].as_str().unwrap();

    let done = alice.wait_for(ok_id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
    assert_lifecycle(
        ok_id,
        &alice.events(ok_id).await,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
    // the job's files are where the cluster side keeps them
    assert!(jobs_dir.path().join(ok_id).join("job.sh").exists());
    assert!(jobs_dir.path().join(ok_id).join("params.json").exists());

    let failed = alice.wait_for(fail_id, None, Duration::from_secs(60)).await;
    assert_eq!(failed["error"]["code"], "NONZERO_EXIT");
    assert_eq!(failed["error"]["exit_code"], 4);
    // logs come back over SSH
    let r = alice
        .request(
            Method::GET,
            &format!("/v1/jobs/{fail_id}/logs?stream=stderr"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-log-size"], "40");
    assert_eq!(
        r.text().await.unwrap(),
        "something went wrong in the calibration\n"
    );
    let r = alice
        .request(Method::GET, &format!("/v1/jobs/{ok_id}/logs?offset=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-log-start"], "5");
    assert!(r.text().await.unwrap().starts_with("after "));

    let running = alice
        .wait_for(sleep_id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    let remote = running["remote_job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        alice.cancel(sleep_id, "enough").await.status(),
        StatusCode::OK
    );
    wait_until("Slurm to report CANCELLED", Duration::from_secs(30), || {
        slurm_state(&remote) == "CANCELLED"
    })
    .await;
    // dozens of commands ran; one SSH login carried them all
    assert_eq!(sshd.logins(), 1, "{}", server.log());
}

#[tokio::test]
async fn over_ssh_a_crash_right_after_sbatch_does_not_submit_twice() {
    if skip() {
        return;
    }
    let sshd = Sshd::start();
    let jobs_dir = tempfile::tempdir().unwrap();
    let mut server = ssh_server(
        &sshd,
        jobs_dir.path(),
        vec![("HORIZON_TEST_CRASH_AFTER_SBATCH".to_owned(), "1".to_owned())],
    )
    .await;
    let alice = server.user("alice");
    let job = alice.submit("s-ok", json!({"seconds": 0.2})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the server did not crash after sbatch"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();
    server.remove_env("HORIZON_TEST_CRASH_AFTER_SBATCH");
    server.start_again().await;
    let alice = server.user("alice");
    let done = alice.wait_for(&id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(slurm_ids_named(&id).len(), 1, "submitted twice");
    assert_eq!(server.runs_of(&id), 1);
}

/// Several processes on one PostgreSQL database: the dispatching process
/// dies in the middle of its submissions, right after a `sbatch` answered;
/// a process with a data directory of its own takes its jobs over. The
/// "about to submit" marks are in the database, so it looks each marked
/// job up by name instead of submitting it again: every job exists once in
/// Slurm and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_mid_pass_submits_no_slurm_job_twice() {
    if skip() {
        return;
    }
    let shared = tempfile::tempdir().unwrap();
    let toml = slurm_toml_with("jobs_dir", &shared.path().display());
    let takeover = common::takeover::mid_pass(
        ServerOptions {
            extra_toml: toml,
            ..ServerOptions::default()
        },
        "HORIZON_TEST_CRASH_AFTER_SBATCH",
        "s-ok",
        common::takeover::quick(),
        40,
        |id| slurm_ids_named(id).len(),
    )
    .await;
    takeover.assert_each_once(slurm_ids_named).await;
}

/// Slurm's commands behind wrappers that a test can make misbehave, by
/// creating files in the flags directory: `squeue-empty` (squeue shows no
/// job), `sacct-fails` (accounting away), `controller-down` (sbatch, squeue
/// and sacct cannot reach slurmctld, as during its restart).
fn slurm_wrappers() -> (tempfile::TempDir, std::path::PathBuf) {
    let wrappers = tempfile::tempdir().unwrap();
    let flags = wrappers.path().join("flags");
    std::fs::create_dir_all(&flags).unwrap();
    let down = format!(
        "[ -e {}/controller-down ] && {{ echo 'error: Unable to contact slurm controller (connect failure)' >&2; exit 1; }}\n",
        flags.display()
    );
    for command in ["sbatch", "squeue", "sacct", "scancel", "sstat", "scontrol"] {
        let real = Command::new("sh")
            .args(["-c", &format!("command -v {command}")])
            .output()
            .unwrap();
        let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
        let guard = match command {
            "squeue" => format!("{down}[ -e {}/squeue-empty ] && exit 0\n", flags.display()),
            "sacct" => format!(
                "{down}[ -e {}/sacct-fails ] && {{ echo 'sacct: error: Problem talking to the database: Connection refused' >&2; exit 1; }}\n",
                flags.display()
            ),
            "sbatch" => down.clone(),
            _ => String::new(),
        };
        let path = wrappers.path().join(command);
        std::fs::write(&path, format!("#!/bin/sh\n{guard}exec {real} \"$@\"\n")).unwrap();
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).unwrap();
    }
    (wrappers, flags)
}

/// A routine slurmctld restart: sbatch and squeue cannot reach the
/// controller for a while. A job submitted meanwhile waits (retried with
/// backoff, far more times than the old 5 attempts) instead of failing;
/// `/readyz` is degraded naming the backend and the failures are counted;
/// once the controller is back the job runs to its end.
#[tokio::test]
async fn a_scheduler_outage_delays_submissions_instead_of_failing_them() {
    if skip() {
        return;
    }
    let (wrappers, flags) = slurm_wrappers();
    let toml = slurm_toml_with("bin_dir", &wrappers.path().display());
    let server = Server::start_with(ServerOptions {
        extra_toml: toml,
        // as in production: only the time-out (an hour) fails a job
        dispatch_max_attempts: 0,
        ..ServerOptions::default()
    })
    .await;
    std::fs::write(flags.join("controller-down"), "").unwrap();
    let alice = server.user("alice");
    let job = alice.submit("s-ok", json!({"seconds": 0.1})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        let now = alice.job(&id).await;
        assert_eq!(now["status"], "SUBMITTED", "it waits for Slurm: {now}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ready = server.readyz().await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert!(
        ready["problems"].as_array().unwrap().iter().any(|p| p
            .as_str()
            .unwrap()
            .starts_with("backend slurm: cannot be reached")),
        "{ready}"
    );
    let failures = server
        .metric("horizon_backend_errors_total{backend=\"slurm\",op=\"submit\"}")
        .await;
    assert!(
        failures > 5.0,
        "more attempts than the old limit: {failures}"
    );
    std::fs::remove_file(flags.join("controller-down")).unwrap();
    let done = alice.wait_for(&id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(slurm_ids_named(&id).len(), 1, "submitted once");
    assert_eq!(server.readyz().await["status"], "ready");
}

/// Slurm's accounting away (sacct fails) while squeue no longer shows a
/// running job: Horizon cannot tell what became of it, so the job stays
/// RUNNING (never AGENT_LOST), and ends with its true state once sacct
/// answers again. Slurm's commands go through wrappers that can empty
/// squeue's answer and make sacct fail.
#[tokio::test]
async fn a_failing_sacct_is_unknown_not_missing() {
    if skip() {
        return;
    }
    let (wrappers, flags) = slurm_wrappers();
    let toml = slurm_toml_with("bin_dir", &wrappers.path().display());
    let server = Server::start_with(ServerOptions {
        extra_toml: toml,
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("s-sleep", json!({"seconds": 3})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    alice
        .wait_for(&id, Some("RUNNING"), Duration::from_secs(60))
        .await;
    std::fs::write(flags.join("squeue-empty"), "").unwrap();
    std::fs::write(flags.join("sacct-fails"), "").unwrap();
    // the job ends in Slurm meanwhile; Horizon cannot see it
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        let now = alice.job(&id).await;
        assert_eq!(
            now["status"],
            "RUNNING",
            "a job Slurm cannot account for is not lost: {now}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    std::fs::remove_file(flags.join("sacct-fails")).unwrap();
    let done = alice.wait_for(&id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "its true state: {done}");
    assert!(server.log().contains("sacct failed"));
}

/// A paused owner: the dispatching process freezes (SIGSTOP) between its
/// "handing over" mark and its `sbatch`, for longer than the takeover
/// takes; another process (own data directory, same database) claims the
/// job, finds nothing in Slurm by name and submits it. When the frozen one
/// wakes (SIGCONT) its `sbatch` still runs, but its claim is stale: it
/// records nothing, and cancels only its own duplicate, by its exact id —
/// never the job the new owner runs. The new owner finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_writes_nothing_and_cancels_only_its_own_duplicate() {
    if skip() {
        return;
    }
    use nix::sys::signal::{Signal, kill};
    let db = common::TestDatabase::create();
    let shared = tempfile::tempdir().unwrap();
    let hook = shared.path().join("about-to-submit");
    let toml = slurm_toml_with("jobs_dir", &shared.path().display());
    let options = ServerOptions {
        database_url: Some(db.url.clone()),
        extra_toml: toml,
        ..ServerOptions::default()
    };
    let first = Server::start_with(ServerOptions {
        env: vec![(
            "HORIZON_TEST_PAUSE_BEFORE_SUBMIT".to_owned(),
            hook.display().to_string(),
        )],
        ..options.clone()
    })
    .await;
    let token = first.token("alice", false);
    let job = first
        .client(&token)
        .submit("s-sleep", json!({"seconds": 2}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    wait_until(
        "the first process to mark the job",
        Duration::from_secs(30),
        || hook.exists(),
    )
    .await;
    kill(first.pid(), Signal::SIGSTOP).unwrap();
    let second = Server::start_with(options).await;
    let alice = second.client(&token);
    let running = alice
        .wait_for(&id, Some("RUNNING"), Duration::from_secs(60))
        .await;
    let theirs = running["remote_job_id"].as_str().unwrap().to_owned();
    kill(first.pid(), Signal::SIGCONT).unwrap();
    // the woken process submits its copy, is refused, cancels its copy
    wait_until(
        "the woken process's duplicate",
        Duration::from_secs(30),
        || slurm_ids_named(&id).len() == 2,
    )
    .await;
    let done = alice.wait_for(&id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", first.log());
    assert_eq!(done["remote_job_id"], theirs.as_str());
    let ids = slurm_ids_named(&id);
    let duplicate = ids.iter().find(|r| **r != theirs).unwrap().clone();
    wait_until(
        "the duplicate to be cancelled",
        Duration::from_secs(30),
        || slurm_state(&duplicate).starts_with("CANCELLED"),
    )
    .await;
    assert_eq!(
        slurm_state(&theirs),
        "COMPLETED",
        "the new owner's job ran to its end"
    );
    assert_lifecycle(
        &id,
        &alice.events(&id).await,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
    let log = first.log();
    assert!(
        log.contains("claimed by another process while this one handed it over"),
        "{log}"
    );
}

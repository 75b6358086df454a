//! Sweeps on a real Slurm, as job arrays. Slurm's commands go through
//! wrappers (`bin_dir`) that count each `sbatch` and `scancel`:
//! - a 1,000-task sweep costs one `sbatch`; every task is its own job with
//!   the right events, and a failing task fails alone;
//! - the sweep's `%K` holds (sampled), and cancelling it is one `scancel`
//!   that ends everything CANCELLED;
//! - a crash right after the array's `sbatch`, then a restart, submits
//!   nothing twice;
//! - a sweep over the array size limit becomes several arrays;
//! - A → sweep B → merge C (after_ok B) runs in that order.
//!
//! Set `HORIZON_TEST_SKIP_SLURM=1` to skip them on a machine without Slurm.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::slurm::*;
use common::{Server, ServerOptions, sweep};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The test cluster's 16 CPUs: the 1,000-task sweep takes them all for
/// minutes, so it runs alone; the others may run beside each other.
static CLUSTER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Wrappers around sbatch and scancel that log each call (one line, its
/// arguments) to `<dir>/<command>.calls`; the other commands as they are.
fn counting_wrappers() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for command in ["sbatch", "squeue", "sacct", "scancel", "sstat", "scontrol"] {
        let real = Command::new("sh")
            .args(["-c", &format!("command -v {command}")])
            .output()
            .unwrap();
        let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
        let log = match command {
            "sbatch" | "scancel" => {
                format!("echo \"$*\" >> {}/{command}.calls\n", dir.path().display())
            }
            _ => String::new(),
        };
        let path = dir.path().join(command);
        std::fs::write(&path, format!("#!/bin/sh\n{log}exec {real} \"$@\"\n")).unwrap();
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).unwrap();
    }
    dir
}

fn calls(wrappers: &tempfile::TempDir, command: &str) -> Vec<String> {
    std::fs::read_to_string(wrappers.path().join(format!("{command}.calls")))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn server_with(
    wrappers: &tempfile::TempDir,
    more: &str,
    env: Vec<(String, String)>,
) -> Server {
    let toml = slurm_toml_with("bin_dir", &wrappers.path().display())
        .replace("\n[slurm]\n", &format!("\n[slurm]\n{more}"));
    Server::start_with(ServerOptions {
        extra_toml: toml,
        env,
        ..ServerOptions::default()
    })
    .await
}

/// The array id of a task's remote id `<array>_<task>`.
fn array_of(job: &Value) -> String {
    let remote = job["remote_job_id"].as_str().unwrap();
    let (array, task) = remote
        .split_once('_')
        .unwrap_or_else(|| panic!("not a task: {remote}"));
    assert!(task.parse::<u32>().is_ok(), "{remote}");
    array.to_owned()
}

#[tokio::test]
async fn a_thousand_task_sweep_is_one_sbatch_and_a_failing_task_fails_alone() {
    if skip() {
        return;
    }
    let _cluster = CLUSTER.write().await;
    let wrappers = counting_wrappers();
    let server = server_with(&wrappers, "", vec![]).await;
    let alice = server.user("alice");
    let mut points: Vec<Value> = (0..1000).map(|i| json!({"i": i})).collect();
    points[421] = json!({"i": 421, "fail": true});
    let made = sweep::made(
        &alice,
        json!({"agent": "s-quick", "dataset_id": "ds", "points": points}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    let done = sweep::wait_completed(&alice, &id, Duration::from_secs(600)).await;
    assert_eq!(done["counts"]["COMPLETED"], 999, "{done}");
    assert_eq!(done["counts"]["FAILED"], 1, "{done}");
    let sbatch = calls(&wrappers, "sbatch");
    assert_eq!(sbatch.len(), 1, "one sbatch for the sweep: {sbatch:?}");
    assert!(sbatch[0].contains("--array=0-999"), "{sbatch:?}");
    let jobs = sweep::jobs(&alice, &id).await;
    assert_eq!(jobs.len(), 1000);
    let arrays: HashSet<String> = jobs.iter().map(array_of).collect();
    assert_eq!(arrays.len(), 1, "{arrays:?}");
    let remotes: HashSet<&str> = jobs
        .iter()
        .map(|j| j["remote_job_id"].as_str().unwrap())
        .collect();
    assert_eq!(remotes.len(), 1000, "a task each");
    for (i, job) in jobs.iter().enumerate() {
        let jid = job["id"].as_str().unwrap();
        let events = alice.events(jid).await;
        let expected: &[&str] = if i == 421 {
            &["job.submitted", "job.queued", "job.running", "job.failed"]
        } else {
            &[
                "job.submitted",
                "job.queued",
                "job.running",
                "job.completed",
            ]
        };
        common::assert_lifecycle(jid, &events, expected);
        assert_eq!(server.runs_of(jid), 1, "job {i} ran once");
    }
    let failed = &jobs[421];
    assert_eq!(failed["error"]["code"], "NONZERO_EXIT", "{failed}");
    assert_eq!(failed["exit_code"], 3);
    // its own log, through the task's link to its directory
    let r = alice
        .request(
            Method::GET,
            &format!(
                "/v1/jobs/{}/logs?stream=stderr",
                failed["id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("this point fails"));
}

#[tokio::test]
async fn the_limit_holds_and_cancelling_the_sweep_is_one_scancel() {
    if skip() {
        return;
    }
    let _cluster = CLUSTER.read().await;
    let wrappers = counting_wrappers();
    let server = server_with(&wrappers, "", vec![]).await;
    let alice = server.user("alice");
    let points: Vec<Value> = (0..40).map(|i| json!({"i": i})).collect();
    let made = sweep::made(
        &alice,
        json!({"agent": "s-quick", "dataset_id": "ds", "parameters": {"seconds": 1},
               "points": points, "concurrency_limit": 4}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    // %K: sampled in Slurm itself while the sweep runs
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-r", "-t", "RUNNING", "-O", "Name:|"])
            .output()
            .unwrap();
        // (this sweep's array only: other tests' run beside it)
        let name = calls(&wrappers, "sbatch")
            .first()
            .and_then(|c| {
                c.split(' ')
                    .find_map(|a| a.strip_prefix("--job-name="))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "(not yet)".to_owned());
        let running = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.trim_end_matches('|') == name)
            .count();
        most = most.max(running);
        let s = sweep::get(&alice, &id).await;
        if !s["completed_at"].is_null() {
            assert_eq!(s["counts"]["COMPLETED"], 40, "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(most <= 4, "{most} tasks ran at once");
    assert!(most >= 2, "the sweep ran several at once: {most}");
    assert!(calls(&wrappers, "sbatch")[0].contains("--array=0-39%4"));

    // a second sweep, cancelled while it runs: one scancel
    let points: Vec<Value> = (0..30).map(|i| json!({"i": i})).collect();
    let made = sweep::made(
        &alice,
        json!({"agent": "s-quick", "dataset_id": "ds", "parameters": {"seconds": 120},
               "points": points, "concurrency_limit": 3}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    while sweep::get(&alice, &id).await["counts"]["RUNNING"] != 3 {
        assert!(
            Instant::now() < deadline,
            "{}",
            sweep::get(&alice, &id).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = calls(&wrappers, "scancel").len();
    let r = alice
        .request(Method::POST, &format!("/v1/sweeps/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let scancels = calls(&wrappers, "scancel");
    assert_eq!(scancels.len() - before, 1, "one scancel: {scancels:?}");
    let done = sweep::wait_completed(&alice, &id, Duration::from_secs(60)).await;
    assert_eq!(done["counts"]["CANCELLED"], 30, "{done}");
    let jobs = sweep::jobs(&alice, &id).await;
    let array = array_of(&jobs[0]);
    wait_until("Slurm ends every task", Duration::from_secs(60), || {
        let out = Command::new("squeue")
            .args([
                "-h",
                "-r",
                "-j",
                &array,
                "-t",
                "PENDING,RUNNING",
                "-O",
                "JobID:|",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_crash_right_after_the_arrays_sbatch_submits_nothing_twice() {
    if skip() {
        return;
    }
    let _cluster = CLUSTER.read().await;
    let wrappers = counting_wrappers();
    let mut server = server_with(
        &wrappers,
        "",
        vec![("HORIZON_TEST_CRASH_AFTER_SBATCH".to_owned(), "1".to_owned())],
    )
    .await;
    let alice = server.user("alice");
    let points: Vec<Value> = (0..20).map(|i| json!({"i": i})).collect();
    let made = sweep::made(
        &alice,
        json!({"agent": "s-quick", "dataset_id": "ds", "points": points}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
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
    assert_eq!(calls(&wrappers, "sbatch").len(), 1);
    server.kill9();
    server.remove_env("HORIZON_TEST_CRASH_AFTER_SBATCH");
    server.start_again().await;
    let alice = server.user("alice");
    let done = sweep::wait_completed(&alice, &id, Duration::from_secs(180)).await;
    assert_eq!(done["counts"]["COMPLETED"], 20, "{done}");
    assert_eq!(calls(&wrappers, "sbatch").len(), 1, "submitted twice");
    let jobs = sweep::jobs(&alice, &id).await;
    let arrays: HashSet<String> = jobs.iter().map(array_of).collect();
    assert_eq!(arrays.len(), 1);
    for job in &jobs {
        assert_eq!(server.runs_of(job["id"].as_str().unwrap()), 1);
    }
}

#[tokio::test]
async fn a_sweep_over_the_array_size_becomes_several_arrays() {
    if skip() {
        return;
    }
    let _cluster = CLUSTER.read().await;
    let wrappers = counting_wrappers();
    let server = server_with(&wrappers, "max_array_size = 40\n", vec![]).await;
    let alice = server.user("alice");
    let points: Vec<Value> = (0..100).map(|i| json!({"i": i})).collect();
    let made = sweep::made(
        &alice,
        json!({"agent": "s-quick", "dataset_id": "ds", "points": points, "concurrency_limit": 8}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    let done = sweep::wait_completed(&alice, &id, Duration::from_secs(300)).await;
    assert_eq!(done["counts"]["COMPLETED"], 100, "{done}");
    let sbatch = calls(&wrappers, "sbatch");
    assert_eq!(sbatch.len(), 3, "{sbatch:?}");
    assert!(sbatch[0].contains("--array=0-39%8"), "{sbatch:?}");
    assert!(sbatch[2].contains("--array=0-19%8"), "{sbatch:?}");
    // each array after the one before: %K holds over all of them
    assert!(!sbatch[0].contains("--dependency"));
    assert!(sbatch[1].contains("--dependency=afterany:"), "{sbatch:?}");
    let jobs = sweep::jobs(&alice, &id).await;
    let arrays: Vec<String> = jobs.iter().map(array_of).collect();
    assert_eq!(arrays.iter().collect::<HashSet<_>>().len(), 3);
    // points in order: the first 40 in the first array
    assert!(arrays[..40].iter().all(|a| *a == arrays[0]));
}

#[tokio::test]
async fn a_then_a_sweep_then_a_merge_runs_in_order_on_slurm() {
    if skip() {
        return;
    }
    let _cluster = CLUSTER.read().await;
    let wrappers = counting_wrappers();
    let server = server_with(&wrappers, "", vec![]).await;
    let alice = server.user("alice");
    let a = alice.submit("s-quick", json!({"seconds": 3})).await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    let points: Vec<Value> = (0..50).map(|i| json!({"i": i})).collect();
    let b = sweep::made(
        &alice,
        json!({"agent": "s-quick", "dataset_id": "ds", "points": points,
               "depends_on": [{"job_id": a_id, "condition": "after_ok"}]}),
    )
    .await;
    let b_id = b["id"].as_str().unwrap().to_owned();
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(&json!({"agent": "s-quick", "dataset_id": "merge",
                      "depends_on": [{"sweep_id": b_id, "condition": "after_ok"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.unwrap();
    let c_done = alice
        .wait_for(c["id"].as_str().unwrap(), None, Duration::from_secs(300))
        .await;
    assert_eq!(c_done["status"], "COMPLETED", "{c_done}");
    let at = |job: &Value, field: &str| {
        horizon_core::timestamp::parse(job[field].as_str().unwrap()).unwrap()
    };
    let a_done = alice.job(&a_id).await;
    let bs = sweep::jobs(&alice, &b_id).await;
    // the dependencies went to Slurm: B as one array after A, C after B's array
    let b_array = array_of(&bs[0]);
    assert_eq!(
        bs[0]["scheduler_dependency"],
        format!("afterok:{}", a_done["remote_job_id"].as_str().unwrap())
    );
    assert_eq!(c_done["scheduler_dependency"], format!("afterok:{b_array}"));
    assert!(
        calls(&wrappers, "sbatch")
            .iter()
            .any(|c| c.contains("--array=0-49") && c.contains("--dependency=afterok:")),
        "{:?}",
        calls(&wrappers, "sbatch")
    );
    for job in bs {
        assert_eq!(job["status"], "COMPLETED");
        assert_eq!(array_of(&job), b_array);
        assert!(
            at(&job, "started_at") >= at(&a_done, "finished_at"),
            "B before A"
        );
        assert!(
            at(&c_done, "started_at") >= at(&job, "finished_at"),
            "C before B"
        );
    }

    // one failing point: the after_ok merge ends CANCELLED naming the
    // sweep (never running); the after_any one runs anyway
    let mut points: Vec<Value> = (0..10).map(|i| json!({"i": i})).collect();
    points[3] = json!({"i": 3, "fail": true});
    let b = sweep::made(
        &alice,
        json!({"agent": "s-quick", "dataset_id": "ds", "points": points}),
    )
    .await;
    let b_id = b["id"].as_str().unwrap().to_owned();
    let mut merges = Vec::new();
    for condition in ["after_ok", "after_any"] {
        let r = alice
            .request(Method::POST, "/v1/jobs")
            .json(&json!({"agent": "s-quick", "dataset_id": "merge",
                          "depends_on": [{"sweep_id": b_id, "condition": condition}]}))
            .send()
            .await
            .unwrap();
        let merge: Value = r.json().await.unwrap();
        merges.push(merge["id"].as_str().unwrap().to_owned());
    }
    let ok = alice
        .wait_for(&merges[0], None, Duration::from_secs(120))
        .await;
    assert_eq!(ok["status"], "CANCELLED", "{ok}");
    assert_eq!(
        server.runs_of(ok["id"].as_str().unwrap()),
        0,
        "it never ran"
    );
    let reason =
        common::payload(&alice.events(&merges[0]).await, "job.cancelled")["cancellation_reason"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(
        reason.starts_with(&format!("dependency {b_id} ")),
        "{reason}"
    );
    let any = alice
        .wait_for(&merges[1], None, Duration::from_secs(120))
        .await;
    assert_eq!(any["status"], "COMPLETED", "{any}");
}

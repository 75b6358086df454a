//! Crash recovery: SIGKILL the server while jobs run, start it again, and
//! every job reaches its end exactly once with a gap-free event log.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{COMPLETED_LIFE, Server, ServerOptions, assert_lifecycle};
use serde_json::json;

#[tokio::test]
async fn kill_9_while_jobs_run_then_restart_loses_nothing_and_runs_nothing_twice() {
    let mut server = Server::start_with(ServerOptions {
        slots: 3,
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    // A and B end while the server is down; C outlives the restart (adopted);
    // D and E wait in QUEUED for a slot and start after the restart.
    let mut ids = Vec::new();
    for seconds in [1.0, 1.0, 5.0, 1.0, 1.0] {
        let job = alice.submit("sleep", json!({"seconds": seconds})).await;
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    for id in &ids[..3] {
        alice
            .wait_for(id, Some("RUNNING"), Duration::from_secs(30))
            .await;
    }
    assert_eq!(alice.job(&ids[3]).await["status"], "QUEUED");
    server.kill9();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    server.restart().await;

    for id in &ids {
        let job = alice.wait_for(id, None, Duration::from_secs(60)).await;
        assert_eq!(
            job["status"],
            "COMPLETED",
            "job {id}: {job}\n{}",
            server.log()
        );
        let events = alice.events(id).await;
        assert_lifecycle(id, &events, COMPLETED_LIFE);
        let ids: Vec<&str> = events
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "duplicate events for job {id}");
        assert_eq!(
            server.runs_of(id),
            1,
            "job {id} ran {} times",
            server.runs_of(id)
        );
    }
    // the restarted server said what it adopted and what had ended meanwhile
    let log = server.log();
    let report = log
        .lines()
        .rev()
        .find(|l| l.contains("after start:"))
        .unwrap_or_else(|| panic!("no start-up report:\n{log}"));
    let (adopted, ended) = report.split_once("; ").unwrap();
    assert!(
        adopted.contains("1 running job(s) adopted") && adopted.contains(&ids[2]),
        "{report}"
    );
    assert!(
        ended.contains("2 had ended") && ended.contains(&ids[0]) && ended.contains(&ids[1]),
        "{report}"
    );
    assert!(!log.contains("\u{1b}["), "colour codes in a log file");
}

#[tokio::test]
async fn submitted_jobs_survive_a_crash_before_dispatch() {
    let mut server = Server::start_with(ServerOptions {
        slots: 1,
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            alice.submit("ok", json!({"seconds": 0})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // crash at once: some jobs are still SUBMITTED or QUEUED
    server.kill9();
    server.restart().await;
    for id in &ids {
        let job = alice.wait_for(id, None, Duration::from_secs(60)).await;
        assert_eq!(job["status"], "COMPLETED");
        assert_lifecycle(id, &alice.events(id).await, COMPLETED_LIFE);
        assert_eq!(server.runs_of(id), 1);
    }
}

#[tokio::test]
async fn a_cancel_committed_just_before_a_crash_still_stops_the_program() {
    let mut server = Server::start().await;
    let alice = server.user("alice");
    let id = alice.submit("sleep", json!({"seconds": 120})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let running = alice
        .wait_for(&id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    let supervisor: i32 = running["remote_job_id"].as_str().unwrap().parse().unwrap();
    server.kill9();
    assert!(
        common::pid_alive(supervisor),
        "the job's program outlives the server"
    );
    // what a crash between committing the cancel and signalling the program
    // leaves behind: the job is CANCELLED, its program still runs
    server.sql(&format!(
        "UPDATE jobs SET status = 'CANCELLED' WHERE id = '{id}'"
    ));
    // (kill9 again is a no-op: the server is down) start it on that database
    server.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while common::pid_alive(supervisor) {
        assert!(
            std::time::Instant::now() < deadline,
            "stray program still running\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server
            .log()
            .contains("has ended but its program was still running")
    );
}

#[tokio::test]
async fn kill_9_under_load_loses_no_answered_submission() {
    let mut server = Server::start_with(ServerOptions {
        slots: 0,
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    // 16 clients submit as fast as they are answered; the server dies under them
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (api, answered, stop) = (alice.clone(), answered.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let sent = api
                        .request(reqwest::Method::POST, "/v1/jobs")
                        .json(&json!({"agent": "ok", "dataset_id": format!("c{c}-{i}"), "parameters": {}}))
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status() != reqwest::StatusCode::CREATED {
                        break;
                    }
                    let Ok(body) = response.json::<serde_json::Value>().await else {
                        break;
                    };
                    answered
                        .lock()
                        .unwrap()
                        .push(body["id"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 50,
        "only {} submissions before the kill",
        answered.len()
    );
    server.start_again().await;
    for id in &answered {
        let r = alice
            .request(reqwest::Method::GET, &format!("/v1/jobs/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::OK,
            "job {id} was answered 201 and then lost"
        );
        let events = alice.events(id).await;
        assert_eq!(events[0]["event_type"], "job.submitted", "job {id}");
    }
    eprintln!(
        "{} answered submissions, all there after kill -9",
        answered.len()
    );
}

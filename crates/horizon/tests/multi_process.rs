//! Several `horizon serve` processes on one PostgreSQL database and one
//! Kafka: each job is handed to its backend by exactly one process and its
//! program runs once, whichever process took the request; one process
//! relays, the others stand by; every event reaches Kafka once per job in
//! order.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::kafka_setup::{assert_job_published, setup_with};
use common::{Server, ServerOptions, TestDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_300_jobs_each_run_once_and_published_in_order() {
    processes_share_one_database(2, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_300_jobs_each_run_once_and_published_in_order() {
    processes_share_one_database(3, 300).await;
}

/// `n` processes, `total` jobs submitted round-robin over them: a third
/// complete, a third fail, a third are cancelled through another process
/// than took them.
async fn processes_share_one_database(n: usize, total: usize) {
    let db = TestDatabase::create();
    let jobs_dir = tempfile::tempdir().unwrap();
    let options = ServerOptions {
        database_url: Some(db.url.clone()),
        jobs_dir: Some(jobs_dir.path().to_owned()),
        slots: 6,
        ..ServerOptions::default()
    };
    let s = setup_with(options.clone(), "").await;
    let kafka = s.kafka_section.clone();
    let mut others = Vec::new();
    for _ in 1..n {
        others.push(
            Server::start_with(ServerOptions {
                extra_toml: kafka.clone(),
                ..options.clone()
            })
            .await,
        );
    }
    let servers: Vec<&Server> = std::iter::once(&s.server).chain(others.iter()).collect();
    // one token, one database: every process accepts it
    let token = s.server.token("alice", false);
    let apis: Vec<common::Api> = servers.iter().map(|srv| srv.client(&token)).collect();

    let mut jobs = Vec::new();
    for i in 0..total {
        let (agent, params) = match i % 3 {
            0 => ("ok", json!({"seconds": 0.05})),
            1 => ("fail", json!({"exit_code": 4})),
            _ => ("sleep", json!({"seconds": 60})),
        };
        let job = apis[i % n].submit(agent, params).await;
        jobs.push((job["id"].as_str().unwrap().to_owned(), i % 3));
    }
    for (k, (id, kind)) in jobs.iter().enumerate() {
        if *kind == 2 {
            // a 60 s job: the cancel succeeds even when it races the job's
            // start in another process (a lost compare-and-set is retried)
            let r = apis[(k + 1) % n].cancel(id, "enough").await;
            assert_eq!(r.status(), StatusCode::OK, "cancel of job {id}");
        }
    }
    let mut all_events = Vec::new();
    let mut per_job = Vec::new();
    for (k, (id, kind)) in jobs.iter().enumerate() {
        let job = apis[k % n]
            .wait_for(id, None, Duration::from_secs(120))
            .await;
        let want = ["COMPLETED", "FAILED", "CANCELLED"][*kind];
        assert_eq!(job["status"], want, "{job}");
        // its program ran exactly once (never for a job cancelled before it
        // started), whichever process started it
        let runs: usize = servers.iter().map(|srv| srv.runs_of(id)).sum();
        if *kind == 2 {
            assert!(runs <= 1, "job {id} ran {runs} times");
        } else {
            assert_eq!(runs, 1, "job {id} ran {runs} times");
        }
        let events = apis[(k + 2) % n].events(id).await;
        let lifecycle: Vec<u64> = events
            .iter()
            .filter(|e| e["event_type"] != "job.metrics_recorded")
            .map(|e| e["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(lifecycle, (1..=lifecycle.len() as u64).collect::<Vec<_>>());
        all_events.extend(events.clone());
        per_job.push((id.clone(), events));
    }

    // one relay, two standing by
    let mut states = Vec::new();
    for srv in &servers {
        let ready: Value = srv
            .http
            .get(format!("{}/readyz", srv.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        states.push(ready["kafka"]["state"].as_str().unwrap_or("?").to_owned());
    }
    assert_eq!(
        states.iter().filter(|s| *s == "standby").count(),
        n - 1,
        "relay states: {states:?}"
    );
    // every process hears the others' commits (LISTEN/NOTIFY), so the one
    // relaying publishes them without waiting for its next poll
    for srv in &servers {
        assert!(
            srv.metric("horizon_commit_notifications_total").await > 0.0,
            "a process heard no commit notification"
        );
    }

    let records = s.consume_all(&all_events).await;
    let mut duplicates = 0;
    for (id, events) in &per_job {
        duplicates += assert_job_published(&s, &records, id, events);
    }
    assert_eq!(duplicates, 0, "one relay, no restarts: no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_load_has_its_work_taken_over_by_the_others() {
    let db = TestDatabase::create();
    let jobs_dir = tempfile::tempdir().unwrap();
    let options = ServerOptions {
        database_url: Some(db.url.clone()),
        jobs_dir: Some(jobs_dir.path().to_owned()),
        slots: 4,
        ..ServerOptions::default()
    };
    // the first server starts first: it relays
    let mut s = setup_with(options.clone(), "").await;
    let kafka = s.kafka_section.clone();
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(
            Server::start_with(ServerOptions {
                extra_toml: kafka.clone(),
                ..options.clone()
            })
            .await,
        );
    }
    let token = s.server.token("alice", false);
    let first = s.server.client(&token);
    let survivors: Vec<common::Api> = others.iter().map(|srv| srv.client(&token)).collect();
    let mut ids = Vec::new();
    for i in 0..45 {
        let api = if i % 3 == 0 {
            &first
        } else {
            &survivors[i % 2]
        };
        let job = api.submit("sleep", json!({"seconds": 2})).await;
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    // let the first process take its share and start some, then kill it
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.server.kill9();
    let killed_at = std::time::Instant::now();
    let mut all_events = Vec::new();
    let mut per_job = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let api = &survivors[n % 2];
        let job = api.wait_for(id, None, Duration::from_secs(120)).await;
        assert_eq!(job["status"], "COMPLETED", "{job}");
        let runs: usize = std::iter::once(&s.server)
            .chain(others.iter())
            .map(|srv| srv.runs_of(id))
            .sum();
        assert_eq!(runs, 1, "job {id} ran {runs} times");
        let events = api.events(id).await;
        common::assert_lifecycle(
            id,
            &events,
            &[
                "job.submitted",
                "job.queued",
                "job.running",
                "job.completed",
            ],
        );
        all_events.extend(events.clone());
        per_job.push((id.clone(), events));
    }
    eprintln!(
        "all 45 jobs done {:?} after one of three processes was killed",
        killed_at.elapsed()
    );
    // the survivors say what they took over, and count it
    let mut taken = 0.0;
    for srv in &others {
        taken += srv.metric("horizon_jobs_taken_over_total").await;
    }
    assert!(taken >= 1.0, "no takeover counted");
    assert!(
        others
            .iter()
            .any(|srv| srv.log().contains("job(s) of silent process(es)")),
        "no takeover logged"
    );
    // the relay moved to a survivor: everything reached Kafka, in order
    // (events in flight at the kill may come twice, with the same ce_id)
    let records = s.consume_all(&all_events).await;
    for (id, events) in &per_job {
        assert_job_published(&s, &records, id, events);
    }
}

/// Local jobs belong to the machine and jobs directory they run in. Two
/// processes on one database with two `jobs_dir`s: when one is killed, the
/// other does not take over its running local jobs (it cannot see their
/// programs, and would record them lost while they run); the killed one,
/// restarted, finds its programs still running and finishes them. Only
/// when an operator says the host is gone (`POST /v1/admin/hosts/{host}/gone`)
/// does the other take them over, recording them lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_jobs_are_taken_over_only_by_a_process_that_sees_them() {
    let db = TestDatabase::create();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let options = |dir: &tempfile::TempDir| ServerOptions {
        database_url: Some(db.url.clone()),
        jobs_dir: Some(dir.path().to_owned()),
        ..ServerOptions::default()
    };
    let mut first = Server::start_with(options(&dir_a)).await;
    let token = first.token("alice", false);
    let alice = first.client(&token);
    let mut mine = Vec::new();
    for _ in 0..2 {
        let job = alice.submit("sleep", json!({"seconds": 10})).await;
        mine.push(job["id"].as_str().unwrap().to_owned());
    }
    for id in &mine {
        alice
            .wait_for(id, Some("RUNNING"), Duration::from_secs(30))
            .await;
    }
    let second = Server::start_with(options(&dir_b)).await;
    let bob = second.client(&token);
    let theirs = bob.submit("sleep", json!({"seconds": 1})).await;
    let theirs = theirs["id"].as_str().unwrap().to_owned();
    first.kill9();
    // past the takeover, with passes of the survivor's watcher
    tokio::time::sleep(Duration::from_secs(10)).await;
    for id in &mine {
        let job = bob.job(id).await;
        assert_eq!(
            job["status"], "RUNNING",
            "a process with another jobs_dir must not adopt (and lose) it: {job}"
        );
    }
    let done = bob.wait_for(&theirs, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    // the killed process comes back: its programs ran on
    first.start_again().await;
    let alice = first.client(&token);
    for id in &mine {
        let done = alice.wait_for(id, None, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
        assert_eq!(first.runs_of(id), 1, "job {id} ran once");
    }

    // its host declared gone: the survivor takes a silent process's local
    // jobs over (and records their programs lost)
    let job = alice.submit("sleep", json!({"seconds": 20})).await;
    let lost = job["id"].as_str().unwrap().to_owned();
    alice
        .wait_for(&lost, Some("RUNNING"), Duration::from_secs(30))
        .await;
    first.kill9();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let admin = second.client(&second.token("ops", true));
    let answer: Value = admin
        .request(
            reqwest::Method::POST,
            &format!("/v1/admin/hosts/{host}/gone"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["processes"].as_u64().unwrap() >= 1, "{answer}");
    let done = bob.wait_for(&lost, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"]["code"], "AGENT_LOST", "{done}");
}

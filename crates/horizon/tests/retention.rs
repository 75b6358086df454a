//! Retention and backups against a real `horizon serve`: ended jobs go
//! with their events and directories once old enough (the API then says
//! 404), running ones and those whose events have not reached Kafka stay,
//! old audit records go; `horizon backup` copies the database while the
//! server runs.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Server, ServerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const RETENTION: &str = "[retention]\nended_jobs = \"2s\"\naudit = \"2s\"\ninterval_ms = 200\n";

async fn status_of(api: &common::Api, id: &str) -> StatusCode {
    api.request(Method::GET, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn ended_jobs_and_old_audit_records_go_running_ones_stay() {
    let server = Server::start_with(ServerOptions {
        extra_toml: RETENTION.into(),
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let admin = server.client(&server.token("root", true));
    let ended = alice.submit("ok", json!({"seconds": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .wait_for(&ended, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    let running = alice.submit("sleep", json!({"seconds": 30})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .wait_for(&running, Some("RUNNING"), Duration::from_secs(30))
        .await;
    let dir = server.job_dir(&ended);
    assert!(dir.exists(), "{}", dir.display());
    // gone once two seconds past its end, with its directory and events
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(&alice, &ended).await != StatusCode::NOT_FOUND {
        assert!(Instant::now() < deadline, "the ended job was not pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = alice
        .request(Method::GET, &format!("/v1/jobs/{ended}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!dir.exists(), "its directory is still there");
    // the running job stays, whatever its age
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status_of(&alice, &running).await, StatusCode::OK);
    assert!(server.job_dir(&running).exists());
    assert!(server.metric("horizon_pruned_total{what=\"jobs\"}").await >= 1.0);
    // audit records older than two seconds are gone (the submissions')
    let trail: Value = admin
        .request(Method::GET, "/v1/audit?limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        !actions.contains(&"job.submit"),
        "old audit records stayed: {actions:?}"
    );
    alice
        .cancel(&running, "done")
        .await
        .error_for_status()
        .unwrap();
}

#[tokio::test]
async fn a_job_whose_events_have_not_reached_kafka_stays() {
    // a broker that never answers: the relay is on, nothing is published
    let port = common::free_port();
    let server = Server::start_with(ServerOptions {
        extra_toml: format!("{RETENTION}\n[kafka]\nbrokers = \"127.0.0.1:{port}\"\n"),
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let ended = alice.submit("ok", json!({"seconds": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .wait_for(&ended, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        status_of(&alice, &ended).await,
        StatusCode::OK,
        "a job whose events are not in Kafka was pruned"
    );
    assert_eq!(alice.events(&ended).await.len(), 4);
    assert_eq!(
        server.metric("horizon_pruned_total{what=\"jobs\"}").await,
        0.0
    );
}

#[tokio::test]
async fn backup_copies_the_database_while_the_server_runs() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let id = alice.submit("ok", json!({"seconds": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .wait_for(&id, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("copy.db");
    let out = Command::new(BIN)
        .args(["backup", "--config"])
        .arg(server.config_path())
        .arg("--to")
        .arg(&to)
        .output()
        .unwrap();
    if std::env::var("HORIZON_TEST_STORE").as_deref() == Ok("postgres") {
        // PostgreSQL: refused, saying how
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
            "{out:?}"
        );
        return;
    }
    assert!(out.status.success(), "{out:?}");
    // the copy is a database with the job in it
    let check = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT status FROM jobs WHERE id = ?', (sys.argv[2],)).fetchone()[0])",
        ])
        .arg(&to)
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "COMPLETED",
        "{check:?}"
    );
    // a second backup to the same file is refused, the first left as it was
    let again = Command::new(BIN)
        .args(["backup", "--config"])
        .arg(server.config_path())
        .arg("--to")
        .arg(&to)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

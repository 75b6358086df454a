//! The command line client against a real server: what people and scripts see.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::{BIN, Server};
use serde_json::Value;

fn horizon(server: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HORIZON_URL", &server.url)
        .env("HORIZON_TOKEN", token)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn submit_wait_follows_the_job_and_exits_with_its_outcome() {
    let server = Server::start().await;
    let token = server.token("alice", false);
    // the server is another process: blocking this test's thread is fine
    let ok = horizon(
        &server,
        &token,
        &[
            "submit",
            "--agent",
            "ok",
            "--dataset",
            "ds-9",
            "--param",
            "seconds=0.5",
            "--wait",
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = stdout(&ok);
    let order: Vec<usize> = [
        "job.submitted",
        "job.queued",
        "job.running",
        "job.completed",
    ]
    .iter()
    .map(|t| {
        text.find(t)
            .unwrap_or_else(|| panic!("{t} missing from:\n{text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");

    let fail = horizon(
        &server,
        &token,
        &[
            "submit",
            "--agent",
            "fail",
            "--dataset",
            "d",
            "--params",
            r#"{"exit_code": 3}"#,
            "--wait",
        ],
    );
    assert_eq!(fail.status.code(), Some(1));
    assert!(stdout(&fail).contains("NONZERO_EXIT"), "{}", stdout(&fail));
}

#[tokio::test]
async fn json_output_is_for_scripts_and_errors_are_clear() {
    let server = Server::start().await;
    let token = server.token("alice", false);
    let out = horizon(
        &server,
        &token,
        &[
            "submit",
            "--agent",
            "ok",
            "--dataset",
            "d",
            "--param",
            "alpha=0.5",
            "--json",
        ],
    );
    assert!(out.status.success());
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["parameters"]["alpha"], 0.5);
    let id = job["id"].as_str().unwrap();

    let out = horizon(&server, &token, &["status", id, "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["id"], id);
    let out = horizon(&server, &token, &["list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["jobs"][0]["id"], id);
    let out = horizon(&server, &token, &["list"]);
    assert!(stdout(&out).contains(id) && stdout(&out).contains("STATUS"));

    let out = horizon(
        &server,
        &token,
        &["submit", "--agent", "Nope", "--dataset", "d"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("422") && err.contains("unknown agent"),
        "{err}"
    );
    let out = horizon(&server, "hzn_wrong", &["list"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

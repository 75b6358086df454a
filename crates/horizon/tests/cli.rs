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

#[tokio::test]
async fn logs_show_and_follow_a_jobs_output_for_its_owner_only() {
    let server = Server::start().await;
    let token = server.token("alice", false);
    let alice = server.client(&token);
    let job = alice
        .submit("chatty", serde_json::json!({"lines": 6, "interval": 0.3}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    // follow from the start: every line once, in order, then exit 0 when the job ended
    let follow = horizon(&server, &token, &["logs", &id, "--follow"]);
    assert!(
        follow.status.success(),
        "{}",
        String::from_utf8_lossy(&follow.stderr)
    );
    let want: String = (1..=6).map(|i| format!("line {i}\n")).collect();
    assert_eq!(stdout(&follow), want);
    assert_eq!(
        alice.job(&id).await["status"],
        "COMPLETED",
        "--follow returned before the job ended"
    );

    let tail = horizon(&server, &token, &["logs", &id, "--tail", "2"]);
    assert_eq!(stdout(&tail), "line 5\nline 6\n");
    let err = horizon(&server, &token, &["logs", &id, "--stderr"]);
    assert_eq!(stdout(&err), "chatty done\n");

    // someone else's job: not found; an admin sees the job but not its output
    let bob = horizon(&server, &server.token("bob", false), &["logs", &id]);
    assert!(!bob.status.success());
    assert!(
        String::from_utf8_lossy(&bob.stderr).contains("404"),
        "{bob:?}"
    );
    let admin = server.client(&server.token("root", true));
    let r = admin
        .request(reqwest::Method::GET, &format!("/v1/jobs/{id}/logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    // tail with offset: the last lines of what follows the offset
    let r = alice
        .request(
            reqwest::Method::GET,
            &format!("/v1/jobs/{id}/logs?tail=1&offset=0"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let whole = alice
        .request(reqwest::Method::GET, &format!("/v1/jobs/{id}/logs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = whole.lines().last().unwrap_or_default().to_owned();
    assert_eq!(r.text().await.unwrap().trim_end(), last);
    for bad in [
        "?stream=both",
        "?tail=x",
        "?tail=100001",
        "?offset=9007199254740992",
    ] {
        let r = alice
            .request(reqwest::Method::GET, &format!("/v1/jobs/{id}/logs{bad}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
    }
}

#[tokio::test]
async fn resources_are_checked_against_the_agent_and_the_backend() {
    let server = Server::start().await;
    let token = server.token("alice", false);
    // over the agent's maximum: refused, naming the limit, and no job made
    let over = horizon(
        &server,
        &token,
        &[
            "submit",
            "--agent",
            "chatty",
            "--dataset",
            "d",
            "--walltime",
            "31",
        ],
    );
    assert!(!over.status.success());
    let message = String::from_utf8_lossy(&over.stderr);
    assert!(
        message.contains("422")
            && message
                .contains("resources.walltime_minutes = 31 is over this agent's maximum of 30"),
        "{message}"
    );
    // what the local backend cannot give: more than one node, GPUs
    for flag in [["--nodes", "2"], ["--gpus", "1"]] {
        let out = horizon(
            &server,
            &token,
            &[
                "submit",
                "--agent",
                "ok",
                "--dataset",
                "d",
                flag[0],
                flag[1],
            ],
        );
        assert!(!out.status.success(), "{flag:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("422"));
    }
    let list = horizon(&server, &token, &["list", "--json"]);
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        listed["jobs"].as_array().unwrap().len(),
        0,
        "a refused job was stored"
    );

    let ok = horizon(
        &server,
        &token,
        &[
            "submit",
            "--agent",
            "chatty",
            "--dataset",
            "d",
            "--walltime",
            "30",
            "--memory-mb",
            "256",
            "--json",
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let job: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        job["resources"],
        serde_json::json!({"walltime_minutes": 30, "memory_mb": 256})
    );

    let agents = horizon(&server, &token, &["agents", "--json"]);
    let agents: Value = serde_json::from_slice(&agents.stdout).unwrap();
    let chatty = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "chatty")
        .unwrap();
    assert_eq!(chatty["backend"], "local");
    assert_eq!(chatty["description"], "prints numbered lines");
    assert_eq!(chatty["parameters"]["lines"], "how many lines");
    let text = stdout(&horizon(&server, &token, &["agents"]));
    assert!(
        text.contains("--param interval=…  seconds between them"),
        "{text}"
    );
    assert_eq!(
        chatty["max_resources"],
        serde_json::json!({"walltime_minutes": 30})
    );
}

fn token_cmd(server: &Server, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("token")
        .args(args)
        .arg("--config")
        .arg(server.config_path())
        .output()
        .unwrap()
}

#[tokio::test]
async fn tokens_can_expire_be_listed_and_be_revoked() {
    let server = Server::start_with(common::ServerOptions {
        extra_toml: "\n[api]\ntoken_cache_ms = 0\n".into(),
        ..common::ServerOptions::default()
    })
    .await;
    let made = token_cmd(
        &server,
        &["create", "--user", "alice", "--expires-in", "2s", "--json"],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    let short = made["token"].as_str().unwrap().to_owned();
    let keep = server.token("alice", false);

    let list = |token: &str| horizon(&server, token, &["list", "--json"]);
    assert!(list(&short).status.success());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let expired = list(&short);
    assert!(!expired.status.success());
    assert!(
        String::from_utf8_lossy(&expired.stderr).contains("401"),
        "{expired:?}"
    );
    assert!(list(&keep).status.success());

    // listed with their state, never the token itself
    let listed = token_cmd(&server, &["list", "--json"]);
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        !text.contains(&short) && !text.contains(&keep),
        "a token was printed"
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    let by_id = |id: &str| tokens.iter().find(|t| t["id"] == id).unwrap().clone();
    assert_eq!(by_id(made["id"].as_str().unwrap())["state"], "expired");
    let keep_id = tokens.iter().find(|t| t["state"] == "active").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // revoke: by its id; bad ids are refused and change nothing
    for bad in ["abc", "zzzzzzzzzz", "0000000000"] {
        let out = token_cmd(&server, &["revoke", bad]);
        assert!(!out.status.success(), "{bad}");
    }
    assert!(list(&keep).status.success());
    let out = token_cmd(&server, &["revoke", &keep_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = list(&keep);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    let listed: Value =
        serde_json::from_slice(&token_cmd(&server, &["list", "--json"]).stdout).unwrap();
    let states: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"revoked") && states.contains(&"expired"),
        "{states:?}"
    );
}

#[tokio::test]
async fn json_is_one_document_and_a_url_without_scheme_gets_a_hint() {
    let server = Server::start().await;
    let token = server.token("alice", false);
    let alice = server.client(&token);
    let job = alice
        .submit("ok", serde_json::json!({"seconds": 0.05}))
        .await;
    let id = job["id"].as_str().unwrap();
    alice
        .wait_for(id, Some("COMPLETED"), std::time::Duration::from_secs(30))
        .await;
    for args in [
        vec!["events", id],
        vec!["status", id],
        vec!["list"],
        vec!["agents"],
    ] {
        let mut all = args.clone();
        all.push("--json");
        let out = horizon(&server, &token, &all);
        assert!(out.status.success(), "{args:?}");
        let doc: Result<Value, _> = serde_json::from_slice(&out.stdout);
        assert!(
            doc.is_ok(),
            "{args:?} --json is not one JSON document: {}",
            stdout(&out)
        );
    }
    let events: Value =
        serde_json::from_slice(&horizon(&server, &token, &["events", id, "--json"]).stdout)
            .unwrap();
    // (its four lifecycle events; a metrics sample may come between them
    // when the job runs past the sampling interval)
    let lifecycle = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] != "job.metrics_recorded")
        .count();
    assert_eq!(lifecycle, 4, "{events}");

    let out = Command::new(BIN)
        .args(["list"])
        .env("HORIZON_URL", server.url.trim_start_matches("http://"))
        .env("HORIZON_TOKEN", &token)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no scheme: use http://"),
        "{out:?}"
    );
}

/// `horizon submit --wait | head -1`: the reader closes the pipe after the
/// first line; the client ends quietly (141, as a SIGPIPE would end it),
/// not with a panic.
#[tokio::test]
async fn a_closed_pipe_ends_the_client_quietly() {
    use std::io::{BufRead, BufReader};
    let server = Server::start().await;
    let token = server.token("alice", false);
    let mut child = Command::new(BIN)
        .args([
            "submit",
            "--agent",
            "ok",
            "--dataset",
            "d",
            "--param",
            "seconds=1",
            "--wait",
        ])
        .env("HORIZON_URL", &server.url)
        .env("HORIZON_TOKEN", &token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // (the reader is dropped here: the pipe is closed)
    assert!(!first.is_empty());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// `horizon events --follow` rides the job's event stream: the server is
/// killed and restarted while it follows, and it still prints every event
/// of the job once, in order, and exits with the job's outcome.
#[tokio::test]
async fn events_follow_survives_a_server_restart() {
    let mut server = Server::start_with(common::ServerOptions {
        metrics_interval_ms: 100,
        ..Default::default()
    })
    .await;
    let token = server.token("alice", false);
    let alice = server.client(&token);
    let job = alice
        .submit("ok", serde_json::json!({"seconds": 2.5}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let follow = tokio::process::Command::new(BIN)
        .args(["events", &id, "--follow", "--json"])
        .env("HORIZON_URL", &server.url)
        .env("HORIZON_TOKEN", &token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    server.restart().await;
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        follow.wait_with_output(),
    )
    .await
    .expect("--follow did not end")
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            let event: Value = serde_json::from_str(l).unwrap();
            event["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let want: Vec<String> = alice
        .events(&id)
        .await
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(printed, want, "every event once, in order");
}

/// `horizon clone` with an override runs the new job with it and both show
/// the link; `horizon hold` and `release` act on a queued job.
#[tokio::test]
async fn clone_hold_and_release_from_the_command_line() {
    let server = Server::start_with(common::ServerOptions {
        slots: 1,
        ..common::ServerOptions::default()
    })
    .await;
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
            "alpha=1",
            "--json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let original: Value = serde_json::from_slice(&out.stdout).unwrap();
    let original = original["id"].as_str().unwrap();
    let out = horizon(
        &server,
        &token,
        &[
            "clone",
            original,
            "--param",
            "alpha=2",
            "--dataset",
            "d2",
            "--wait",
        ],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("COMPLETED"), "{}", stdout(&out));
    let out = horizon(&server, &token, &["status", original]);
    let text = stdout(&out);
    let clone_line = text
        .lines()
        .find(|l| l.contains("clone "))
        .unwrap_or_default();
    let clone = clone_line.split_whitespace().last().unwrap().to_owned();
    let out = horizon(&server, &token, &["status", &clone, "--json"]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["parameters"]["alpha"], 2);
    assert_eq!(job["dataset_id"], "d2");
    assert_eq!(job["cloned_from"], original);

    // the one slot taken: a queued job is held, then released
    let blocker = horizon(
        &server,
        &token,
        &[
            "submit",
            "--agent",
            "sleep",
            "--dataset",
            "d",
            "--param",
            "seconds=30",
            "--json",
        ],
    );
    let blocker: Value = serde_json::from_slice(&blocker.stdout).unwrap();
    let api = server.client(&token);
    api.wait_for(
        blocker["id"].as_str().unwrap(),
        Some("RUNNING"),
        std::time::Duration::from_secs(30),
    )
    .await;
    let out = horizon(
        &server,
        &token,
        &["submit", "--agent", "ok", "--dataset", "d", "--json"],
    );
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = job["id"].as_str().unwrap();
    api.wait_for(id, Some("QUEUED"), std::time::Duration::from_secs(30))
        .await;
    let out = horizon(&server, &token, &["hold", id, "--reason", "not yet"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("held        yes"), "{}", stdout(&out));
    let again = horizon(&server, &token, &["hold", id]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("held already"),
        "{again:?}"
    );
    let out = horizon(&server, &token, &["release", id]);
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout(&out).contains("held        yes"));
    horizon(
        &server,
        &token,
        &["cancel", blocker["id"].as_str().unwrap()],
    );
    let done = api
        .wait_for(id, None, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "COMPLETED");
}

#[tokio::test]
async fn a_sweep_from_the_command_line() {
    let server = Server::start_with(common::ServerOptions {
        slots: 4,
        ..common::ServerOptions::default()
    })
    .await;
    let token = server.token("alice", false);
    let out = horizon(
        &server,
        &token,
        &[
            "submit",
            "--sweep",
            "--agent",
            "ok",
            "--dataset",
            "d",
            "--param",
            "seconds=0.05",
            "--grid",
            "a=1,2",
            "--grid",
            "b=x,y,z",
            "--concurrency-limit",
            "2",
            "--wait",
        ],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {out:?}");
    assert!(text.contains("6 jobs of ok on d"), "{text}");
    assert!(text.contains("6 COMPLETED"), "{text}");
    let id = text
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    let out = horizon(&server, &token, &["list", "--sweep", &id, "--json"]);
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 6, "{page}");
    let out = horizon(&server, &token, &["sweep", &id]);
    assert!(
        stdout(&out).contains("at most 2 at once"),
        "{}",
        stdout(&out)
    );
    // points from a file; a failing point fails the --wait
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("points.json");
    std::fs::write(
        &file,
        r#"[{"seconds": 0.05}, {"seconds": 0.05, "fail": true}]"#,
    )
    .unwrap();
    let out = horizon(
        &server,
        &token,
        &[
            "submit",
            "--sweep",
            "--agent",
            "sleep",
            "--dataset",
            "d",
            "--points-file",
            file.to_str().unwrap(),
            "--wait",
        ],
    );
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 FAILED"), "{}", stdout(&out));
    // a grid without --sweep is refused before anything is sent
    let out = horizon(
        &server,
        &token,
        &["submit", "--agent", "ok", "--dataset", "d", "--grid", "a=1"],
    );
    assert!(!out.status.success());
}

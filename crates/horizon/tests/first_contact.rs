//! What a new user meets in the first hour: the embedded defaults from any
//! directory, one data directory per user, one server per data directory.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;
use serde_json::{Value, json};

/// `horizon` with a clean environment: only PATH, HOME and what is given.
fn horizon(home: &Path, cwd: &Path, port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", home)
        .env("HORIZON_BIND", format!("127.0.0.1:{port}"))
        .env("HORIZON_URL", format!("http://127.0.0.1:{port}"))
        .current_dir(cwd);
    command
}

fn serve(home: &Path, cwd: &Path, port: u16) -> Child {
    horizon(home, cwd, port)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn defaults_work_from_any_directory_and_one_server_holds_a_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&home, &a, &b] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let port = common::free_port();
    // the server started in one directory, the token made in another
    let mut server = serve(&home, &a, port);
    wait_ready(port).await;
    let token = horizon(&home, &b, port)
        .args(["token", "create", "--user", "alice"])
        .output()
        .unwrap();
    assert!(token.status.success(), "{}", text(&token));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();

    // the demo agent runs though the server was not started in the repository
    let submit = horizon(&home, &b, port)
        .env("HORIZON_TOKEN", &token)
        .args([
            "submit",
            "--agent",
            "AlphaCal",
            "--dataset",
            "d1",
            "--param",
            "seconds=0.2",
            "--wait",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(submit.status.success(), "{}", text(&submit));

    // one data directory, the per-user one; nothing where the commands ran
    let data = home.join(".local/share/horizon");
    assert!(data.join("horizon.db").exists());
    for dir in [&a, &b] {
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            0,
            "{} got files",
            dir.display()
        );
    }

    // a second server on the same data directory refuses to start, saying why
    let other_port = common::free_port();
    let second = horizon(&home, &b, other_port)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = text(&second);
    assert!(
        said.contains("is in use by another `horizon serve`"),
        "{said}"
    );
    assert!(
        said.contains(&server.id().to_string()),
        "names the holder: {said}"
    );
    // and changed nothing: the first still serves
    let http = reqwest::Client::new();
    let jobs: Value = http
        .get(format!("http://127.0.0.1:{port}/v1/jobs"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(jobs["jobs"][0]["status"], json!("COMPLETED"));
    let _ = server.kill();
    let _ = server.wait();
}

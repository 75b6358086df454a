//! The README's walk-through, pasted into bash as a reader would: every
//! ```sh block between `<!-- walkthrough:begin -->` and `<!-- walkthrough:end -->`
//! runs against a real server on the embedded defaults (its `cargo` lines
//! are what built this test, so they are left out, and the server's address
//! is this test's port).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, repo_root};

fn walkthrough(readme: &str) -> String {
    let mut script = String::new();
    let mut inside = false;
    let mut in_sh = false;
    for line in readme.lines() {
        match line.trim() {
            "<!-- walkthrough:begin -->" => inside = true,
            "<!-- walkthrough:end -->" => inside = false,
            "```sh" if inside => in_sh = true,
            "```" if in_sh => in_sh = false,
            _ if in_sh && !line.trim_start().starts_with("cargo ") => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    script
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let script = walkthrough(&readme);
    assert!(
        script.contains("horizon submit"),
        "no walk-through found:\n{script}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut server = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", &path)
        .env("HOME", tmp.path())
        .env("HORIZON_BIND", format!("127.0.0.1:{port}"))
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let script = script
        .replace("localhost:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env_clear()
        .env("PATH", &path)
        .env("HOME", tmp.path())
        .env("HORIZON_URL", format!("http://127.0.0.1:{port}"))
        .current_dir(repo_root())
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the walk-through failed:\n{script}\n---\n{said}"
    );
    // the first job completed, the cancels were answered 200 with CANCELLED
    assert!(said.contains("job.completed"), "{said}");
    assert!(
        said.contains("\"status\":\"CANCELLED\""),
        "curl's cancel: {said}"
    );
    assert!(
        !said.contains("\"status\":409"),
        "a cancel met a finished job:\n{said}"
    );
}

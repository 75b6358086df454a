//! A gateway's own web page, on another origin, calls the API from a real
//! browser (Debian's Chromium driven by playwright-core,
//! `tools/browser/cors.mjs`): from an origin in `[api] cors_origins` it
//! submits a job and reads the answer and its exposed headers; from any
//! other origin the browser refuses, and its preflight keeps the job from
//! ever being made.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, ServerOptions, free_port, repo_root};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn a_page_on_an_allowed_origin_calls_the_api_and_others_are_refused_by_the_browser() {
    let tool = repo_root().join("tools/browser");
    assert!(
        tool.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: scripts/browser.sh (scripts/test.sh runs it)"
    );
    let (allowed, denied) = (free_port(), free_port());
    let server = Server::start_with(ServerOptions {
        extra_toml: format!("\n[api]\ncors_origins = [\"http://127.0.0.1:{allowed}\"]\n"),
        ..ServerOptions::default()
    })
    .await;
    let token = server.token("alice", false);
    let out = tokio::process::Command::new("node")
        .arg(tool.join("cors.mjs"))
        .arg(allowed.to_string())
        .arg(denied.to_string())
        .env("HORIZON_URL", &server.url)
        .env("HORIZON_TOKEN", &token)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seen.len(), 2, "{stdout}");
    let (ok, refused) = (&seen[0], &seen[1]);

    // the allowed page: the answer, and the headers CORS exposes
    assert_eq!(ok["post"]["status"], 201, "{ok}");
    let id = ok["post"]["body"]["id"].as_str().unwrap();
    assert_eq!(ok["post"]["location"], format!("/v1/jobs/{id}"), "{ok}");
    assert!(
        ok["post"]["correlation"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{ok}"
    );
    assert_eq!(ok["list"]["status"], 200, "{ok}");

    // the other page: the browser refuses both calls; the POST's preflight
    // failed, so it was never sent
    for call in ["post", "list"] {
        assert!(
            refused[call]["refused"]
                .as_str()
                .is_some_and(|e| e.contains("Failed to fetch")),
            "{refused}"
        );
    }
    let alice = server.user("alice");
    let page: Value = alice
        .request(Method::GET, "/v1/jobs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let datasets: Vec<&str> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["dataset_id"].as_str().unwrap())
        .collect();
    assert_eq!(datasets, [format!("page-{allowed}")], "{page}");

    // the preflight itself, as the browser sent it
    let preflight = |origin: String| {
        server
            .http
            .request(Method::OPTIONS, format!("{}/v1/jobs", server.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            )
            .send()
    };
    let yes = preflight(format!("http://127.0.0.1:{allowed}"))
        .await
        .unwrap();
    assert_eq!(yes.status(), StatusCode::OK);
    assert_eq!(
        yes.headers()["access-control-allow-origin"],
        format!("http://127.0.0.1:{allowed}").as_str()
    );
    let no = preflight(format!("http://127.0.0.1:{denied}"))
        .await
        .unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());
}

//! The dashboard served by `horizon serve`, used in Debian's Chromium
//! (`tools/browser/dashboard.mjs`, playwright-core): a job the CLI submits
//! appears and ends on screen without a reload, its log lines arrive live, a
//! job is cancelled from its page with the reason the API then shows, the
//! status filter narrows the table, another user's job is never shown, an
//! admin sees the System page; axe-core finds no serious or critical
//! violation on any page. `HORIZON_SCREENSHOTS=docs` keeps the screenshots
//! (the README shows them).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, ServerOptions, repo_root};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_jobs_live_cancels_filters_and_passes_axe() {
    let tool = repo_root().join("tools/browser");
    assert!(
        tool.join("node_modules/axe-core").is_dir(),
        "the browser tools are missing: scripts/browser.sh (scripts/test.sh runs it)"
    );
    // one slot, held a few seconds by bob's job: alice's first job waits
    // QUEUED on screen before it runs
    let server = Server::start_with(ServerOptions {
        slots: 1,
        metrics_interval_ms: 300,
        ..ServerOptions::default()
    })
    .await;
    // served by the server itself
    let page = server.get_text("/").await;
    assert!(page.contains("/ui/assets/"), "{page}");
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let other = bob.submit("sleep", json!({"seconds": 6})).await;
    let other = other["id"].as_str().unwrap().to_owned();
    let shots = match std::env::var_os("HORIZON_SCREENSHOTS") {
        Some(dir) => repo_root().join(dir),
        None => server.dir.path().to_path_buf(),
    };
    let out = tokio::process::Command::new("node")
        .arg(tool.join("dashboard.mjs"))
        .env("HORIZON_URL", &server.url)
        .env("HORIZON_TOKEN", server.token("alice", false))
        .env("HORIZON_ADMIN_TOKEN", server.token("root", true))
        .env("HORIZON_BIN", common::BIN)
        .env("OTHER_JOB", &other)
        .env("SCREENSHOTS", &shots)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    // live, without a reload, to its end
    let statuses: Vec<&str> = seen["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["QUEUED", "RUNNING", "COMPLETED"], "{seen}");
    assert_eq!(seen["reloaded"], false, "{seen}");
    assert_eq!(seen["otherJobShown"], false, "bob's job on alice's page");
    // the log, as it was written
    assert_eq!(seen["logWhileRunning"], "RUNNING", "{seen}");
    assert_eq!(seen["logLines"], 12, "{seen}");
    // its CPU and memory, drawn from its metrics events
    assert!(seen["chartCanvases"].as_u64().unwrap() >= 1, "{seen}");
    assert_eq!(
        seen["timeline"],
        json!([
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed"
        ])
    );
    // cancelled from the page, with its reason
    let cancelled = seen["cancelled"].as_str().unwrap();
    let job = alice.job(cancelled).await;
    assert_eq!(job["status"], "CANCELLED");
    let events = alice.events(cancelled).await;
    let reason = &common::payload(&events, "job.cancelled")["cancellation_reason"];
    assert_eq!(reason, "cancelled from the dashboard");
    // the filter
    assert!(seen["rowsBefore"].as_u64().unwrap() > seen["rowsCancelled"].as_u64().unwrap());
    // accessible: nothing serious or critical on any page
    for (page, violations) in seen["axe"].as_object().unwrap() {
        let bad: Vec<&Value> = violations
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{page}: {bad:?}");
    }
    assert_eq!(seen["axe"].as_object().unwrap().len(), 6);
    // per agent: both chatty jobs completed
    assert_eq!(seen["chattySuccess"], "100 %", "{seen}");
    assert!(seen["agentsChart"].as_u64().unwrap() >= 1, "{seen}");
    assert!(seen["errors"].as_array().unwrap().is_empty(), "{seen}");
    let r = alice
        .request(Method::GET, &format!("/v1/jobs/{other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
}

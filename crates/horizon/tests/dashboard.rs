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
    // cloned from its page: the API has the clone, linked both ways
    let clone = seen["cloneId"].as_str().unwrap();
    assert_eq!(seen["cloneLinksBack"], true, "{seen}");
    let cloned = alice.job(clone).await;
    assert_eq!(cloned["cloned_from"], seen["liveId"], "{cloned}");
    let original = alice.job(seen["liveId"].as_str().unwrap()).await;
    assert_eq!(original["clones"], json!([clone]), "{original}");
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
    assert_eq!(seen["readiness"], "ready", "{seen}");
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

/// An admin's System page lists an event Kafka refused for good (its
/// broker takes no record over 20 kB here) and its Retry button sends it
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_page_shows_a_parked_event_and_retries_it() {
    let tool = repo_root().join("tools/browser");
    let s = common::kafka_setup::setup_with(
        ServerOptions::default(),
        "[kafka.producer]\n\"message.max.bytes\" = \"20000\"\n",
    )
    .await;
    // its job.submitted carries 30 kB of parameters
    let big = s
        .alice
        .submit("ok", json!({"seconds": 0, "blob": "x".repeat(30_000)}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_token = s.server.token("root", true);
    let admin = s.server.client(&admin_token);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let parked: Value = admin
            .request(Method::GET, "/v1/admin/parked-events")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !parked["events"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing parked: {}",
            s.server.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let out = tokio::process::Command::new("node")
        .arg(tool.join("system.mjs"))
        .env("HORIZON_URL", &s.server.url)
        .env("HORIZON_ADMIN_TOKEN", &admin_token)
        .env("PARKED_JOB", &big)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // the processes and the relay: one process (SQLite), and it relays
    assert_eq!(seen["processes"], 1, "{seen}");
    assert_eq!(seen["leaders"], 1, "{seen}");
    assert!(
        seen["processRow"].as_str().unwrap().contains("(this one)"),
        "{seen}"
    );
    assert!(
        seen["leader"].as_str().unwrap().contains("(this process)"),
        "{seen}"
    );
    assert!(
        seen["depth"]
            .as_str()
            .unwrap()
            .ends_with("event(s) waiting for Kafka"),
        "{seen}"
    );
    assert!(
        !seen["lag"].as_str().unwrap().contains("no Kafka"),
        "{seen}"
    );
    assert!(seen["parkedRows"].as_u64().unwrap() >= 1, "{seen}");
    assert!(
        seen["rowText"].as_str().unwrap().contains(&big[..8]),
        "{seen}"
    );
    assert!(
        seen["message"]
            .as_str()
            .unwrap()
            .contains("sent to Kafka again"),
        "{seen}"
    );
    assert!(seen["errors"].as_array().unwrap().is_empty(), "{seen}");
    // the retry is on the audit trail, by the admin, for that job
    let trail: Value = admin
        .request(Method::GET, "/v1/audit?action=parked.retry&actor=root")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(trail["records"].as_array().unwrap().len(), 1, "{trail}");
}

//! Webhooks against a receiver that checks every delivery with the
//! Standard Webhooks reference library (`tools/clients/webhooks/
//! receiver.py`, `standardwebhooks` from PyPI): deliveries arrive signed,
//! each job's in order, all of them, although the receiver fails 30 % of
//! them, is down for a minute and the server is SIGKILLed meanwhile; none
//! arrives after the subscription is deleted; a secret rotation keeps
//! deliveries verifiable; private targets are refused and redirects are
//! not followed.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Api, Server, ServerOptions, free_port, repo_root};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long the receiver is down.
const DOWN: Duration = Duration::from_secs(60);

struct Receiver {
    port: u16,
    secrets: PathBuf,
    log: PathBuf,
    rate: f64,
    mode: &'static str,
    child: Option<tokio::process::Child>,
}

impl Receiver {
    async fn start(dir: &Path, rate: f64, mode: &'static str) -> Receiver {
        let ok = std::process::Command::new("python3")
            .args(["-c", "import standardwebhooks"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the standardwebhooks library is missing: python3 -m pip install standardwebhooks (scripts/test.sh does)"
        );
        let mut receiver = Receiver {
            port: free_port(),
            secrets: dir.join("secrets"),
            log: dir.join("received.jsonl"),
            rate,
            mode,
            child: None,
        };
        std::fs::write(&receiver.secrets, "").unwrap();
        receiver.up().await;
        receiver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    async fn up(&mut self) {
        let child = tokio::process::Command::new("python3")
            .arg(repo_root().join("tools/clients/webhooks/receiver.py"))
            .arg(self.port.to_string())
            .arg(&self.secrets)
            .arg(&self.log)
            .arg(self.rate.to_string())
            .arg(self.mode)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the receiver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    fn secrets(&self, secrets: &[&str]) {
        std::fs::write(&self.secrets, secrets.join("\n")).unwrap();
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

async fn subscribe(api: &Api, body: Value) -> (StatusCode, Value) {
    let r = api
        .request(Method::POST, "/v1/subscriptions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn deliveries(api: &Api, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/subscriptions/{id}/deliveries?limit=1000&after={a}"),
            None => format!("/v1/subscriptions/{id}/deliveries?limit=1000"),
        };
        let page: Value = api
            .request(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.extend(page["deliveries"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn options(extra: &str) -> ServerOptions {
    ServerOptions {
        extra_toml: format!(
            "\n[webhooks]\nallow_private_targets = true\ninitial_backoff_ms = 200\nmax_backoff_ms = 3000\nrequest_timeout_ms = 3000\n{extra}"
        ),
        ..ServerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_arrives_signed_and_in_order_through_failures_downtime_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start(dir.path(), 0.3, "normal").await;
    let mut server = Server::start_with(options("")).await;
    let token = server.token("alice", false);
    let alice = server.client(&token);
    // bob's jobs never reach alice's subscription
    let bob = server.client(&server.token("bob", false));
    let (status, sub) = subscribe(&alice, json!({"url": receiver.url()})).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let id = sub["id"].as_str().unwrap().to_owned();
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    receiver.secrets(&[&secret]);
    // the secret is shown once
    let again: Value = alice
        .request(Method::GET, &format!("/v1/subscriptions/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(again.get("secret").is_none(), "{again}");

    let mut jobs = Vec::new();
    for i in 0..8 {
        let (agent, params) = if i % 4 == 3 {
            ("fail", json!({"exit_code": 2}))
        } else {
            ("ok", json!({"seconds": 0.2}))
        };
        jobs.push(
            alice.submit(agent, params).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    bob.submit("ok", json!({"seconds": 0.1})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // the receiver goes down for a minute; meanwhile more jobs, a secret
    // rotation and a SIGKILL of the server
    receiver.down().await;
    let down_at = Instant::now();
    for _ in 0..4 {
        jobs.push(
            alice.submit("ok", json!({"seconds": 0.2})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let rotated: Value = alice
        .request(Method::POST, &format!("/v1/subscriptions/{id}/rotate"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(
        rotated["previous_secret_valid_until"].is_string(),
        "{rotated}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart().await;
    for _ in 0..4 {
        jobs.push(
            alice.submit("ok", json!({"seconds": 0.2})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    tokio::time::sleep(DOWN.saturating_sub(down_at.elapsed())).await;
    // the receiver knows only the new secret now: deliveries carry both
    receiver.secrets(&[&new_secret]);
    receiver.up().await;

    // every lifecycle event of alice's jobs, delivered
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in &jobs {
        alice.wait_for(job, None, Duration::from_secs(60)).await;
        let events = alice.events(job).await;
        want.insert(
            job.clone(),
            events
                .iter()
                .filter(|e| e["event_type"] != "job.metrics_recorded")
                .map(|e| e["event_id"].as_str().unwrap().to_owned())
                .collect(),
        );
    }
    let total: usize = want.values().map(Vec::len).sum();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let log = deliveries(&alice, &id).await;
        let delivered = log.iter().filter(|d| d["state"] == "delivered").count();
        if delivered == total && log.len() == total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {total} delivered ({} deliveries): {log:#?}",
            log.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let received = receiver.received();
    let ok: Vec<&Value> = received.iter().filter(|r| r["status"] == 204).collect();
    assert!(
        received.iter().all(|r| r["verified"] != false),
        "every delivery verified with the reference library"
    );
    assert!(
        received.iter().any(|r| r["status"] == 500),
        "the receiver failed some"
    );
    assert!(
        ok.iter().any(|r| r["signatures"] == 2),
        "deliveries after the rotation carry both signatures"
    );
    // per job: the first arrival of each event, in the job's order, all
    let mut seen = HashSet::new();
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &ok {
        let event = r["event_id"].as_str().unwrap().to_owned();
        if seen.insert(event.clone()) {
            got.entry(r["job_id"].as_str().unwrap().to_owned())
                .or_default()
                .push(event);
        }
    }
    assert_eq!(got, want, "each job's events, all of them, in order");

    // deleted: nothing more arrives
    let r = alice
        .request(Method::DELETE, &format!("/v1/subscriptions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let deleted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let after = alice.submit("ok", json!({"seconds": 0.1})).await;
    alice
        .wait_for(after["id"].as_str().unwrap(), None, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let late: Vec<Value> = receiver
        .received()
        .into_iter()
        .filter(|r| r["received_at"].as_f64().unwrap() > deleted_at + 0.5)
        .collect();
    assert!(late.is_empty(), "deliveries after the deletion: {late:?}");
}

#[tokio::test]
async fn private_targets_are_refused_and_redirects_are_not_followed() {
    // by default, nothing inside
    let server = Server::start().await;
    let alice = server.user("alice");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:9/hook",
    ] {
        let (status, problem) = subscribe(&alice, json!({"url": url})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("private"),
            "{url}: {problem}"
        );
    }
    for (body, says) in [
        (json!({"url": "ftp://example.org/"}), "http"),
        (
            json!({"url": "https://example.org/", "event_types": ["job.nope"]}),
            "event_types",
        ),
        (
            json!({"url": "https://example.org/", "status": "DONE"}),
            "status",
        ),
    ] {
        let (status, problem) = subscribe(&alice, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    let listed: Value = alice
        .request(Method::GET, "/v1/subscriptions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["subscriptions"], json!([]), "nothing was made");

    // allowed inside: a receiver that redirects is not followed
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path(), 0.0, "redirect").await;
    let server = Server::start_with(options("")).await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let (status, sub) = subscribe(
        &alice,
        json!({"url": receiver.url(), "event_types": ["job.completed"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let id = sub["id"].as_str().unwrap();
    // another user's subscription is not there for bob
    let r = bob
        .request(Method::GET, &format!("/v1/subscriptions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // with a trace: its deliveries carry it
    let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let job: Value = alice
        .request(Method::POST, "/v1/jobs")
        .header("traceparent", trace)
        .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {"seconds": 0.1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    alice
        .wait_for(job["id"].as_str().unwrap(), None, Duration::from_secs(30))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = deliveries(&alice, id).await;
        if log
            .first()
            .is_some_and(|d| d["attempts"].as_u64() >= Some(2))
        {
            break log;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(log.len(), 1, "only job.completed: {log:?}");
    assert_eq!(log[0]["event_type"], "job.completed");
    assert_eq!(log[0]["state"], "pending", "retried, not followed");
    assert_eq!(log[0]["last_status"], 302);
    let received = receiver.received();
    assert!(received.len() >= 2);
    assert!(
        received.iter().all(|r| r["status"] == 302),
        "the redirect's target was never asked: {received:?}"
    );
    assert!(
        received.iter().all(|r| r["traceparent"] == trace),
        "the job's trace rides its deliveries: {received:?}"
    );
}

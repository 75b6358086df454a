//! Hostile input against a real `horizon serve`: path traversal, NUL bytes,
//! invalid UTF-8, a 10 MB body, 1,000-deep JSON, 10,000 connections that
//! send nothing, a per-user submission rate, and a SIGTERM with a request in
//! flight. Each is refused or passed through harmlessly, changes nothing it
//! should not, and the server keeps answering everyone else.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, ServerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(60);

/// A request written byte for byte on a fresh connection; the status line's code.
async fn raw(server: &Server, bytes: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// Another client is served: a few reads, and a job run to its end.
async fn others_are_served(alice: &common::Api) {
    for _ in 0..5 {
        let r = alice
            .request(Method::GET, "/v1/agents")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    alice
        .wait_for(job["id"].as_str().unwrap(), Some("COMPLETED"), T)
        .await;
}

async fn job_count(alice: &common::Api) -> usize {
    let list: Value = alice
        .request(Method::GET, "/v1/jobs?limit=100")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["jobs"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_paths_and_headers_are_refused_and_change_nothing() {
    let server = Server::start().await;
    let alice = server.user("alice");

    // a dataset id that looks like a path is an opaque string: the job runs,
    // the program gets it verbatim, and nothing is written where it points
    let target = std::env::temp_dir().join(format!("horizon-pwned-{}", uuid::Uuid::now_v7()));
    let traversal = format!("../../../../../../..{}", target.display());
    let job = alice
        .request(Method::POST, "/v1/jobs")
        .json(&json!({"agent": "echo", "dataset_id": traversal, "parameters": {"x": "$(id)"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), StatusCode::CREATED);
    let job: Value = job.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    alice.wait_for(id, Some("COMPLETED"), T).await;
    let echo: Value = serde_json::from_str(
        &std::fs::read_to_string(server.job_dir(id).join("echo.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(echo["dataset_id"], traversal.as_str());
    assert!(
        !target.exists(),
        "something was written at {}",
        target.display()
    );
    let baseline = job_count(&alice).await;

    let submit = |body: Vec<u8>| {
        alice
            .request(Method::POST, "/v1/jobs")
            .header("content-type", "application/json")
            .body(body)
    };
    // agent names that try to leave the configuration
    for agent in ["../ok", "ok/../../bin/sh", "/bin/sh", "ok\u{0}"] {
        let r = submit(
            serde_json::to_vec(&json!({"agent": agent, "dataset_id": "d", "parameters": {}}))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{agent:?}");
    }
    // NUL in the dataset id
    let r = submit(br#"{"agent": "ok", "dataset_id": "a\u0000b", "parameters": {}}"#.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // invalid UTF-8 in the body
    let mut body = br#"{"agent": "ok", "dataset_id": ""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    body.extend_from_slice(br#"", "parameters": {}}"#);
    let r = submit(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // 1,000-deep JSON
    let deep = format!(
        r#"{{"agent": "ok", "dataset_id": "d", "parameters": {{"x": {}{}}}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let r = submit(deep.into_bytes()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // deeper than parameters may nest, but parseable
    let nested = format!(
        r#"{{"agent": "ok", "dataset_id": "d", "parameters": {{"x": {}{}}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let r = submit(nested.into_bytes()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("the limit is 32"));
    // a 10 MB body: 413, or the connection closed once the limit is passed
    let huge = format!(
        r#"{{"agent": "ok", "dataset_id": "d", "parameters": {{"x": "{}"}}}}"#,
        "a".repeat(10 * 1024 * 1024)
    );
    match submit(huge.into_bytes()).send().await {
        Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(err) => assert!(err.is_request() || err.is_body(), "{err}"),
    }
    // invalid UTF-8 and NUL in a path, a NUL in a header, a bad token header
    let token = alice.token.clone();
    let code = raw(
        &server,
        &[
            b"GET /v1/jobs/\xff\xfe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ".as_slice(),
            token.as_bytes(),
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
    )
    .await;
    assert!((400..500).contains(&code), "{code}");
    let code = raw(
        &server,
        b"GET /v1/jobs/%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 401);
    let code = raw(
        &server,
        b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Correlation-ID: a\x00b\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 400);
    let code = raw(
        &server,
        b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(code == 400 || code == 401, "{code}");
    let r = alice
        .request(Method::GET, "/v1/jobs/..%2F..%2Fetc%2Fpasswd/logs")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // nothing above made a job, and the server answers as before
    assert_eq!(job_count(&alice).await, baseline);
    let ready = server.get_text("/readyz").await;
    assert!(ready.contains("\"ready\""), "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_silent_connections_do_not_stop_anyone_else() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    if hard < 11_000 {
        eprintln!("skipped: the open file limit ({hard}) is under 11000");
        return;
    }
    let server = Server::start_with(ServerOptions {
        extra_toml: "[api]\nheader_read_timeout_ms = 3000\n".into(),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let mut silent = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        silent.push(
            TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    // with all of them open, others are served
    others_are_served(&alice).await;
    // and the silent ones are closed by the server once the header read
    // timeout passes: each read ends (EOF or reset), none hangs
    let deadline = Instant::now() + Duration::from_secs(30);
    for stream in silent.iter_mut().step_by(97) {
        let mut byte = [0u8; 1];
        let left = deadline.saturating_duration_since(Instant::now());
        let read = tokio::time::timeout(left, stream.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection was never closed: {read:?}"
        );
    }
    drop(silent);
    // (a new connection: the client's pooled one sat idle past the header
    // read timeout too, and the server may close it as it is reused)
    let fresh = common::Api {
        http: reqwest::Client::new(),
        ..alice.clone()
    };
    let r = fresh
        .request(Method::GET, "/v1/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_the_submission_rate_gets_429_with_retry_after_and_others_do_not() {
    let server = Server::start_with(ServerOptions {
        slots: 0,
        extra_toml: "[api]\nsubmit_rate_per_minute = 60\nsubmit_burst = 3\n".into(),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let body = json!({"agent": "ok", "dataset_id": "d", "parameters": {}});
    for _ in 0..3 {
        let r = alice
            .request(Method::POST, "/v1/jobs")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // another user is not held back by alice
    let r = bob
        .request(Method::POST, "/v1/jobs")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // after Retry-After, alice may submit again
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(job_count(&alice).await, 4, "the refused one made nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_exits_0_and_leaves_jobs_running() {
    let mut server = Server::start().await;
    let alice = server.user("alice");
    let running = alice.submit("sleep", json!({"seconds": 4})).await;
    let running_id = running["id"].as_str().unwrap().to_owned();
    alice.wait_for(&running_id, Some("RUNNING"), T).await;
    // a submission whose body is still on its way when SIGTERM comes
    let body = br#"{"agent": "ok", "dataset_id": "late", "parameters": {}}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        alice.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nix::sys::signal::kill(server.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // no new connection is taken meanwhile
    assert!(
        alice
            .request(Method::GET, "/v1/agents")
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err()
    );
    stream.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit();
        (server, status)
    })
    .await
    .unwrap();
    let (mut server, status) = status;
    assert!(status.success(), "{status:?}");
    // the job's program was not stopped with the server: it finishes, and
    // the next start records it
    server.start_again().await;
    let ended = alice.wait_for(&running_id, Some("COMPLETED"), T).await;
    assert_eq!(ended["status"], "COMPLETED");
    assert_eq!(server.runs_of(&running_id), 1);
    let late: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    alice
        .wait_for(late["id"].as_str().unwrap(), Some("COMPLETED"), T)
        .await;
}

/// Every audit record, oldest first, read page by page as an admin.
async fn all_audit_records(admin: &common::Api) -> Vec<Value> {
    let mut records = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            Some(a) => format!("/v1/audit?limit=1000&after={a}"),
            None => "/v1/audit?limit=1000".to_owned(),
        };
        let page: Value = admin
            .request(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        records.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => after = Some(next),
            None => return records,
        }
    }
}

/// Anyone can send a request with a bad token: 10,000 of them do not make
/// 10,000 durable audit rows (each also published to Kafka). A few get a
/// row of their own, the rest are counted and summed up in one row (here
/// written at shutdown), with where they came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_bad_tokens_make_few_audit_rows_and_are_all_counted() {
    const BAD: usize = 10_000;
    let mut server = Server::start().await;
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let senders: Vec<_> = (0..32)
        .map(|s| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                for i in (s..BAD).step_by(32) {
                    let r = http
                        .get(format!("{url}/v1/jobs"))
                        .bearer_auth(format!("hzn_not-a-token-{i}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let counted = server
        .metric("horizon_api_denied_total{reason=\"unauthenticated\"}")
        .await;
    assert!(counted >= BAD as f64, "every refusal counted: {counted}");
    let admin = server.client(&server.token("ops", true));
    let denied_rows = all_audit_records(&admin)
        .await
        .into_iter()
        .filter(|r| r["outcome"] == "denied")
        .count();
    assert!(
        denied_rows < 100,
        "{denied_rows} durable rows for {BAD} refused requests"
    );
    // the rest, summed up (here at shutdown), say how many and from where
    server.sigterm();
    server.start_again().await;
    let admin = server.client(&server.token("ops", true));
    let summaries: Vec<Value> = all_audit_records(&admin)
        .await
        .into_iter()
        .filter(|r| r["action"] == "auth.denied_summary")
        .collect();
    let summed: u64 = summaries
        .iter()
        .map(|r| r["target"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        summed as usize + denied_rows,
        BAD,
        "every refusal is in a row or a summary: {summaries:?}"
    );
    assert!(
        summaries[0]["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "{summaries:?}"
    );
    eprintln!(
        "{BAD} bad tokens: {denied_rows} rows of their own, {summed} in {} summary row(s)",
        summaries.len()
    );
}

/// 1,000 authenticated clients that send their headers, then trickle (or
/// stop sending) their bodies: each gets 408 and its connection is closed
/// after `[api] body_read_timeout_ms`, while everyone else is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_trickling_bodies_are_cut_off_while_others_are_served() {
    let server = Server::start_with(ServerOptions {
        extra_toml: "[api]\nbody_read_timeout_ms = 2000\n".into(),
        ..ServerOptions::default()
    })
    .await;
    let token = server.token("alice", false);
    let alice = server.client(&token);
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: horizon\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    let mut slow = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    let opened = Instant::now();
    // with all of them open, others are served
    others_are_served(&alice).await;
    // one more byte now and then does not keep a connection open
    for stream in slow.iter_mut().step_by(2) {
        let _ = stream.write_all(b" ").await;
    }
    let deadline = opened + Duration::from_secs(20);
    let mut cut = 0;
    for stream in slow.iter_mut() {
        let mut answer = Vec::new();
        let left = deadline.saturating_duration_since(Instant::now());
        let read = tokio::time::timeout(left, stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "a trickling connection was still open {:?} after it started",
            opened.elapsed()
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        cut += 1;
    }
    assert_eq!(cut, 1000);
    assert_eq!(
        job_count(&alice).await,
        1,
        "no trickled submission became a job"
    );
    let r = alice
        .request(Method::GET, "/v1/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// `[api] max_connections`: past it, new connections wait to be accepted
/// (the server says so in its log) and are served once others close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_new_ones_wait_and_are_then_served() {
    let server = Server::start_with(ServerOptions {
        extra_toml: "[api]\nmax_connections = 20\nheader_read_timeout_ms = 2000\n".into(),
        ..ServerOptions::default()
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(
            TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    // the 21st (a new connection: not one the harness's client keeps open)
    // waits for a slot: the silent ones are closed after the header read
    // timeout, and then it is served
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = fresh
        .get(format!("{}/v1/agents", server.url))
        .bearer_auth(server.token("bob", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let log = server.log();
    assert!(
        log.contains("connections open ([api] max_connections): new ones wait"),
        "{log}"
    );
    drop(silent);
}

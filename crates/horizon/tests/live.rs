//! Server-Sent Events: a client that drops its connection at random points
//! and reconnects with `Last-Event-ID` — across a server restart, and on
//! PostgreSQL across the processes of one deployment — receives exactly
//! the job's events, none missing, none twice, in order; the `eventsource`
//! npm client does the same by itself; the rules (owner, limits, bad ids)
//! hold; a job's output streams as it is written.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::sse::{Message, connect};
use common::{Api, Server, ServerOptions, TestDatabase, repo_root};
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn rng() -> rand::rngs::StdRng {
    let seed: u64 = rand::random();
    eprintln!("random seed {seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Follow one job's stream through `apis` in turn (a new connection each
/// time, resuming after the last id), reading 1 to 4 messages before each
/// drop, until the server says 204 (the terminal event was received).
/// `between(n)` runs after the n-th connection.
async fn follow_job_in_pieces(
    apis: &mut dyn FnMut(usize) -> Api,
    id: &str,
    mut between: impl AsyncFnMut(usize),
) -> Vec<Message> {
    let mut rng = rng();
    let path = format!("/v1/jobs/{id}/events/stream");
    let mut got: Vec<Message> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for n in 0.. {
        assert!(Instant::now() < deadline, "the stream never ended");
        let api = apis(n);
        let last = got.last().and_then(|m| m.id.clone());
        match connect(&api, &path, last.as_deref()).await {
            Err(StatusCode::NO_CONTENT) => break,
            Err(status) => panic!("reconnecting after {last:?}: {status}"),
            Ok(mut reader) => {
                for _ in 0..rng.random_range(1..=4) {
                    match reader.next().await {
                        Some(message) => got.push(message),
                        None => break,
                    }
                }
            }
        }
        between(n).await;
    }
    got
}

/// The concatenated stream is the job's events, exactly: same ids, same
/// bytes, same order.
async fn assert_same_as_the_api(api: &Api, id: &str, got: &[Message]) {
    let events = api.events(id).await;
    let want: Vec<String> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    let ids: Vec<String> = got.iter().map(|m| m.id.clone().unwrap()).collect();
    assert_eq!(ids, want, "the stream's events differ from the job's");
    for message in got {
        assert_eq!(
            message.data,
            common::api_raw(message.id.as_deref().unwrap()),
            "the same bytes"
        );
    }
    assert!(
        want.len() >= 8,
        "a job with metrics has many events: {}",
        want.len()
    );
}

/// Random disconnects, and a SIGKILL and restart of the server while the
/// job runs: the client's stream is the job's events exactly.
#[tokio::test]
async fn a_job_stream_resumed_at_random_points_and_across_a_restart_is_exact() {
    let mut server = Server::start_with(ServerOptions {
        metrics_interval_ms: 50,
        ..ServerOptions::default()
    })
    .await;
    let token = server.token("alice", false);
    let alice = server.client(&token);
    let job = alice.submit("ok", json!({"seconds": 2.5})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let api = alice.clone();
    let server_ref = &mut server;
    let got = follow_job_in_pieces(&mut |_| api.clone(), &id, async |n| {
        if n == 3 {
            // the server dies mid-stream; clients reconnect to its successor
            server_ref.restart().await;
        }
    })
    .await;
    assert_same_as_the_api(&alice, &id, &got).await;
    let last: Value = serde_json::from_str(&got.last().unwrap().data).unwrap();
    assert_eq!(last["event_type"], "job.completed");
}

/// Two processes on one PostgreSQL database: the client reconnects to
/// each in turn, for one job's stream and for the user's stream of every
/// job (ids there are places in the commit order, the same on both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_resume_on_another_process_of_a_postgres_deployment() {
    if std::env::var_os("HORIZON_TEST_SKIP_POSTGRES").is_some() {
        return;
    }
    let db = TestDatabase::create();
    let jobs_dir = tempfile::tempdir().unwrap();
    let options = ServerOptions {
        database_url: Some(db.url.clone()),
        jobs_dir: Some(jobs_dir.path().to_owned()),
        metrics_interval_ms: 50,
        ..ServerOptions::default()
    };
    let first = Server::start_with(options.clone()).await;
    let second = Server::start_with(options).await;
    let token = first.token("alice", false);
    let apis = [first.client(&token), second.client(&token)];
    // bob's job must never reach alice's stream
    let bob = first.client(&first.token("bob", false));
    bob.submit("ok", json!({"seconds": 0.5})).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let job = apis[i % 2].submit("ok", json!({"seconds": 1.5})).await;
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    // one job's stream, alternating processes
    let got = follow_job_in_pieces(&mut |n| apis[n % 2].clone(), &ids[0], async |_| {}).await;
    assert_same_as_the_api(&apis[0], &ids[0], &got).await;

    // the user's stream, from the beginning (position 0), alternating
    for id in &ids {
        apis[0].wait_for(id, None, Duration::from_secs(60)).await;
    }
    let mut want = HashSet::new();
    for id in &ids {
        for event in apis[0].events(id).await {
            want.insert(event["event_id"].as_str().unwrap().to_owned());
        }
    }
    let mut rng = rng();
    let mut all: Vec<Message> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    while all.len() < want.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} events",
            all.len(),
            want.len()
        );
        let last = all.last().and_then(|m| m.id.clone()).unwrap_or("0".into());
        let mut reader = connect(&apis[n % 2], "/v1/events/stream", Some(&last))
            .await
            .unwrap();
        n += 1;
        for _ in 0..rng.random_range(1..=5) {
            match tokio::time::timeout(Duration::from_secs(5), reader.next()).await {
                Ok(Some(message)) => all.push(message),
                _ => break,
            }
        }
    }
    let positions: Vec<i64> = all
        .iter()
        .map(|m| m.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "commit order, each once: {positions:?}"
    );
    let got: Vec<String> = all
        .iter()
        .map(|m| {
            let event: Value = serde_json::from_str(&m.data).unwrap();
            assert_eq!(event["user_id"], "alice", "only alice's jobs");
            event["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), want);
    assert_eq!(got.len(), want.len(), "none twice");
    // and each job's events in the job's order
    for id in &ids {
        let order: Vec<String> = apis[1]
            .events(id)
            .await
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect();
        let seen: Vec<&String> = got.iter().filter(|e| order.contains(e)).collect();
        assert_eq!(seen, order.iter().collect::<Vec<_>>(), "job {id}");
    }
}

/// The WHATWG EventSource of the `eventsource` npm package follows a job
/// by itself — reconnecting with `Last-Event-ID` when the server is killed
/// and restarted mid-stream, stopping at the 204 after the terminal event —
/// and receives exactly the job's events.
#[tokio::test]
async fn the_eventsource_client_follows_a_job_across_a_restart() {
    let dir = repo_root().join("tools/clients/eventsource");
    assert!(
        dir.join("node_modules/eventsource").is_dir(),
        "eventsource is not installed: run `npm ci --prefix tools/clients/eventsource` (scripts/test.sh does)"
    );
    let mut server = Server::start_with(ServerOptions {
        metrics_interval_ms: 100,
        ..ServerOptions::default()
    })
    .await;
    let token = server.token("alice", false);
    let alice = server.client(&token);
    let job = alice.submit("ok", json!({"seconds": 3})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("follow.mjs"))
        .arg(format!("{}/v1/jobs/{id}/events/stream", server.url))
        .arg(&token)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.restart().await;
    let out = tokio::time::timeout(Duration::from_secs(60), async {
        let mut stdout = child.stdout.take().unwrap();
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
            .await
            .unwrap();
        child.wait().await.unwrap();
        text
    })
    .await
    .expect("the eventsource client did not finish");
    let mut got = Vec::new();
    let mut closed = false;
    for line in out.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        if line == json!("closed") {
            closed = true;
            continue;
        }
        got.push(Message {
            id: line["id"].as_str().map(str::to_owned),
            event: None,
            data: line["data"].as_str().unwrap().to_owned(),
        });
    }
    assert!(closed, "the client stopped at the 204: {out}");
    assert_same_as_the_api(&alice, &id, &got).await;
}

/// Only the owner (or an admin) follows a job; a bad Last-Event-ID is a
/// clear 422; a user has a bounded number of streams (429 past it); a
/// stream of an ended job answers 204 after its terminal event.
#[tokio::test]
async fn stream_rules_hold() {
    let server = Server::start_with(ServerOptions {
        extra_toml: "\n[api]\nmax_streams_per_user = 2\n".into(),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let admin = server.client(&server.token("root", true));
    let job = alice.submit("sleep", json!({"seconds": 30})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/jobs/{id}/events/stream");
    assert_eq!(
        connect(&bob, &path, None).await.err(),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        connect(&alice, &path, Some("not-an-id")).await.err(),
        Some(StatusCode::UNPROCESSABLE_ENTITY)
    );
    assert_eq!(
        connect(&alice, "/v1/events/stream", Some("-3")).await.err(),
        Some(StatusCode::UNPROCESSABLE_ENTITY)
    );
    assert_eq!(
        connect(&bob, "/v1/events/stream?user=alice", None)
            .await
            .err(),
        Some(StatusCode::FORBIDDEN)
    );
    let mut first = connect(&alice, &path, None).await.unwrap();
    let second = connect(&alice, "/v1/events/stream", None).await.unwrap();
    assert_eq!(
        connect(&alice, &path, None).await.err(),
        Some(StatusCode::TOO_MANY_REQUESTS),
        "a third stream of alice's"
    );
    // another user is not counted against alice; an admin sees her job
    let mut watching = connect(&admin, &path, None).await.unwrap();
    assert_eq!(
        watching.next().await.unwrap().id,
        first.next().await.unwrap().id
    );
    drop(second);
    // a closed stream frees its place (once the server noticed)
    let deadline = Instant::now() + Duration::from_secs(10);
    let third = loop {
        match connect(&alice, "/v1/events/stream", None).await {
            Ok(reader) => break reader,
            Err(StatusCode::TOO_MANY_REQUESTS) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{status}"),
        }
    };
    drop(third);
    // the job ends: the stream ends after its terminal event
    alice.cancel(&id, "enough").await;
    let mut last = None;
    while let Some(message) = first.next().await {
        last = Some(message);
    }
    let last = last.unwrap();
    let event: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(event["event_type"], "job.cancelled");
    assert_eq!(
        connect(&alice, &path, last.id.as_deref()).await.err(),
        Some(StatusCode::NO_CONTENT)
    );
}

/// A job's output as it is written, resumable at a byte offset, ending
/// with an `end` event once the job ended: the same text as the logs API.
#[tokio::test]
async fn a_jobs_output_streams_as_it_is_written() {
    let server = Server::start().await;
    let alice = server.user("alice");
    let job = alice
        .submit("chatty", json!({"lines": 12, "interval": 0.1}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/jobs/{id}/logs/stream");
    // the owner's only, as the logs route
    let admin = server.client(&server.token("root", true));
    assert_eq!(
        connect(&admin, &path, None).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        connect(&server.user("bob"), &path, None).await.err(),
        Some(StatusCode::NOT_FOUND)
    );
    let mut text = String::new();
    let mut offset: Option<String> = None;
    let mut ended = None;
    let mut pieces = 0;
    while ended.is_none() {
        let mut reader = connect(&alice, &path, offset.as_deref()).await.unwrap();
        pieces += 1;
        // one message, then drop: resume at the offset reached
        if let Some(message) = reader.next().await {
            let data: Value = serde_json::from_str(&message.data).unwrap();
            if message.event.as_deref() == Some("end") {
                ended = Some(data);
            } else {
                assert_eq!(data["offset"].as_u64().unwrap() as usize, text.len());
                text.push_str(data["text"].as_str().unwrap());
            }
            offset = message.id;
        }
    }
    let ended = ended.unwrap();
    assert_eq!(ended["status"], "COMPLETED");
    assert!(pieces > 2, "resumed {pieces} times");
    let logs = alice
        .request(
            reqwest::Method::GET,
            &format!("/v1/jobs/{id}/logs?stream=stdout"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, logs);
    assert!(text.contains("line 12"), "{text}");
}

//! The Tapis backend end to end over HTTP, against a Tapis-compatible server
//! the tests start (`common/tapis.rs`: Tapis's documented API, behaving as
//! the real service does — plain-text 401s, 200 on submit, JSON in strings).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::tapis::{FakeTapis, PASSWORD, SERVICE, SERVICE_PASSWORD};
use common::{Server, ServerOptions, assert_lifecycle, payload};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn agents_toml() -> String {
    let mut toml = String::new();
    for mode in ["ok", "fail", "sleep", "queued", "block", "odd", "nope"] {
        toml.push_str(&format!(
            "\n[agents.t-{mode}]\nbackend = \"tapis\"\napp_id = \"horizon-{mode}\"\napp_version = \"1.0\"\nargs = [\"--mode\", \"{mode}\"]\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{{runs}}\" }}\nmax_resources = {{ walltime_minutes = 120 }}\n"
        ));
    }
    toml
}

async fn tapis_server(fake: &FakeTapis, env: Vec<(String, String)>) -> Server {
    let mut env = env;
    env.push(("HORIZON_TAPIS_PASSWORD".to_owned(), PASSWORD.to_owned()));
    Server::start_with(ServerOptions {
        env,
        extra_toml: format!("{}{}", agents_toml(), fake.toml()),
        ..ServerOptions::default()
    })
    .await
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event_type"] != "job.metrics_recorded")
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_job_runs_to_completion_on_tapis_with_the_same_events_as_local() {
    let fake = FakeTapis::start().await;
    let server = tapis_server(&fake, vec![]).await;
    let alice = server.user("alice");
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .json(&json!({"agent": "t-ok", "dataset_id": "galaxy-7", "parameters": {"alpha": 0.3, "label": "x y"},
                      "resources": {"nodes": 2, "cores_per_node": 8, "memory_mb": 4096, "walltime_minutes": 90}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let local = alice.submit("ok", json!({"seconds": 0.1})).await;

    let done = alice.wait_for(&id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
    let uuid = done["remote_job_id"].as_str().unwrap().to_owned();
    assert!(uuid.ends_with("-007"), "a Tapis job uuid: {uuid}");
    assert_eq!(fake.jobs_named(&id), vec![uuid.clone()]);
    assert_eq!(server.runs_of(&id), 1);
    let events = alice.events(&id).await;
    assert_lifecycle(
        &id,
        &events,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
    assert_eq!(payload(&events, "job.queued")["remote_job_id"], uuid);
    assert_eq!(payload(&events, "job.queued")["backend"], "tapis");

    // what Tapis was asked for
    let body = fake.body(&uuid);
    assert_eq!(body["name"], id);
    assert_eq!(body["appId"], "horizon-ok");
    assert_eq!(body["appVersion"], "1.0");
    assert_eq!(
        (body["nodeCount"].clone(), body["coresPerNode"].clone()),
        (json!(2), json!(8))
    );
    assert_eq!(
        (body["memoryMB"].clone(), body["maxMinutes"].clone()),
        (json!(4096), json!(90))
    );
    assert_eq!(
        body["parameterSet"]["appArgs"],
        json!([{"arg": "--mode"}, {"arg": "ok"}])
    );
    let env: Vec<(String, String)> = body["parameterSet"]["envVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().to_owned(),
                kv["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("HORIZON_JOB_ID").as_deref(), Some(id.as_str()));
    assert_eq!(get("HORIZON_DATASET_ID").as_deref(), Some("galaxy-7"));
    let params: Value = serde_json::from_str(&get("HORIZON_PARAMETERS").unwrap()).unwrap();
    assert_eq!(params, json!({"alpha": 0.3, "label": "x y"}));

    // same event types and payload shapes as the local backend
    let local_id = local["id"].as_str().unwrap();
    alice
        .wait_for(local_id, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    let shapes = |events: &[Value]| -> Vec<(String, Vec<String>)> {
        events
            .iter()
            .filter(|e| e["event_type"] != "job.metrics_recorded")
            .map(|e| {
                let mut keys: Vec<String> =
                    e["payload"].as_object().unwrap().keys().cloned().collect();
                keys.sort();
                (e["event_type"].as_str().unwrap().to_owned(), keys)
            })
            .collect()
    };
    assert_eq!(shapes(&events), shapes(&alice.events(local_id).await));

    // the output, from Tapis, through Horizon's logs route
    let r = alice
        .request(Method::GET, &format!("/v1/jobs/{id}/logs?tail=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "line 2\n");
    let r = alice
        .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
        .send()
        .await
        .unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with(&format!("hello from Tapis job {uuid}"))
    );
}

#[tokio::test]
async fn failures_map_to_error_codes_and_refusals_are_scheduler_rejected() {
    let fake = FakeTapis::start().await;
    let server = tapis_server(&fake, vec![]).await;
    let alice = server.user("alice");
    let failing = alice.submit("t-fail", json!({})).await;
    let refused = alice.submit("t-nope", json!({})).await;
    let odd = alice.submit("t-odd", json!({})).await;

    let id = failing["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["error"]["code"], "NONZERO_EXIT", "{done}");
    assert_eq!(done["error"]["exit_code"], 3);
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("returned exit code: 3"),
        "{done}"
    );
    let events = alice.events(id).await;
    assert_eq!(payload(&events, "job.failed")["error_code"], "NONZERO_EXIT");

    let id = refused["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["error"]["code"], "SCHEDULER_REJECTED", "{done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JOBS_APP_NOT_FOUND"),
        "{done}"
    );

    // an unknown Tapis status on the way changes nothing; the job goes on
    let id = odd["id"].as_str().unwrap();
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
}

#[tokio::test]
async fn cancel_while_queued_and_running_and_outside_horizon() {
    let fake = FakeTapis::start().await;
    let server = tapis_server(&fake, vec![]).await;
    let alice = server.user("alice");
    let queued = alice.submit("t-queued", json!({})).await;
    let running = alice.submit("t-sleep", json!({})).await;
    let outside = alice.submit("t-sleep", json!({})).await;
    let queued_id = queued["id"].as_str().unwrap();
    let running_id = running["id"].as_str().unwrap();
    let outside_id = outside["id"].as_str().unwrap();
    let q = alice
        .wait_for(queued_id, Some("QUEUED"), Duration::from_secs(30))
        .await;
    let r = alice
        .wait_for(running_id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    for (id, job) in [(queued_id, q), (running_id, r)] {
        let uuid = job["remote_job_id"].as_str().unwrap().to_owned();
        let answer = alice.cancel(id, "not needed").await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(fake.cancel_requests().contains(&uuid));
        assert_eq!(fake.status(&uuid).as_deref(), Some("CANCELLED"));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    for id in [queued_id, running_id] {
        let events = alice.events(id).await;
        assert_eq!(types(&events).last().unwrap(), "job.cancelled", "{id}");
    }
    // cancelled by someone else, in Tapis
    let o = alice
        .wait_for(outside_id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    fake.cancel_outside(o["remote_job_id"].as_str().unwrap());
    let done = alice
        .wait_for(outside_id, None, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["error"]["code"], "CANCELLED_EXTERNALLY", "{done}");
}

#[tokio::test]
async fn blocked_then_running_is_a_status_change() {
    let fake = FakeTapis::start().await;
    let server = tapis_server(&fake, vec![]).await;
    let alice = server.user("alice");
    let job = alice.submit("t-block", json!({})).await;
    let id = job["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let uuid = loop {
        let events = alice.events(id).await;
        if types(&events).contains(&"job.status_changed".to_owned()) {
            let changed = payload(&events, "job.status_changed");
            assert!(
                changed["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("blocked: JOBS_QUOTA_EXCEEDED"),
                "{changed}"
            );
            assert_eq!(changed["current_status"], "QUEUED");
            break alice.job(id).await["remote_job_id"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(Instant::now() < deadline, "no status_changed for BLOCKED");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alice.job(id).await["status"], "QUEUED");
    fake.release(&uuid);
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED");
    let events = alice.events(id).await;
    assert_lifecycle(
        id,
        &events,
        &[
            "job.submitted",
            "job.queued",
            "job.status_changed",
            "job.status_changed",
            "job.running",
            "job.completed",
        ],
    );
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "job.status_changed")
        .map(|e| e["payload"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons[1], "resumed (RUNNING)");
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_no_event_is_lost() {
    let fake = FakeTapis::start().await;
    let server = tapis_server(&fake, vec![]).await;
    let alice = server.user("alice");
    let job = alice.submit("t-sleep", json!({})).await;
    let id = job["id"].as_str().unwrap();
    alice
        .wait_for(id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    let logins = fake.logins();
    assert_eq!(logins, 1);
    fake.expire_tokens();
    // the next calls meet a plain-text 401, log in again once, and go on
    let r = alice.cancel(id, "done with it").await;
    assert_eq!(r.status(), StatusCode::OK);
    let uuid = alice.job(id).await["remote_job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fake.status(&uuid).as_deref(), Some("CANCELLED"));
    assert_eq!(fake.logins(), 2, "one new login, not a loop");
    let ok = alice.submit("t-ok", json!({})).await;
    let ok_id = ok["id"].as_str().unwrap();
    let done = alice.wait_for(ok_id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_lifecycle(
        ok_id,
        &alice.events(ok_id).await,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
    assert_eq!(fake.logins(), 2);
}

#[tokio::test]
async fn bursts_of_5xx_are_retried_without_a_second_submission() {
    let fake = FakeTapis::start().await;
    let server = tapis_server(&fake, vec![]).await;
    let alice = server.user("alice");
    // the submission reaches Tapis, which creates the job, then answers 502
    fake.fail_submit_after_create(1);
    let job = alice.submit("t-ok", json!({})).await;
    let id = job["id"].as_str().unwrap();
    alice
        .wait_for(id, Some("QUEUED"), Duration::from_secs(30))
        .await;
    // then a burst of 503s on every call
    fake.fail_next(3);
    let done = alice.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
    assert_eq!(fake.jobs_named(id).len(), 1, "submitted twice");
    assert_eq!(server.runs_of(id), 1);
    assert_lifecycle(
        id,
        &alice.events(id).await,
        &[
            "job.submitted",
            "job.queued",
            "job.running",
            "job.completed",
        ],
    );
}

#[tokio::test]
async fn a_crash_right_after_the_submit_call_does_not_submit_twice() {
    let fake = FakeTapis::start().await;
    let mut server = tapis_server(
        &fake,
        vec![(
            "HORIZON_TEST_CRASH_AFTER_TAPIS_SUBMIT".to_owned(),
            "1".to_owned(),
        )],
    )
    .await;
    let alice = server.user("alice");
    let job = alice.submit("t-ok", json!({})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the server did not crash after the submit call"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.jobs_named(&id).len(), 1);
    server.kill9();
    server.remove_env("HORIZON_TEST_CRASH_AFTER_TAPIS_SUBMIT");
    server.start_again().await;
    let alice = server.user("alice");
    let done = alice.wait_for(&id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let uuids = fake.jobs_named(&id);
    assert_eq!(uuids.len(), 1, "submitted twice: {uuids:?}");
    assert_eq!(done["remote_job_id"], uuids[0]);
    assert_eq!(server.runs_of(&id), 1);
}

/// Several processes on one PostgreSQL database: the dispatching process
/// dies right after Tapis accepted its N-th job of a pass; a process with a
/// data directory of its own takes its jobs over and looks each one marked
/// "about to submit" up by name: every job exists once in Tapis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_mid_pass_submits_no_tapis_job_twice() {
    let fake = FakeTapis::start().await;
    let takeover = common::takeover::mid_pass(
        ServerOptions {
            env: vec![("HORIZON_TAPIS_PASSWORD".to_owned(), PASSWORD.to_owned())],
            extra_toml: format!("{}{}", agents_toml(), fake.toml()),
            ..ServerOptions::default()
        },
        "HORIZON_TEST_CRASH_AFTER_TAPIS_SUBMIT",
        "t-ok",
        json!({}),
        40,
        |id| fake.jobs_named(id).len(),
    )
    .await;
    takeover.assert_each_once(|id| fake.jobs_named(id)).await;
}

/// A 408 or 429 on submit says nothing of whether Tapis made the job: the
/// submission is retried after a backoff, and looked up by name first, so
/// a job made before the 408 is adopted and one refused by a 429 is
/// submitted once — never SCHEDULER_REJECTED.
#[tokio::test]
async fn a_408_or_429_on_submit_is_waited_out_and_looked_up() {
    let fake = FakeTapis::start().await;
    let server = tapis_server(&fake, vec![]).await;
    let alice = server.user("alice");
    // made, then a gateway timeout
    fake.fail_submit_after_create_with(1, reqwest::StatusCode::REQUEST_TIMEOUT);
    let made = alice.submit("t-ok", json!({})).await;
    let made = made["id"].as_str().unwrap().to_owned();
    let done = alice.wait_for(&made, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
    assert_eq!(fake.jobs_named(&made).len(), 1, "submitted twice");
    // refused before anything was made: rate limited twice
    fake.refuse_submits(2, reqwest::StatusCode::TOO_MANY_REQUESTS);
    let limited = alice.submit("t-ok", json!({})).await;
    let limited = limited["id"].as_str().unwrap().to_owned();
    let done = alice
        .wait_for(&limited, None, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
    assert_eq!(fake.jobs_named(&limited).len(), 1);
}

/// Horizon logged in as a Tapis service acts for each user: alice's jobs
/// are her own in Tapis (`tapis_user = "{user}"`), carol's the lab's, and
/// bob, whom no rule names, runs as the default user. Each job shows whom
/// it runs as; its status, logs, cancel and the look-up after a lost
/// submit answer all act for that user (the test service refuses a
/// service's call that names nobody, and another user's job).
#[tokio::test]
async fn a_tapis_service_account_runs_each_job_as_its_user() {
    let fake = FakeTapis::start().await;
    let extra = format!(
        "{}{}service_account = true\ntenant = \"tacc\"\nsite = \"tacc\"\n\
         default_user = \"gateway-community\"\n\
         \n[[identity]]\nuser = \"alice\"\ntapis_user = \"{{user}}\"\n\
         \n[[identity]]\nuser = \"carol\"\ntapis_user = \"astro-lab\"\n",
        agents_toml(),
        fake.toml().replace(
            &format!("username = \"{}\"", common::tapis::USER),
            &format!("username = \"{SERVICE}\"")
        ),
    );
    let server = Server::start_with(ServerOptions {
        env: vec![(
            "HORIZON_TAPIS_PASSWORD".to_owned(),
            SERVICE_PASSWORD.to_owned(),
        )],
        extra_toml: extra,
        ..ServerOptions::default()
    })
    .await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let hers = alice.submit("t-ok", json!({})).await;
    let his = bob.submit("t-ok", json!({})).await;
    let lab = carol.submit("t-sleep", json!({})).await;
    for (job, user) in [
        (&hers, "alice"),
        (&his, "gateway-community"),
        (&lab, "astro-lab"),
    ] {
        assert_eq!(job["account"], user, "{job}");
    }
    for (api, job, user) in [(&alice, &hers, "alice"), (&bob, &his, "gateway-community")] {
        let id = job["id"].as_str().unwrap();
        let done = api.wait_for(id, None, Duration::from_secs(30)).await;
        assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
        let uuid = done["remote_job_id"].as_str().unwrap();
        assert_eq!(fake.owner(uuid), user);
        assert_eq!(done["account"], user);
        let log = api
            .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
            .send()
            .await
            .unwrap();
        assert_eq!(log.status(), StatusCode::OK);
        let log = log.text().await.unwrap();
        assert!(
            log.contains(&format!("hello from Tapis job {uuid}")),
            "{log}"
        );
    }
    // cancelled as the lab
    let id = lab["id"].as_str().unwrap();
    carol
        .wait_for(id, Some("RUNNING"), Duration::from_secs(30))
        .await;
    assert_eq!(carol.cancel(id, "enough").await.status(), StatusCode::OK);
    let done = carol.wait_for(id, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "CANCELLED", "{done}\n{}", server.log());
    assert_eq!(
        fake.owner(done["remote_job_id"].as_str().unwrap()),
        "astro-lab"
    );
    // a submit whose answer was lost is looked up among alice's own jobs
    fake.fail_submit_after_create(1);
    let again = alice.submit("t-ok", json!({})).await;
    let again = again["id"].as_str().unwrap().to_owned();
    let done = alice.wait_for(&again, None, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", server.log());
    let made = fake.jobs_named(&again);
    assert_eq!(made.len(), 1, "submitted twice");
    assert_eq!(fake.owner(&made[0]), "alice");
}

/// Rules naming Tapis users need Horizon to be a Tapis service: said at
/// start.
#[tokio::test]
async fn tapis_users_without_a_service_account_are_refused_at_start() {
    let fake = FakeTapis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("horizon.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n{}{}\n[[identity]]\nuser = \"alice\"\ntapis_user = \"alice\"\n",
            common::free_port(),
            dir.path().join("data").display(),
            agents_toml().replace("{runs}", "/tmp"),
            fake.toml(),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("HORIZON_TAPIS_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("service_account = true"), "{err}");
}

/// A Tapis job failing with a condition its agent's policy retries
/// (`SCHEDULER_OUT_OF_MEMORY`) is retried once, as a new Tapis job under its
/// own name, with the memory the policy escalates to, and completes.
#[tokio::test]
async fn a_tapis_job_failing_with_a_retried_condition_is_retried_and_completes() {
    let fake = FakeTapis::start().await;
    let mut env = vec![("HORIZON_TAPIS_PASSWORD".to_owned(), PASSWORD.to_owned())];
    env.push(("RUST_LOG".to_owned(), "info".to_owned()));
    let server = Server::start_with(ServerOptions {
        env,
        extra_toml: format!(
            "{}\n[agents.t-flaky]\nbackend = \"tapis\"\napp_id = \"horizon-flaky\"\napp_version = \"1.0\"\nenv = {{ HORIZON_TEST_RUNS_DIR = \"{{runs}}\" }}\ndefault_resources = {{ memory_mb = 1000 }}\nmax_resources = {{ memory_mb = 1500 }}\nretry = {{ attempts = 3, backoff_seconds = 0.5, on = [\"SCHEDULER_OUT_OF_MEMORY\"], memory_factor = 2.0 }}\n{}",
            agents_toml(),
            fake.toml()
        ),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("t-flaky", json!({})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let done = alice.wait_for(&id, None, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempt"], 2);
    // escalated, capped by the agent's maximum
    assert_eq!(done["resources"]["memory_mb"], 1500, "{done}");
    let events = alice.events(&id).await;
    common::assert_valid_events(&events);
    assert_eq!(
        types(&events),
        [
            "job.submitted",
            "job.queued",
            "job.running",
            "job.retry_scheduled",
            "job.queued",
            "job.running",
            "job.completed"
        ]
    );
    let retry = payload(&events, "job.retry_scheduled");
    assert_eq!(retry["error_code"], "SCHEDULER_OUT_OF_MEMORY");
    assert_eq!(retry["resources"]["memory_mb"], 1500);
    // two Tapis jobs, the second under the second attempt's own name
    let queued: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "job.queued")
        .collect();
    assert_ne!(
        queued[0]["payload"]["remote_job_id"],
        queued[1]["payload"]["remote_job_id"]
    );
}

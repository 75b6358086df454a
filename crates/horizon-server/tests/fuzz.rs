//! Property-based fuzzing of what arrives from outside, in-process and
//! bounded (HORIZON_FUZZ_CASES, default 2000 per target, a few seconds; CI runs the
//! default): request bodies against the real router and store, and
//! configuration files against the parser. Neither may panic, a body may
//! never cause a 5xx, and a refused body changes nothing.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use horizon_server::api::{AppState, TokenCache, router};
use horizon_server::config::{EMBEDDED_DEFAULTS, Settings};
use horizon_store::{SqliteStore, Store};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

fn cases() -> u32 {
    std::env::var("HORIZON_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

struct App {
    _dir: tempfile::TempDir,
    state: AppState,
    token: String,
    runtime: tokio::runtime::Runtime,
}

fn app() -> App {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let store: Arc<dyn Store> = Arc::new(runtime.block_on(SqliteStore::connect(&url)).unwrap());
    let token = horizon_server::api::auth::new_token();
    runtime
        .block_on(store.create_token(
            &horizon_server::api::auth::hash_token(&token),
            "fuzz",
            false,
            None,
        ))
        .unwrap();
    let mut settings = Settings::from_toml(EMBEDDED_DEFAULTS).unwrap();
    settings.data_dir = dir.path().to_path_buf();
    let state = AppState {
        replays: Default::default(),
        denials: Arc::new(horizon_server::api::denials::Denials::new(0)),
        backend_health: Default::default(),
        live: horizon_server::live::LiveHub::new(
            store.clone(),
            Arc::new(tokio::sync::Notify::new()),
        ),
        streams: Default::default(),
        process: Arc::new(horizon_server::api::cluster::ThisProcess::new(
            uuid::Uuid::nil(),
            "fuzz".into(),
        )),
        store,
        settings: Arc::new(settings),
        backends: Arc::new(HashMap::new()),
        dispatch_wake: Arc::new(tokio::sync::Notify::new()),
        prometheus: None,
        relay: None,
        tasks: Arc::new(horizon_server::tasks::TaskHealth::new()),
        tokens: Arc::new(TokenCache::new(Duration::from_secs(60))),
        jwt: None,
        submit_limit: None,
    };
    App {
        _dir: dir,
        state,
        token,
        runtime,
    }
}

impl App {
    fn post(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let request = Request::post(path)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let app = router(self.state.clone());
        self.runtime.block_on(async {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    fn jobs(&self) -> usize {
        self.runtime
            .block_on(self.state.store.count_by_status())
            .unwrap()
            .iter()
            .map(|(_, n)| *n as usize)
            .sum()
    }
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A submission, mostly well-formed, with any of its fields replaced.
fn submission() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!("AlphaCal")), json_value()],
        prop_oneof![".{0,300}".prop_map(Value::String), json_value()],
        prop_oneof![Just(json!({})), json_value()],
        prop::option::of(prop_oneof![
            (0u64..5, 0u64..100, 0u64..100_000, 0u64..3, 0u64..10_000).prop_map(
                |(n, c, m, g, w)| json!({"nodes": n, "cores_per_node": c, "memory_mb": m, "gpus": g, "walltime_minutes": w})
            ),
            json_value(),
        ]),
        prop::option::of((".{0,8}", json_value())),
    )
        .prop_map(|(agent, dataset, parameters, resources, extra)| {
            let mut body = json!({"agent": agent, "dataset_id": dataset, "parameters": parameters});
            if let Some(resources) = resources {
                body["resources"] = resources;
            }
            if let Some((key, value)) = extra {
                body[key] = value;
            }
            body
        })
}

#[test]
fn request_bodies_never_cause_a_5xx_and_a_refused_one_changes_nothing() {
    let app = app();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    // valid submissions, so the accepting side is always exercised too
    let valid = (
        "[A-Za-z0-9_./-]{1,64}",
        prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..4),
    )
        .prop_map(|(dataset, parameters)| {
            serde_json::to_vec(&json!({
                "agent": "AlphaCal",
                "dataset_id": dataset,
                "parameters": parameters.into_iter().collect::<serde_json::Map<_, _>>(),
            }))
            .unwrap()
        });
    let strategy = prop_oneof![
        1 => valid,
        3 => submission().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ];
    runner
        .run(&strategy, |body| {
            let before = app.jobs();
            let (status, problem) = app.post("/v1/jobs", body.clone());
            prop_assert!(
                !status.is_server_error(),
                "{status} for {:?}: {problem}",
                String::from_utf8_lossy(&body)
            );
            if status == StatusCode::CREATED {
                prop_assert_eq!(app.jobs(), before + 1);
            } else {
                prop_assert!(status.is_client_error());
                prop_assert_eq!(&problem["status"], &json!(status.as_u16()));
                prop_assert_eq!(app.jobs(), before, "a refused body made a job");
            }
            // and as a cancel body, on a job that does not exist
            let (status, _) =
                app.post("/v1/jobs/0195f0e4-0000-7000-8000-000000000000/cancel", body);
            prop_assert!(!status.is_server_error(), "cancel: {status}");
            Ok(())
        })
        .unwrap();
    // the generator does reach the accepting side too
    assert!(app.jobs() > 0, "no generated body was a valid submission");
}

#[test]
fn configuration_files_parse_or_say_why_and_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases() * 2,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let lines: Vec<&str> = EMBEDDED_DEFAULTS.lines().collect();
    // the shipped file with lines dropped, duplicated, cut or replaced
    let strategy = (
        prop::collection::vec((0..lines.len(), 0u8..4, ".{0,30}"), 0..8),
        prop::option::of("[a-z_.]{1,20} = .{0,30}"),
    );
    runner
        .run(&strategy, |(edits, extra)| {
            let mut text: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            for (at, kind, junk) in edits {
                if text.is_empty() {
                    break;
                }
                let at = at.min(text.len() - 1);
                match kind {
                    0 => {
                        text.remove(at);
                    }
                    1 => {
                        let line = text[at].clone();
                        text.insert(at, line);
                    }
                    2 => {
                        let cut = text[at].chars().take(junk.len()).collect();
                        text[at] = cut;
                    }
                    _ => text[at] = junk,
                }
            }
            if let Some(extra) = extra {
                text.push(extra);
            }
            let text = text.join("\n");
            // must not panic; an error says what is wrong
            if let Err(err) = Settings::from_toml(&text) {
                prop_assert!(!err.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
    // and arbitrary text
    runner
        .run(&".{0,400}", |text| {
            let _ = Settings::from_toml(&text);
            Ok(())
        })
        .unwrap();
}

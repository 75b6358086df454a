//! Supervision of the background tasks (dispatchers, watchers, relay): a task
//! that panics is logged, counted, shown on `/readyz`, and started again with
//! a capped backoff, so one bad pass never stops the work for good.
//!
//! Test hook: `HORIZON_TEST_PANIC_TASKS=dispatcher,watcher,relay` makes each
//! named task panic once, at its first start, so the tests can see the
//! supervision work. It is read once at start-up and does nothing unset.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::telemetry::TASK_PANICS;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A task's health, for `/readyz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskState {
    pub restarts: u64,
    pub last_panic: Option<String>,
    /// RFC 3339
    pub last_panic_at: Option<String>,
}

#[derive(Debug, Default)]
pub struct TaskHealth {
    tasks: Mutex<BTreeMap<String, TaskState>>,
    inject: Mutex<HashSet<String>>,
}

impl TaskHealth {
    pub fn new() -> Self {
        let inject = std::env::var("HORIZON_TEST_PANIC_TASKS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        TaskHealth {
            tasks: Mutex::new(BTreeMap::new()),
            inject: Mutex::new(inject),
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, TaskState> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True when any task has ever panicked in this process.
    pub fn degraded(&self) -> bool {
        self.snapshot().values().any(|t| t.restarts > 0)
    }

    fn register(&self, name: &str) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_default();
    }

    fn panicked(&self, name: &str, message: String) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let state = tasks.entry(name.to_owned()).or_default();
        state.restarts += 1;
        state.last_panic = Some(message);
        state.last_panic_at = Some(horizon_core::timestamp::format(OffsetDateTime::now_utc()));
    }

    /// The test hook: true once for a task named in HORIZON_TEST_PANIC_TASKS.
    fn inject_panic(&self, kind: &str) -> bool {
        self.inject
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(kind)
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Run `make()` as task `name` (of kind `kind`, the test hook's name), and
/// again after every panic. Returns when the task returns by itself.
pub fn supervise<F, Fut>(
    health: Arc<TaskHealth>,
    kind: &'static str,
    name: String,
    make: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    health.register(&name);
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let run = make();
            let inject = health.inject_panic(kind);
            let result = tokio::spawn(async move {
                if inject {
                    panic!("injected by HORIZON_TEST_PANIC_TASKS");
                }
                run.await;
            })
            .await;
            match result {
                Ok(()) => return,
                Err(err) if err.is_panic() => {
                    let message = panic_message(err.into_panic().as_ref());
                    error!(task = %name, "background task {name} panicked, restarting it in {backoff:?}: {message}");
                    metrics::counter!(TASK_PANICS, "task" => kind).increment(1);
                    health.panicked(&name, message);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    info!(task = %name, "restarting background task {name}");
                }
                Err(_cancelled) => return,
            }
        }
    })
}

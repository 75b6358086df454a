//! A takeover in the middle of a pass of submissions to a scheduler
//! (Slurm, Tapis): the dispatching process dies (abort, as a SIGKILL would
//! leave it) right after the scheduler accepted its N-th job; a process
//! with a data directory of its own, on the same PostgreSQL database, takes
//! its jobs over.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Server, ServerOptions, TestDatabase};

pub struct Takeover {
    pub first: Server,
    pub second: Server,
    pub ids: Vec<String>,
    /// Submissions the scheduler had when the first process died.
    pub before: usize,
    pub _db: TestDatabase,
}

/// Submit `jobs` jobs of `agent` to a first process that aborts after its
/// `jobs / 3`-th submission (`crash_var`), then start a second process and
/// wait until every job ended. `in_scheduler(id)`: how many jobs the
/// scheduler has for a Horizon job.
pub async fn mid_pass(
    options: ServerOptions,
    crash_var: &str,
    agent: &str,
    params: Value,
    jobs: usize,
    in_scheduler: impl Fn(&str) -> usize,
) -> Takeover {
    let db = TestDatabase::create();
    let options = ServerOptions {
        database_url: Some(db.url.clone()),
        ..options
    };
    let mut env = options.env.clone();
    env.push((crash_var.to_owned(), (jobs / 3).to_string()));
    let mut first = Server::start_with(ServerOptions {
        env,
        ..options.clone()
    })
    .await;
    let token = first.token("alice", false);
    let alice = first.client(&token);
    let submits: Vec<_> = (0..jobs)
        .map(|_| {
            let (alice, agent, params) = (alice.clone(), agent.to_owned(), params.clone());
            tokio::spawn(async move { alice.submit(&agent, params).await })
        })
        .collect();
    let mut ids = Vec::new();
    for submit in submits {
        // (the process may die before it answers the last ones)
        if let Ok(job) = submit.await
            && let Some(id) = job["id"].as_str()
        {
            ids.push(id.to_owned());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while first
        .http
        .get(format!("{}/healthz", first.url))
        .send()
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the first process did not die after its submissions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill9();
    let before: usize = ids.iter().map(|id| in_scheduler(id)).sum();
    assert!(before >= jobs / 3, "{before} submissions before the crash");
    // another process, its own data directory, the same database
    let mut options = options;
    options.env.retain(|(k, _)| k != crash_var);
    let second = Server::start_with(options).await;
    let alice = second.client(&token);
    for id in &ids {
        let done = alice.wait_for(id, None, Duration::from_secs(180)).await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
    }
    Takeover {
        first,
        second,
        ids,
        before,
        _db: db,
    }
}

impl Takeover {
    /// Every job exists once in the scheduler (`ids_of`), is recorded with
    /// that id, and its program ran once.
    pub async fn assert_each_once(&self, ids_of: impl Fn(&str) -> Vec<String>) {
        let token = self.second.token("alice", false);
        let alice = self.second.client(&token);
        let mut twice = Vec::new();
        for id in &self.ids {
            let found = ids_of(id);
            if found.len() != 1 {
                twice.push((id.clone(), found));
                continue;
            }
            let done = alice.job(id).await;
            assert_eq!(done["remote_job_id"], found[0], "{done}");
            assert_eq!(
                self.first.runs_of(id) + self.second.runs_of(id),
                1,
                "job {id} ran once"
            );
        }
        assert!(
            twice.is_empty(),
            "{} of {} jobs are in the scheduler more than once after the takeover: {twice:?}",
            twice.len(),
            self.ids.len()
        );
        eprintln!(
            "takeover mid-pass: {} jobs, {} submitted before the crash, each in the scheduler once",
            self.ids.len(),
            self.before
        );
    }
}

/// Parameters for a short job.
pub fn quick() -> Value {
    json!({"seconds": 0.1})
}

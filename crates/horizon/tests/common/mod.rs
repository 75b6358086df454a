//! The end-to-end harness: a real `horizon serve` process on a free port with
//! its own data directory, real HTTP, and the event checks every test shares.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

pub mod kafka;
pub mod kafka_setup;
pub mod proxy;
pub mod slurm;
pub mod sse;
pub mod sweep;
pub mod takeover;
pub mod tapis;

/// The lifecycle events of a job that ran and completed.
pub const COMPLETED_LIFE: &[&str] = &[
    "job.submitted",
    "job.queued",
    "job.running",
    "job.completed",
];

pub const BIN: &str = env!("CARGO_BIN_EXE_horizon");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `horizon serve`.
pub struct Server {
    child: Option<Child>,
    pub dir: TempDir,
    pub port: u16,
    pub url: String,
    pub http: reqwest::Client,
    config: PathBuf,
    extra_env: Vec<(String, String)>,
    /// Dropped after the server: its database, when on PostgreSQL.
    _postgres: Option<TestDatabase>,
}

/// A PostgreSQL database of one test's own (`HORIZON_TEST_POSTGRES_URL`,
/// default the machine's server at 127.0.0.1:5432), dropped after it.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let admin_url = std::env::var("HORIZON_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("horizon_e2e_{}", uuid::Uuid::now_v7().simple());
        let out = Command::new("psql")
            .arg(&admin_url)
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql (PostgreSQL's client) is needed for HORIZON_TEST_STORE=postgres");
        assert!(
            out.status.success(),
            "cannot create a test database: {out:?}"
        );
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        TestDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin_url)
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// Options a test may change; every field has a default.
#[derive(Clone)]
pub struct ServerOptions {
    pub slots: usize,
    pub cancel_grace_ms: u64,
    pub metrics_interval_ms: u64,
    pub extra_toml: String,
    pub env: Vec<(String, String)>,
    /// `[local] run_as`
    pub run_as: Option<String>,
    /// A database to share with other servers (else SQLite, or a PostgreSQL
    /// database of this server's own with HORIZON_TEST_STORE=postgres).
    pub database_url: Option<String>,
    /// `[local] jobs_dir`, to share with other servers on this machine.
    pub jobs_dir: Option<PathBuf>,
    /// `[dispatch] max_attempts` (3 here: tests fail fast; 0: only the
    /// time-out counts, as in production).
    pub dispatch_max_attempts: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            slots: 4,
            cancel_grace_ms: 3000,
            metrics_interval_ms: 300,
            extra_toml: String::new(),
            env: Vec::new(),
            run_as: None,
            database_url: None,
            jobs_dir: None,
            dispatch_max_attempts: 3,
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(options: ServerOptions) -> Server {
        let dir = tempfile::tempdir().unwrap();
        // HORIZON_TEST_STORE=postgres: the server on a PostgreSQL database of its own
        let postgres = (options.database_url.is_none()
            && std::env::var("HORIZON_TEST_STORE").as_deref() == Ok("postgres"))
        .then(TestDatabase::create);
        let port = free_port();
        let agent = repo_root().join("crates/horizon/tests/agents/testagent.py");
        let agent = agent.display();
        let runs = dir.path().join("runs");
        std::fs::create_dir_all(&runs).unwrap();
        let mut toml = format!(
            r#"
bind = "127.0.0.1:{port}"
data_dir = "{data}"
{database}

[agents.ok]
backend = "local"
program = "python3"
args = ["{agent}", "ok"]
env = {{ HORIZON_TEST_RUNS_DIR = "{runs}" }}

[agents.fail]
backend = "local"
program = "python3"
args = ["{agent}", "fail"]
env = {{ HORIZON_TEST_RUNS_DIR = "{runs}" }}

[agents.sleep]
backend = "local"
program = "python3"
args = ["{agent}", "sleep"]
env = {{ HORIZON_TEST_RUNS_DIR = "{runs}" }}

[agents.chatty]
backend = "local"
description = "prints numbered lines"
parameters = {{ lines = "how many lines", interval = "seconds between them" }}
program = "python3"
args = ["{agent}", "chatty"]
env = {{ HORIZON_TEST_RUNS_DIR = "{runs}" }}
max_resources = {{ walltime_minutes = 30 }}

[agents.hog]
backend = "local"
program = "python3"
args = ["{agent}", "hog"]
env = {{ HORIZON_TEST_RUNS_DIR = "{runs}" }}

[agents.echo]
backend = "local"
program = "python3"
args = ["{agent}", "echo", "$(touch {canary})", "; rm -rf /", "'quoted' \"double\""]
env = {{ HORIZON_TEST_RUNS_DIR = "{runs}" }}

[local]
slots = {slots}
poll_interval_ms = 100
metrics_interval_ms = {metrics}
cancel_grace_ms = {grace}
{run_as}
{jobs_dir}

[dispatch]
max_attempts = {max_attempts}
initial_backoff_ms = 50
max_backoff_ms = 200
"#,
            max_attempts = options.dispatch_max_attempts,
            data = dir.path().join("data").display(),
            database = options
                .database_url
                .clone()
                .or_else(|| postgres.as_ref().map(|db| db.url.clone()))
                .map(|url| format!("database_url = \"{url}\""))
                .unwrap_or_default(),
            canary = dir.path().join("canary-args").display(),
            runs = runs.display(),
            slots = options.slots,
            metrics = options.metrics_interval_ms,
            grace = options.cancel_grace_ms,
            jobs_dir = options
                .jobs_dir
                .as_ref()
                .map(|d| format!("jobs_dir = \"{}\"", d.display()))
                .unwrap_or_default(),
            run_as = options
                .run_as
                .as_ref()
                .map(|u| format!("run_as = \"{u}\""))
                .unwrap_or_default(),
        );
        // `{runs}` in the extra configuration: this server's runs directory
        toml.push_str(
            &options
                .extra_toml
                .replace("{runs}", &runs.display().to_string()),
        );
        let config = dir.path().join("horizon.toml");
        std::fs::write(&config, toml).unwrap();
        let mut env = options.env.clone();
        env.push(("HORIZON_TEST_RUNS_DIR".into(), runs.display().to_string()));
        let mut server = Server {
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            http: reqwest::Client::new(),
            config,
            extra_env: env,
            _postgres: postgres,
        };
        server.spawn().await;
        server
    }

    /// The configuration file the server runs with (tests may rewrite it
    /// before a restart).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Run one SQL statement on the server's database, behind its back
    /// (SQLite through python3's sqlite3, PostgreSQL through psql).
    pub fn sql(&self, statement: &str) {
        let status = match &self._postgres {
            Some(db) => Command::new("psql")
                .arg(&db.url)
                .args(["-v", "ON_ERROR_STOP=1", "-qc", statement])
                .status()
                .unwrap(),
            None => Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
                ])
                .arg(self.data_dir().join("horizon.db"))
                .arg(statement)
                .status()
                .unwrap(),
        };
        assert!(status.success(), "{statement}");
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.data_dir().join("jobs").join(id)
    }

    /// How many times the job's program really started.
    pub fn runs_of(&self, id: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join("runs").join(id))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut command = Command::new(BIN);
        for (key, _) in std::env::vars() {
            if key.starts_with("HORIZON_") {
                command.env_remove(key);
            }
        }
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .current_dir(repo_root())
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info,horizon_server=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not become ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// SIGKILL the server, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> nix::unistd::Pid {
        let child = self.child.as_ref().expect("server running");
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap())
    }

    /// Wait for the server to exit by itself (after a signal the test sent).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.take().expect("server running").wait().unwrap()
    }

    /// SIGTERM the server, as an operator's stop would, and wait for it to exit.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        child.wait().unwrap()
    }

    /// Drop an environment variable the server was started with (before
    /// `start_again`).
    pub fn remove_env(&mut self, key: &str) {
        self.extra_env.retain(|(k, _)| k != key);
    }

    /// Start the server again (after `kill9` or `sigterm`).
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        self.spawn().await;
    }

    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    /// `horizon token create` against this server's database.
    pub fn token(&self, user: &str, admin: bool) -> String {
        let mut command = Command::new(BIN);
        command
            .args(["token", "create", "--user", user])
            .arg("--config")
            .arg(&self.config);
        if admin {
            command.arg("--admin");
        }
        let out = command.stderr(Stdio::inherit()).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// GET an unauthenticated route's body as text (`/metrics`, `/readyz`, …).
    pub async fn get_text(&self, path: &str) -> String {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    }

    /// `/readyz`'s answer.
    pub async fn readyz(&self) -> Value {
        self.http
            .get(format!("{}/readyz", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The value of one unlabelled Prometheus sample (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get_text("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    pub fn client(&self, token: &str) -> Api {
        Api {
            http: self.http.clone(),
            url: self.url.clone(),
            token: token.to_owned(),
        }
    }

    /// A user with a fresh token.
    pub fn user(&self, name: &str) -> Api {
        self.client(&self.token(name, false))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        // cancel whatever this server left in Slurm
        if let Ok(entries) = std::fs::read_dir(self.data_dir().join("slurm-state")) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".submitted")
                    && let Ok(remote) = std::fs::read_to_string(entry.path())
                    && !remote.trim().is_empty()
                {
                    let _ = Command::new("scancel").arg(remote.trim()).output();
                }
            }
        }
        // end any job still running under this server
        if let Ok(entries) = std::fs::read_dir(self.data_dir().join("jobs")) {
            for entry in entries.flatten() {
                if let Ok(pid) = std::fs::read_to_string(entry.path().join("supervisor.pid"))
                    && let Ok(pid) = pid.trim().parse::<i32>()
                {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// A user's view of the API.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl Api {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    pub async fn submit(&self, agent: &str, params: Value) -> Value {
        let r = self
            .request(Method::POST, "/v1/jobs")
            .json(&json!({"agent": agent, "dataset_id": "ds-1", "parameters": params}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    pub async fn job(&self, id: &str) -> Value {
        let r = self
            .request(Method::GET, &format!("/v1/jobs/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// A job's events as the API returns them. Each event's exact bytes are
    /// also remembered (see [`api_raw`]), for byte-for-byte comparisons.
    pub async fn events(&self, id: &str) -> Vec<Value> {
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            events: Vec<&'a serde_json::value::RawValue>,
        }
        let r = self
            .request(Method::GET, &format!("/v1/jobs/{id}/events?limit=10000"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        let page: Page = serde_json::from_str(&text).unwrap();
        let mut raws = API_RAW.lock().unwrap();
        page.events
            .iter()
            .map(|raw| {
                let value: Value = serde_json::from_str(raw.get()).unwrap();
                raws.insert(
                    value["event_id"].as_str().unwrap().to_owned(),
                    raw.get().to_owned(),
                );
                value
            })
            .collect()
    }

    pub async fn cancel(&self, id: &str, reason: &str) -> Response {
        self.request(Method::POST, &format!("/v1/jobs/{id}/cancel"))
            .json(&json!({"reason": reason}))
            .send()
            .await
            .unwrap()
    }

    /// Wait until the job reaches `status` (or any terminal status if None).
    pub async fn wait_for(&self, id: &str, status: Option<&str>, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.job(id).await;
            let current = job["status"].as_str().unwrap().to_owned();
            let done = match status {
                Some(s) => current == s,
                None => matches!(current.as_str(), "COMPLETED" | "FAILED" | "CANCELLED"),
            };
            if done {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} stuck in {current}, wanted {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

static API_RAW: std::sync::Mutex<std::collections::BTreeMap<String, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The exact bytes the API returned for an event (fetched through [`Api::events`]).
pub fn api_raw(event_id: &str) -> String {
    API_RAW
        .lock()
        .unwrap()
        .get(event_id)
        .cloned()
        .unwrap_or_else(|| panic!("event {event_id} was never read through the API"))
}

/// Every event validates against its schema in `schemas/`.
pub fn assert_valid_events(events: &[Value]) {
    for event in events {
        let event_type = event["event_type"].as_str().expect("event_type");
        let path = repo_root()
            .join("schemas")
            .join(format!("{event_type}.json"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{event_type} does not match {}: {errors:?}\n{event}",
            path.display()
        );
    }
}

/// The job's lifecycle events are exactly `expected`, numbered 1..n, with
/// previous_status chaining; its metrics events are numbered 1..m; every
/// event validates against its schema and names the job.
pub fn assert_lifecycle(job_id: &str, events: &[Value], expected: &[&str]) {
    assert_valid_events(events);
    let lifecycle: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] != "job.metrics_recorded")
        .collect();
    let types: Vec<&str> = lifecycle
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, expected, "event types of job {job_id}");
    let mut previous: Option<&str> = None;
    for (i, event) in lifecycle.iter().enumerate() {
        assert_eq!(event["job_id"], job_id);
        assert_eq!(event["sequence"], json!(i + 1), "sequence of {event}");
        assert_eq!(
            event["previous_status"].as_str(),
            previous,
            "previous_status of {event}"
        );
        previous = event["status"].as_str();
    }
    let metrics: Vec<u64> = events
        .iter()
        .filter(|e| e["event_type"] == "job.metrics_recorded")
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        metrics,
        (1..=metrics.len() as u64).collect::<Vec<_>>(),
        "metrics sequences"
    );
}

pub fn payload<'a>(events: &'a [Value], event_type: &str) -> &'a Value {
    &events
        .iter()
        .find(|e| e["event_type"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type}"))["payload"]
}

pub fn pid_alive(pid: i32) -> bool {
    // a zombie still has a /proc entry; read its state
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

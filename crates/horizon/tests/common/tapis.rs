//! A Tapis-compatible HTTP server for the Tapis backend's tests, written
//! from Tapis's published API and from how the service really behaves
//! (`../shared/TAPIS.md`): password-grant tokens at `/v3/oauth2/tokens`
//! (200, not 201), `X-Tapis-Token` on every Jobs call with **plain-text**
//! 401s, the `{status, message, result, version, metadata}` envelope, submit
//! answering 200 with the whole Job, `parameterSet` held as a JSON string,
//! job uuids ending in `-007`, cancel asynchronous (409 once terminal), 500
//! for an unknown uuid on GET, and statuses moving
//! PENDING → PROCESSING_INPUTS → … → QUEUED → RUNNING → ARCHIVING → FINISHED.
//!
//! A job's application decides its course: `horizon-ok`, `horizon-fail`
//! (FAILED / JOB_REMOTE_OUTCOME_ERROR, exit 3), `horizon-sleep` (RUNNING
//! until cancelled), `horizon-queued` (QUEUED until cancelled),
//! `horizon-block` (BLOCKED until the test releases it), `horizon-odd` (an
//! unknown status on the way), `horizon-flaky` (its first attempt —
//! `HORIZON_ATTEMPT` 1 — FAILED / SCHEDULER_OUT_OF_MEMORY, later ones as
//! `horizon-ok`). Entering RUNNING appends a line to
//! `$HORIZON_TEST_RUNS_DIR/$HORIZON_JOB_ID` (from the job's envVariables),
//! so tests count real runs.
//!
//! A service account (`SERVICE`) gets its token from the Tokens API
//! (`POST /v3/tokens`, HTTP Basic) and must then say whom each call acts
//! for (`X-Tapis-User`, `X-Tapis-Tenant`: plain-text 401
//! `TAPIS_SECURITY_MISSING_HEADER` without them); a job belongs to the user
//! who made it, and only that user sees it (search) or reaches it (403).
//!
//! Tests can expire every token, make the next
//! requests fail with 503, or make a submission fail with 502 *after* the
//! job was created.
#![allow(dead_code, clippy::unwrap_used, clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

const STEP: Duration = Duration::from_millis(120);

#[derive(Debug, Clone)]
struct FakeJob {
    uuid: String,
    name: String,
    app_id: String,
    app_version: String,
    plan: Vec<(&'static str, Option<&'static str>)>,
    at: usize,
    next_at: Instant,
    released: bool,
    cancelled: bool,
    created: String,
    remote_started: Option<String>,
    ended: Option<String>,
    last_message: String,
    remote_result_info: Option<String>,
    env: Vec<(String, String)>,
    body: Value,
    /// The user who made it.
    owner: String,
}

#[derive(Debug, Clone)]
struct Issued {
    expiry: Instant,
    user: String,
    service: bool,
}

#[derive(Debug, Default)]
struct Fake {
    tokens: HashMap<String, Issued>,
    issued: u64,
    token_ttl_secs: u64,
    logins: u32,
    jobs: BTreeMap<String, FakeJob>,
    fail_next: u32,
    fail_submit_after_create: u32,
    /// What a failed submission answers (default 502).
    submit_failure: Option<StatusCode>,
    /// Submissions refused before anything is created (status, how many).
    refuse_submits: Option<(StatusCode, u32)>,
    cancels: Vec<String>,
}

fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn envelope(status: StatusCode, ok: bool, message: &str, result: Value) -> Response {
    (
        status,
        Json(json!({
            "result": result,
            "status": if ok { "success" } else { "error" },
            "message": message,
            "version": "1.8.5",
            "commit": "fake",
            "build": "fake",
            "metadata": null,
        })),
    )
        .into_response()
}

fn plan_of(app: &str) -> Vec<(&'static str, Option<&'static str>)> {
    plan(app).unwrap_or_default()
}

fn plan(app: &str) -> Option<Vec<(&'static str, Option<&'static str>)>> {
    let start = vec![
        ("PENDING", None),
        ("PROCESSING_INPUTS", None),
        ("STAGING_INPUTS", None),
        ("STAGING_JOB", None),
        ("SUBMITTING_JOB", None),
        ("QUEUED", None),
    ];
    let tail: Vec<(&'static str, Option<&'static str>)> = match app {
        "horizon-ok" => vec![
            ("RUNNING", None),
            ("ARCHIVING", None),
            ("FINISHED", Some("NORMAL_COMPLETION")),
        ],
        "horizon-fail" => vec![
            ("RUNNING", None),
            ("ARCHIVING", None),
            ("FAILED", Some("JOB_REMOTE_OUTCOME_ERROR")),
        ],
        "horizon-flaky" => vec![
            ("RUNNING", None),
            ("FAILED", Some("SCHEDULER_OUT_OF_MEMORY")),
        ],
        "horizon-sleep" => vec![("RUNNING", None)],
        "horizon-queued" => vec![],
        "horizon-block" => vec![
            ("BLOCKED", None),
            ("RUNNING", None),
            ("ARCHIVING", None),
            ("FINISHED", Some("NORMAL_COMPLETION")),
        ],
        "horizon-odd" => vec![
            ("MIGRATING_TO_NEW_CLUSTER", None),
            ("RUNNING", None),
            ("FINISHED", Some("NORMAL_COMPLETION")),
        ],
        _ => return None,
    };
    Some(start.into_iter().chain(tail).collect())
}

impl FakeJob {
    fn status(&self) -> &'static str {
        self.plan[self.at].0
    }

    fn terminal(&self) -> bool {
        matches!(self.status(), "FINISHED" | "FAILED" | "CANCELLED")
    }

    /// Move along the plan as time passes (a BLOCKED step waits for release).
    fn advance(&mut self) {
        if self.cancelled && !self.terminal() {
            self.plan.push(("CANCELLED", Some("CANCELLED_BY_USER")));
            self.at = self.plan.len() - 1;
            self.ended = Some(now_text());
            self.last_message = "Setting job status to CANCELLED.".to_owned();
            return;
        }
        while !self.terminal()
            && self.at + 1 < self.plan.len()
            && Instant::now() >= self.next_at
            && (self.status() != "BLOCKED" || self.released)
        {
            self.at += 1;
            self.next_at = Instant::now() + STEP;
            self.last_message = format!("Setting job status to {}.", self.status());
            match self.status() {
                "RUNNING" if self.remote_started.is_none() => {
                    self.remote_started = Some(now_text());
                    self.record_run();
                }
                "FINISHED" => {
                    self.remote_result_info = Some("0".to_owned());
                    self.ended = Some(now_text());
                }
                "FAILED" => {
                    self.remote_result_info = Some("3".to_owned());
                    self.ended = Some(now_text());
                    self.last_message =
                        "JOBS_USER_APP_FAILURE The user application (horizon-fail) ended with remote status \"FAILED\" and returned exit code: 3".to_owned();
                }
                "BLOCKED" => {
                    self.last_message =
                        "JOBS_QUOTA_EXCEEDED The application's maximum number of jobs has been reached".to_owned();
                }
                _ => {}
            }
        }
    }

    fn record_run(&self) {
        let get = |key: &str| {
            self.env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        if let (Some(dir), Some(id)) = (get("HORIZON_TEST_RUNS_DIR"), get("HORIZON_JOB_ID")) {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(std::path::Path::new(&dir).join(id))
            {
                let _ = writeln!(f, "tapis {}", self.uuid);
            }
        }
    }

    fn to_json(&self) -> Value {
        let (status, condition) = self.plan[self.at];
        json!({
            "id": 1, "name": self.name, "owner": self.owner, "tenant": "tacc",
            "description": self.body["description"], "status": status, "condition": condition,
            "lastMessage": self.last_message, "created": self.created, "ended": self.ended,
            "lastUpdated": now_text(), "uuid": self.uuid, "appId": self.app_id,
            "appVersion": self.app_version, "execSystemId": "frontera",
            "nodeCount": self.body.get("nodeCount").cloned().unwrap_or(json!(1)),
            "coresPerNode": self.body.get("coresPerNode").cloned().unwrap_or(json!(1)),
            "memoryMB": self.body.get("memoryMB").cloned().unwrap_or(json!(100)),
            "maxMinutes": self.body.get("maxMinutes").cloned().unwrap_or(json!(10)),
            // JSON held in strings, as the service sends them
            "fileInputs": "[]",
            "parameterSet": self.body.get("parameterSet").map(|p| p.to_string()).unwrap_or_else(|| "{}".to_owned()),
            "subscriptions": "[]", "execSystemConstraints": null,
            "blockedCount": 0, "remoteJobId": "4711", "remoteOutcome": null,
            "remoteResultInfo": self.remote_result_info, "remoteQueue": "normal",
            "remoteSubmitted": self.remote_started, "remoteStarted": self.remote_started,
            "remoteEnded": self.ended, "tags": self.body.get("tags").cloned().unwrap_or(json!([])),
            "jobType": "BATCH", "isMpi": false, "visible": true,
        })
    }
}

type Shared = Arc<Mutex<Fake>>;

/// The running fake.
pub struct FakeTapis {
    pub url: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

pub const USER: &str = "gateway";
pub const PASSWORD: &str = "s3cret";
/// A Tapis service account that may act for users.
pub const SERVICE: &str = "horizon-svc";
pub const SERVICE_PASSWORD: &str = "svc-s3cret";
pub const TENANT: &str = "tacc";

impl FakeTapis {
    pub async fn start() -> FakeTapis {
        let state: Shared = Arc::new(Mutex::new(Fake {
            token_ttl_secs: 14_400,
            ..Fake::default()
        }));
        let app = axum::Router::new()
            .route("/v3/oauth2/tokens", post(tokens))
            .route("/v3/tokens", post(service_tokens))
            .route("/v3/jobs/submit", post(submit))
            .route("/v3/jobs/search", get(search))
            .route("/v3/jobs/{uuid}", get(get_job))
            .route("/v3/jobs/{uuid}/status", get(get_status))
            .route("/v3/jobs/{uuid}/cancel", post(cancel))
            .route("/v3/jobs/{uuid}/output/download/{*path}", get(download))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeTapis { url, state, task }
    }

    /// `[tapis]` for a Horizon server using this fake.
    pub fn toml(&self) -> String {
        format!(
            "\n[tapis]\nbase_url = \"{}\"\nusername = \"{USER}\"\npoll_interval_ms = 150\nretry_backoff_ms = 50\nrequest_timeout_ms = 5000\n",
            self.url
        )
    }

    /// Every token issued so far stops working (as at the end of its TTL).
    pub fn expire_tokens(&self) {
        let mut fake = self.state.lock().unwrap();
        let past = Instant::now() - Duration::from_secs(1);
        for issued in fake.tokens.values_mut() {
            issued.expiry = past;
        }
    }

    /// The next `n` Jobs requests answer 503 (a proxy's HTML page).
    pub fn fail_next(&self, n: u32) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// The next `n` submissions create their job, then answer 502.
    pub fn fail_submit_after_create(&self, n: u32) {
        self.state.lock().unwrap().fail_submit_after_create = n;
    }

    /// The next `n` submissions create their job, then answer `status`
    /// (a gateway's 408 or 429 after the job was made).
    pub fn fail_submit_after_create_with(&self, n: u32, status: StatusCode) {
        let mut fake = self.state.lock().unwrap();
        fake.fail_submit_after_create = n;
        fake.submit_failure = Some(status);
    }

    /// The next `n` submissions are refused with `status` (429: too many
    /// requests) before anything is created.
    pub fn refuse_submits(&self, n: u32, status: StatusCode) {
        self.state.lock().unwrap().refuse_submits = Some((status, n));
    }

    /// Let a BLOCKED job go on.
    pub fn release(&self, uuid: &str) {
        if let Some(job) = self.state.lock().unwrap().jobs.get_mut(uuid) {
            job.released = true;
        }
    }

    /// Cancel a job as someone else would (the Tapis UI, another client).
    pub fn cancel_outside(&self, uuid: &str) {
        if let Some(job) = self.state.lock().unwrap().jobs.get_mut(uuid) {
            job.cancelled = true;
        }
    }

    pub fn logins(&self) -> u32 {
        self.state.lock().unwrap().logins
    }

    /// Jobs created, by Horizon job id (their Tapis `name`).
    pub fn jobs_named(&self, name: &str) -> Vec<String> {
        let fake = self.state.lock().unwrap();
        fake.jobs
            .values()
            .filter(|j| j.name == name)
            .map(|j| j.uuid.clone())
            .collect()
    }

    pub fn status(&self, uuid: &str) -> Option<String> {
        let mut fake = self.state.lock().unwrap();
        let job = fake.jobs.get_mut(uuid)?;
        job.advance();
        Some(job.status().to_owned())
    }

    /// The Tapis user a job belongs to.
    pub fn owner(&self, uuid: &str) -> String {
        self.state.lock().unwrap().jobs[uuid].owner.clone()
    }

    /// The submission body Tapis received for a job.
    pub fn body(&self, uuid: &str) -> Value {
        self.state.lock().unwrap().jobs[uuid].body.clone()
    }

    pub fn cancel_requests(&self) -> Vec<String> {
        self.state.lock().unwrap().cancels.clone()
    }
}

impl Drop for FakeTapis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tokens(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut fake = state.lock().unwrap();
    if body["grant_type"] != "password" {
        return envelope(
            StatusCode::BAD_REQUEST,
            false,
            "Invalid grant_type.",
            Value::Null,
        );
    }
    if body["username"] != USER || body["password"] != PASSWORD {
        return envelope(
            StatusCode::BAD_REQUEST,
            false,
            "Invalid username/password combination.",
            Value::Null,
        );
    }
    issue(&mut fake, USER, false)
}

/// A new token for `user`: the Authenticator's answer.
fn issue(fake: &mut Fake, user: &str, service: bool) -> Response {
    fake.issued += 1;
    fake.logins += 1;
    let token = format!("eyJfake.{}.{}", fake.issued, uuid::Uuid::now_v7().simple());
    let ttl = fake.token_ttl_secs;
    fake.tokens.insert(
        token.clone(),
        Issued {
            expiry: Instant::now() + Duration::from_secs(ttl),
            user: user.to_owned(),
            service,
        },
    );
    // 200, although the OpenAPI document says 201
    envelope(
        StatusCode::OK,
        true,
        "Token created successfully.",
        json!({"access_token": {"access_token": token, "expires_in": ttl,
               "expires_at": "2030-01-01T00:00:00.000000+00:00", "jti": "x"}}),
    )
}

/// The Tokens API: a service's token, for the service's own password as
/// HTTP Basic.
async fn service_tokens(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    use base64::Engine as _;
    let mut fake = state.lock().unwrap();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{SERVICE}:{SERVICE_PASSWORD}"));
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Basic {basic}"));
    if !authorized {
        return envelope(
            StatusCode::UNAUTHORIZED,
            false,
            "Invalid service credentials.",
            Value::Null,
        );
    }
    if body["account_type"] != "service"
        || body["token_username"] != SERVICE
        || body["token_tenant_id"] != TENANT
    {
        return envelope(
            StatusCode::BAD_REQUEST,
            false,
            &format!("Invalid token request: {body}"),
            Value::Null,
        );
    }
    issue(&mut fake, SERVICE, true)
}

/// Whom the call acts for: the token's user, or for a service's token the
/// `X-Tapis-User` it must name.
fn acting_for(issued: &Issued, headers: &HeaderMap) -> Result<String, Response> {
    if !issued.service {
        return Ok(issued.user.clone());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (header("x-tapis-user"), header("x-tapis-tenant")) {
        (Some(user), Some(TENANT)) if !user.is_empty() => Ok(user.to_owned()),
        _ => Err((
            StatusCode::UNAUTHORIZED,
            "TAPIS_SECURITY_MISSING_HEADER A service JWT must be accompanied by the X-Tapis-User and X-Tapis-Tenant headers.",
        )
            .into_response()),
    }
}

/// A job another user made: out of reach.
fn not_yours(uuid: &str, user: &str) -> Response {
    envelope(
        StatusCode::FORBIDDEN,
        false,
        &format!(
            "JOBS_MISMATCHED_OWNER Job {uuid} is not owned by user {user} in tenant {TENANT}."
        ),
        Value::Null,
    )
}

/// Check the token (plain-text 401s, as the service sends) and the
/// injected failures; whom the call acts for, or `Err`: the answer to give
/// instead.
fn gate(fake: &mut Fake, headers: &HeaderMap) -> Result<String, Response> {
    if fake.fail_next > 0 {
        fake.fail_next -= 1;
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        )
            .into_response());
    }
    let Some(token) = headers.get("x-tapis-token").and_then(|v| v.to_str().ok()) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "TAPIS_SECURITY_MISSING_JWT_INFO HTTP GET request rejected due to missing JSON Web Token information.",
        )
            .into_response());
    };
    match fake.tokens.get(token) {
        Some(issued) if Instant::now() < issued.expiry => acting_for(issued, headers),
        Some(_) => Err((
            StatusCode::UNAUTHORIZED,
            "TAPIS_SECURITY_JWT_EXPIRED Exception message: JWT expired at 2026-11-29T08:51:38Z. Current time: 2026-11-29T12:06:54Z, a difference of 11716617 milliseconds. Allowed clock skew: 0 milliseconds.",
        )
            .into_response()),
        None => Err((
            StatusCode::UNAUTHORIZED,
            "TAPIS_SECURITY_JWT_PARSE_ERROR Unable to parse JWT. Error: bad token",
        )
            .into_response()),
    }
}

async fn submit(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut fake = state.lock().unwrap();
    let user = match gate(&mut fake, &headers) {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let (Some(name), Some(app_id), Some(app_version)) = (
        body["name"].as_str(),
        body["appId"].as_str(),
        body["appVersion"].as_str(),
    ) else {
        return envelope(
            StatusCode::BAD_REQUEST,
            false,
            "NET_INVALID_JSON_INPUT JSON validation error on job submission request: required key [name, appId, appVersion] not found",
            Value::Null,
        );
    };
    let Some(plan) = plan(app_id) else {
        return envelope(
            StatusCode::BAD_REQUEST,
            false,
            &format!(
                "JOBS_APP_NOT_FOUND Application {app_id} version {app_version} not found or not available."
            ),
            Value::Null,
        );
    };
    let env: Vec<(String, String)> = body["parameterSet"]["envVariables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            Some((
                kv["key"].as_str()?.to_owned(),
                kv["value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let attempt = env
        .iter()
        .find(|(k, _)| k == "HORIZON_ATTEMPT")
        .map(|(_, v)| v.as_str());
    let plan = match (app_id, attempt) {
        ("horizon-flaky", Some(attempt)) if attempt != "1" => plan_of("horizon-ok"),
        _ => plan,
    };
    if let Some((status, n)) = fake.refuse_submits
        && n > 0
    {
        fake.refuse_submits = Some((status, n - 1));
        return (status, "Too Many Requests").into_response();
    }
    let uuid = format!("{}-007", uuid::Uuid::now_v7());
    let job = FakeJob {
        uuid: uuid.clone(),
        name: name.to_owned(),
        app_id: app_id.to_owned(),
        app_version: app_version.to_owned(),
        plan,
        at: 0,
        next_at: Instant::now() + STEP,
        released: false,
        cancelled: false,
        created: now_text(),
        remote_started: None,
        ended: None,
        last_message: "Job created.".to_owned(),
        remote_result_info: None,
        env,
        body: body.clone(),
        owner: user,
    };
    let answer = job.to_json();
    fake.jobs.insert(uuid.clone(), job);
    if fake.fail_submit_after_create > 0 {
        // the job exists; the caller never hears so
        fake.fail_submit_after_create -= 1;
        let status = fake.submit_failure.unwrap_or(StatusCode::BAD_GATEWAY);
        return (status, format!("<html>{status}</html>")).into_response();
    }
    // 200, not 201
    envelope(
        StatusCode::OK,
        true,
        &format!("JOBS_CREATED Job {uuid} created."),
        answer,
    )
}

async fn search(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = state.lock().unwrap();
    let user = match gate(&mut fake, &headers) {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let name = query.get("name.eq").cloned();
    let found: Vec<Value> = fake
        .jobs
        .values_mut()
        // MY_JOBS: the caller's own
        .filter(|j| j.owner == user && name.as_deref().is_none_or(|n| n == j.name))
        .map(|j| {
            j.advance();
            json!({"uuid": j.uuid, "name": j.name, "owner": j.owner, "appId": j.app_id,
                   "created": j.created, "status": j.status(), "appVersion": j.app_version})
        })
        .collect();
    envelope(
        StatusCode::OK,
        true,
        "JOBS_SEARCH_RESULT_LIST_RETRIEVED Jobs found.",
        json!(found),
    )
}

async fn get_job(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let mut fake = state.lock().unwrap();
    let user = match gate(&mut fake, &headers) {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    if fake.jobs.get(&uuid).is_some_and(|job| job.owner != user) {
        return not_yours(&uuid, &user);
    }
    match fake.jobs.get_mut(&uuid) {
        Some(job) => {
            job.advance();
            envelope(
                StatusCode::OK,
                true,
                &format!("JOBS_RETRIEVED Job {uuid} retrieved."),
                job.to_json(),
            )
        }
        // an unknown uuid on GET is a 500, as the service answers
        None => envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
            &format!(
                "JOBS_JOB_SELECT_UUID_ERROR Unable to select job {uuid} in tenant tacc for user gateway: not found"
            ),
            Value::Null,
        ),
    }
}

async fn get_status(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let mut fake = state.lock().unwrap();
    let user = match gate(&mut fake, &headers) {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    if fake.jobs.get(&uuid).is_some_and(|job| job.owner != user) {
        return not_yours(&uuid, &user);
    }
    match fake.jobs.get_mut(&uuid) {
        Some(job) => {
            job.advance();
            let (status, condition) = job.plan[job.at];
            envelope(
                StatusCode::OK,
                true,
                "JOBS_STATUS_RETRIEVED",
                json!({"status": status, "condition": condition}),
            )
        }
        // 404 that says "success", as the service answers
        None => envelope(
            StatusCode::NOT_FOUND,
            true,
            &format!("TAPIS_NOT_FOUND Job not found: {uuid}"),
            json!({"name": uuid}),
        ),
    }
}

async fn cancel(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let mut fake = state.lock().unwrap();
    let user = match gate(&mut fake, &headers) {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    if fake.jobs.get(&uuid).is_some_and(|job| job.owner != user) {
        return not_yours(&uuid, &user);
    }
    fake.cancels.push(uuid.clone());
    match fake.jobs.get_mut(&uuid) {
        Some(job) => {
            job.advance();
            if job.terminal() {
                return envelope(
                    StatusCode::CONFLICT,
                    false,
                    &format!(
                        "JOBS_JOB_IN_TERMINAL_STATE Job {uuid} is in a Terminal state (CANCELLED, FINISHED or FAILED) and can't be canceled."
                    ),
                    json!({"name": uuid}),
                );
            }
            // accepted; it happens asynchronously
            job.cancelled = true;
            envelope(
                StatusCode::OK,
                true,
                "JOBS_JOB_CANCEL_ACCEPTED",
                json!({"message": format!("JOBS_JOB_CANCEL_ACCEPTED Request to cancel job {uuid} has been accepted. If the job is in a terminal state, the request will have no effect.")}),
            )
        }
        None => envelope(
            StatusCode::BAD_REQUEST,
            false,
            &format!("JOBS_JOB_SELECT_UUID_ERROR Unable to select job {uuid}"),
            Value::Null,
        ),
    }
}

async fn download(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((uuid, path)): Path<(String, String)>,
) -> Response {
    let mut fake = state.lock().unwrap();
    let user = match gate(&mut fake, &headers) {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    if fake.jobs.get(&uuid).is_some_and(|job| job.owner != user) {
        return not_yours(&uuid, &user);
    }
    let Some(job) = fake.jobs.get_mut(&uuid) else {
        return envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
            "JOBS_JOB_SELECT_UUID_ERROR",
            Value::Null,
        );
    };
    job.advance();
    if job.remote_started.is_none() {
        return envelope(
            StatusCode::BAD_REQUEST,
            false,
            "JOBS_OUTPUT_NOT_AVAILABLE",
            Value::Null,
        );
    }
    let text = match path.as_str() {
        "horizon-stdout.log" => format!("hello from Tapis job {uuid}\nline 2\n"),
        "horizon-stderr.log" if job.app_id == "horizon-fail" => "calibration failed\n".to_owned(),
        "horizon-stderr.log" => String::new(),
        _ => {
            return envelope(
                StatusCode::BAD_REQUEST,
                false,
                "FILES_NOT_FOUND",
                Value::Null,
            );
        }
    };
    (StatusCode::OK, text).into_response()
}

//! What each subcommand does.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::{ClientArgs, ConfigArgs, settings};

pub async fn serve(config: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(config.config.as_deref())?;
    let log = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .with_writer(std::io::stderr);
    match settings.log.format {
        // one object a line, the event's fields as keys
        horizon_server::config::LogFormat::Json => log.json().flatten_event(true).init(),
        // colours for people at a terminal, plain text into files
        horizon_server::config::LogFormat::Text => log
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let exe = std::env::current_exe().context("cannot find the horizon binary itself")?;
    // the small `horizon-supervise` next to this binary when it was built
    // (cargo build --workspace, release archives); else `horizon supervise`
    let small = exe.with_file_name("horizon-supervise");
    let supervisor = if small.is_file() { small } else { exe };
    horizon_server::serve(settings, supervisor, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}

pub async fn token_create(
    config: &ConfigArgs,
    user: &str,
    admin: bool,
    expires_in: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let user = user.trim();
    if user.is_empty() || user.len() > 255 {
        bail!("--user must be 1 to 255 characters");
    }
    let expires_at = expires_in
        .map(|text| parse_duration(text).map(|d| time::OffsetDateTime::now_utc() + d))
        .transpose()?;
    let settings = settings::load(config.config.as_deref())?;
    let store = horizon_server::open_store(&settings).await?;
    let token = horizon_server::api::auth::new_token();
    let hash = horizon_server::api::auth::hash_token(&token);
    store.create_token(&hash, user, admin, expires_at).await?;
    let id: String = hash.chars().take(12).collect();
    store
        .record_audit(horizon_server::api::audit::cli_record(
            "token.create",
            Some(id.clone()),
            Some(format!(
                "for user {user}{}",
                if admin { " (admin)" } else { "" }
            )),
        ))
        .await?;
    if as_json {
        println!(
            "{}",
            json!({
                "token": token,
                "id": id,
                "user": user,
                "admin": admin,
                "expires_at": expires_at.map(horizon_core::timestamp::format),
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "created {} token for {user}{} (only its hash is stored: keep it now)",
        if admin { "an admin" } else { "a" },
        expires_at
            .map(|at| format!(", expiring {}", horizon_core::timestamp::format(at)))
            .unwrap_or_default()
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// `90s`, `30m`, `12h`, `30d`.
fn parse_duration(text: &str) -> anyhow::Result<time::Duration> {
    horizon_server::config::parse_age(text).map_err(|err| anyhow::anyhow!("--expires-in {err}"))
}

/// `horizon backup --to <file>`
pub async fn backup(config: &ConfigArgs, to: &Path) -> anyhow::Result<ExitCode> {
    let settings = settings::load(config.config.as_deref())?;
    let store = horizon_server::open_store(&settings).await?;
    let to = std::path::absolute(to)?;
    store.backup(&to).await?;
    eprintln!(
        "backed up {} to {} (restore: stop the server, put the file in the database's place)",
        settings.database_url_masked(),
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `horizon token list`
pub async fn token_list(config: &ConfigArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let settings = settings::load(config.config.as_deref())?;
    let store = horizon_server::open_store(&settings).await?;
    let tokens = store.list_tokens().await?;
    let now = time::OffsetDateTime::now_utc();
    let format = horizon_core::timestamp::format;
    let state = |t: &horizon_store::TokenInfo| {
        if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    };
    if as_json {
        let list: Vec<Value> = tokens
            .iter()
            .map(|t| {
                json!({
                    "id": t.id, "user": t.user_id, "admin": t.admin, "state": state(t),
                    "created_at": format(t.created_at),
                    "expires_at": t.expires_at.map(format),
                    "revoked_at": t.revoked_at.map(format),
                })
            })
            .collect();
        println!("{}", json!({ "tokens": list }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12}  {:<16} {:<6} {:<8} {:<24} expires",
        "id", "user", "admin", "state", "created"
    );
    for t in &tokens {
        println!(
            "{:<12}  {:<16} {:<6} {:<8} {:<24} {}",
            t.id,
            t.user_id,
            if t.admin { "yes" } else { "no" },
            state(t),
            format(t.created_at),
            t.expires_at
                .map(format)
                .unwrap_or_else(|| "never".to_owned())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `horizon token revoke <id>`
pub async fn token_revoke(config: &ConfigArgs, id: &str) -> anyhow::Result<ExitCode> {
    let id = id.trim();
    if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("a token id is 8 to 64 hex digits, as `horizon token list` shows it");
    }
    let settings = settings::load(config.config.as_deref())?;
    let store = horizon_server::open_store(&settings).await?;
    match store.revoke_token(id).await? {
        0 => bail!("no active token has id {id}"),
        1 => {
            store
                .record_audit(horizon_server::api::audit::cli_record(
                    "token.revoke",
                    Some(id.to_owned()),
                    None,
                ))
                .await?;
            eprintln!(
                "revoked token {id}; a server stops accepting it within [api] token_cache_ms ({} ms)",
                settings.api.token_cache_ms
            );
            Ok(ExitCode::SUCCESS)
        }
        n => bail!("{n} tokens start with {id}: give more of the id"),
    }
}

/// Parameters from `--param k=v` pairs, `--params JSON` or `--params-file`.
pub fn parameters(
    pairs: &[String],
    json_text: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<Map<String, Value>> {
    let mut parameters = match (json_text, file) {
        (Some(text), _) => parse_object(text).context("--params")?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            parse_object(&text).with_context(|| format!("{}", path.display()))?
        }
        (None, None) => Map::new(),
    };
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--param {pair:?} is not KEY=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        parameters.insert(key.to_owned(), value);
    }
    Ok(parameters)
}

fn parse_object(text: &str) -> anyhow::Result<Map<String, Value>> {
    match serde_json::from_str(text)? {
        Value::Object(map) => Ok(map),
        _ => bail!("parameters must be a JSON object"),
    }
}

#[derive(Debug)]
pub struct SubmitRequest {
    pub agent: String,
    pub dataset: String,
    pub parameters: Map<String, Value>,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<String>,
    pub resources: Option<Value>,
}

pub async fn submit(
    args: &ClientArgs,
    request: SubmitRequest,
    wait: bool,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let mut body = json!({
        "agent": request.agent,
        "dataset_id": request.dataset,
        "parameters": request.parameters,
    });
    if let Some(resources) = &request.resources {
        body["resources"] = resources.clone();
    }
    let mut call = client.request(Method::POST, "/v1/jobs").json(&body);
    if let Some(key) = &request.idempotency_key {
        call = call.header("Idempotency-Key", key);
    }
    if let Some(id) = &request.correlation_id {
        call = call.header("X-Correlation-ID", id);
    }
    let (_, job) = client.send(call).await?;
    let id = job["id"]
        .as_str()
        .context("server returned a job without id")?
        .to_owned();
    if !wait {
        print_job(&job, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        println!(
            "submitted job {id} ({} on {})",
            request.agent, request.dataset
        );
    }
    follow(&client, &id, args.json).await
}

pub async fn status(args: &ClientArgs, id: &str) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let job = client.get(&format!("/v1/jobs/{id}")).await?;
    print_job(&job, args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn list(
    args: &ClientArgs,
    filters: &[(&str, Option<String>)],
    limit: u32,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
    for (name, value) in filters {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    let (_, page) = client
        .send(client.request(Method::GET, "/v1/jobs").query(&query))
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<9}  {:<12}  {:<20}  CREATED",
        "ID", "STATUS", "AGENT", "DATASET"
    );
    for job in page["jobs"].as_array().into_iter().flatten() {
        println!(
            "{:<36}  {:<9}  {:<12}  {:<20}  {}",
            text(&job["id"]),
            text(&job["status"]),
            text(&job["agent"]),
            text(&job["dataset_id"]),
            text(&job["created_at"])
        );
    }
    if let Some(cursor) = page["next_cursor"].as_str() {
        println!("more: --cursor {cursor}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(args: &ClientArgs, id: &str, reason: Option<&str>) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let body = match reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    let (_, job) = client
        .send(
            client
                .request(Method::POST, &format!("/v1/jobs/{id}/cancel"))
                .json(&body),
        )
        .await?;
    print_job(&job, args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn events(args: &ClientArgs, id: &str, follow_on: bool) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    if follow_on {
        return follow(&client, id, args.json).await;
    }
    let mut path = format!("/v1/jobs/{id}/events");
    // --json: one document holding every event (pages joined)
    let mut all = Vec::new();
    loop {
        let page = client.get(&path).await?;
        for event in page["events"].as_array().into_iter().flatten() {
            if args.json {
                all.push(event.clone());
            } else {
                print_event(event, false)?;
            }
        }
        match page["next_after"].as_str() {
            Some(after) => path = format!("/v1/jobs/{id}/events?after={after}"),
            None => break,
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "events": all }))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Print the parked events, oldest first.
pub async fn parked(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let mut path = "/v1/admin/parked-events".to_owned();
    let mut count = 0;
    loop {
        let page = client.get(&path).await?;
        for parked in page["events"].as_array().into_iter().flatten() {
            count += 1;
            if args.json {
                println!("{parked}");
            } else {
                let event = &parked["event"];
                println!(
                    "{}  {}  #{:<3} {:<22} job {}  {}",
                    parked["parked_at"].as_str().unwrap_or("?"),
                    parked["position"],
                    event["sequence"],
                    event["event_type"].as_str().unwrap_or("?"),
                    event["job_id"].as_str().unwrap_or("?"),
                    parked["reason"].as_str().unwrap_or("?"),
                );
            }
        }
        match page["next_after"].as_i64() {
            Some(after) => path = format!("/v1/admin/parked-events?after={after}"),
            None => break,
        }
    }
    if !args.json && count == 0 {
        println!("no parked events");
    }
    Ok(ExitCode::SUCCESS)
}

/// Say a host is gone for good, so its local jobs may be taken over.
pub async fn host_gone(args: &ClientArgs, host: &str) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    // (the host name as one path segment, percent-encoded)
    let mut url = reqwest::Url::parse("http://horizon/v1/admin/hosts")?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("cannot build the request's path"))?
        .push(host)
        .push("gone");
    let path = url.path().to_owned();
    let (_, answer) = client
        .send(client.request(reqwest::Method::POST, &path))
        .await?;
    if args.json {
        println!("{answer}");
    } else {
        println!(
            "{} silent process(es) on {host}: their local jobs may be taken over",
            answer["processes"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Un-park events so the relay sends them again.
pub async fn retry_parked(args: &ClientArgs, job: Option<&str>) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let body = match job {
        Some(id) => serde_json::json!({"job_id": id}),
        None => serde_json::json!({}),
    };
    let (_, answer) = client
        .send(
            client
                .request(reqwest::Method::POST, "/v1/admin/parked-events/retry")
                .json(&body),
        )
        .await?;
    if args.json {
        println!("{answer}");
    } else {
        println!("{} event(s) will be sent again", answer["unparked"]);
    }
    Ok(ExitCode::SUCCESS)
}

/// Print a job's events as they happen until its last lifecycle event
/// (the job's Server-Sent Event stream, resumed after the last event
/// printed whenever the connection drops); the exit status says how it
/// ended.
pub(crate) async fn follow(client: &Client, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut last_status: Option<String> = None;
    let path = format!("/v1/jobs/{id}/events/stream");
    let mut sse = client.stream(&path);
    while let Some(message) = sse.next().await? {
        let event: Value = serde_json::from_str(&message.data)
            .with_context(|| format!("event {} is not JSON", message.id))?;
        print_event(&event, as_json)?;
        if event["event_type"] != "job.metrics_recorded" {
            last_status = event["status"].as_str().map(str::to_owned);
        }
    }
    Ok(match last_status.as_deref() {
        Some("COMPLETED") => ExitCode::SUCCESS,
        Some("CANCELLED") => ExitCode::from(3),
        _ => ExitCode::from(1),
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn print_job(job: &Value, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(job)?);
        return Ok(());
    }
    println!("job {}", text(&job["id"]));
    println!("  status      {}", text(&job["status"]));
    println!(
        "  agent       {} on dataset {}",
        text(&job["agent"]),
        text(&job["dataset_id"])
    );
    println!(
        "  backend     {} (remote id {})",
        text(&job["backend"]),
        text(&job["remote_job_id"])
    );
    println!("  user        {}", text(&job["user_id"]));
    println!("  correlation {}", text(&job["correlation_id"]));
    println!("  created     {}", text(&job["created_at"]));
    for (label, field) in [("started", "started_at"), ("finished", "finished_at")] {
        if !job[field].is_null() {
            println!("  {label:<11} {}", text(&job[field]));
        }
    }
    if job["held"] == true {
        println!("  held        yes (horizon release {})", text(&job["id"]));
    }
    if !job["cloned_from"].is_null() {
        println!("  cloned from {}", text(&job["cloned_from"]));
    }
    for clone in job["clones"].as_array().into_iter().flatten() {
        println!("  clone       {}", text(clone));
    }
    if !job["error"].is_null() {
        println!(
            "  error       {}: {}",
            text(&job["error"]["code"]),
            text(&job["error"]["message"])
        );
    }
    Ok(())
}

fn print_event(event: &Value, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(event)?);
        return Ok(());
    }
    let payload = &event["payload"];
    let detail = match event["event_type"].as_str().unwrap_or_default() {
        "job.submitted" => format!(
            "{} on {}",
            text(&payload["agent"]),
            text(&payload["dataset_id"])
        ),
        "job.queued" => format!("backend {}", text(&payload["backend"])),
        "job.running" => format!("remote id {}", text(&payload["remote_job_id"])),
        "job.completed" => format!(
            "exit {} after {}s",
            text(&payload["exit_code"]),
            text(&payload["execution_time_seconds"])
        ),
        "job.failed" => format!(
            "{}: {}",
            text(&payload["error_code"]),
            text(&payload["error_message"])
        ),
        "job.cancelled" => format!(
            "by {}: {}",
            text(&payload["cancelled_by"]),
            text(&payload["cancellation_reason"])
        ),
        "job.status_changed" => text(&payload["reason"]),
        "job.metrics_recorded" => format!(
            "cpu {}%  mem {} MB  io {}",
            text(&payload["cpu_usage_percent"]),
            text(&payload["memory_usage_mb"]),
            text(&payload["io_operations"])
        ),
        _ => String::new(),
    };
    let stream = if event["event_type"] == "job.metrics_recorded" {
        "m"
    } else {
        "#"
    };
    println!(
        "{}  {stream}{:<3} {:<21} {:<9}  {detail}",
        text(&event["timestamp"]),
        text(&event["sequence"]),
        text(&event["event_type"]),
        text(&event["status"]),
    );
    Ok(())
}

/// `horizon logs`: print a job's output; with `follow`, keep printing what
/// it adds until the job has ended and everything is read.
pub async fn logs(
    args: &ClientArgs,
    id: &str,
    stderr: bool,
    tail: Option<u32>,
    follow_on: bool,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let client = Client::new(args)?;
    let stream = if stderr { "stderr" } else { "stdout" };
    let mut query = format!("/v1/jobs/{id}/logs?stream={stream}");
    if let Some(lines) = tail {
        query.push_str(&format!("&tail={lines}"));
    }
    let (offset, bytes) = client.log_chunk(&query).await?;
    let mut out = std::io::stdout();
    out.write_all(&bytes)?;
    out.flush()?;
    if !follow_on {
        return Ok(ExitCode::SUCCESS);
    }
    // the rest as it is written: the job's log stream from here on, resumed
    // at the offset reached whenever the connection drops
    let mut sse = client.stream(&format!("/v1/jobs/{id}/logs/stream?stream={stream}"));
    sse.resume_from(offset.to_string());
    while let Some(message) = sse.next().await? {
        if message.event == "end" {
            break;
        }
        let chunk: Value = serde_json::from_str(&message.data)
            .with_context(|| format!("log chunk at {} is not JSON", message.id))?;
        out.write_all(chunk["text"].as_str().unwrap_or_default().as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `horizon agents`
/// `horizon audit`: the last records of the audit trail, oldest first.
pub async fn audit(
    args: &ClientArgs,
    filters: &[(&str, Option<String>)],
    last: usize,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let mut records: std::collections::VecDeque<Value> = std::collections::VecDeque::new();
    let mut after = 0i64;
    loop {
        let mut query = vec![("limit", "1000".to_owned()), ("after", after.to_string())];
        for (name, value) in filters {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        let (_, page) = client
            .send(client.request(Method::GET, "/v1/audit").query(&query))
            .await?;
        for record in page["records"].as_array().into_iter().flatten() {
            records.push_back(record.clone());
            if records.len() > last {
                records.pop_front();
            }
        }
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::from(Vec::from(records)))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    for r in &records {
        println!(
            "{}  {:<8} {:<12} {:<14} {:<7} {} {}  {}{}",
            text(&r["timestamp"]),
            r["actor"].as_str().unwrap_or("(anonymous)"),
            text(&r["auth_method"]),
            text(&r["action"]),
            text(&r["outcome"]),
            r["status"],
            text(&r["target"]),
            text(&r["client_address"]),
            r["detail"]
                .as_str()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default(),
        );
    }
    if records.is_empty() {
        println!("no audit records");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn agents(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let body = client.get("/v1/agents").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let show = |r: &Value| -> String {
        let parts: Vec<String> = r
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default();
        if parts.is_empty() {
            "-".to_owned()
        } else {
            parts.join(" ")
        }
    };
    for agent in body["agents"].as_array().into_iter().flatten() {
        println!(
            "{:<20} {:<6} defaults: {}  maxima: {}",
            agent["name"].as_str().unwrap_or("?"),
            agent["backend"].as_str().unwrap_or("?"),
            show(&agent["default_resources"]),
            show(&agent["max_resources"]),
        );
        if let Some(text) = agent["description"].as_str() {
            println!("    {text}");
        }
        for (name, meaning) in agent["parameters"].as_object().into_iter().flatten() {
            println!("    --param {name}=…  {}", meaning.as_str().unwrap_or(""));
        }
    }
    Ok(ExitCode::SUCCESS)
}

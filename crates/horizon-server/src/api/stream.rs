//! Server-Sent Events: a job's events as they are committed, the caller's
//! jobs' events, and a job's output as it is written. Every event carries
//! an id; a client that reconnects with `Last-Event-ID` (as `EventSource`
//! does by itself) goes on exactly after it — from the store, so also
//! after a restart and on another process of a PostgreSQL deployment.
//!
//! - `/v1/jobs/{id}/events/stream`: id = the event's id (its CloudEvents
//!   id); ends after the terminal event; a resume after it answers 204,
//!   which tells `EventSource` not to reconnect.
//! - `/v1/events/stream`: id = the event's place in the commit order
//!   (the same number on every process); without `Last-Event-ID`, from now.
//! - `/v1/jobs/{id}/logs/stream`: id = the byte offset reached; each
//!   message `{"offset", "text"}`; ends with an `end` event once the job
//!   has ended and its output is all sent.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use horizon_backend::{LogRange, LogStream};
use horizon_core::{EventStream, JobStatus};
use horizon_store::ReplayFilter;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use utoipa::IntoParams;
use uuid::Uuid;

use super::auth::Caller;
use super::problem::ApiError;
use super::{AppState, jobs::visible_job};
use crate::live::{LiveEvent, PAGE};

/// Comment lines that keep idle connections (and proxies) from timing out.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The reconnection delay clients are told.
const RECONNECT: Duration = Duration::from_secs(1);

/// How often a job's output is looked at for more.
const LOG_POLL: Duration = Duration::from_millis(500);

/// The most of a log one message carries.
const LOG_CHUNK: u64 = 64 * 1024;

/// Open streams per user, on this process.
#[derive(Debug, Default)]
pub struct StreamCounts {
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream, counted until dropped.
#[derive(Debug)]
pub struct StreamSlot {
    counts: Arc<StreamCounts>,
    user: String,
}

impl StreamCounts {
    /// A slot for one more stream of `user`, unless they have `max` open.
    pub fn open(self: &Arc<Self>, user: &str, max: usize) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(user.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            counts: self.clone(),
            user: user.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

fn slot(state: &AppState, caller: &Caller) -> Result<StreamSlot, ApiError> {
    let max = state.settings.api.max_streams_per_user;
    state.streams.open(&caller.user_id, max).ok_or_else(|| {
        ApiError::TooManyRequests(
            format!(
                "{} has {max} streams open on this server already (the limit); close one",
                caller.user_id
            ),
            5,
        )
    })
}

type Events = mpsc::Sender<Event>;

/// The response: what the producer task sends, with heartbeats.
fn sse(rx: mpsc::Receiver<Event>) -> Response {
    let mut rx = rx;
    // first, how soon to reconnect after a drop (EventSource's default is
    // a few seconds)
    let retry = Event::default().retry(RECONNECT);
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(retry) }).chain(
        futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|event| event.map(Ok::<_, Infallible>))
        }),
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response()
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::BadRequest("Last-Event-ID is not text".into()))?
                .trim();
            Ok((!text.is_empty()).then(|| text.to_owned()))
        }
    }
}

fn message(id: String, data: &str) -> Event {
    Event::default().id(id).data(data)
}

/// A job's events as Server-Sent Events, from the first (or after
/// `Last-Event-ID`), ending after its terminal event.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/events/stream", tag = "jobs",
    params(
        ("id" = String, Path, description = "job id"),
        ("Last-Event-ID" = Option<String>, Header, description = "the id of the last event received: go on after it"),
    ),
    responses(
        (status = 200, description = "text/event-stream: each message an event envelope, its id the event's id"),
        (status = 204, description = "the job has ended and its terminal event was the last one received"),
        (status = 401, body = super::problem::Problem), (status = 404, body = super::problem::Problem),
        (status = 422, description = "Last-Event-ID names no event of this job", body = super::problem::Problem),
        (status = 429, description = "too many streams open", body = super::problem::Problem),
    ),
    security(("bearer" = []))
)]
pub async fn job_event_stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    let note = super::audit::admin_read(&caller, [&job.user_id], Some(job.id.to_string()));
    let after = last_event_id(&headers)?
        .map(|text| {
            Uuid::parse_str(&text).map_err(|_| {
                ApiError::Unprocessable(format!("Last-Event-ID {text:?} is not an event id"))
            })
        })
        .transpose()?;
    // subscribe first: what is committed from now on reaches us either way
    let live = state.live.subscribe();
    let first = state.store.job_events(job.id, after, PAGE).await?;
    if first.is_empty() && job.status.is_terminal() && after.is_some() {
        // the terminal event was the last one received: nothing will follow
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // where the client is in each of the job's two sequences: the
    // broadcast may still bring events it has (this process's tail can be
    // behind the store the catch-up read)
    let (lifecycle, metrics) = match after {
        Some(after) => sequences_through(state.store.as_ref(), job.id, after).await?,
        None => (0, 0),
    };
    let slot = slot(&state, &caller)?;
    let (tx, rx) = mpsc::channel(64);
    let store = state.store.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let mut follow = JobFollower {
            job_id: job.id,
            after,
            lifecycle,
            metrics,
            ended: false,
        };
        let _ = follow.run(store.as_ref(), first, live, &tx).await;
    });
    Ok((note, sse(rx)).into_response())
}

/// The highest lifecycle and metrics sequences of a job's events up to and
/// including `through`.
async fn sequences_through(
    store: &dyn horizon_store::Store,
    job: Uuid,
    through: Uuid,
) -> Result<(u64, u64), horizon_store::StoreError> {
    let (mut lifecycle, mut metrics) = (0, 0);
    let mut cursor = None;
    loop {
        let page = store.job_events(job, cursor, 1000).await?;
        let Some(last) = page.last().map(|e| e.event_id) else {
            return Ok((lifecycle, metrics));
        };
        for event in &page {
            match event.stream {
                EventStream::Lifecycle => lifecycle = lifecycle.max(event.sequence),
                _ => metrics = metrics.max(event.sequence),
            }
            if event.event_id == through {
                return Ok((lifecycle, metrics));
            }
        }
        cursor = Some(last);
    }
}

/// Where one job's stream is.
struct JobFollower {
    job_id: Uuid,
    /// The last event sent (the store's cursor).
    after: Option<Uuid>,
    /// The last sequence sent of each of the job's two streams.
    lifecycle: u64,
    metrics: u64,
    ended: bool,
}

/// The client went away (or the store failed: the client reconnects).
struct Gone;

impl JobFollower {
    async fn send(&mut self, tx: &Events, event: &LiveEvent) -> Result<(), Gone> {
        let seen = match event.stream {
            EventStream::Lifecycle => &mut self.lifecycle,
            _ => &mut self.metrics,
        };
        if event.sequence <= *seen || self.ended {
            return Ok(()); // sent already (from the store, then the broadcast)
        }
        *seen = event.sequence;
        self.after = Some(event.event_id);
        self.ended = event.is_terminal();
        tx.send(message(event.event_id.to_string(), &event.envelope))
            .await
            .map_err(|_| Gone)
    }

    /// From the store, after the last event sent, until it has no more.
    async fn catch_up(
        &mut self,
        store: &dyn horizon_store::Store,
        mut page: Vec<horizon_store::StoredEvent>,
        tx: &Events,
    ) -> Result<(), Gone> {
        loop {
            let full = page.len() == PAGE as usize;
            for stored in page {
                let event = stored_to_live(stored).map_err(|_| Gone)?;
                self.send(tx, &event).await?;
            }
            if !full || self.ended {
                return Ok(());
            }
            page = store
                .job_events(self.job_id, self.after, PAGE)
                .await
                .map_err(|_| Gone)?;
        }
    }

    async fn run(
        &mut self,
        store: &dyn horizon_store::Store,
        first: Vec<horizon_store::StoredEvent>,
        mut live: broadcast::Receiver<Arc<LiveEvent>>,
        tx: &Events,
    ) -> Result<(), Gone> {
        self.catch_up(store, first, tx).await?;
        while !self.ended {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) if event.job_id == self.job_id => self.send(tx, &event).await?,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // fell behind the broadcast: the store has it all
                        let page = store
                            .job_events(self.job_id, self.after, PAGE)
                            .await
                            .map_err(|_| Gone)?;
                        self.catch_up(store, page, tx).await?;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(Gone),
                },
                () = tx.closed() => return Err(Gone),
            }
        }
        Ok(())
    }
}

fn stored_to_live(
    stored: horizon_store::StoredEvent,
) -> Result<LiveEvent, horizon_store::StoreError> {
    LiveEvent::try_from(horizon_store::OutboxEvent {
        position: 0,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        event: stored,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventStreamQuery {
    /// Admins: only this user's jobs (others always see only their own).
    pub user: Option<String>,
    /// Only jobs of this agent.
    pub agent: Option<String>,
    /// Only events that leave a job in this status (QUEUED, RUNNING,
    /// COMPLETED, FAILED, CANCELLED, …).
    pub status: Option<String>,
}

/// The events of the caller's jobs (an admin: of every job, or of one
/// user's) as Server-Sent Events, in commit order, from now (or after
/// `Last-Event-ID`). Metrics samples included.
#[utoipa::path(
    get, path = "/v1/events/stream", tag = "jobs",
    params(
        EventStreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "the id of the last event received: go on after it"),
    ),
    responses(
        (status = 200, description = "text/event-stream: each message an event envelope, its id its place in the commit order"),
        (status = 401, body = super::problem::Problem),
        (status = 422, description = "a bad filter or Last-Event-ID", body = super::problem::Problem),
        (status = 429, description = "too many streams open", body = super::problem::Problem),
    ),
    security(("bearer" = []))
)]
pub async fn event_stream(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<EventStreamQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let user = match (&query.user, caller.admin) {
        (Some(user), true) => Some(user.clone()),
        (None, true) => None,
        (Some(user), false) if *user != caller.user_id => {
            return Err(ApiError::Forbidden(
                "only admins may follow other users' jobs".into(),
            ));
        }
        (_, false) => Some(caller.user_id.clone()),
    };
    let status = query
        .status
        .as_deref()
        .map(|s| {
            s.parse::<JobStatus>()
                .map_err(|_| ApiError::Unprocessable(format!("status: {s:?} is not a job status")))
        })
        .transpose()?;
    let after = last_event_id(&headers)?
        .map(|text| {
            text.parse::<i64>().ok().filter(|p| *p >= 0).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "Last-Event-ID {text:?} is not a position of this stream"
                ))
            })
        })
        .transpose()?;
    let live = state.live.subscribe();
    let filter = ReplayFilter {
        user_id: user.clone(),
        jobs_only: true,
        ..ReplayFilter::default()
    };
    let after = match after {
        Some(after) => after,
        // from now
        None => state.store.replay_span(&filter).await?.last_position,
    };
    let slot = slot(&state, &caller)?;
    let (tx, rx) = mpsc::channel(64);
    let store = state.store.clone();
    let agent = query.agent.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let mut follow = AllFollower {
            filter,
            after,
            status,
            agent,
            agents: HashMap::new(),
        };
        let _ = follow.run(store.as_ref(), live, &tx).await;
    });
    // an admin following every user (or another one)
    let owner = user.clone().unwrap_or_default();
    let note = super::audit::admin_read(&caller, [owner], None);
    Ok((note, sse(rx)).into_response())
}

struct AllFollower {
    filter: ReplayFilter,
    after: i64,
    status: Option<JobStatus>,
    agent: Option<String>,
    /// Whether each job seen is of the wanted agent.
    agents: HashMap<Uuid, bool>,
}

impl AllFollower {
    async fn wanted(&mut self, store: &dyn horizon_store::Store, event: &LiveEvent) -> bool {
        if let Some(user) = &self.filter.user_id
            && *user != event.user_id
        {
            return false;
        }
        if let Some(status) = self.status
            && (event.status != Some(status) || event.stream != EventStream::Lifecycle)
        {
            return false;
        }
        if let Some(agent) = &self.agent {
            if let Some(known) = self.agents.get(&event.job_id) {
                return *known;
            }
            let matches =
                matches!(store.get_job(event.job_id).await, Ok(Some(job)) if job.agent == *agent);
            if self.agents.len() > 100_000 {
                self.agents.clear();
            }
            self.agents.insert(event.job_id, matches);
            return matches;
        }
        true
    }

    async fn send(
        &mut self,
        store: &dyn horizon_store::Store,
        tx: &Events,
        event: &LiveEvent,
    ) -> Result<(), Gone> {
        if event.position <= self.after {
            return Ok(());
        }
        self.after = event.position;
        if !self.wanted(store, event).await {
            return Ok(());
        }
        tx.send(message(event.position.to_string(), &event.envelope))
            .await
            .map_err(|_| Gone)
    }

    async fn catch_up(
        &mut self,
        store: &dyn horizon_store::Store,
        tx: &Events,
    ) -> Result<(), Gone> {
        loop {
            let page = store
                .replay_events(&self.filter, self.after, PAGE)
                .await
                .map_err(|_| Gone)?;
            let full = page.len() == PAGE as usize;
            for event in page {
                let event = LiveEvent::try_from(event).map_err(|_| Gone)?;
                self.send(store, tx, &event).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn run(
        &mut self,
        store: &dyn horizon_store::Store,
        mut live: broadcast::Receiver<Arc<LiveEvent>>,
        tx: &Events,
    ) -> Result<(), Gone> {
        self.catch_up(store, tx).await?;
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) => self.send(store, tx, &event).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(store, tx).await?,
                    Err(broadcast::error::RecvError::Closed) => return Err(Gone),
                },
                () = tx.closed() => return Err(Gone),
            }
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogStreamQuery {
    /// `stdout` (default) or `stderr`
    pub stream: Option<String>,
}

/// A job's output as Server-Sent Events, as it is written: each message
/// `{"offset": <byte offset>, "text": "…"}`, its id the offset reached;
/// an `end` event once the job has ended and all of it was sent.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/logs/stream", tag = "jobs",
    params(
        ("id" = String, Path, description = "job id"), LogStreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "the byte offset reached: go on from it"),
    ),
    responses(
        (status = 200, description = "text/event-stream"),
        (status = 401, body = super::problem::Problem), (status = 403, description = "not the job's owner", body = super::problem::Problem),
        (status = 404, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem), (status = 429, body = super::problem::Problem),
    ),
    security(("bearer" = []))
)]
pub async fn job_log_stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<LogStreamQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let stream = match query.stream.as_deref().unwrap_or("stdout") {
        "stdout" => LogStream::Stdout,
        "stderr" => LogStream::Stderr,
        other => {
            return Err(ApiError::Unprocessable(format!(
                "stream must be stdout or stderr, got {other:?}"
            )));
        }
    };
    let job = visible_job(&state, &caller, &id).await?;
    if job.user_id != caller.user_id {
        // (as `GET /v1/jobs/{id}/logs`: output may hold what only its owner may read)
        return Err(ApiError::Forbidden(
            "a job's logs are readable by its owner only".to_owned(),
        ));
    }
    let mut offset = last_event_id(&headers)?
        .map(|text| {
            text.parse::<u64>()
                .ok()
                .filter(|offset| *offset <= super::jobs::MAX_LOG_OFFSET)
                .ok_or_else(|| {
                    ApiError::Unprocessable(format!("Last-Event-ID {text:?} is not a byte offset"))
                })
        })
        .transpose()?
        .unwrap_or(0);
    let backend = state.backends.get(&job.backend).cloned().ok_or_else(|| {
        ApiError::BackendUnavailable(format!("no {} backend in this server", job.backend))
    })?;
    let slot = slot(&state, &caller)?;
    let (tx, rx) = mpsc::channel(16);
    let store = state.store.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let mut job = job;
        loop {
            // the job's state before the read: ended then, all is written
            let ended = job.status.is_terminal();
            let chunk = match backend
                .logs(
                    &job,
                    stream,
                    LogRange::From {
                        offset,
                        max: LOG_CHUNK,
                    },
                )
                .await
            {
                Ok(chunk) => chunk,
                Err(_) => return, // (the client reconnects and tries again)
            };
            if !chunk.bytes.is_empty() {
                let text = String::from_utf8_lossy(&chunk.bytes);
                let data = serde_json::json!({"offset": chunk.start, "text": text}).to_string();
                offset = chunk.start + chunk.bytes.len() as u64;
                if tx.send(message(offset.to_string(), &data)).await.is_err() {
                    return;
                }
                continue; // more may be there already
            }
            if ended {
                let data = serde_json::json!({"offset": offset, "status": job.status}).to_string();
                let _ = tx
                    .send(
                        Event::default()
                            .event("end")
                            .id(offset.to_string())
                            .data(data),
                    )
                    .await;
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(LOG_POLL) => {}
                () = tx.closed() => return,
            }
            match store.get_job(job.id).await {
                Ok(Some(now)) => job = now,
                Ok(None) => return,
                Err(_) => {}
            }
        }
    });
    Ok(sse(rx))
}

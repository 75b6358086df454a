use std::sync::Arc;

use sqlx::Connection;

use horizon_core::{BackendKind, Command, EventType, JobStatus, MetricsSample};
use serde_json::{Map, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    AuditFilter, CreateJobParams, Created, Fence, IdempotencyParams, ListJobsParams, OutboxEvent,
    PgStore, ReplayFilter, SqliteStore, Store, StoreError,
};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

/// A store under test and what it leaves behind until dropped: a temporary
/// directory (SQLite) or a database of its own (PostgreSQL, dropped after).
struct TestStore {
    store: Arc<dyn Store>,
    /// PostgreSQL: the database's URL, for more stores on it (more processes).
    url: Option<String>,
    commits: Box<dyn Fn() -> u64 + Send + Sync>,
    _guard: Guard,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Database { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Database { admin_url, name } = self {
            let (url, name) = (admin_url.clone(), name.clone());
            // a runtime of its own: drop cannot await
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The PostgreSQL server the tests use (`HORIZON_TEST_POSTGRES_URL`, default
/// the machine's own at 127.0.0.1:5432, user postgres).
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("HORIZON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn setup(kind: Kind) -> TestStore {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("h.db").display());
            let store = Arc::new(SqliteStore::connect(&url).await.expect("connect"));
            let counter = store.clone();
            TestStore {
                store,
                url: None,
                commits: Box::new(move || counter.commits()),
                _guard: Guard::Dir(dir),
            }
        }
        Kind::Postgres => {
            let admin_url = postgres_admin_url();
            let name = format!("horizon_test_{}", Uuid::now_v7().simple());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("PostgreSQL at HORIZON_TEST_POSTGRES_URL (default 127.0.0.1:5432)");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create database");
            let guard = Guard::Database {
                admin_url: admin_url.clone(),
                name: name.clone(),
            };
            let (base, _) = admin_url.rsplit_once('/').expect("a database in the URL");
            let url = format!("{base}/{name}");
            let store = Arc::new(PgStore::connect(&url).await.expect("connect"));
            let counter = store.clone();
            TestStore {
                store,
                url: Some(url),
                commits: Box::new(move || counter.commits()),
                _guard: guard,
            }
        }
    }
}

fn params(user: &str) -> CreateJobParams {
    let mut parameters = Map::new();
    parameters.insert("alpha".into(), json!(0.5));
    CreateJobParams {
        id: Uuid::now_v7(),
        user_id: user.into(),
        agent: "AlphaCal".into(),
        dataset_id: "ds-1".into(),
        parameters,
        backend: BackendKind::Local,
        resources: Default::default(),
        correlation_id: "corr-1".into(),
        account: None,
        traceparent: None,
        cloned_from: None,
        retry: None,
        depends_on: Vec::new(),
        created_at: OffsetDateTime::now_utc(),
        idempotency: None,
        audit: None,
    }
}

/// A new job of alice's.
async fn new_job(store: &Arc<dyn Store>) -> horizon_core::Job {
    store
        .create_job(params("alice"))
        .await
        .expect("create")
        .job()
        .clone()
}

fn cancel() -> Command {
    Command::Cancel {
        by: "alice".into(),
        reason: "test".into(),
        at: OffsetDateTime::now_utc(),
    }
}

async fn created_job_has_its_submitted_event(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let job = new_job(&store).await;
    let events = store
        .job_events(job.id, None, u32::MAX)
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::Submitted);
    assert_eq!(events[0].sequence, 1);
    let envelope: serde_json::Value = serde_json::from_str(&events[0].envelope).expect("json");
    assert_eq!(envelope["payload"]["parameters"]["alpha"], json!(0.5));
    assert_eq!(envelope["correlation_id"], "corr-1");
}

async fn idempotency_key_replays_same_job_and_refuses_other_body(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let idem = IdempotencyParams {
        key: "k1".into(),
        request_hash: "h1".into(),
    };
    let first = store
        .create_job(CreateJobParams {
            idempotency: Some(idem.clone()),
            audit: None,
            ..params("alice")
        })
        .await
        .expect("first");
    let again = store
        .create_job(CreateJobParams {
            idempotency: Some(idem.clone()),
            audit: None,
            ..params("alice")
        })
        .await
        .expect("again");
    assert!(matches!(again, Created::Replayed(_)));
    assert_eq!(first.job().id, again.job().id);
    // another user may use the same key for their own job
    let bob = store
        .create_job(CreateJobParams {
            idempotency: Some(idem),
            audit: None,
            ..params("bob")
        })
        .await
        .expect("bob");
    assert!(matches!(bob, Created::New(_)));
    let other = store
        .create_job(CreateJobParams {
            idempotency: Some(IdempotencyParams {
                key: "k1".into(),
                request_hash: "h2".into(),
            }),
            ..params("alice")
        })
        .await;
    assert!(matches!(other, Err(StoreError::IdempotencyMismatch { .. })));
    let all = store
        .list_jobs(ListJobsParams {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
}

/// A list narrows to any of several statuses, and to one user.
async fn jobs_are_listed_by_any_of_several_statuses(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let mut ids = Vec::new();
    for user in ["alice", "alice", "alice", "bob"] {
        let created = store.create_job(params(user)).await.expect("create");
        ids.push(created.job().id);
    }
    let queue = || Command::Queue {
        remote_job_id: None,
        location: None,
        at: OffsetDateTime::now_utc(),
    };
    store.apply(ids[1], queue()).await.expect("queue");
    store.apply(ids[2], cancel()).await.expect("cancel");
    store.apply(ids[3], queue()).await.expect("queue");
    let list = |user: Option<&str>, statuses: Vec<JobStatus>| {
        let store = store.clone();
        let user = user.map(str::to_owned);
        async move {
            store
                .list_jobs(ListJobsParams {
                    user_id: user,
                    statuses,
                    limit: 10,
                    ..Default::default()
                })
                .await
                .expect("list")
                .into_iter()
                .map(|j| j.id)
                .collect::<Vec<_>>()
        }
    };
    use JobStatus::{Cancelled, Queued, Submitted};
    assert_eq!(
        list(None, vec![Queued, Cancelled]).await,
        [ids[3], ids[2], ids[1]]
    );
    assert_eq!(
        list(Some("alice"), vec![Queued, Cancelled]).await,
        [ids[2], ids[1]]
    );
    assert_eq!(list(Some("alice"), vec![Submitted]).await, [ids[0]]);
    assert_eq!(list(Some("bob"), vec![]).await, [ids[3]]);
}

/// Per-agent statistics read each job's outcome and times: one user's or
/// everyone's, from a time on.
async fn job_timings_say_outcome_and_times(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let mine = store
        .create_job(params("alice"))
        .await
        .expect("create")
        .job()
        .id;
    store.create_job(params("bob")).await.expect("create");
    store
        .apply(
            mine,
            Command::Queue {
                remote_job_id: None,
                location: None,
                at: OffsetDateTime::now_utc(),
            },
        )
        .await
        .expect("queue");
    store.apply(mine, cancel()).await.expect("cancel");
    let all = store.job_timings(None, before, 100).await.expect("all");
    assert_eq!(all.len(), 2);
    let hers = store
        .job_timings(Some("alice"), before, 100)
        .await
        .expect("hers");
    assert_eq!(hers.len(), 1);
    assert_eq!(hers[0].status, JobStatus::Cancelled);
    assert!(hers[0].queued_at.is_some() && hers[0].finished_at.is_some());
    assert_eq!(hers[0].started_at, None);
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(
        store
            .job_timings(None, later, 100)
            .await
            .expect("later")
            .is_empty()
    );
    assert_eq!(
        store.job_timings(None, before, 1).await.expect("one").len(),
        1
    );
}

/// The account the identity mapping chose is kept from creation; where the
/// backend put the job's files is recorded by the QUEUED transition and
/// kept by later ones.
async fn a_jobs_account_location_and_trace_are_kept(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let job = store
        .create_job(CreateJobParams {
            account: Some("astro-lab".into()),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            cloned_from: None,
            retry: None,
            depends_on: Vec::new(),
            ..params("alice")
        })
        .await
        .expect("create")
        .job()
        .clone();
    assert_eq!(job.account.as_deref(), Some("astro-lab"));
    assert_eq!(job.location, None);
    let read = store.get_job(job.id).await.expect("get").expect("exists");
    assert_eq!(read.account.as_deref(), Some("astro-lab"));
    store
        .apply(
            job.id,
            Command::Queue {
                remote_job_id: Some("77".into()),
                location: Some("/shared/jobs/x".into()),
                at: OffsetDateTime::now_utc(),
            },
        )
        .await
        .expect("queue");
    store.apply(job.id, cancel()).await.expect("cancel");
    let read = store.get_job(job.id).await.expect("get").expect("exists");
    assert_eq!(read.location.as_deref(), Some("/shared/jobs/x"));
    // when it was queued, kept as the QUEUED transition said
    assert!(read.queued_at.is_some());
    assert!(read.queued_at <= read.finished_at);
    assert_eq!(read.exit_code, None, "a cancelled job has no exit code");
    assert_eq!(read.account.as_deref(), Some("astro-lab"));
    let other = new_job(&store).await;
    assert_eq!(other.account, None);
    // the trace: on the job and on every one of its events, as read by
    // each path (the job's events, the relay's log)
    assert!(
        read.traceparent
            .as_deref()
            .is_some_and(|t| t.starts_with("00-4bf9"))
    );
    let events = store.job_events(job.id, None, 100).await.expect("events");
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.traceparent == read.traceparent));
    let logged = store
        .replay_events(
            &ReplayFilter {
                job_id: Some(job.id),
                ..Default::default()
            },
            0,
            100,
        )
        .await
        .expect("log");
    assert!(
        logged
            .iter()
            .all(|e| e.event.traceparent == read.traceparent)
    );
    assert_eq!(other.traceparent, None);
}

/// What live streams read: one user's jobs' events only, and no audit
/// records, in commit order.
async fn the_event_log_reads_one_users_jobs_without_audit_records(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let a = new_job(&store).await;
    let b = store
        .create_job(params("bob"))
        .await
        .expect("create")
        .job()
        .clone();
    store
        .record_audit(audit(Some("alice"), "job.cancel"))
        .await
        .expect("audit");
    store.apply(a.id, cancel()).await.expect("cancel");
    let alice = ReplayFilter {
        user_id: Some("alice".into()),
        jobs_only: true,
        ..Default::default()
    };
    let got: Vec<(Uuid, u64)> = store
        .replay_events(&alice, 0, 100)
        .await
        .expect("alice")
        .iter()
        .map(|e| (e.event.job_id, e.event.sequence))
        .collect();
    assert_eq!(got, vec![(a.id, 1), (a.id, 2)]);
    assert_eq!(store.replay_span(&alice).await.expect("span").count, 2);
    let jobs = ReplayFilter {
        jobs_only: true,
        ..Default::default()
    };
    let got = store.replay_events(&jobs, 0, 100).await.expect("jobs");
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().any(|e| e.event.job_id == b.id));
    assert!(
        got.iter()
            .all(|e| e.event.stream != horizon_core::EventStream::Audit)
    );
    let everything = store
        .replay_events(&ReplayFilter::default(), 0, 100)
        .await
        .expect("all");
    assert_eq!(everything.len(), 4, "the audit record is in the log");
}

/// Webhooks: a fan-out moves a subscription's cursor once (a second one
/// from the same place does nothing); a job's deliveries are claimed one
/// at a time in order, each by one claimer; a retry waits for its time; a
/// redelivery makes a delivered one pending again; deleting the
/// subscription takes its deliveries with it.
async fn webhook_deliveries_go_in_order_per_job_and_once_per_claim(kind: Kind) {
    use crate::webhooks::{DeliveryState, NewDelivery, Outcome, Subscription};
    let t = setup(kind).await;
    let store = t.store.clone();
    let now = OffsetDateTime::now_utc();
    let sub = Subscription {
        id: Uuid::now_v7(),
        user_id: "alice".into(),
        url: "https://example.org/hook".into(),
        event_types: vec![],
        agent: None,
        status: None,
        secret: "whsec_a".into(),
        previous_secret: None,
        previous_until: None,
        created_at: now,
        disabled_at: None,
        disabled_reason: None,
        cursor: 0,
    };
    store
        .create_subscription(sub.clone())
        .await
        .expect("create");
    let a = new_job(&store).await;
    store.apply(a.id, cancel()).await.expect("cancel");
    let b = new_job(&store).await;
    let events = store
        .replay_events(&ReplayFilter::default(), 0, 100)
        .await
        .expect("events");
    assert_eq!(events.len(), 3);
    let deliveries: Vec<NewDelivery> = events
        .iter()
        .map(|e| NewDelivery {
            id: Uuid::now_v7(),
            position: e.position,
            event_id: e.event.event_id,
            job_id: e.event.job_id,
            event_type: "job.x".into(),
            due_at: now,
        })
        .collect();
    let to = events[2].position;
    assert_eq!(
        store
            .fan_out(sub.id, 0, to, deliveries.clone())
            .await
            .expect("fan out"),
        1
    );
    assert_eq!(
        store
            .fan_out(sub.id, 0, to, deliveries.clone())
            .await
            .expect("again"),
        0,
        "the cursor moved: a second fan-out from 0 does nothing"
    );
    let listed = store.subscriptions(Some("alice")).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cursor, to);
    assert!(
        store
            .subscriptions(Some("bob"))
            .await
            .expect("bob")
            .is_empty()
    );
    let (p1, p2) = (Uuid::now_v7(), Uuid::now_v7());
    let until = now + time::Duration::minutes(1);
    let first = store
        .claim_deliveries(p1, until, 10, false)
        .await
        .expect("claim");
    // a's first event and b's first: a's second waits for a's first
    let claimed: Vec<Uuid> = first.iter().map(|d| d.delivery.event_id).collect();
    assert_eq!(
        claimed,
        vec![events[0].event.event_id, events[2].event.event_id]
    );
    assert!(
        first[0]
            .envelope
            .as_deref()
            .is_some_and(|e| e.contains("job.submitted"))
    );
    assert_eq!(first[0].url, sub.url);
    assert!(
        store
            .claim_deliveries(p2, until, 10, false)
            .await
            .expect("claim")
            .is_empty(),
        "claimed ones are not claimed again"
    );
    // a's first is delivered: a's second is due
    let done = store
        .finish_delivery(first[0].delivery.id, p1, Outcome::Delivered { status: 204 })
        .await
        .expect("finish");
    assert_eq!(done, 1);
    assert_eq!(
        store
            .finish_delivery(first[1].delivery.id, p2, Outcome::Delivered { status: 200 })
            .await
            .expect("not p2's"),
        0,
        "only the claimer records the outcome"
    );
    let next = store
        .claim_deliveries(p2, until, 10, false)
        .await
        .expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].delivery.event_id, events[1].event.event_id);
    // a retry waits for its time
    store
        .finish_delivery(
            next[0].delivery.id,
            p2,
            Outcome::Retry {
                at: now + time::Duration::hours(1),
                status: Some(500),
                error: "500".into(),
            },
        )
        .await
        .expect("retry");
    assert!(
        store
            .claim_deliveries(p2, until, 10, false)
            .await
            .expect("claim")
            .is_empty()
    );
    let log = store.deliveries(sub.id, None, 10).await.expect("log");
    assert_eq!(log.len(), 3);
    let states: Vec<DeliveryState> = log.iter().map(|d| d.state).collect();
    assert!(states.contains(&DeliveryState::Delivered));
    let retried = log
        .iter()
        .find(|d| d.event_id == events[1].event.event_id)
        .expect("the retried delivery");
    assert_eq!((retried.attempts, retried.last_status), (1, Some(500)));
    // redeliver the delivered one of a
    let delivered = first[0].delivery.id;
    assert_eq!(
        store
            .redeliver(sub.id, delivered, delivered)
            .await
            .expect("redeliver"),
        1
    );
    let again = store
        .claim_deliveries(p1, until, 10, false)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, delivered);
    // disabled: nothing is due; deleted: its deliveries are gone
    store
        .set_subscription_disabled(sub.id, Some((now, "test".into())))
        .await
        .expect("disable");
    store
        .finish_delivery(delivered, p1, Outcome::Delivered { status: 200 })
        .await
        .expect("finish");
    store
        .redeliver(sub.id, delivered, delivered)
        .await
        .expect("redeliver");
    assert!(
        store
            .claim_deliveries(p1, until, 10, false)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(store.delete_subscription(sub.id).await.expect("delete"), 1);
    assert!(
        store
            .deliveries(sub.id, None, 10)
            .await
            .expect("log")
            .is_empty()
    );
    let _ = b;
}

async fn illegal_transition_changes_nothing(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let job = new_job(&store).await;
    store.apply(job.id, cancel()).await.expect("cancel");
    let before = store.get_job(job.id).await.expect("get").expect("exists");
    let err = store.apply(job.id, cancel()).await.expect_err("terminal");
    assert!(matches!(err, StoreError::Transition(_)), "{err}");
    let after = store.get_job(job.id).await.expect("get").expect("exists");
    assert_eq!(before, after);
    assert_eq!(
        store
            .job_events(job.id, None, u32::MAX)
            .await
            .expect("events")
            .len(),
        2
    );
}

async fn racing_commands_apply_once_each_without_gaps(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let job = new_job(&store).await;
    store
        .apply(
            job.id,
            Command::Queue {
                remote_job_id: None,
                location: None,
                at: OffsetDateTime::now_utc(),
            },
        )
        .await
        .expect("queue");
    // ten concurrent cancels and notes: exactly one cancel wins
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let command = if i % 2 == 0 {
                cancel()
            } else {
                Command::Note {
                    reason: format!("note {i}"),
                    at: OffsetDateTime::now_utc(),
                }
            };
            store.apply(job.id, command).await
        }));
    }
    let mut cancels = 0;
    for task in tasks {
        if let Ok(applied) = task.await.expect("join")
            && applied.job.status == JobStatus::Cancelled
        {
            cancels += 1;
        }
    }
    assert_eq!(cancels, 1);
    let events = store
        .job_events(job.id, None, u32::MAX)
        .await
        .expect("events");
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        events.last().map(|e| e.event_type),
        Some(EventType::Cancelled)
    );
}

async fn metrics_have_their_own_sequence_and_outbox_keeps_commit_order(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let job = new_job(&store).await;
    for _ in 0..3 {
        let sample = MetricsSample {
            cpu_usage_percent: 1.5,
            memory_usage_mb: 12.0,
            io_operations: 3,
            timestamp: OffsetDateTime::now_utc(),
        };
        store.record_metrics(job.id, sample).await.expect("metrics");
    }
    let events = store
        .job_events(job.id, None, u32::MAX)
        .await
        .expect("events");
    let metrics: Vec<u64> = events
        .iter()
        .filter(|e| e.event_type == EventType::MetricsRecorded)
        .map(|e| e.sequence)
        .collect();
    assert_eq!(metrics, vec![1, 2, 3]);
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    assert_eq!(outbox.len(), 4);
    // commit order: the events come out in the order this test wrote them
    let order: Vec<(EventType, u64)> = outbox
        .iter()
        .map(|o| (o.event.event_type, o.event.sequence))
        .collect();
    assert_eq!(
        order,
        [
            (EventType::Submitted, 1),
            (EventType::MetricsRecorded, 1),
            (EventType::MetricsRecorded, 2),
            (EventType::MetricsRecorded, 3),
        ]
    );
    let written: Vec<Uuid> = outbox.iter().map(|o| o.event.event_id).collect();
    // and `after` skips exactly what came before
    let rest = store
        .unpublished_events(outbox[1].position, 100)
        .await
        .expect("outbox after");
    assert_eq!(
        rest.iter().map(|o| o.event.event_id).collect::<Vec<_>>(),
        written[2..]
    );
    store
        .mark_published(&[outbox[0].position, outbox[1].position])
        .await
        .expect("mark");
    assert_eq!(store.outbox_depth().await.expect("depth"), 2);
}

/// Wait for every future at once (all are in flight together, so the writer
/// gathers them into batches).
async fn all<T: Send + 'static>(
    futures: impl IntoIterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

fn sample() -> MetricsSample {
    MetricsSample {
        cpu_usage_percent: 1.0,
        memory_usage_mb: 1.0,
        io_operations: 1,
        timestamp: OffsetDateTime::now_utc(),
    }
}

fn queue() -> Command {
    Command::Queue {
        remote_job_id: None,
        location: None,
        at: OffsetDateTime::now_utc(),
    }
}

fn start() -> Command {
    Command::Start {
        remote_job_id: Some("1".into()),
        at: OffsetDateTime::now_utc(),
    }
}

async fn group_commit_keeps_every_promise_under_64_concurrent_writers(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let before = (t.commits)();
    // 64 writers create jobs at once
    let created = all((0..64).map(|i| {
        let store = store.clone();
        async move { store.create_job(params(&format!("user-{i}"))).await }
    }))
    .await;
    let jobs: Vec<_> = created
        .into_iter()
        .map(|c| c.expect("create").job().clone())
        .collect();
    let commits = (t.commits)() - before;
    assert!(
        commits < 64,
        "64 concurrent creates took {commits} commits: nothing was grouped"
    );

    // the same idempotency key from 16 writers at once: one job
    let mut keyed = params("carol");
    keyed.idempotency = Some(IdempotencyParams {
        key: "same".into(),
        request_hash: "h".into(),
    });
    let replies = all((0..16).map(|_| {
        let (store, mut p) = (store.clone(), keyed.clone());
        p.id = Uuid::now_v7();
        async move { store.create_job(p).await.expect("create") }
    }))
    .await;
    let ids: std::collections::HashSet<Uuid> = replies.iter().map(|c| c.job().id).collect();
    assert_eq!(ids.len(), 1, "one key made {} jobs", ids.len());
    assert_eq!(
        replies
            .iter()
            .filter(|c| matches!(c, Created::New(_)))
            .count(),
        1
    );

    // racing commands on one job, mixed with poisoned items (an unknown job,
    // an illegal transition): each decided once, the poisoned ones fail alone
    let target = jobs[0].id;
    let results = all((0..64).map(|i| {
        let store = store.clone();
        async move {
            match i % 4 {
                0 => ("queue", store.apply(target, queue()).await.map(|_| ())),
                1 => ("cancel", store.apply(target, cancel()).await.map(|_| ())),
                2 => (
                    "unknown",
                    store.apply(Uuid::now_v7(), queue()).await.map(|_| ()),
                ),
                _ => (
                    "metrics",
                    store.record_metrics(target, sample()).await.map(|_| ()),
                ),
            }
        }
    }))
    .await;
    let ok = |kind: &str| {
        results
            .iter()
            .filter(|(k, r)| *k == kind && r.is_ok())
            .count()
    };
    // the 16 queues and 16 cancels race: the first cancel wins whenever it
    // lands; a queue applies once if one lands before it, never twice
    assert!(ok("queue") <= 1, "queue applied at most once");
    assert_eq!(ok("cancel"), 1, "cancel applied once");
    assert_eq!(ok("unknown"), 0);
    assert!(
        results
            .iter()
            .filter(|(k, _)| *k == "unknown")
            .all(|(_, r)| matches!(r, Err(StoreError::NotFound(_))))
    );
    let events = store
        .job_events(target, None, u32::MAX)
        .await
        .expect("events");
    let lifecycle: Vec<u64> = events
        .iter()
        .filter(|e| e.event_type != EventType::MetricsRecorded)
        .map(|e| e.sequence)
        .collect();
    assert_eq!(lifecycle, (1..=lifecycle.len() as u64).collect::<Vec<_>>());
    // submitted, queued (when a queue won), cancelled
    assert_eq!(lifecycle.len(), 2 + ok("queue"));
    let metrics: Vec<u64> = events
        .iter()
        .filter(|e| e.event_type == EventType::MetricsRecorded)
        .map(|e| e.sequence)
        .collect();
    assert_eq!(metrics, (1..=metrics.len() as u64).collect::<Vec<_>>());
    assert_eq!(metrics.len(), ok("metrics"));
    // nothing after the terminal event
    assert_eq!(
        events.last().map(|e| e.event_type),
        Some(EventType::Cancelled)
    );
    // every other job is untouched by the poisoned items of its batches
    for job in &jobs[1..] {
        let events = store.job_events(job.id, None, 10).await.expect("events");
        assert_eq!(events.len(), 1);
    }
}

async fn no_event_follows_a_terminal_one_whatever_the_race(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    for round in 0..40 {
        let job = new_job(&store).await;
        store.apply(job.id, queue()).await.expect("queue");
        store.apply(job.id, start()).await.expect("start");
        // samples, a cancel and a completion all at once
        let id = job.id;
        let mut racers: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> =
            Vec::new();
        for _ in 0..6 {
            let store = store.clone();
            racers.push(Box::pin(async move {
                let _ = store.record_metrics(id, sample()).await;
            }));
        }
        let s = store.clone();
        racers.insert(
            round % 6,
            Box::pin(async move {
                let _ = s.apply(id, cancel()).await;
            }),
        );
        let s = store.clone();
        racers.insert(
            (round * 5) % 8,
            Box::pin(async move {
                let _ = s
                    .apply(
                        id,
                        Command::Complete {
                            exit_code: 0,
                            at: OffsetDateTime::now_utc(),
                        },
                    )
                    .await;
            }),
        );
        all(racers).await;
        let events = store.job_events(id, None, u32::MAX).await.expect("events");
        let terminal = events
            .iter()
            .position(|e| {
                matches!(
                    e.event_type,
                    EventType::Completed | EventType::Cancelled | EventType::Failed
                )
            })
            .expect("a terminal event");
        assert_eq!(
            terminal,
            events.len() - 1,
            "round {round}: events after the terminal one: {:?}",
            events.iter().map(|e| e.event_type).collect::<Vec<_>>()
        );
        // and a late sample is refused as such
        let late = store.record_metrics(id, sample()).await;
        assert!(matches!(late, Err(StoreError::Ended(_))), "{late:?}");
    }
}

async fn tokens_expire_and_are_revoked_by_a_unique_id_prefix(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let soon = OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    store
        .create_token("aaaa1111bbbb", "alice", false, None)
        .await
        .expect("create");
    store
        .create_token("aaaa1111cccc", "bob", true, Some(soon))
        .await
        .expect("create");
    store
        .create_token("dddd2222eeee", "carol", false, None)
        .await
        .expect("create");
    let bob = store
        .find_token("aaaa1111cccc")
        .await
        .expect("find")
        .expect("bob");
    assert!(bob.admin);
    assert!(bob.expires_at.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        store.find_token("aaaa1111cccc").await.expect("find"),
        None,
        "expired"
    );
    // ambiguous and too short: nothing revoked
    assert_eq!(store.revoke_token("aaaa1111").await.expect("revoke"), 2);
    assert_eq!(store.revoke_token("aaaa").await.expect("revoke"), 0);
    assert!(
        store
            .find_token("aaaa1111bbbb")
            .await
            .expect("find")
            .is_some()
    );
    assert_eq!(store.revoke_token("aaaa1111bb").await.expect("revoke"), 1);
    assert_eq!(
        store.find_token("aaaa1111bbbb").await.expect("find"),
        None,
        "revoked"
    );
    assert!(
        store
            .find_token("dddd2222eeee")
            .await
            .expect("find")
            .is_some()
    );
    let listed = store.list_tokens().await.expect("list");
    assert_eq!(listed.len(), 3);
    let alice = listed.iter().find(|t| t.user_id == "alice").expect("alice");
    assert!(alice.revoked_at.is_some());
    assert_eq!(alice.id, "aaaa1111bbbb");
}

/// The outbox read the way the relay reads it ("position > last seen") while
/// three stores (three processes' writers) commit events concurrently: every
/// event is seen exactly once, and each job's in its order. Without
/// positions in commit order a reader skips rows of a transaction that
/// committed after a younger one.
async fn the_outbox_reader_never_skips_under_concurrent_writers(kind: Kind) {
    let t = setup(kind).await;
    let mut writers: Vec<Arc<dyn Store>> = vec![t.store.clone()];
    if let Some(url) = &t.url {
        for _ in 0..2 {
            writers.push(Arc::new(PgStore::connect(url).await.expect("connect")));
        }
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (w, store) in writers.iter().enumerate() {
        for task in 0..8 {
            let (store, stop) = (store.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut written = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let job = store
                        .create_job(params(&format!("w{w}-{task}")))
                        .await
                        .expect("create")
                        .job()
                        .clone();
                    store.apply(job.id, queue()).await.expect("queue");
                    store
                        .record_metrics(job.id, sample())
                        .await
                        .expect("sample");
                    written += 3;
                }
                written
            }));
        }
    }
    // the reader drains until every writer has finished
    let writers_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, stop) = (t.store.clone(), writers_done.clone());
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut last = 0;
            // each job's events in its own order (per stream)
            let mut newest: std::collections::HashMap<(Uuid, String), u64> = Default::default();
            loop {
                let done = stop.load(std::sync::atomic::Ordering::Relaxed);
                let page = store.unpublished_events(last, 500).await.expect("read");
                if let Some(newest) = page.last() {
                    last = newest.position;
                }
                for e in &page {
                    let key = (e.event.job_id, e.event.stream.as_str().to_owned());
                    let before = newest.insert(key, e.event.sequence).unwrap_or(0);
                    assert_eq!(
                        e.event.sequence,
                        before + 1,
                        "job {}'s {} events out of order",
                        e.event.job_id,
                        e.event.stream.as_str()
                    );
                }
                let positions: Vec<i64> = page.iter().map(|e| e.position).collect();
                store.mark_published(&positions).await.expect("mark");
                seen.extend(positions);
                if done && page.is_empty() {
                    return seen;
                }
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for task in tasks {
        written += task.await.expect("writer");
    }
    writers_done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.await.expect("reader");
    let unique: std::collections::HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an event was read twice");
    assert_eq!(
        t.store.outbox_depth().await.expect("depth"),
        0,
        "events the reader skipped stay unpublished"
    );
    // every event written, plus the creation events of nothing else
    assert_eq!(
        seen.len() as u64,
        written,
        "read {} of {written}",
        seen.len()
    );
}

fn audit(actor: Option<&str>, action: &str) -> horizon_core::AuditRecord {
    horizon_core::AuditRecord {
        event_id: Uuid::now_v7(),
        event_type: EventType::AuditRecorded,
        schema_version: horizon_core::SCHEMA_VERSION,
        timestamp: horizon_core::truncate_to_millis(OffsetDateTime::now_utc()),
        correlation_id: "c".into(),
        actor: actor.map(str::to_owned),
        admin: false,
        auth_method: actor.map(|_| "token".to_owned()),
        action: action.into(),
        outcome: "allowed".into(),
        status: 201,
        method: Some("POST".into()),
        path: Some("/v1/jobs".into()),
        target: None,
        client_address: Some("127.0.0.1:1".into()),
        detail: None,
    }
}

fn by_actor(actor: &str) -> AuditFilter {
    AuditFilter {
        actor: Some(actor.into()),
        ..AuditFilter::default()
    }
}

/// The trail narrows by action, target, outcome and time, together.
async fn audit_records_are_filtered_by_action_target_outcome_and_time(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let base = horizon_core::truncate_to_millis(OffsetDateTime::now_utc());
    let mut records = Vec::new();
    for (i, (action, target, outcome)) in [
        ("job.read", Some("j1"), "allowed"),
        ("job.cancel", Some("j1"), "allowed"),
        ("job.cancel", Some("j2"), "denied"),
        ("job.read", Some("j2"), "allowed"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = audit(Some("root"), action);
        record.target = target.map(str::to_owned);
        record.outcome = outcome.into();
        record.timestamp = base + time::Duration::seconds(i as i64 * 10);
        store.record_audit(record.clone()).await.expect("audit");
        records.push(record);
    }
    let read = |filter: AuditFilter| {
        let store = store.clone();
        async move {
            store
                .audit_records(0, 100, &filter)
                .await
                .expect("read")
                .into_iter()
                .map(|(_, json)| {
                    serde_json::from_str::<horizon_core::AuditRecord>(&json)
                        .expect("json")
                        .event_id
                })
                .collect::<Vec<_>>()
        }
    };
    let ids = |which: &[usize]| {
        which
            .iter()
            .map(|&i| records[i].event_id)
            .collect::<Vec<_>>()
    };
    let f = AuditFilter::default;
    assert_eq!(
        read(AuditFilter {
            action: Some("job.read".into()),
            ..f()
        })
        .await,
        ids(&[0, 3])
    );
    assert_eq!(
        read(AuditFilter {
            target: Some("j2".into()),
            ..f()
        })
        .await,
        ids(&[2, 3])
    );
    assert_eq!(
        read(AuditFilter {
            outcome: Some("denied".into()),
            ..f()
        })
        .await,
        ids(&[2])
    );
    assert_eq!(
        read(AuditFilter {
            since: Some(base + time::Duration::seconds(10)),
            until: Some(base + time::Duration::seconds(30)),
            ..f()
        })
        .await,
        ids(&[1, 2])
    );
    assert_eq!(
        read(AuditFilter {
            action: Some("job.cancel".into()),
            target: Some("j1".into()),
            actor: Some("root".into()),
            ..f()
        })
        .await,
        ids(&[1])
    );
    assert_eq!(
        read(AuditFilter {
            actor: Some("alice".into()),
            ..f()
        })
        .await,
        ids(&[])
    );
}

async fn audit_records_are_kept_in_order_and_go_through_the_outbox(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let job = store.create_job(params("alice")).await.expect("create");
    let written = [
        audit(Some("alice"), "job.submit"),
        audit(None, "job.read"),
        audit(Some("bob"), "job.cancel"),
        audit(Some("alice"), "job.cancel"),
    ];
    for record in &written {
        store.record_audit(record.clone()).await.expect("audit");
    }
    let all = store
        .audit_records(0, 100, &AuditFilter::default())
        .await
        .expect("read");
    let read: Vec<horizon_core::AuditRecord> = all
        .iter()
        .map(|(_, json)| serde_json::from_str(json).expect("json"))
        .collect();
    assert_eq!(read, written, "every record, byte for byte, in order");
    // paged by position, filtered by actor
    let page = store
        .audit_records(all[1].0, 1, &AuditFilter::default())
        .await
        .expect("page");
    assert_eq!(page, vec![all[2].clone()]);
    let alices = store
        .audit_records(0, 100, &by_actor("alice"))
        .await
        .expect("actor");
    assert_eq!(alices, vec![all[0].clone(), all[3].clone()]);
    // a job's events are not audit records, nor the other way round
    assert_eq!(
        store
            .job_events(job.job().id, None, 100)
            .await
            .expect("events")
            .len(),
        1
    );
    // the outbox holds them after the job's event, in commit order
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    let kinds: Vec<EventType> = outbox.iter().map(|o| o.event.event_type).collect();
    assert_eq!(
        kinds,
        [
            EventType::Submitted,
            EventType::AuditRecorded,
            EventType::AuditRecorded,
            EventType::AuditRecorded,
            EventType::AuditRecorded
        ]
    );
    for (outbox, record) in outbox[1..].iter().zip(&written) {
        assert_eq!(outbox.event.event_id, record.event_id);
        assert_eq!(outbox.event.job_id, record.event_id, "keyed by its own id");
        assert_eq!(outbox.event.sequence, 1);
    }
    // a submission's record goes in with the job, naming it, also on a replay
    let mut with_audit = params("carol");
    with_audit.idempotency = Some(crate::IdempotencyParams {
        key: "k".into(),
        request_hash: "h".into(),
    });
    with_audit.audit = Some(audit(Some("carol"), "job.submit"));
    let made = store.create_job(with_audit.clone()).await.expect("create");
    with_audit.id = Uuid::now_v7();
    with_audit.audit = Some(audit(Some("carol"), "job.submit"));
    let replayed = store.create_job(with_audit).await.expect("replay");
    assert_eq!(replayed.job().id, made.job().id);
    let carols = store
        .audit_records(0, 100, &by_actor("carol"))
        .await
        .expect("read");
    assert_eq!(carols.len(), 2);
    for (_, json) in &carols {
        let record: horizon_core::AuditRecord = serde_json::from_str(json).expect("json");
        assert_eq!(record.target, Some(made.job().id.to_string()));
    }
    // a refused submission (same key, other request) writes no record
    let mut other = params("carol");
    other.idempotency = Some(crate::IdempotencyParams {
        key: "k".into(),
        request_hash: "other".into(),
    });
    other.audit = Some(audit(Some("carol"), "job.submit"));
    assert!(store.create_job(other).await.is_err());
    assert_eq!(
        store
            .audit_records(0, 100, &by_actor("carol"))
            .await
            .expect("read")
            .len(),
        2
    );
}

/// The exactly-once relay's cache: `mark_published_through` marks what a
/// Kafka position covers, but never an event that was parked (un-parked,
/// it waits behind the position to be sent again, and
/// `unparked_events` finds it there).
async fn marks_catch_up_to_a_position_but_leave_unparked_events_to_resend(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    for _ in 0..3 {
        store.create_job(params("alice")).await.expect("create");
    }
    let outbox = store.unpublished_events(0, 10).await.expect("outbox");
    let positions: Vec<i64> = outbox.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), 3);
    let (p1, p2, p3) = (positions[0], positions[1], positions[2]);
    store.park_events(&[p2], "too large").await.expect("park");
    assert!(
        store
            .unparked_events(p3, 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(store.unpark_events(None).await.expect("unpark"), 1);
    let unparked: Vec<i64> = store
        .unparked_events(p3, 10)
        .await
        .expect("read")
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(unparked, vec![p2]);
    assert!(
        store
            .unparked_events(p1, 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(store.mark_published_through(p3).await.expect("mark"), 2);
    assert_eq!(store.outbox_depth().await.expect("depth"), 1);
    assert_eq!(store.unparked_events(p3, 10).await.expect("read").len(), 1);
    store.mark_published(&[p2]).await.expect("mark");
    assert_eq!(store.outbox_depth().await.expect("depth"), 0);
    assert!(
        store
            .unparked_events(p3, 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(store.mark_published_through(p3).await.expect("mark"), 0);
}

/// The relay's lag: the oldest event still waiting for Kafka (parked ones
/// do not count: they wait for an operator, not for the relay).
async fn the_oldest_waiting_event_says_how_far_behind_the_relay_is(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    assert_eq!(store.outbox_oldest().await.expect("oldest"), None);
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    new_job(&store).await;
    new_job(&store).await;
    let oldest = store
        .outbox_oldest()
        .await
        .expect("oldest")
        .expect("one waits");
    assert!(
        oldest >= before && oldest <= time::OffsetDateTime::now_utc(),
        "{oldest}"
    );
    let outbox = store.unpublished_events(0, 10).await.expect("outbox");
    let positions: Vec<i64> = outbox.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), 2);
    store
        .park_events(&positions[..1], "too large")
        .await
        .expect("park");
    let second = store
        .outbox_oldest()
        .await
        .expect("oldest")
        .expect("one waits");
    assert!(second >= oldest, "the parked one still counted");
    store.mark_published(&positions[1..]).await.expect("mark");
    assert_eq!(store.outbox_oldest().await.expect("oldest"), None);
}

/// PostgreSQL: the processes that beat and the one holding the relay's
/// lease are seen by every process (the cluster view); a released lease
/// shows as expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cluster_view_names_processes_and_the_relay_leader() {
    let t = setup(Kind::Postgres).await;
    let store = t.store.clone();
    let me = Uuid::now_v7();
    store
        .register_process(me, "host:/jobs")
        .await
        .expect("register");
    let mut lease = store
        .relay_leadership()
        .await
        .expect("ask")
        .expect("free: taken");
    let view = store.cluster().await.expect("cluster");
    let mine = view
        .processes
        .iter()
        .find(|p| p.id == me)
        .expect("this process listed");
    assert!(mine.alive);
    assert_eq!(mine.local_scope.as_deref(), Some("host:/jobs"));
    assert_eq!(mine.pid, i32::try_from(std::process::id()).expect("pid"));
    let held = view.relay_lease.expect("a lease");
    assert_eq!(held.process, Some(me));
    assert!(!held.expired);
    assert_eq!(held.epoch, lease.epoch());
    lease.release().await;
    let view = store.cluster().await.expect("cluster");
    assert!(view.relay_lease.expect("a lease").expired);
}

/// PostgreSQL: one holder of the relay's leadership at a time; given back,
/// another takes it at once; a holder that stops renewing loses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_leadership_is_exclusive_released_and_expires() {
    let t = setup(Kind::Postgres).await;
    let store = t.store.clone();
    let mut first = store
        .relay_leadership()
        .await
        .expect("ask")
        .expect("free: taken");
    assert!(store.relay_leadership().await.expect("ask").is_none());
    assert!(first.still_held().await);
    first.release().await;
    let second = store
        .relay_leadership()
        .await
        .expect("ask")
        .expect("released: taken");
    assert!(second.epoch() > first.epoch());
    assert!(!first.still_held().await, "a replaced holder must see it");
    // the second holder stops renewing (frozen): the lease expires
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let third = loop {
        if let Some(guard) = store.relay_leadership().await.expect("ask") {
            break guard;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(third.epoch() > second.epoch());
    // the exactly-once relay's transactional-id generation moves on under
    // the lease and passes to the next holder; a replaced holder (a zombie)
    // cannot move it
    let mut third = third;
    let generation = third.generation();
    assert_eq!(
        third.next_generation().await.expect("next"),
        Some(generation + 1)
    );
    assert_eq!(third.generation(), generation + 1);
    let mut second = second;
    assert_eq!(
        second.next_generation().await.expect("next"),
        None,
        "a holder whose lease was taken must not pick a transactional id"
    );
    third.release().await;
    let fourth = store
        .relay_leadership()
        .await
        .expect("ask")
        .expect("released: taken");
    assert_eq!(fourth.generation(), generation + 1);
    std::mem::forget(second);
}

/// A held job is kept, its hold survives a read, and no process marks it
/// for handing over until it is released; a job marked already cannot be
/// held (it may be at its scheduler). A clone records its original and is
/// found by it.
async fn held_jobs_are_not_handed_over_and_clones_are_found(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let me = Uuid::now_v7();
    store.heartbeat(me).await.expect("heartbeat");
    let held = new_job(&store).await;
    let free = new_job(&store).await;
    let hold = Command::Hold {
        by: "alice".into(),
        reason: "wait".into(),
        at: OffsetDateTime::now_utc(),
    };
    let applied = store.apply(held.id, hold.clone()).await.expect("hold");
    assert!(applied.job.held);
    assert_eq!(applied.job.status, JobStatus::Submitted);
    assert!(
        store
            .get_job(held.id)
            .await
            .expect("read")
            .expect("there")
            .held
    );
    let claimed = store
        .claim_jobs(me, held.backend, &[JobStatus::Submitted], None, 10)
        .await
        .expect("claim");
    let epoch = |id: Uuid| {
        claimed
            .iter()
            .find(|j| j.id == id)
            .map_or(0, |j| j.claim_epoch)
    };
    let marked = store
        .mark_handing_over(me, &[(held.id, epoch(held.id)), (free.id, epoch(free.id))])
        .await
        .expect("mark");
    assert_eq!(
        marked,
        vec![free.id],
        "a held job was marked for handing over"
    );
    assert!(matches!(
        store.apply(free.id, hold).await,
        Err(StoreError::Transition(
            horizon_core::TransitionError::HandingOver
        ))
    ));
    let released = store
        .apply(
            held.id,
            Command::Release {
                by: "alice".into(),
                reason: "go".into(),
                at: OffsetDateTime::now_utc(),
            },
        )
        .await
        .expect("release");
    assert!(!released.job.held);
    let marked = store
        .mark_handing_over(me, &[(held.id, epoch(held.id))])
        .await
        .expect("mark");
    assert_eq!(marked, vec![held.id]);

    let mut p = params("alice");
    p.cloned_from = Some(held.id);
    let clone = store.create_job(p).await.expect("clone").job().clone();
    assert_eq!(clone.cloned_from, Some(held.id));
    let found = store
        .list_jobs(ListJobsParams {
            cloned_from: Some(held.id),
            limit: 10,
            ..ListJobsParams::default()
        })
        .await
        .expect("list");
    assert_eq!(
        found.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![clone.id]
    );
    assert_eq!(
        store
            .get_job(clone.id)
            .await
            .expect("read")
            .expect("there")
            .cloned_from,
        Some(held.id)
    );
}

/// A retry keeps the job QUEUED on its next attempt, with its resources and
/// due time, unmarked; `due_attempts` shows it once due (not while held),
/// it may be marked and queued again, and the attempt survives a read.
async fn a_retried_job_waits_for_its_next_attempt_and_is_handed_over_again(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let me = Uuid::now_v7();
    store.heartbeat(me).await.expect("heartbeat");
    let mut p = params("alice");
    p.retry = Some(horizon_core::retry::RetryPolicy {
        attempts: 2,
        on: vec!["NODE_FAIL".into()],
        ..Default::default()
    });
    let job = store.create_job(p).await.expect("create").job().clone();
    assert_eq!((job.attempt, job.max_attempts), (1, 2));
    let claimed = store
        .claim_jobs(me, job.backend, &[JobStatus::Submitted], None, 10)
        .await
        .expect("claim");
    let epoch = claimed[0].claim_epoch;
    store
        .mark_handing_over(me, &[(job.id, epoch)])
        .await
        .expect("mark");
    store.apply(job.id, queue()).await.expect("queue");
    store.apply(job.id, start()).await.expect("start");
    let now = OffsetDateTime::now_utc();
    let bigger = horizon_core::Resources {
        memory_mb: Some(2048),
        ..Default::default()
    };
    let retried = store
        .apply(
            job.id,
            Command::Retry {
                error: horizon_core::JobError::new("NODE_FAIL", "node down"),
                next_attempt_at: now + time::Duration::milliseconds(300),
                resources: bigger,
                at: now,
            },
        )
        .await
        .expect("retry")
        .job;
    let read = store.get_job(job.id).await.expect("read").expect("there");
    assert_eq!(read.status, JobStatus::Queued);
    assert_eq!(read.attempt, 2);
    assert_eq!(read.resources, bigger);
    assert!(read.next_attempt_at.is_some() && read.remote_job_id.is_none());
    assert!(!read.handed_over, "the next attempt starts unmarked");
    assert_eq!(read, retried);
    // not due yet, then due
    let claimed = store
        .claim_jobs(me, job.backend, &[JobStatus::Queued], None, 10)
        .await
        .expect("claim");
    assert!(
        store
            .due_attempts(me, job.backend, 10)
            .await
            .expect("due")
            .is_empty()
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let due = store.due_attempts(me, job.backend, 10).await.expect("due");
    assert_eq!(due.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job.id]);
    let epoch = claimed
        .iter()
        .find(|j| j.id == job.id)
        .map_or(0, |j| j.claim_epoch);
    assert_eq!(
        store
            .mark_handing_over(me, &[(job.id, epoch)])
            .await
            .expect("mark"),
        vec![job.id]
    );
    let queued = store.apply(job.id, queue()).await.expect("queue again").job;
    assert_eq!(queued.next_attempt_at, None);
    assert!(
        store
            .due_attempts(me, job.backend, 10)
            .await
            .expect("due")
            .is_empty()
    );
    let events = store.job_events(job.id, None, 100).await.expect("events");
    let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        vec![
            EventType::Submitted,
            EventType::Queued,
            EventType::Running,
            EventType::RetryScheduled,
            EventType::Queued
        ]
    );
    // no attempt is left: a second retry is refused
    assert!(matches!(
        store
            .apply(
                job.id,
                Command::Retry {
                    error: horizon_core::JobError::new("NODE_FAIL", "again"),
                    next_attempt_at: now,
                    resources: bigger,
                    at: OffsetDateTime::now_utc(),
                },
            )
            .await,
        Err(StoreError::Transition(_))
    ));
}

/// A job with dependencies is made waiting; no process marks it for handing
/// over until it stops waiting (once: a second release is a no-op), and
/// the waiting jobs are listed for the resolver.
async fn a_job_waits_for_its_dependencies_until_released(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let me = Uuid::now_v7();
    store.heartbeat(me).await.expect("heartbeat");
    let first = new_job(&store).await;
    let mut p = params("alice");
    p.depends_on = vec![horizon_core::dependency::Dependency::on_job(
        first.id,
        horizon_core::dependency::Condition::AfterOk,
    )];
    let after = store.create_job(p).await.expect("create").job().clone();
    assert!(after.waiting);
    let read = store.get_job(after.id).await.expect("read").expect("there");
    assert_eq!(read.depends_on, after.depends_on);
    let waiting = store.waiting_jobs(None, 10).await.expect("waiting");
    assert_eq!(
        waiting.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![after.id]
    );
    let claimed = store
        .claim_jobs(me, after.backend, &[JobStatus::Submitted], None, 10)
        .await
        .expect("claim");
    let epoch = |id: Uuid| {
        claimed
            .iter()
            .find(|j| j.id == id)
            .map_or(0, |j| j.claim_epoch)
    };
    let marked = store
        .mark_handing_over(
            me,
            &[(first.id, epoch(first.id)), (after.id, epoch(after.id))],
        )
        .await
        .expect("mark");
    assert_eq!(marked, vec![first.id], "a waiting job was marked");
    // released with its dependency handed to its scheduler
    assert!(
        store
            .stop_waiting(after.id, Some("afterok:77".into()))
            .await
            .expect("release")
    );
    assert!(!store.stop_waiting(after.id, None).await.expect("again"));
    let read = store.get_job(after.id).await.expect("read").expect("there");
    assert_eq!(read.scheduler_dependency.as_deref(), Some("afterok:77"));
    let watched = store
        .scheduler_dependent_jobs(None, 10)
        .await
        .expect("watched");
    assert_eq!(
        watched.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![after.id]
    );
    assert!(
        store
            .waiting_jobs(None, 10)
            .await
            .expect("waiting")
            .is_empty()
    );
    // not ready while it waited: claimed (and so marked) only now
    assert!(!claimed.iter().any(|j| j.id == after.id));
    let claimed = store
        .claim_jobs(me, after.backend, &[JobStatus::Submitted], None, 10)
        .await
        .expect("claim");
    let released = claimed
        .iter()
        .find(|j| j.id == after.id)
        .expect("claimed once released");
    assert_eq!(
        store
            .mark_handing_over(me, &[(after.id, released.claim_epoch)])
            .await
            .expect("mark"),
        vec![after.id]
    );
}

/// "About to hand over" marks: only SUBMITTED jobs this process owns are
/// marked (and may be handed over); a claim shows the mark to whichever
/// process reads the job next.
async fn handing_over_marks_only_owned_submitted_jobs(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let me = Uuid::now_v7();
    store.heartbeat(me).await.expect("heartbeat");
    let a = new_job(&store).await;
    let b = new_job(&store).await;
    let claimed = store
        .claim_jobs(me, a.backend, &[JobStatus::Submitted], None, 10)
        .await
        .expect("claim");
    assert!(claimed.iter().all(|j| !j.handed_over));
    let epoch = |id: Uuid| {
        claimed
            .iter()
            .find(|j| j.id == id)
            .map_or(0, |j| j.claim_epoch)
    };
    store.apply(b.id, cancel()).await.expect("cancel");
    let marked = store
        .mark_handing_over(me, &[(a.id, epoch(a.id)), (b.id, epoch(b.id))])
        .await
        .expect("mark");
    assert_eq!(marked, vec![a.id], "a cancelled job is not handed over");
    assert!(
        store
            .get_job(a.id)
            .await
            .expect("read")
            .expect("there")
            .handed_over
    );
    assert!(
        !store
            .get_job(b.id)
            .await
            .expect("read")
            .expect("there")
            .handed_over
    );
    // marking again keeps it marked (and still answers it may go)
    assert_eq!(
        store
            .mark_handing_over(me, &[(a.id, epoch(a.id))])
            .await
            .expect("mark"),
        vec![a.id]
    );
    if matches!(kind, Kind::Postgres) {
        // another live process owns it: not this one's to hand over
        let other = Uuid::now_v7();
        store.heartbeat(other).await.expect("heartbeat");
        assert!(
            store
                .mark_handing_over(other, &[(a.id, epoch(a.id))])
                .await
                .expect("mark")
                .is_empty()
        );
    }
}

/// Fencing: a process whose claim on a job was taken over (it went silent,
/// another process claimed the job) writes nothing for it any more; the
/// new claimer does. (One process: nothing to fence.)
async fn a_stale_claim_writes_nothing(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let job = new_job(&store).await;
    let old = Uuid::now_v7();
    store.heartbeat(old).await.expect("heartbeat");
    let mine = store
        .claim_jobs(old, job.backend, &[JobStatus::Submitted], None, 10)
        .await
        .expect("claim");
    // then silent, as a frozen process is
    if let Some(url) = &t.url {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query("UPDATE processes SET heartbeat_at = now() - interval '1 hour' WHERE id = $1")
            .bind(old)
            .execute(&pool)
            .await
            .expect("silence");
    }
    let old_fence = Fence {
        process: old,
        epoch: mine[0].claim_epoch,
    };
    let new = Uuid::now_v7();
    store.heartbeat(new).await.expect("heartbeat");
    let theirs = store
        .claim_jobs(new, job.backend, &[JobStatus::Submitted], None, 10)
        .await
        .expect("claim");
    let queue = || Command::Queue {
        remote_job_id: Some("r-1".into()),
        location: None,
        at: OffsetDateTime::now_utc(),
    };
    let stale = store.apply_fenced(job.id, queue(), Some(old_fence)).await;
    if matches!(kind, Kind::Sqlite) {
        stale.expect("one process: nothing to fence");
        return;
    }
    assert!(
        matches!(stale, Err(StoreError::Fenced(id)) if id == job.id),
        "{stale:?}"
    );
    let now = store.get_job(job.id).await.expect("read").expect("there");
    assert_eq!(
        now.status,
        JobStatus::Submitted,
        "the stale write changed nothing"
    );
    assert_eq!(now.lifecycle_sequence, job.lifecycle_sequence);
    let fresh = Fence {
        process: new,
        epoch: theirs[0].claim_epoch,
    };
    assert!(fresh.epoch > old_fence.epoch);
    store
        .apply_fenced(job.id, queue(), Some(fresh))
        .await
        .expect("the new claimer writes");
}

/// A commit that wrote events rings the bell given to `ring_on_commit`
/// (the relay's wake-up); a read does not.
async fn a_commit_with_events_rings_the_bell(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let bell = Arc::new(tokio::sync::Notify::new());
    store.ring_on_commit(bell.clone());
    let rung = bell.notified();
    let job = new_job(&store).await;
    tokio::time::timeout(std::time::Duration::from_secs(5), rung)
        .await
        .expect("the bell rang for the submission");
    let rung = bell.notified();
    store.apply(job.id, cancel()).await.expect("cancel");
    tokio::time::timeout(std::time::Duration::from_secs(5), rung)
        .await
        .expect("the bell rang for the cancel");
    let quiet = bell.notified();
    store.get_job(job.id).await.expect("read");
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), quiet)
            .await
            .is_err(),
        "a read rings nothing"
    );
}

/// The leadership's transactional-id generation moves on while it is held.
async fn the_leadership_generation_moves_on_while_held(kind: Kind) {
    let t = setup(kind).await;
    let mut guard = t
        .store
        .relay_leadership()
        .await
        .expect("ask")
        .expect("free: held");
    let generation = guard.generation();
    assert_eq!(
        guard.next_generation().await.expect("next"),
        Some(generation + 1)
    );
}

/// `last_position` is a cursor a reader can go on after without missing
/// an event committed later (the live tail's head while nobody listens).
async fn last_position_is_a_cursor_that_misses_nothing(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    assert_eq!(store.last_position().await.expect("empty"), 0);
    let a = new_job(&store).await;
    let all = store
        .replay_events(&ReplayFilter::default(), 0, 100)
        .await
        .expect("all");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].event.job_id, a.id);
    let head = store.last_position().await.expect("head");
    assert_eq!(head, all[0].position);
    let b = new_job(&store).await;
    let after = store
        .replay_events(&ReplayFilter::default(), head, 100)
        .await
        .expect("after");
    let jobs: Vec<Uuid> = after.iter().map(|e| e.event.job_id).collect();
    assert_eq!(jobs, vec![b.id]);
    assert_eq!(
        store.last_position().await.expect("head"),
        after[0].position
    );
    // with nothing else reading the outbox, it keeps up by itself (on
    // PostgreSQL: a sequencing round at most once a second)
    let c = new_job(&store).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let head = store.last_position().await.expect("head");
    let tail = store
        .replay_events(&ReplayFilter::default(), head - 1, 100)
        .await
        .expect("tail");
    let jobs: Vec<Uuid> = tail.iter().map(|e| e.event.job_id).collect();
    assert_eq!(jobs, vec![c.id], "the head is the last event's position");
}

/// A replay reads stored events, published or not, by job, time and
/// position, in position order, paged.
async fn replay_selects_events_by_job_time_and_position(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let a = new_job(&store).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let b = new_job(&store).await;
    let c = new_job(&store).await;
    store.apply(a.id, cancel()).await.expect("cancel");
    let all = store
        .replay_events(&ReplayFilter::default(), 0, 100)
        .await
        .expect("all");
    assert_eq!(all.len(), 4);
    // published or not, they are replayed
    let positions: Vec<i64> = all.iter().map(|e| e.position).collect();
    store.mark_published(&positions).await.expect("mark");
    let ids = |events: &[OutboxEvent]| -> Vec<(Uuid, u64)> {
        events
            .iter()
            .map(|e| (e.event.job_id, e.event.sequence))
            .collect()
    };
    let by_job = ReplayFilter {
        job_id: Some(a.id),
        ..Default::default()
    };
    let got = store.replay_events(&by_job, 0, 100).await.expect("job");
    assert_eq!(ids(&got), vec![(a.id, 1), (a.id, 2)]);
    assert_eq!(store.replay_span(&by_job).await.expect("span").count, 2);
    let b_position = all[1].position;
    let from = ReplayFilter {
        from_position: Some(b_position),
        ..Default::default()
    };
    let got = store.replay_events(&from, 0, 100).await.expect("from");
    assert_eq!(ids(&got), vec![(b.id, 1), (c.id, 1), (a.id, 2)]);
    let since = ReplayFilter {
        since: Some(all[1].created_at),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.replay_events(&since, 0, 100).await.expect("since")),
        ids(&got)
    );
    let span = store.replay_span(&since).await.expect("span");
    assert_eq!(span.count, 3);
    assert_eq!(span.last_position, all[3].position);
    // bounded: what comes after the span is left out
    let bounded = ReplayFilter {
        through_position: Some(all[2].position),
        ..since.clone()
    };
    assert_eq!(
        ids(&store
            .replay_events(&bounded, 0, 100)
            .await
            .expect("bounded")),
        vec![(b.id, 1), (c.id, 1)]
    );
    assert_eq!(store.replay_span(&bounded).await.expect("span").count, 2);
    let both = ReplayFilter {
        job_id: Some(a.id),
        from_position: Some(b_position),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.replay_events(&both, 0, 100).await.expect("both")),
        vec![(a.id, 2)]
    );
    // paged: after the last position read
    let page = store.replay_events(&from, 0, 2).await.expect("page");
    assert_eq!(page.len(), 2);
    let rest = store
        .replay_events(&from, page[1].position, 2)
        .await
        .expect("rest");
    assert_eq!(ids(&rest), vec![(a.id, 2)]);
}

/// Retention that takes the newest events (everything ended and is in
/// Kafka, nothing newer) does not let positions go back: a later event
/// still comes after every position handed out before, or a relay whose
/// position was committed to Kafka would skip it.
async fn positions_never_go_back_when_retention_takes_the_newest_events(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let old = new_job(&store).await;
    store.apply(old.id, cancel()).await.expect("cancel");
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    let positions: Vec<i64> = outbox.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), 2);
    let last = *positions.last().expect("two");
    store.mark_published(&positions).await.expect("mark");
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let pruned = store.prune_jobs(later, true, 10).await.expect("prune");
    assert_eq!(pruned, vec![old.id]);
    let new = new_job(&store).await;
    let after = store.unpublished_events(last, 100).await.expect("outbox");
    let jobs: Vec<Uuid> = after.iter().map(|e| e.event.job_id).collect();
    assert_eq!(jobs, vec![new.id], "the new event comes after {last}");
    assert!(after[0].position > last);
}

/// Retention: ended jobs go with their events (not a running one, and with
/// Kafka on not one with an event not yet published); old audit records go
/// (published ones only, with Kafka on); the rest stays.
async fn retention_prunes_only_what_has_ended_and_reached_kafka(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let published = new_job(&store).await;
    let unpublished = new_job(&store).await;
    let running = new_job(&store).await;
    store.apply(published.id, cancel()).await.expect("cancel");
    store.apply(unpublished.id, cancel()).await.expect("cancel");
    store.apply(running.id, queue()).await.expect("queue");
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    let positions: Vec<i64> = outbox
        .iter()
        .filter(|e| e.event.job_id == published.id)
        .map(|e| e.position)
        .collect();
    assert_eq!(positions.len(), 2);
    store.mark_published(&positions).await.expect("mark");
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    // nothing ended before an hour ago
    let none = store
        .prune_jobs(later - time::Duration::hours(1), true, 10)
        .await
        .expect("prune");
    assert!(none.is_empty(), "{none:?}");
    // Kafka on: only the ended job whose events are all published
    let pruned = store.prune_jobs(later, true, 10).await.expect("prune");
    assert_eq!(pruned, vec![published.id]);
    assert!(store.get_job(published.id).await.expect("read").is_none());
    assert!(
        store.job_events(published.id, None, 10).await.is_err()
            || store
                .job_events(published.id, None, 10)
                .await
                .expect("events")
                .is_empty()
    );
    // Kafka off: every ended job
    let pruned = store.prune_jobs(later, false, 10).await.expect("prune");
    assert_eq!(pruned, vec![unpublished.id]);
    assert!(store.get_job(running.id).await.expect("read").is_some());
    assert_eq!(
        store
            .job_events(running.id, None, 10)
            .await
            .expect("events")
            .len(),
        2
    );
    // audit records: the published one with Kafka on, then the other
    let first = audit(Some("alice"), "job.submit");
    let second = audit(Some("alice"), "job.cancel");
    store.record_audit(first.clone()).await.expect("audit");
    store.record_audit(second.clone()).await.expect("audit");
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    let audit_position: Vec<i64> = outbox
        .iter()
        .filter(|e| e.event.event_id == first.event_id)
        .map(|e| e.position)
        .collect();
    store.mark_published(&audit_position).await.expect("mark");
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert_eq!(store.prune_audit(later, true, 10).await.expect("prune"), 1);
    assert_eq!(store.prune_audit(later, false, 10).await.expect("prune"), 1);
    assert_eq!(store.prune_audit(later, false, 10).await.expect("prune"), 0);
    // what is left still flows through the outbox
    let left = store.unpublished_events(0, 100).await.expect("outbox");
    assert!(
        left.iter().all(|e| e.event.job_id == running.id),
        "{left:?}"
    );
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Kind::Postgres).await;
                }
            )*
        }
    };
}

// The store conformance suite: every case against SQLite and PostgreSQL.
conformance!(
    the_outbox_reader_never_skips_under_concurrent_writers,
    tokens_expire_and_are_revoked_by_a_unique_id_prefix,
    created_job_has_its_submitted_event,
    idempotency_key_replays_same_job_and_refuses_other_body,
    illegal_transition_changes_nothing,
    a_jobs_account_location_and_trace_are_kept,
    jobs_are_listed_by_any_of_several_statuses,
    job_timings_say_outcome_and_times,
    the_event_log_reads_one_users_jobs_without_audit_records,
    webhook_deliveries_go_in_order_per_job_and_once_per_claim,
    racing_commands_apply_once_each_without_gaps,
    metrics_have_their_own_sequence_and_outbox_keeps_commit_order,
    group_commit_keeps_every_promise_under_64_concurrent_writers,
    no_event_follows_a_terminal_one_whatever_the_race,
    audit_records_are_kept_in_order_and_go_through_the_outbox,
    audit_records_are_filtered_by_action_target_outcome_and_time,
    marks_catch_up_to_a_position_but_leave_unparked_events_to_resend,
    replay_selects_events_by_job_time_and_position,
    last_position_is_a_cursor_that_misses_nothing,
    the_leadership_generation_moves_on_while_held,
    handing_over_marks_only_owned_submitted_jobs,
    a_stale_claim_writes_nothing,
    retention_prunes_only_what_has_ended_and_reached_kafka,
    positions_never_go_back_when_retention_takes_the_newest_events,
    a_commit_with_events_rings_the_bell,
    the_oldest_waiting_event_says_how_far_behind_the_relay_is,
    held_jobs_are_not_handed_over_and_clones_are_found,
    a_retried_job_waits_for_its_next_attempt_and_is_handed_over_again,
    a_job_waits_for_its_dependencies_until_released,
);

// (after the macro, which it uses)
mod sweeps;

//! Prometheus metrics: their names, descriptions and buckets, in one place.

use horizon_core::JobStatus;
use horizon_store::{Store, StoreError};
use metrics::{describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

pub const JOBS: &str = "horizon_jobs";
pub const SUBMISSIONS: &str = "horizon_job_submissions_total";
pub const WEBHOOK_ATTEMPTS: &str = "horizon_webhook_attempts_total";
pub const TRANSITIONS: &str = "horizon_job_transitions_total";
pub const OUTBOX_DEPTH: &str = "horizon_outbox_depth";
pub const OUTBOX_LAG: &str = "horizon_outbox_lag_seconds";
pub const PARKED_DEPTH: &str = "horizon_events_parked";
pub const TASK_PANICS: &str = "horizon_task_panics_total";
pub const NOTIFICATIONS: &str = "horizon_commit_notifications_total";
pub const DENIED: &str = "horizon_api_denied_total";
pub const BACKEND_ERRORS: &str = "horizon_backend_errors_total";
pub const PRUNED: &str = "horizon_pruned_total";
pub const TAKEOVERS: &str = "horizon_jobs_taken_over_total";
pub const HTTP_REQUESTS: &str = "horizon_http_requests_total";
pub const HTTP_DURATION: &str = "horizon_http_request_duration_seconds";
pub const QUEUE_WAIT: &str = "horizon_job_queue_wait_seconds";
pub const RUN_TIME: &str = "horizon_job_run_seconds";
pub use horizon_backend::local::POLL_ERRORS;
pub use horizon_kafka::metric_names::{
    HELD_PARTITIONS, PARKED, PUBLISH_FAILURES, PUBLISH_LATENCY, PUBLISH_RETRIES, PUBLISHED,
    TX_FAILURES,
};

/// Every metric the server exports: name, kind, help.
pub const ALL: &[(&str, Kind, &str)] = &[
    (JOBS, Kind::Gauge, "Jobs by status"),
    (
        BACKEND_ERRORS,
        Kind::Counter,
        "Calls to a backend's scheduler that failed for a passing reason (unreachable, busy), by backend and op",
    ),
    (
        DENIED,
        Kind::Counter,
        "API requests refused: unauthenticated (no valid token) or forbidden",
    ),
    (SUBMISSIONS, Kind::Counter, "Jobs submitted through the API"),
    (
        TAKEOVERS,
        Kind::Counter,
        "Jobs this process took over from silent processes (PostgreSQL, several processes)",
    ),
    (
        HTTP_REQUESTS,
        Kind::Counter,
        "HTTP requests answered, by method, route (its template) and status",
    ),
    (
        HTTP_DURATION,
        Kind::Histogram,
        "Seconds from a request to its response's head, by method and route",
    ),
    (
        QUEUE_WAIT,
        Kind::Histogram,
        "Seconds from submission to running, by agent",
    ),
    (
        RUN_TIME,
        Kind::Histogram,
        "Seconds from running to the end, by agent and final status",
    ),
    (
        PRUNED,
        Kind::Counter,
        "Rows deleted by retention, by what (jobs, with their events; audit records)",
    ),
    (
        TRANSITIONS,
        Kind::Counter,
        "Job status transitions, by from and to status",
    ),
    (
        OUTBOX_DEPTH,
        Kind::Gauge,
        "Events written but not yet published to Kafka (parked ones excluded)",
    ),
    (
        OUTBOX_LAG,
        Kind::Gauge,
        "How long the oldest event waiting for Kafka has waited (0 when none waits): the relay's lag",
    ),
    (
        PARKED_DEPTH,
        Kind::Gauge,
        "Events Kafka refused for good, waiting for `horizon events retry-parked`",
    ),
    (PUBLISHED, Kind::Counter, "Events acknowledged by Kafka"),
    (
        PUBLISH_FAILURES,
        Kind::Counter,
        "Event deliveries Kafka failed",
    ),
    (
        PUBLISH_RETRIES,
        Kind::Counter,
        "Events sent again after a failed delivery",
    ),
    (
        TX_FAILURES,
        Kind::Counter,
        "Exactly once: relay transactions that failed, were aborted and are retried whole",
    ),
    (
        HELD_PARTITIONS,
        Kind::Gauge,
        "Exactly once: Kafka partitions held back (no leader, or their records failed) while the others flow",
    ),
    (
        PARKED,
        Kind::Counter,
        "Events parked because Kafka refused them for good (and those held behind them)",
    ),
    (
        PUBLISH_LATENCY,
        Kind::Histogram,
        "Seconds from an event's commit to Kafka's acknowledgement",
    ),
    (
        TASK_PANICS,
        Kind::Counter,
        "Background tasks that panicked and were restarted, by task",
    ),
    (
        NOTIFICATIONS,
        Kind::Counter,
        "Commit notifications heard from PostgreSQL (LISTEN/NOTIFY): writes of any process that woke this one's relay",
    ),
    (
        WEBHOOK_ATTEMPTS,
        Kind::Counter,
        "Webhook delivery attempts, by outcome (delivered, retry, failed)",
    ),
    (
        POLL_ERRORS,
        Kind::Counter,
        "Per-job errors met by the local backend's polls, by kind (io, corrupt)",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Install the process-wide recorder and describe every metric.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(PUBLISH_LATENCY.to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(HTTP_DURATION.to_owned()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(QUEUE_WAIT.to_owned()),
            &[
                0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(RUN_TIME.to_owned()),
            &[
                1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 43_200.0, 86_400.0, 259_200.0,
            ],
        )?
        .install_recorder()?;
    for (name, kind, help) in ALL {
        match kind {
            Kind::Counter => describe_counter!(*name, *help),
            Kind::Gauge => describe_gauge!(*name, *help),
            Kind::Histogram => describe_histogram!(*name, *help),
        }
    }
    Ok(handle)
}

/// Set the gauges that are read from the database when scraped. The outbox
/// gauges only with Kafka: without it nothing ever publishes, so a depth
/// that only grows would alarm for nothing.
/// How long the oldest event waiting for Kafka (written at `oldest`) has
/// waited, in seconds: the relay's lag (0 when none waits).
pub fn relay_lag(oldest: Option<time::OffsetDateTime>) -> f64 {
    oldest.map_or(0.0, |at| {
        (time::OffsetDateTime::now_utc() - at)
            .as_seconds_f64()
            .max(0.0)
    })
}

pub async fn refresh_gauges(store: &dyn Store, kafka: bool) -> Result<(), StoreError> {
    let counts = store.count_by_status().await?;
    for status in JobStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        gauge!(JOBS, "status" => status.as_str()).set(n as f64);
    }
    metrics::counter!(NOTIFICATIONS).absolute(horizon_store::commit_notifications_heard());
    metrics::counter!(TAKEOVERS).absolute(horizon_store::jobs_taken_over());
    if kafka {
        gauge!(OUTBOX_DEPTH).set(store.outbox_depth().await? as f64);
        gauge!(OUTBOX_LAG).set(relay_lag(store.outbox_oldest().await?));
        gauge!(PARKED_DEPTH).set(store.parked_count().await? as f64);
    }
    Ok(())
}

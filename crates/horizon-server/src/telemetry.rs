//! Prometheus metrics: their names, descriptions and buckets, in one place.

use horizon_core::JobStatus;
use horizon_store::{Store, StoreError};
use metrics::{describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

pub const JOBS: &str = "horizon_jobs";
pub const SUBMISSIONS: &str = "horizon_job_submissions_total";
pub const TRANSITIONS: &str = "horizon_job_transitions_total";
pub const OUTBOX_DEPTH: &str = "horizon_outbox_depth";
pub use horizon_kafka::metric_names::{
    PUBLISH_FAILURES, PUBLISH_LATENCY, PUBLISH_RETRIES, PUBLISHED,
};

/// Install the process-wide recorder and describe every metric.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(PUBLISH_LATENCY.to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )?
        .install_recorder()?;
    describe_gauge!(JOBS, "Jobs by status");
    describe_counter!(SUBMISSIONS, "Jobs submitted through the API");
    describe_counter!(TRANSITIONS, "Job status transitions, by from and to status");
    describe_gauge!(
        OUTBOX_DEPTH,
        "Events written but not yet published to Kafka"
    );
    describe_counter!(PUBLISHED, "Events acknowledged by Kafka");
    describe_counter!(PUBLISH_FAILURES, "Event deliveries Kafka failed");
    describe_counter!(PUBLISH_RETRIES, "Events sent again after a failed delivery");
    describe_histogram!(
        PUBLISH_LATENCY,
        "Seconds from an event's commit to Kafka's acknowledgement"
    );
    Ok(handle)
}

/// Set the gauges that are read from the database when scraped.
pub async fn refresh_gauges(store: &dyn Store) -> Result<(), StoreError> {
    let counts = store.count_by_status().await?;
    for status in JobStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        gauge!(JOBS, "status" => status.as_str()).set(n as f64);
    }
    gauge!(OUTBOX_DEPTH).set(store.outbox_depth().await? as f64);
    Ok(())
}

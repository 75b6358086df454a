//! `horizon bench`: submit jobs to a running server as fast as it takes them
//! and report submit latency, submit throughput and (with --wait) how fast
//! the jobs are driven to their end.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::ClientArgs;
use crate::client::Client;

pub async fn submit(
    args: &ClientArgs,
    agent: &str,
    jobs: usize,
    concurrency: usize,
    wait: bool,
    published: bool,
) -> anyhow::Result<ExitCode> {
    if jobs == 0 || concurrency == 0 {
        bail!("--jobs and --concurrency must be at least 1");
    }
    let client = Arc::new(Client::new(args)?);
    let published_before = if published {
        metric(&client, "horizon_events_published_total").await?
    } else {
        0.0
    };
    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(jobs);
    for i in 0..jobs {
        let permit = permits.clone().acquire_owned().await?;
        let client = client.clone();
        let body =
            json!({"agent": agent, "dataset_id": format!("bench-{i}"), "parameters": {"i": i}});
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let result = client
                .send(client.request(Method::POST, "/v1/jobs").json(&body))
                .await;
            drop(permit);
            result.map(|(_, job)| {
                (
                    sent.elapsed(),
                    job["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
        }));
    }
    let mut latencies = Vec::with_capacity(jobs);
    let mut ids = Vec::with_capacity(jobs);
    for task in tasks {
        let (latency, id) = task.await?.context("a submission failed")?;
        latencies.push(latency);
        ids.push(id);
    }
    let submit_elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "submitted {jobs} jobs with {concurrency} in flight in {:.2} s: {:.0} jobs/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        submit_elapsed.as_secs_f64(),
        jobs as f64 / submit_elapsed.as_secs_f64(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(pct(1.0)),
    );
    if published {
        // every event of the run on Kafka: nothing left to dispatch, and the
        // outbox is empty again
        loop {
            let text = client.text("/metrics").await?;
            let submitted = sample(&text, "horizon_jobs{status=\"SUBMITTED\"}");
            if submitted == 0.0 && sample(&text, "horizon_outbox_depth") == 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all = started.elapsed();
        let events = metric(&client, "horizon_events_published_total").await? - published_before;
        println!(
            "all {events:.0} events on Kafka {:.2} s after the first submission: {:.0} events/s published",
            all.as_secs_f64(),
            events / all.as_secs_f64()
        );
    }
    if wait {
        for id in &ids {
            loop {
                let job = client.get(&format!("/v1/jobs/{id}")).await?;
                if matches!(
                    job["status"].as_str(),
                    Some("COMPLETED" | "FAILED" | "CANCELLED")
                ) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let all = started.elapsed();
        println!(
            "all {jobs} jobs ended {:.2} s after the first submission: {:.0} jobs/s end to end",
            all.as_secs_f64(),
            jobs as f64 / all.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One sample from the server's /metrics (0 when absent).
async fn metric(client: &Client, name: &str) -> anyhow::Result<f64> {
    Ok(sample(&client.text("/metrics").await?, name))
}

/// One sample (`name` with its labels, if any) from Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

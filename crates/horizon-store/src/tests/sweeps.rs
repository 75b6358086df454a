//! Store conformance cases for sweeps (both stores, through `conformance!`).

use std::sync::Arc;

use horizon_core::{BackendKind, EventType, JobStatus};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Kind, cancel, params, setup};
use crate::{
    CreateSweepParams, IdempotencyParams, ListJobsParams, Store, StoreError, SweepCreated,
};

fn sweep_params(size: usize, limit: Option<u32>, key: Option<&str>) -> CreateSweepParams {
    let mut jobs = Vec::new();
    let mut ids: Vec<Uuid> = (0..size).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    for (i, id) in ids.into_iter().enumerate() {
        let mut p = params("alice");
        p.id = id;
        p.parameters.insert("i".into(), json!(i));
        jobs.push(p);
    }
    CreateSweepParams {
        id: Uuid::now_v7(),
        user_id: "alice".into(),
        agent: "AlphaCal".into(),
        concurrency_limit: limit,
        correlation_id: "corr-sweep".into(),
        created_at: OffsetDateTime::now_utc(),
        jobs,
        gate: limit.is_some(),
        idempotency: key.map(|k| IdempotencyParams {
            key: k.into(),
            request_hash: format!("hash-{size}"),
        }),
        audit: None,
    }
}

async fn sweep_jobs(store: &Arc<dyn Store>, id: Uuid) -> Vec<horizon_core::Job> {
    let mut jobs = store
        .list_jobs(ListJobsParams {
            sweep_id: Some(id),
            limit: 1000,
            ..ListJobsParams::default()
        })
        .await
        .expect("list");
    jobs.reverse();
    jobs
}

pub(super) async fn a_sweep_and_its_jobs_are_made_at_once_and_replayed_by_key(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let other = store.create_job(params("alice")).await.expect("create");
    let made = store
        .create_sweep(sweep_params(5, Some(2), Some("k1")))
        .await
        .expect("sweep");
    let SweepCreated::New(sweep) = made else {
        panic!("a new sweep")
    };
    assert_eq!(sweep.size, 5);
    let read = store
        .get_sweep(sweep.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(read.counts.get(&JobStatus::Submitted), Some(&5));
    assert_eq!(read.concurrency_limit, Some(2));
    assert_eq!(read.completed_at, None);
    let jobs = sweep_jobs(&store, sweep.id).await;
    assert_eq!(jobs.len(), 5, "only the sweep's jobs");
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job.sweep_id, Some(sweep.id));
        assert_eq!(job.sweep_index, Some(i as u32));
        assert_eq!(job.parameters["i"], json!(i));
        assert_eq!(job.gated, i >= 2, "past the limit: gated");
    }
    // gated jobs are not ready to hand over
    let ready = store
        .jobs_in_status(BackendKind::Local, &[JobStatus::Submitted], None, 100)
        .await
        .expect("ready");
    let ready: Vec<Uuid> = ready.iter().map(|j| j.id).collect();
    assert_eq!(ready.len(), 3, "{ready:?}");
    assert!(ready.contains(&other.job().id));
    assert!(ready.contains(&jobs[0].id) && ready.contains(&jobs[1].id));
    // the sweep's event first, keyed by its id, then each job's
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    let ours: Vec<_> = outbox
        .iter()
        .filter(|e| e.event.job_id == sweep.id || jobs.iter().any(|j| j.id == e.event.job_id))
        .collect();
    assert_eq!(ours.len(), 6);
    assert_eq!(ours[0].event.event_type, EventType::SweepSubmitted);
    assert_eq!(ours[0].event.job_id, sweep.id);
    let envelope: Value = serde_json::from_str(&ours[0].event.envelope).expect("json");
    assert_eq!(envelope["sweep_id"], sweep.id.to_string());
    assert_eq!(
        envelope["payload"],
        json!({"agent": "AlphaCal", "size": 5, "concurrency_limit": 2})
    );
    assert!(
        ours[1..]
            .iter()
            .all(|e| e.event.event_type == EventType::Submitted)
    );
    // the same key and request: the same sweep, nothing new
    let again = store
        .create_sweep(sweep_params(5, Some(2), Some("k1")))
        .await
        .expect("replay");
    assert!(matches!(&again, SweepCreated::Replayed(s) if s.id == sweep.id));
    assert_eq!(sweep_jobs(&store, sweep.id).await.len(), 5);
    let refused = store.create_sweep(sweep_params(3, None, Some("k1"))).await;
    assert!(
        matches!(refused, Err(StoreError::IdempotencyMismatch { .. })),
        "{refused:?}"
    );
    let total = store.count_by_status().await.expect("count");
    assert_eq!(
        total.iter().map(|(_, n)| n).sum::<u64>(),
        6,
        "nothing else was made"
    );
}

pub(super) async fn tending_releases_gated_jobs_as_others_end_and_completes_once(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let SweepCreated::New(sweep) = store
        .create_sweep(sweep_params(4, Some(2), None))
        .await
        .expect("sweep")
    else {
        panic!("new")
    };
    let jobs = sweep_jobs(&store, sweep.id).await;
    let tended = store.tend_sweeps().await.expect("tend");
    assert_eq!(tended.released, 0, "two run: no room");
    assert!(tended.completed.is_empty());
    store.apply(jobs[0].id, cancel()).await.expect("cancel");
    let tended = store.tend_sweeps().await.expect("tend");
    assert_eq!(tended.released, 1);
    let now = sweep_jobs(&store, sweep.id).await;
    assert!(!now[2].gated, "the lowest gated index goes first");
    assert!(now[3].gated);
    for job in &jobs[1..] {
        store.apply(job.id, cancel()).await.expect("cancel");
    }
    let tended = store.tend_sweeps().await.expect("tend");
    assert_eq!(tended.completed, vec![sweep.id]);
    let again = store.tend_sweeps().await.expect("tend");
    assert!(again.completed.is_empty(), "completed once");
    let read = store
        .get_sweep(sweep.id)
        .await
        .expect("read")
        .expect("there");
    assert!(read.completed_at.is_some());
    assert_eq!(read.counts.get(&JobStatus::Cancelled), Some(&4));
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    let mine: Vec<_> = outbox
        .iter()
        .filter(|e| e.event.job_id == sweep.id)
        .collect();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[1].event.event_type, EventType::SweepCompleted);
    assert_eq!(mine[1].event.sequence, 2);
    let envelope: Value = serde_json::from_str(&mine[1].event.envelope).expect("json");
    assert_eq!(
        envelope["payload"]["counts"],
        json!({"COMPLETED": 0, "FAILED": 0, "CANCELLED": 4})
    );
    // it came after the last job's terminal event
    let last_job_event = outbox
        .iter()
        .filter(|e| jobs.iter().any(|j| j.id == e.event.job_id))
        .map(|e| e.position)
        .max()
        .expect("job events");
    assert!(mine[1].position > last_job_event);
}

pub(super) async fn retention_takes_a_sweep_once_it_took_all_its_jobs(kind: Kind) {
    let t = setup(kind).await;
    let store = t.store.clone();
    let SweepCreated::New(sweep) = store
        .create_sweep(sweep_params(2, None, None))
        .await
        .expect("sweep")
    else {
        panic!("new")
    };
    let jobs = sweep_jobs(&store, sweep.id).await;
    store.apply(jobs[0].id, cancel()).await.expect("cancel");
    store.tend_sweeps().await.expect("tend");
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(5);
    // one job left: the sweep stays
    let pruned = store.prune_jobs(later, false, 100).await.expect("prune");
    assert_eq!(pruned, vec![jobs[0].id]);
    assert!(store.get_sweep(sweep.id).await.expect("read").is_some());
    store.apply(jobs[1].id, cancel()).await.expect("cancel");
    assert_eq!(
        store.tend_sweeps().await.expect("tend").completed,
        vec![sweep.id]
    );
    let pruned = store.prune_jobs(later, false, 100).await.expect("prune");
    assert_eq!(pruned, vec![jobs[1].id]);
    assert!(
        store.get_sweep(sweep.id).await.expect("read").is_none(),
        "the sweep went with its last job"
    );
    let outbox = store.unpublished_events(0, 100).await.expect("outbox");
    assert!(
        outbox.iter().all(|e| e.event.job_id != sweep.id),
        "and its events"
    );
}

conformance!(
    a_sweep_and_its_jobs_are_made_at_once_and_replayed_by_key,
    tending_releases_gated_jobs_as_others_end_and_completes_once,
    retention_takes_a_sweep_once_it_took_all_its_jobs,
);

//! A broker down in a cluster of three, topics without replicas
//! (replication factor 1): the partitions it led have no leader. The relay
//! holds back only the jobs whose events go there (exactly once: held
//! partitions in its position; at least once: a window bounded per
//! partition); every other job keeps flowing, the held ones catch up when
//! the broker is back, and the relay's memory does not grow with the held
//! backlog.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::ServerOptions;
use common::kafka::{Broker, consume_partitions, java_partition, leaders, partitions};
use common::kafka_setup::{assert_job_published, of_job, setup_on};
use serde_json::json;

/// The process's resident memory, in KiB.
fn rss_kib(pid: nix::unistd::Pid) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_one_broker_down_holds_back_only_the_jobs_of_its_partitions() {
    one_broker_down(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_one_broker_down_holds_back_only_the_jobs_of_its_partitions() {
    one_broker_down(false).await;
}

/// Three brokers each: one test at a time on two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn one_broker_down(exactly_once: bool) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let broker = Broker::own(3).await;
    if !broker.can_restart() {
        eprintln!("skipped: an external cluster cannot be stopped by the test");
        return;
    }
    let mut s = setup_on(
        broker,
        ServerOptions {
            slots: 0,
            ..Default::default()
        },
        &format!(
            "message_timeout_ms = 5000\ninitial_backoff_ms = 100\nmax_backoff_ms = 1000\n\
             exactly_once = {exactly_once}\nwindow_events = 200\nwindow_per_partition = 50\n"
        ),
    )
    .await;
    let brokers = s.broker.brokers.clone();
    // the topics exist once a first job's events are through
    let first = s.alice.submit("ok", json!({"seconds": 0})).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let first_events = s.alice.events(&first_id).await;
    s.consume_all(&first_events).await;

    // stop a broker that leads some of the lifecycle topic's partitions,
    // but not the relay's position partition (it has one, unreplicated too)
    let position_topic = s
        .kafka_section
        .lines()
        .find_map(|l| l.strip_prefix("position_topic = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    // (at least once there is none)
    let position_leader = if exactly_once {
        leaders(&brokers, &position_topic)[&0]
    } else {
        -1
    };
    let lifecycle_leaders = leaders(&brokers, &s.lifecycle);
    let victim = s
        .broker
        .node_ids()
        .into_iter()
        .map(|id| id as i32)
        .find(|id| *id != position_leader && lifecycle_leaders.values().any(|l| l == id))
        .expect("a broker leading lifecycle partitions but not the position's");
    let dead: BTreeSet<i32> = lifecycle_leaders
        .iter()
        .filter(|(_, l)| **l == victim)
        .map(|(p, _)| *p)
        .collect();
    let count = partitions(&brokers, &s.lifecycle);
    let live: Vec<(String, i32)> = (0..count)
        .filter(|p| !dead.contains(p))
        .map(|p| (s.lifecycle.clone(), p))
        .collect();

    let submit_for = |api: common::Api, seconds: u64| {
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
            let mut ids = Vec::new();
            while tokio::time::Instant::now() < deadline {
                let job = api.submit("ok", json!({"seconds": 0})).await;
                ids.push(job["id"].as_str().unwrap().to_owned());
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            ids
        })
    };
    let mut before = Vec::new();
    for loader in (0..3)
        .map(|_| submit_for(s.alice.clone(), 2))
        .collect::<Vec<_>>()
    {
        before.extend(loader.await.unwrap());
    }
    let rss_before = rss_kib(s.server.pid());
    s.broker
        .stop_node(victim as u32, nix::sys::signal::Signal::SIGTERM);
    eprintln!("broker {victim} stopped: lifecycle partitions {dead:?} of {count} have no leader");
    let mut during = Vec::new();
    for loader in (0..3)
        .map(|_| submit_for(s.alice.clone(), 10))
        .collect::<Vec<_>>()
    {
        during.extend(loader.await.unwrap());
    }
    let (on_live, on_dead): (Vec<String>, Vec<String>) = during
        .iter()
        .cloned()
        .partition(|id| !dead.contains(&java_partition(id, count)));
    assert!(
        !on_live.is_empty() && !on_dead.is_empty(),
        "jobs on both kinds of partitions"
    );
    // every job on a live partition is through while the broker is down
    let mut expected_live = Vec::new();
    for id in &on_live {
        expected_live.extend(
            s.alice
                .events(id)
                .await
                .into_iter()
                .filter(|e| e["event_type"] != "job.metrics_recorded"),
        );
    }
    let want: BTreeSet<String> = expected_live
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    let records = consume_partitions(&brokers, live.clone(), Duration::from_secs(60), {
        let want = want.clone();
        move |records| {
            let seen: BTreeSet<&str> = records
                .iter()
                .filter_map(|r| r.headers.get("ce_id").map(String::as_str))
                .collect();
            want.iter().all(|id| seen.contains(id.as_str()))
        }
    })
    .await;
    let seen: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.headers.get("ce_id").map(String::as_str))
        .collect();
    let missing = want.iter().filter(|id| !seen.contains(id.as_str())).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} events of jobs on live partitions did not reach Kafka while \
         broker {victim} was down: one dead partition stalled every job\n{}",
        want.len(),
        s.server.log()
    );
    for id in &on_live {
        let mine = of_job(&records, id);
        assert!(!mine.is_empty());
    }
    let kafka = s.server.readyz().await["kafka"].clone();
    let held = kafka["held_partitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !exactly_once || !held.is_empty(),
        "/readyz names the held partitions while the broker is down: {kafka}"
    );
    let rss_during = rss_kib(s.server.pid());

    // the broker is back: the held jobs catch up, in order, exactly once
    s.broker.start_node(victim as u32).await;
    let mut after = Vec::new();
    for loader in (0..3)
        .map(|_| submit_for(s.alice.clone(), 3))
        .collect::<Vec<_>>()
    {
        after.extend(loader.await.unwrap());
    }
    let ids: Vec<String> = std::iter::once(first_id)
        .chain(before)
        .chain(during)
        .chain(after)
        .collect();
    let mut expected = Vec::new();
    let mut per_job = Vec::new();
    for id in &ids {
        let events = s.alice.events(id).await;
        expected.extend(events.clone());
        per_job.push((id.clone(), events));
    }
    let records = s.consume_all_after_outage(&expected).await;
    let mut duplicates = 0;
    for (id, events) in &per_job {
        duplicates += assert_job_published(&s, &records, id, events);
    }
    if exactly_once {
        assert_eq!(duplicates, 0, "read_committed consumers see no duplicate");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let kafka = s.server.readyz().await["kafka"].clone();
        if kafka["held_partitions"]
            .as_array()
            .is_none_or(|h| h.is_empty())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "held partitions are released once drained: {kafka}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_after = rss_kib(s.server.pid());
    eprintln!(
        "{}: one of three brokers down for 10 s: {} jobs on live partitions flowed meanwhile, \
         {} on its partitions {dead:?} waited and caught up; {} jobs, {} events in all, \
         0 lost, {duplicates} duplicates; relay RSS {rss_before} KiB before, {rss_during} KiB \
         during ({} held partition(s)), {rss_after} KiB after",
        if exactly_once {
            "exactly once"
        } else {
            "at least once"
        },
        on_live.len(),
        on_dead.len(),
        ids.len(),
        expected.len(),
        held.len()
    );
    let log = s.server.log();
    for line in log.lines().filter(|l| {
        [
            "holding back",
            "moving on to",
            "draining",
            "has a leader again",
        ]
        .iter()
        .any(|w| l.contains(w))
    }) {
        eprintln!("  {}", line.chars().take(240).collect::<String>());
    }
    // bounded: the held backlog lives in the store, not in memory
    assert!(
        rss_during < rss_before + 64 * 1024,
        "memory grew by {} KiB while a partition was held",
        rss_during - rss_before
    );
}

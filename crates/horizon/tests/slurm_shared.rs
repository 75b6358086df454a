//! What a Slurm job carries that every process must see alike, against a
//! real Slurm (`scripts/slurm.sh up`): the account the identity mapping
//! charged it to (Slurm itself shows it), and its logs, read through a
//! process other than the one that submitted it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::slurm::{skip, slurm_field, slurm_ids_named, slurm_toml};
use common::{Server, ServerOptions};
use serde_json::json;

/// `[[identity]]` maps alice (by user id) to a Slurm account: `squeue`
/// shows her job under it, and the job says so; bob, whom no rule names,
/// runs under the agent's own (none here: Slurm's default).
#[tokio::test]
async fn a_mapped_user_s_job_runs_under_her_slurm_account() {
    if skip() {
        return;
    }
    let extra = format!(
        "{}\n[[identity]]\nuser = \"alice\"\nslurm_account = \"astro-lab\"\n\
         \n[[identity]]\nclaim = \"groups\"\nvalue = \"bio\"\nslurm_account = \"bio-lab\"\n",
        slurm_toml("{runs}")
    );
    let server = Server::start_with(ServerOptions {
        extra_toml: extra,
        ..Default::default()
    })
    .await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let hers = alice.submit("s-ok", json!({"seconds": 0})).await;
    assert_eq!(hers["account"], "astro-lab", "{hers}");
    let his = bob.submit("s-ok", json!({"seconds": 0})).await;
    assert_eq!(his["account"], serde_json::Value::Null, "{his}");
    for (api, job, account) in [(&alice, &hers, Some("astro-lab")), (&bob, &his, None)] {
        let id = job["id"].as_str().unwrap();
        let done = api
            .wait_for(id, Some("COMPLETED"), Duration::from_secs(90))
            .await;
        let remote = done["remote_job_id"].as_str().unwrap();
        let in_slurm = slurm_field(remote, "Account");
        match account {
            Some(account) => assert_eq!(in_slurm, account, "job {id}"),
            None => assert_ne!(in_slurm, "astro-lab", "job {id}"),
        }
    }
}

/// A mapping that cannot work stops `serve` at start, naming the rule.
#[test]
fn an_identity_rule_that_cannot_work_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("horizon.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n\n[[identity]]\nuser = \"alice\"\nslurm_account = \"a b\"\n",
            common::free_port(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[[identity]] rule 1") && err.contains("slurm_account"),
        "{err}"
    );
}

/// Two processes on one database, each with the default `[slurm]
/// jobs_dir` (its own data directory): the first dies in the middle of its
/// submissions (right after an `sbatch`), the second takes over. Every
/// job's output then reads through the survivor, those the dead process
/// handed to Slurm included (their directory is recorded on the job; for
/// the one submitted just before the crash, learnt from Slurm's record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_dead_process_s_slurm_jobs_read_through_the_survivor() {
    if skip() {
        return;
    }
    let takeover = common::takeover::mid_pass(
        ServerOptions {
            extra_toml: slurm_toml("{runs}"),
            ..ServerOptions::default()
        },
        "HORIZON_TEST_CRASH_AFTER_SBATCH",
        "s-ok",
        common::takeover::quick(),
        9,
        |id| slurm_ids_named(id).len(),
    )
    .await;
    let token = takeover.second.token("alice", false);
    let alice = takeover.second.client(&token);
    let mut by_first = 0;
    for id in &takeover.ids {
        if takeover.first.data_dir().join("slurm").join(id).exists() {
            by_first += 1;
        }
        let response = alice
            .request(
                reqwest::Method::GET,
                &format!("/v1/jobs/{id}/logs?stream=stdout"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("done after"), "job {id}: {text:?}");
    }
    assert!(
        by_first >= takeover.before,
        "the dead process submitted {} jobs, but only {by_first} directories are its",
        takeover.before
    );
}

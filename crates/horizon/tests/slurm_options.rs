//! Per-agent `sbatch` options and a preamble, against a real Slurm
//! (`scripts/slurm.sh up`: its node has the feature `horizon`): the job
//! asks Slurm for the constraint, the preamble runs before the program in
//! the generated script, and an option Horizon relies on is refused when
//! `serve` starts.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::slurm::{skip, slurm_field, slurm_toml};
use common::{Server, ServerOptions, repo_root};
use serde_json::json;

#[tokio::test]
async fn a_constraint_and_a_module_style_preamble_reach_slurm_and_the_script() {
    if skip() {
        return;
    }
    let agent = repo_root().join("crates/horizon/tests/agents/testagent.py");
    // `module` is a shell function on real clusters (Lmod): a stand-in
    // that says what it was asked, to the job's stdout
    let extra = format!(
        "{}\n[agents.s-modules]\nbackend = \"slurm\"\nprogram = \"/usr/bin/python3\"\nargs = [\"{}\", \"ok\"]\n\
         sbatch_options = [\"--constraint=horizon\", \"--comment=it's quoted\"]\n\
         preamble = [\"module() {{ echo \\\"module $*\\\"; }}\", \"module load python/3.11\"]\n",
        slurm_toml("{runs}"),
        agent.display()
    );
    let server = Server::start_with(ServerOptions {
        extra_toml: extra,
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("s-modules", json!({"seconds": 0})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let done = alice
        .wait_for(&id, Some("COMPLETED"), Duration::from_secs(90))
        .await;
    let remote = done["remote_job_id"].as_str().unwrap().to_owned();
    // Slurm was asked for the feature, and for the comment as one word
    assert_eq!(slurm_field(&remote, "Feature"), "horizon");
    assert_eq!(slurm_field(&remote, "Comment"), "it's quoted");
    // the preamble ran before the program
    let text = alice
        .request(
            reqwest::Method::GET,
            &format!("/v1/jobs/{id}/logs?stream=stdout"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("module load python/3.11"), "{text}");
    // and the generated script has it, before the program
    let script =
        std::fs::read_to_string(server.data_dir().join("slurm").join(&id).join("job.sh")).unwrap();
    let module = script.find("module load python/3.11").unwrap();
    let exec = script.find("exec /usr/bin/python3").unwrap();
    assert!(module < exec, "{script}");
}

#[test]
fn an_option_horizon_relies_on_is_refused_at_start() {
    if skip() {
        return;
    }
    for (option, why) in [
        ("--output=/tmp/elsewhere", "--output"),
        ("--job-name=x", "--job-name"),
        ("--wrap=hostname", "--wrap"),
        ("--time=10", "--time"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("horizon.toml");
        std::fs::write(
            &config,
            format!(
                "bind = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n[agents.bad]\nbackend = \"slurm\"\nprogram = \"/bin/true\"\nsbatch_options = [\"{option}\"]\n",
                common::free_port(),
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let out = Command::new(common::BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{option} was accepted");
        assert!(
            said.contains("agent bad: sbatch_options") && said.contains(why),
            "{option}: {said}"
        );
    }
}

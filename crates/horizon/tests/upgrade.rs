//! Upgrades: a database made by an earlier release (fixtures made with
//! `scripts/make-upgrade-fixture.sh` by the release before the outbox's
//! sequencing step, migration 0009) opens, migrates and runs jobs, on
//! SQLite and on PostgreSQL; a database migrated by a newer release is
//! refused with a message that says so.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, ServerOptions, TestDatabase};
use serde_json::{Value, json};
use sqlx::Connection;

const FIXTURE: &str = "before-sequencing";

/// Where the earlier release ran local jobs when it made the fixture (its
/// host was `vm`): the PostgreSQL fixture records it as its processes'
/// scope, `host:jobs_dir`.
const FIXTURE_SCOPE: &str = "vm:/tmp/horizon-upgrade-fixture/jobs";

/// This machine's name, as `serve` records it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

fn fixture(ext: &str) -> PathBuf {
    common::repo_root()
        .join("crates/horizon/tests/fixtures/upgrade")
        .join(format!("{FIXTURE}.{ext}"))
}

/// The fixture's story as the API tells it now: alice's jobs (old first).
async fn old_jobs(server: &Server) -> Vec<Value> {
    let alice = server.user("alice");
    let page: Value = alice
        .request(reqwest::Method::GET, "/v1/jobs?limit=100")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut jobs = page["jobs"].as_array().unwrap().clone();
    // (ids are UUIDv7: in submission order)
    jobs.sort_by_key(|j| j["id"].as_str().unwrap().to_owned());
    jobs
}

/// The earlier release's jobs are all there with their events, the one it
/// left waiting runs to its end, and new jobs run.
async fn runs_on_the_old_database(server: &Server) {
    let alice = server.user("alice");
    let jobs = old_jobs(server).await;
    let agents: Vec<&str> = jobs.iter().map(|j| j["agent"].as_str().unwrap()).collect();
    assert_eq!(agents, ["ok", "fails", "sleeps", "ok"], "{jobs:#?}");
    let statuses: Vec<&str> = jobs[..3]
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["COMPLETED", "FAILED", "CANCELLED"]);
    for job in &jobs[..3] {
        let events = alice.events(job["id"].as_str().unwrap()).await;
        common::assert_valid_events(&events);
        assert!(events.len() >= 3, "{events:#?}");
    }
    // the job the earlier release accepted and never ran: run now
    let left = jobs[3]["id"].as_str().unwrap();
    alice
        .wait_for(left, Some("COMPLETED"), Duration::from_secs(60))
        .await;
    // and a new one
    let job = alice.submit("ok", json!({})).await;
    alice
        .wait_for(
            job["id"].as_str().unwrap(),
            Some("COMPLETED"),
            Duration::from_secs(30),
        )
        .await;
}

/// The fixture's agents, in this test's server configuration.
fn agents() -> String {
    "[agents.fails]\nbackend = \"local\"\nprogram = \"/bin/sh\"\nargs = [\"-c\", \"exit 3\"]\n\
     [agents.sleeps]\nbackend = \"local\"\nprogram = \"/bin/sleep\"\nargs = [\"30\"]\n"
        .to_owned()
}

#[tokio::test]
async fn an_sqlite_database_of_the_earlier_release_opens_and_runs_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("horizon.db");
    std::fs::copy(fixture("db"), &db).unwrap();
    let server = Server::start_with(ServerOptions {
        database_url: Some(format!("sqlite://{}", db.display())),
        extra_toml: agents(),
        jobs_dir: Some(dir.path().join("jobs")),
        ..Default::default()
    })
    .await;
    runs_on_the_old_database(&server).await;
    // (no SQLite migration since that release: it says so)
    assert!(
        server.log().contains("SQLite: schema up to date")
            || server.log().contains("SQLite: applied migration"),
        "the migrations are not logged:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn a_postgresql_database_of_the_earlier_release_opens_and_runs_jobs() {
    let db = TestDatabase::create();
    // the upgraded process runs on the same machine with the same jobs
    // directory as the earlier one (so it adopts the job that one left
    // queued): the fixture's scope, moved to this machine and this test's
    // own directory
    let jobs = tempfile::tempdir().unwrap();
    let jobs_dir = std::fs::canonicalize(jobs.path()).unwrap();
    let dump = std::fs::read_to_string(fixture("sql")).unwrap();
    assert!(dump.contains(FIXTURE_SCOPE), "the fixture's scope changed");
    let dump = dump.replace(FIXTURE_SCOPE, &format!("{}:{}", host(), jobs_dir.display()));
    let mut psql = Command::new("psql")
        .arg(&db.url)
        .args(["-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut psql.stdin.take().unwrap(), dump.as_bytes()).unwrap();
    let out = psql.wait_with_output().unwrap();
    assert!(out.status.success(), "loading the fixture: {out:?}");
    let server = Server::start_with(ServerOptions {
        database_url: Some(db.url.clone()),
        extra_toml: agents(),
        jobs_dir: Some(jobs_dir),
        ..Default::default()
    })
    .await;
    runs_on_the_old_database(&server).await;
    assert!(
        server.log().contains("applied migration 0009"),
        "the upgrade is not logged:\n{}",
        server.log()
    );
}

/// A migration from the future in the database's migration table: `serve`
/// refuses to start and says why.
async fn refuses_a_newer(database_url: &str, newer: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("horizon.toml");
    let port = common::free_port();
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\ndatabase_url = \"{database_url}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let serve = || {
        Command::new(env!("CARGO_BIN_EXE_horizon"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // made by this release first
    let mut first = serve();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // then a newer release's migration
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(newer.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(newer.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let out = serve().wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "serve started on a newer database");
    assert!(
        said.contains("migrated by a newer Horizon") && said.contains("9999"),
        "{said}"
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("newer.db").display());
    refuses_a_newer(
        &url,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .await;
    let db = TestDatabase::create();
    refuses_a_newer(
        &db.url,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .await;
}

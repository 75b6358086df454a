//! PostgreSQL over TLS and with a password from a file or the environment,
//! against the real server `scripts/postgres.sh` starts (`ssl = on`, its own
//! self-signed CA, role `horizon_pw` with scram-sha-256): `verify-full`
//! with the CA connects, an unrelated CA is refused, and so is a wrong
//! password, each with a message that says why.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, ServerOptions, TestDatabase};
use serde_json::json;

/// The CAs of `scripts/postgres.sh` (None: another server, whose TLS set-up
/// the test does not know).
fn tls_dir() -> Option<PathBuf> {
    if std::env::var("HORIZON_TEST_POSTGRES_URL").is_ok() {
        eprintln!("skipped: HORIZON_TEST_POSTGRES_URL names a server of your own");
        return None;
    }
    let dir = PathBuf::from(
        std::env::var("HORIZON_TEST_POSTGRES_TLS_DIR")
            .unwrap_or_else(|_| "/var/tmp/horizon-postgres/tls".into()),
    );
    assert!(
        dir.join("ca.crt").exists() && dir.join("other-ca.crt").exists(),
        "no test CA in {}: start PostgreSQL with scripts/postgres.sh up",
        dir.display()
    );
    Some(dir)
}

/// `url` with `query` appended.
fn with(url: &str, query: &str) -> String {
    format!("{url}?{query}")
}

/// `horizon serve` on `database_url` (and `extra_toml`) that must fail to
/// start: its exit status and what it said.
fn serve_fails(database_url: &str, extra_toml: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("horizon.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\ndatabase_url = \"{database_url}\"\n{extra_toml}",
            common::free_port(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_horizon"))
        .args(["serve", "--config"])
        .arg(&config)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!status.success(), "serve started: {stderr}");
            return stderr;
        }
        assert!(
            Instant::now() < deadline,
            "serve neither started nor failed within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many of the database's sessions (other than the asking one) are
/// over TLS, and how many there are.
fn tls_sessions(db: &TestDatabase, name: &str) -> (i64, i64) {
    let out = Command::new("psql")
        .arg(&db.url)
        .args([
            "-Atc",
            &format!(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a
                   JOIN pg_stat_ssl s USING (pid)
                  WHERE a.datname = '{name}' AND a.pid <> pg_backend_pid()"
            ),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (tls, all) = text.trim().split_once('|').unwrap();
    (tls.parse().unwrap(), all.parse().unwrap())
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_connects_over_tls_and_runs_jobs() {
    let Some(tls) = tls_dir() else { return };
    let db = TestDatabase::create();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let url = with(
        &db.url,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            tls.join("ca.crt").display()
        ),
    );
    let server = Server::start_with(ServerOptions {
        database_url: Some(url),
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    let id = job["id"].as_str().unwrap();
    alice
        .wait_for(id, Some("COMPLETED"), Duration::from_secs(30))
        .await;
    let (over_tls, sessions) = tls_sessions(&db, &name);
    assert!(sessions > 0, "the server holds no session");
    assert_eq!(
        over_tls, sessions,
        "a session of the server is not over TLS"
    );
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let Some(tls) = tls_dir() else { return };
    let db = TestDatabase::create();
    let url = with(
        &db.url,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            tls.join("other-ca.crt").display()
        ),
    );
    let said = serve_fails(&url, "", &[]);
    assert!(
        said.to_lowercase().contains("certificate"),
        "the refusal does not say it is the certificate: {said}"
    );
}

#[tokio::test]
async fn the_password_comes_from_a_file_or_the_environment() {
    if tls_dir().is_none() {
        return;
    }
    let db = TestDatabase::create();
    let url = db
        .url
        .replace("postgres://postgres@", "postgres://horizon_pw@");
    assert_ne!(url, db.url, "the test database's URL has another user");
    // no password: refused, and the message says so
    let said = serve_fails(&url, "", &[]);
    assert!(said.contains("password"), "{said}");
    // a wrong one from the environment: refused
    let said = serve_fails(&url, "", &[("HORIZON_DATABASE_PASSWORD", "wrong")]);
    assert!(said.contains("password authentication failed"), "{said}");
    // the right one from a file: serves
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db-password");
    std::fs::write(&file, "horizon-test-secret\n").unwrap();
    let server = Server::start_with(ServerOptions {
        database_url: Some(url.clone()),
        extra_toml: format!("[database]\npassword_file = \"{}\"\n", file.display()),
        ..Default::default()
    })
    .await;
    let alice = server.user("alice");
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    alice
        .wait_for(
            job["id"].as_str().unwrap(),
            Some("COMPLETED"),
            Duration::from_secs(30),
        )
        .await;
    drop(server);
    // and from the environment
    let server = Server::start_with(ServerOptions {
        database_url: Some(url),
        env: vec![(
            "HORIZON_DATABASE_PASSWORD".into(),
            "horizon-test-secret".into(),
        )],
        ..Default::default()
    })
    .await;
    assert_eq!(server.readyz().await["status"], "ready");
}

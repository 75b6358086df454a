//! E-mail notifications through a real SMTP server (`aiosmtpd` from PyPI,
//! its Maildir handler): one mail per ended job, with its status, times,
//! exit code or error and the gateway's link; one digest for a burst of 50
//! jobs; clear refusals.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Api, Server, ServerOptions, free_port};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Smtp {
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

/// One mail as the SMTP server stored it: headers (unfolded) and body.
#[derive(Debug)]
struct Mail {
    headers: Vec<(String, String)>,
    body: String,
}

impl Mail {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header: {self:?}"))
    }
}

impl Smtp {
    async fn start() -> Smtp {
        let ok = std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "aiosmtpd is missing: python3 -m pip install aiosmtpd (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let child = tokio::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Smtp {
            port,
            maildir,
            _dir: dir,
            _child: child,
        }
    }

    fn mails(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap().replace("\r\n", "\n");
                let (head, body) = text.split_once("\n\n").unwrap();
                let mut headers: Vec<(String, String)> = Vec::new();
                for line in head.lines() {
                    if line.starts_with([' ', '\t']) {
                        if let Some(last) = headers.last_mut() {
                            last.1.push(' ');
                            last.1.push_str(line.trim());
                        }
                    } else if let Some((name, value)) = line.split_once(':') {
                        headers.push((name.trim().to_owned(), value.trim().to_owned()));
                    }
                }
                Mail {
                    headers,
                    body: body.to_owned(),
                }
            })
            .collect()
    }
}

fn options(smtp: &Smtp, window_ms: u64) -> ServerOptions {
    ServerOptions {
        slots: 50,
        extra_toml: format!(
            "\n[email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"none\"\n\
             from = \"Horizon <horizon@gateway.example.org>\"\n\
             job_link = \"https://gateway.example.org/jobs/{{job_id}}\"\ndigest_window_ms = {window_ms}\n",
            smtp.port
        ),
        ..ServerOptions::default()
    }
}

async fn subscribe(api: &Api, body: Value) -> (StatusCode, Value) {
    let r = api
        .request(Method::POST, "/v1/subscriptions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn wait_for_mails(smtp: &Smtp, n: usize) -> Vec<Mail> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mails = smtp.mails();
        if mails.len() >= n {
            return mails;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} mails: {mails:?}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn one_mail_per_ended_job_with_what_happened() {
    let smtp = Smtp::start().await;
    let server = Server::start_with(options(&smtp, 300)).await;
    let alice = server.user("alice");
    let (status, sub) = subscribe(&alice, json!({"email": "alice@example.org"})).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["url"], "mailto:alice@example.org");
    assert_eq!(
        sub["event_types"],
        json!(["job.completed", "job.failed", "job.cancelled"])
    );
    let ok = alice.submit("ok", json!({"seconds": 0.1})).await;
    let ok_id = ok["id"].as_str().unwrap().to_owned();
    alice.wait_for(&ok_id, None, Duration::from_secs(30)).await;
    let mails = wait_for_mails(&smtp, 1).await;
    let mail = &mails[0];
    assert_eq!(mail.header("To"), "alice@example.org");
    assert!(
        mail.header("From").contains("horizon@gateway.example.org"),
        "{mail:?}"
    );
    let subject = mail.header("Subject");
    assert!(
        subject.contains(&ok_id) && subject.contains("COMPLETED") && subject.contains("ok"),
        "{subject}"
    );
    assert!(mail.body.contains("exit code 0"), "{}", mail.body);
    assert!(
        mail.body
            .contains(&format!("https://gateway.example.org/jobs/{ok_id}")),
        "{}",
        mail.body
    );
    assert!(mail.body.contains("submitted") && mail.body.contains("ended"));

    let failed = alice.submit("fail", json!({"exit_code": 7})).await;
    let failed_id = failed["id"].as_str().unwrap().to_owned();
    alice
        .wait_for(&failed_id, None, Duration::from_secs(30))
        .await;
    let mails = wait_for_mails(&smtp, 2).await;
    assert_eq!(mails.len(), 2, "one mail per ended job");
    let mail = &mails[1];
    assert!(mail.header("Subject").contains("FAILED"), "{mail:?}");
    assert!(
        mail.body.contains("NONZERO_EXIT") && mail.body.contains("exit code 7"),
        "{}",
        mail.body
    );

    // refusals: a bad address; `true` without a JWT email claim; both kinds
    for (body, says) in [
        (json!({"email": "not an address"}), "not an e-mail address"),
        (json!({"email": true}), "email claim"),
        (
            json!({"email": "a@b.org", "url": "https://example.org/"}),
            "either",
        ),
        (json!({}), "either"),
    ] {
        let (status, problem) = subscribe(&alice, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fifty_jobs_is_one_digest() {
    let smtp = Smtp::start().await;
    let server = Server::start_with(options(&smtp, 8000)).await;
    let alice = server.user("alice");
    let (status, sub) = subscribe(&alice, json!({"email": "alice@example.org"})).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let mut ids = Vec::new();
    for i in 0..50 {
        let (agent, params) = if i % 10 == 9 {
            ("fail", json!({"exit_code": 3}))
        } else {
            ("ok", json!({"seconds": 0.05}))
        };
        ids.push(
            alice.submit(agent, params).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids {
        alice.wait_for(id, None, Duration::from_secs(60)).await;
    }
    let mails = wait_for_mails(&smtp, 1).await;
    // the window and a little more: nothing else comes
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails_after = smtp.mails();
    assert_eq!(
        mails_after.len(),
        1,
        "one digest, not {}",
        mails_after.len()
    );
    let digest = &mails[0];
    let subject = digest.header("Subject");
    assert!(
        subject.contains("50 jobs ended")
            && subject.contains("45 COMPLETED")
            && subject.contains("5 FAILED"),
        "{subject}"
    );
    for id in &ids {
        assert!(
            digest.body.contains(id.as_str()),
            "job {id} missing from the digest"
        );
    }
}

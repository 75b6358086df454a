//! E-mail notifications through a real SMTP server (`aiosmtpd` from PyPI,
//! its Maildir handler): one mail per ended job, with its status, times,
//! exit code or error and the gateway's link; one digest for a burst of 50
//! jobs; clear refusals; STARTTLS to a server whose certificate a private
//! CA signed, with the job's `traceparent` on its mail.
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
    /// With STARTTLS (required by the server): the CA that signed its certificate.
    ca: Option<PathBuf>,
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
        Smtp::start_with(false).await
    }

    /// With `tls`, the server has a certificate for `localhost` from a CA
    /// made here, and refuses mail before STARTTLS.
    async fn start_with(tls: bool) -> Smtp {
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
        let mut command = tokio::process::Command::new("python3");
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"));
        let ca = tls.then(|| {
            let d = dir.path();
            let openssl = |args: &[&str]| {
                let out = std::process::Command::new("openssl")
                    .args(args)
                    .current_dir(d)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "openssl {args:?}: {out:?}");
            };
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=Horizon mail test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            std::fs::write(d.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.crt",
            ]);
            command
                .arg("--tlscert")
                .arg(d.join("server.crt"))
                .arg("--tlskey")
                .arg(d.join("server.key"));
            d.join("ca.crt")
        });
        let child = command
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
            ca,
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
                let quoted = headers.iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case("Content-Transfer-Encoding")
                        && v.eq_ignore_ascii_case("quoted-printable")
                });
                Mail {
                    headers,
                    body: if quoted {
                        unquote(body)
                    } else {
                        body.to_owned()
                    },
                }
            })
            .collect()
    }
}

/// A quoted-printable body as text (soft line breaks joined, `=XX` bytes).
fn unquote(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn options(smtp: &Smtp, window_ms: u64) -> ServerOptions {
    let tls = match &smtp.ca {
        // the name the certificate is for, and its CA
        Some(ca) => format!(
            "smtp_host = \"localhost\"\ntls = \"starttls\"\nca_file = \"{}\"\n",
            ca.display()
        ),
        None => "smtp_host = \"127.0.0.1\"\ntls = \"none\"\n".to_owned(),
    };
    ServerOptions {
        slots: 50,
        extra_toml: format!(
            "\n[email]\n{tls}smtp_port = {}\n\
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

/// STARTTLS, as a real relay on port 587 demands: the SMTP server refuses
/// mail before STARTTLS and has a certificate from a private CA that
/// `[email] ca_file` names. The mail of a job submitted with a
/// `traceparent` carries it.
#[tokio::test]
async fn mail_goes_over_starttls_and_carries_the_job_s_trace() {
    let smtp = Smtp::start_with(true).await;
    let server = Server::start_with(options(&smtp, 100)).await;
    let alice = server.user("alice");
    let (status, sub) = subscribe(&alice, json!({"email": "alice@example.org"})).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = alice
        .request(Method::POST, "/v1/jobs")
        .header("traceparent", trace)
        .json(&json!({"agent": "ok", "dataset_id": "d", "parameters": {"seconds": 0.1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.wait_for(&id, None, Duration::from_secs(30)).await;
    let mails = wait_for_mails(&smtp, 1).await;
    let mail = &mails[0];
    assert!(mail.header("Subject").contains(&id), "{mail:?}");
    assert_eq!(mail.header("traceparent"), trace, "{mail:?}");
}

/// A webhook subscription that keeps failing is disabled, and its owner is
/// told by mail, at the address of their e-mail subscription.
#[tokio::test]
async fn the_owner_of_a_disabled_webhook_is_told_by_mail() {
    let smtp = Smtp::start().await;
    let mut opts = options(&smtp, 100);
    opts.extra_toml.push_str(
        "\n[webhooks]\nallow_private_targets = true\nretry_for = \"2s\"\n\
         initial_backoff_ms = 200\nmax_backoff_ms = 500\n",
    );
    let server = Server::start_with(opts).await;
    let alice = server.user("alice");
    let (status, mail_sub) = subscribe(&alice, json!({"email": "alice@example.org"})).await;
    assert_eq!(status, StatusCode::CREATED, "{mail_sub}");
    // nothing listens there
    let url = format!("http://127.0.0.1:{}/hook", free_port());
    let (status, hook) = subscribe(&alice, json!({"url": url})).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let job = alice.submit("ok", json!({"seconds": 0})).await;
    alice
        .wait_for(job["id"].as_str().unwrap(), None, Duration::from_secs(30))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let notice = loop {
        let mails = smtp.mails();
        if let Some(notice) = mails
            .into_iter()
            .find(|m| m.header("Subject").contains("disabled"))
        {
            break notice;
        }
        assert!(Instant::now() < deadline, "no notice: {:?}", smtp.mails());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let hook_id = hook["id"].as_str().unwrap();
    assert_eq!(notice.header("To"), "alice@example.org");
    assert!(notice.header("Subject").contains(hook_id), "{notice:?}");
    assert!(notice.body.contains(&url), "{}", notice.body);
    let now: Value = alice
        .request(Method::GET, &format!("/v1/subscriptions/{hook_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(now["disabled_at"].is_string(), "{now}");
}

//! E-mail notifications: a subscription whose target is `mailto:<address>`
//! gets its deliveries by mail instead of an HTTP POST, through the SMTP
//! server of `[email]` (STARTTLS by default; the login from
//! `HORIZON_SMTP_USERNAME` / `HORIZON_SMTP_PASSWORD`). Its deliveries wait
//! `digest_window_ms`; once one is due, all of the subscription's pending
//! ones go together, so a sweep of 500 jobs ending together is one digest,
//! not 500 mails. The same durable deliveries as webhooks: a mail the
//! server could not hand over is retried with backoff. A mail about one job
//! carries the job's `traceparent` as a header, as its webhooks do.

use std::str::FromStr;

use horizon_core::Job;
use horizon_store::{DueDelivery, Subscription};
use lettre::message::Mailbox;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use crate::config::EmailSettings;

/// The event types of an e-mail subscription that names none: a job's end.
pub const DEFAULT_TYPES: [&str; 3] = ["job.completed", "job.failed", "job.cancelled"];

pub fn is_email(subscription: &Subscription) -> bool {
    subscription.url.starts_with("mailto:")
}

/// A valid address, or why not.
pub fn address(text: &str) -> Result<String, String> {
    lettre::Address::from_str(text.trim())
        .map(|a| a.to_string())
        .map_err(|err| format!("{text:?} is not an e-mail address: {err}"))
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    link: Option<String>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The mailer of `[email]`; None when no SMTP server is configured.
    pub fn new(settings: &EmailSettings) -> Result<Option<Mailer>, String> {
        let Some(host) = &settings.smtp_host else {
            return Ok(None);
        };
        // TLS verified against the system's roots, or the configured CA
        let parameters = || -> Result<TlsParameters, String> {
            let mut builder = TlsParameters::builder(host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|err| format!("[email] ca_file {}: {err}", path.display()))?;
                let ca = Certificate::from_pem(&pem)
                    .map_err(|err| format!("[email] ca_file {}: {err}", path.display()))?;
                builder = builder.add_root_certificate(ca);
            }
            builder
                .build_rustls()
                .map_err(|err| format!("[email] TLS for {host:?}: {err}"))
        };
        let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host);
        let builder = match settings.tls.as_str() {
            "starttls" => plain.tls(Tls::Required(parameters()?)),
            "tls" => plain.tls(Tls::Wrapper(parameters()?)),
            "none" => plain,
            other => {
                return Err(format!(
                    "[email] tls must be starttls, tls or none, not {other:?}"
                ));
            }
        };
        let mut builder = builder.port(settings.smtp_port);
        let user = std::env::var("HORIZON_SMTP_USERNAME").unwrap_or_default();
        if !user.is_empty() {
            let password = std::env::var("HORIZON_SMTP_PASSWORD").unwrap_or_default();
            builder = builder.credentials(Credentials::new(user, password));
        }
        let from = Mailbox::from_str(&settings.from)
            .map_err(|err| format!("[email] from {:?}: {err}", settings.from))?;
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
            link: settings.job_link.clone(),
        }))
    }

    /// One mail to `to` about these deliveries (with their jobs, when still
    /// there): the job's end, or a digest of several. One job's mail joins
    /// its trace (a digest spans many).
    pub async fn send(&self, to: &str, items: &[(DueDelivery, Option<Job>)]) -> Result<(), String> {
        let (subject, body) = compose(items, self.link.as_deref());
        let trace = match items {
            [(due, _)] => due.traceparent.as_deref(),
            _ => None,
        };
        self.mail(to, &subject, body, trace).await
    }

    /// A plain notice to `to` (a subscription of theirs was disabled).
    pub async fn notice(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        self.mail(to, subject, body.to_owned(), None).await
    }

    async fn mail(
        &self,
        to: &str,
        subject: &str,
        body: String,
        traceparent: Option<&str>,
    ) -> Result<(), String> {
        let to = Mailbox::from_str(to).map_err(|err| format!("{to:?}: {err}"))?;
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        if let Some(trace) = traceparent {
            message = message.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("traceparent"),
                trace.to_owned(),
            ));
        }
        let message = message
            .body(body)
            .map_err(|err| format!("cannot build the mail: {err}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| format!("SMTP: {err}"))
    }
}

/// What one delivery says of its job.
struct Line {
    job_id: String,
    agent: String,
    status: String,
    detail: String,
    created: String,
    ended: String,
}

fn line(due: &DueDelivery, job: Option<&Job>) -> Line {
    let event: Value = due
        .envelope
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or(Value::Null);
    let payload = &event["payload"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let detail = match due.delivery.event_type.as_str() {
        "job.completed" => format!("exit code {}", payload["exit_code"]),
        "job.failed" => {
            let mut text = format!(
                "{}: {}",
                payload["error_code"].as_str().unwrap_or("FAILED"),
                payload["error_message"].as_str().unwrap_or_default()
            );
            if let Some(code) = payload["exit_code"].as_i64() {
                text.push_str(&format!(" (exit code {code})"));
            }
            text
        }
        "job.cancelled" => format!(
            "cancelled by {}: {}",
            payload["cancelled_by"].as_str().unwrap_or("?"),
            payload["cancellation_reason"].as_str().unwrap_or_default()
        ),
        other => other.to_owned(),
    };
    Line {
        job_id: due.delivery.job_id.to_string(),
        agent: job.map(|j| j.agent.clone()).unwrap_or_else(|| "?".into()),
        status: text(&event["status"]).unwrap_or_else(|| "?".into()),
        detail,
        created: job
            .map(|j| horizon_core::timestamp::format(j.created_at))
            .unwrap_or_default(),
        ended: text(&event["timestamp"]).unwrap_or_default(),
    }
}

fn compose(items: &[(DueDelivery, Option<Job>)], link: Option<&str>) -> (String, String) {
    let lines: Vec<Line> = items.iter().map(|(d, j)| line(d, j.as_ref())).collect();
    let link_of = |id: &str| link.map(|l| l.replace("{job_id}", id));
    if let [one] = lines.as_slice() {
        let subject = format!(
            "[Horizon] job {} {} ({})",
            one.job_id, one.status, one.agent
        );
        let mut body = format!(
            "Job {}\n  agent     {}\n  status    {}\n  result    {}\n  submitted {}\n  ended     {}\n",
            one.job_id, one.agent, one.status, one.detail, one.created, one.ended
        );
        if let Some(url) = link_of(&one.job_id) {
            body.push_str(&format!("\n{url}\n"));
        }
        return (subject, body);
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for l in &lines {
        *counts.entry(l.status.as_str()).or_default() += 1;
    }
    let summary = counts
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ");
    let subject = format!("[Horizon] {} jobs ended: {summary}", lines.len());
    let mut body = format!("{} jobs ended ({summary}):\n\n", lines.len());
    for l in &lines {
        body.push_str(&format!(
            "{}  {:<9} {:<16} {}  (ended {})\n",
            l.job_id, l.status, l.agent, l.detail, l.ended
        ));
        if let Some(url) = link_of(&l.job_id) {
            body.push_str(&format!("    {url}\n"));
        }
    }
    (subject, body)
}

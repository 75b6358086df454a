//! Webhooks: every process fans committed events out to the matching
//! subscriptions' deliveries and sends due deliveries.
//!
//! - Fan-out: for each enabled subscription, the events of its user's jobs
//!   after its cursor (the event log in commit order), filtered by type,
//!   agent and status, become deliveries; the deliveries and the new
//!   cursor are written in one transaction, compare-and-set on the cursor,
//!   so however many processes run it, each event gets one delivery per
//!   subscription and none is lost when a process dies.
//! - Sending: each process claims due deliveries for a while (PostgreSQL:
//!   `SKIP LOCKED`, so each goes out from one process), POSTs them signed
//!   per Standard Webhooks, and records the outcome. A job's deliveries to
//!   one subscription go one at a time, in order; a failure is retried with
//!   exponential backoff and jitter for `retry_for`; then the delivery
//!   fails, the subscription is disabled and an audit record says why.
//!   Redirects are not followed; targets are checked (`target.rs`).

pub mod email;
pub mod sign;
pub mod target;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use horizon_core::EventStream;
use horizon_store::{DueDelivery, NewDelivery, Outcome, ReplayFilter, Store, Subscription};
use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::config::{EmailSettings, WebhookSettings, parse_age};
use crate::live::{LiveEvent, PAGE};

/// How long a claim lasts (an attempt takes at most `request_timeout_ms`).
const CLAIM: Duration = Duration::from_secs(120);

/// E-mail deliveries claimed per query while gathering a digest.
const MAIL_BATCH: u32 = 500;

/// A look for work even without a bell.
const POLL: Duration = Duration::from_millis(500);

pub struct Webhooks {
    pub store: Arc<dyn Store>,
    pub process: Uuid,
    pub settings: WebhookSettings,
    pub retry_for: time::Duration,
    /// Rings on commits of events.
    pub committed: Arc<Notify>,
    /// Rings when deliveries were fanned out.
    pub fanned: Arc<Notify>,
    pub http: reqwest::Client,
    /// E-mail subscriptions' SMTP server, when `[email]` has one.
    pub mailer: Option<email::Mailer>,
    pub digest_window: time::Duration,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("process", &self.process)
            .finish()
    }
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn Store>,
        process: Uuid,
        settings: WebhookSettings,
        email_settings: &EmailSettings,
        committed: Arc<Notify>,
    ) -> Result<Webhooks, String> {
        let retry_for =
            parse_age(&settings.retry_for).map_err(|err| format!("[webhooks] retry_for: {err}"))?;
        parse_age(&settings.rotation_grace)
            .map_err(|err| format!("[webhooks] rotation_grace: {err}"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(settings.request_timeout_ms.max(100)))
            .dns_resolver(target::PublicOnly::shared(settings.allow_private_targets))
            .user_agent(concat!("Horizon-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("webhook HTTP client: {err}"))?;
        Ok(Webhooks {
            store,
            process,
            settings,
            retry_for,
            committed,
            fanned: Arc::new(Notify::new()),
            http,
            mailer: email::Mailer::new(email_settings)?,
            digest_window: time::Duration::milliseconds(
                i64::try_from(email_settings.digest_window_ms).unwrap_or(i64::MAX),
            ),
        })
    }

    /// Fan events out to deliveries, forever.
    pub async fn fan_out(self: Arc<Self>) {
        let mut agents: HashMap<Uuid, String> = HashMap::new();
        let mut none_open = false;
        loop {
            if none_open {
                // no subscription to fan out to: look again now and then,
                // not on every commit of the deployment (each process hears
                // them all); a new subscription's cursor starts at its
                // creation, so it only waits a moment for its first events
                tokio::time::sleep(POLL).await;
            } else {
                let _ = tokio::time::timeout(POLL, self.committed.notified()).await;
            }
            let subscriptions = match self.store.subscriptions(None).await {
                Ok(all) => all,
                Err(err) => {
                    warn!("webhooks: cannot read the subscriptions: {err}");
                    continue;
                }
            };
            none_open = subscriptions.iter().all(|s| s.disabled_at.is_some());
            let mut any = false;
            for subscription in subscriptions.iter().filter(|s| s.disabled_at.is_none()) {
                match self.fan_out_one(subscription, &mut agents).await {
                    Ok(n) => any |= n > 0,
                    Err(err) => warn!(subscription = %subscription.id, "webhooks: fan-out: {err}"),
                }
            }
            if agents.len() > 100_000 {
                agents.clear();
            }
            if any {
                self.fanned.notify_waiters();
            }
        }
    }

    async fn fan_out_one(
        &self,
        subscription: &Subscription,
        agents: &mut HashMap<Uuid, String>,
    ) -> Result<usize, horizon_store::StoreError> {
        let filter = ReplayFilter {
            user_id: Some(subscription.user_id.clone()),
            jobs_only: true,
            ..ReplayFilter::default()
        };
        let mut cursor = subscription.cursor;
        let mut made = 0;
        loop {
            let page = self.store.replay_events(&filter, cursor, PAGE).await?;
            let Some(last) = page.last().map(|e| e.position) else {
                return Ok(made);
            };
            let full = page.len() == PAGE as usize;
            let mut deliveries = Vec::new();
            // e-mails wait for the digest window: what ends meanwhile goes
            // in the same mail
            let due = if email::is_email(subscription) {
                OffsetDateTime::now_utc() + self.digest_window
            } else {
                OffsetDateTime::now_utc()
            };
            for event in page {
                let event = LiveEvent::try_from(event)?;
                if self.wanted(subscription, &event, agents).await {
                    deliveries.push(NewDelivery {
                        id: Uuid::now_v7(),
                        position: event.position,
                        event_id: event.event_id,
                        job_id: event.job_id,
                        event_type: event.event_type.clone(),
                        due_at: due,
                    });
                }
            }
            let n = deliveries.len();
            if self
                .store
                .fan_out(subscription.id, cursor, last, deliveries)
                .await?
                == 0
            {
                return Ok(made); // another process moved the cursor
            }
            made += n;
            cursor = last;
            if !full {
                return Ok(made);
            }
        }
    }

    async fn wanted(
        &self,
        subscription: &Subscription,
        event: &LiveEvent,
        agents: &mut HashMap<Uuid, String>,
    ) -> bool {
        let types_ok = if subscription.event_types.is_empty() {
            // every lifecycle event; metrics samples only when asked for
            event.stream == EventStream::Lifecycle
        } else {
            subscription.event_types.contains(&event.event_type)
        };
        if !types_ok {
            return false;
        }
        if let Some(status) = &subscription.status
            && (event.stream != EventStream::Lifecycle
                || event.status.map(horizon_core::JobStatus::as_str) != Some(status.as_str()))
        {
            return false;
        }
        if let Some(agent) = &subscription.agent {
            let known = match agents.get(&event.job_id) {
                Some(a) => a.clone(),
                None => match self.store.get_job(event.job_id).await {
                    Ok(Some(job)) => {
                        agents.insert(job.id, job.agent.clone());
                        job.agent
                    }
                    _ => String::new(),
                },
            };
            return known == *agent;
        }
        true
    }

    /// Send due deliveries, forever.
    pub async fn send(self: Arc<Self>) {
        let limit = self.settings.concurrency.clamp(1, 256);
        loop {
            let until = OffsetDateTime::now_utc() + CLAIM;
            let mut due = match self
                .store
                .claim_deliveries(self.process, until, limit, false)
                .await
            {
                Ok(due) => due,
                Err(err) => {
                    warn!("webhooks: cannot claim deliveries: {err}");
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            if due.is_empty() {
                let _ = tokio::time::timeout(POLL, self.fanned.notified()).await;
                continue;
            }
            // a digest goes whole: the rest of the e-mail subscriptions'
            // pending deliveries too
            if due.iter().any(|d| d.url.starts_with("mailto:")) {
                loop {
                    match self
                        .store
                        .claim_deliveries(self.process, until, MAIL_BATCH, true)
                        .await
                    {
                        Ok(more) if !more.is_empty() => due.extend(more),
                        Ok(_) => break,
                        Err(err) => {
                            warn!("webhooks: cannot claim the rest of a digest: {err}");
                            break;
                        }
                    }
                }
            }
            // e-mails: one mail per subscription for what is due together
            let (mails, posts): (Vec<DueDelivery>, Vec<DueDelivery>) =
                due.into_iter().partition(|d| d.url.starts_with("mailto:"));
            let mut by_subscription: HashMap<Uuid, Vec<DueDelivery>> = HashMap::new();
            for mail in mails {
                by_subscription
                    .entry(mail.delivery.subscription_id)
                    .or_default()
                    .push(mail);
            }
            let posts = join_all(posts.into_iter().map(|d| self.deliver(d)));
            let mails = join_all(by_subscription.into_values().map(|g| self.deliver_mail(g)));
            futures_util::future::join(posts, mails).await;
        }
    }

    async fn deliver(&self, due: DueDelivery) {
        let delivery = &due.delivery;
        let outcome = self.attempt(&due).await;
        let outcome = match outcome {
            Ok(status) => Outcome::Delivered { status },
            Err((status, error)) => {
                let now = OffsetDateTime::now_utc();
                if now >= delivery.window_start + self.retry_for {
                    Outcome::Failed { status, error }
                } else {
                    let at = now + self.backoff(delivery.attempts + 1);
                    Outcome::Retry { at, status, error }
                }
            }
        };
        debug!(delivery = %delivery.id, "webhook delivery {}: {outcome:?}", delivery.id);
        metrics::counter!(crate::telemetry::WEBHOOK_ATTEMPTS, "outcome" => match &outcome {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed { .. } => "failed",
        })
        .increment(1);
        let failed = match &outcome {
            Outcome::Failed { error, .. } => Some(error.clone()),
            _ => None,
        };
        match self
            .store
            .finish_delivery(delivery.id, self.process, outcome)
            .await
        {
            Ok(_) => {}
            Err(err) => warn!(delivery = %delivery.id, "webhooks: cannot record an attempt: {err}"),
        }
        if let Some(error) = failed {
            self.disable(&due, &error).await;
        }
    }

    /// One mail for a subscription's due deliveries.
    async fn deliver_mail(&self, group: Vec<DueDelivery>) {
        let Some(first) = group.first() else {
            return;
        };
        let to = first.url.trim_start_matches("mailto:").to_owned();
        let result = match &self.mailer {
            None => Err((
                None,
                "e-mail is not configured on this server ([email] smtp_host)".into(),
            )),
            Some(mailer) => {
                let mut items = Vec::with_capacity(group.len());
                for due in &group {
                    let job = self.store.get_job(due.delivery.job_id).await.ok().flatten();
                    items.push((due.clone(), job));
                }
                mailer
                    .send(&to, &items)
                    .await
                    .map(|()| 250)
                    .map_err(|e| (None, e))
            }
        };
        let oldest = group
            .iter()
            .map(|d| d.delivery.window_start)
            .min()
            .unwrap_or(first.delivery.window_start);
        let attempts = group.iter().map(|d| d.delivery.attempts).max().unwrap_or(0);
        let outcome = match result {
            Ok(status) => Outcome::Delivered { status },
            Err((status, error)) => {
                let now = OffsetDateTime::now_utc();
                if now >= oldest + self.retry_for {
                    Outcome::Failed { status, error }
                } else {
                    Outcome::Retry {
                        at: now + self.backoff(attempts + 1),
                        status,
                        error,
                    }
                }
            }
        };
        debug!(to = %to, mails = group.len(), "e-mail of {} deliveries: {outcome:?}", group.len());
        for due in &group {
            if let Err(err) = self
                .store
                .finish_delivery(due.delivery.id, self.process, outcome.clone())
                .await
            {
                warn!(delivery = %due.delivery.id, "webhooks: cannot record an e-mail: {err}");
            }
        }
        if let Outcome::Failed { error, .. } = &outcome {
            self.disable(first, error).await;
        }
    }

    /// One POST: the receiver's 2xx status, or what went wrong.
    async fn attempt(&self, due: &DueDelivery) -> Result<u16, (Option<u16>, String)> {
        let delivery = &due.delivery;
        let Some(envelope) = &due.envelope else {
            return Err((None, "the event is gone (retention removed it)".into()));
        };
        if !self.settings.allow_private_targets && target::literal_private(&due.url) {
            return Err((None, "the target is in a private range".into()));
        }
        let data: serde_json::Value = serde_json::from_str(envelope)
            .map_err(|err| (None, format!("stored event is not JSON: {err}")))?;
        let body = serde_json::json!({
            "type": delivery.event_type,
            "timestamp": data["timestamp"],
            "data": data,
        })
        .to_string();
        let id = delivery.id.to_string();
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let mut secrets = vec![due.secret.as_str()];
        if let Some(previous) = &due.previous_secret {
            secrets.push(previous);
        }
        let signature = sign::header(&secrets, &id, timestamp, body.as_bytes());
        let mut request = self.http.post(&due.url);
        if let Some(trace) = &due.traceparent {
            request = request.header("traceparent", trace);
        }
        let response = request
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|err| (None, error_chain(&err)))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else if status.is_redirection() {
            Err((
                Some(status.as_u16()),
                format!("{status}: redirects are not followed"),
            ))
        } else {
            Err((Some(status.as_u16()), status.to_string()))
        }
    }

    fn backoff(&self, attempts: u32) -> time::Duration {
        let initial = self.settings.initial_backoff_ms.max(1) as f64;
        let max = self.settings.max_backoff_ms.max(1) as f64;
        let base = (initial * 2f64.powi(attempts.saturating_sub(1).min(30) as i32)).min(max);
        let jittered = base * rand::rng().random_range(0.75..1.25);
        time::Duration::milliseconds(jittered as i64)
    }

    /// A delivery failed for good: the subscription stops, and its owner
    /// is told: an audit record they can read, the reason on the
    /// subscription, and a mail to each of their e-mail subscriptions.
    async fn disable(&self, due: &DueDelivery, error: &str) {
        let reason = format!(
            "delivery {} of event {} kept failing for {}: {error}",
            due.delivery.id, due.delivery.event_id, self.settings.retry_for
        );
        let now = OffsetDateTime::now_utc();
        if let Err(err) = self
            .store
            .set_subscription_disabled(due.delivery.subscription_id, Some((now, reason.clone())))
            .await
        {
            warn!(
                "webhooks: cannot disable subscription {}: {err}",
                due.delivery.subscription_id
            );
            return;
        }
        info!(subscription = %due.delivery.subscription_id, "webhook subscription disabled: {reason}");
        let mut record = crate::api::audit::system_record(
            "subscription.disabled",
            Some(due.delivery.subscription_id.to_string()),
            Some(reason),
        );
        let all = self.store.subscriptions(None).await.unwrap_or_default();
        let disabled = all.iter().find(|s| s.id == due.delivery.subscription_id);
        record.actor = disabled.map(|s| s.user_id.clone());
        if let Err(err) = self.store.record_audit(record).await {
            warn!("webhooks: cannot record the disabling: {err}");
        }
        let (Some(mailer), Some(disabled)) = (&self.mailer, disabled) else {
            return;
        };
        // the owner's own addresses, from their e-mail subscriptions
        let mut told = std::collections::BTreeSet::new();
        for mail in all.iter().filter(|s| {
            s.user_id == disabled.user_id
                && s.id != disabled.id
                && s.disabled_at.is_none()
                && email::is_email(s)
        }) {
            let to = mail.url.trim_start_matches("mailto:");
            if !told.insert(to.to_owned()) {
                continue;
            }
            let subject = format!("[Horizon] webhook subscription {} disabled", disabled.id);
            let body = format!(
                "Your webhook subscription {} to {} was disabled:\n\n{}\n\n\
                 Deliveries made while it is disabled wait; enable it again with\n\
                 POST /v1/subscriptions/{}/enable once the receiver answers.\n",
                disabled.id,
                disabled.url,
                reason_text(&disabled.disabled_reason, error),
                disabled.id
            );
            if let Err(err) = mailer.notice(to, &subject, &body).await {
                warn!(subscription = %disabled.id, "webhooks: cannot tell {to} of the disabling: {err}");
            }
        }
    }
}

/// Why a subscription was disabled: as recorded (the list was read before
/// the disabling was), else the last error.
fn reason_text(recorded: &Option<String>, error: &str) -> String {
    recorded.clone().unwrap_or_else(|| error.to_owned())
}

/// An error with its causes (reqwest's own text hides the interesting one).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

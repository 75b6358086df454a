//! Webhook subscriptions and their deliveries, as both stores keep them
//! (migrations `0012_webhooks` / `0009_webhooks`).

use time::OffsetDateTime;
use uuid::Uuid;

/// A user's webhook subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: Uuid,
    pub user_id: String,
    pub url: String,
    /// Event types delivered; empty: every type.
    pub event_types: Vec<String>,
    /// Only jobs of this agent.
    pub agent: Option<String>,
    /// Only events that leave a job in this status (`COMPLETED`, …).
    pub status: Option<String>,
    /// `whsec_…` (Standard Webhooks): what deliveries are signed with.
    pub secret: String,
    /// The secret before the last rotation, also signed with until
    /// `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub disabled_at: Option<OffsetDateTime>,
    pub disabled_reason: Option<String>,
    /// The commit position of the event log fanned out so far.
    pub cursor: i64,
}

/// A delivery to make: one event for one subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: Uuid,
    pub position: i64,
    pub event_id: Uuid,
    pub job_id: Uuid,
    pub event_type: String,
    /// When it is first due (e-mails wait a digest window).
    pub due_at: OffsetDateTime,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet: sent at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Retried until `retry_for` ran out (the subscription is then disabled).
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// A delivery as recorded (the delivery log).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub position: i64,
    pub event_id: Uuid,
    pub job_id: Uuid,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    /// Retries stop `retry_for` after this (its creation, or a redelivery).
    pub window_start: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// A delivery claimed for sending, with what sending needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub url: String,
    pub secret: String,
    /// The previous secret, while it is still valid (signed with both).
    pub previous_secret: Option<String>,
    /// The event's envelope; None when retention removed it.
    pub envelope: Option<String>,
    /// The job's W3C `traceparent`, sent along.
    pub traceparent: Option<String>,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// Try again at `at`.
    Retry {
        at: OffsetDateTime,
        status: Option<u16>,
        error: String,
    },
    /// Give up on it.
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// The webhook writes, run by each store's writer.
#[derive(Debug, Clone)]
pub(crate) enum WebhookOp {
    Create(Box<Subscription>),
    Delete(Uuid),
    Rotate {
        id: Uuid,
        secret: String,
        previous_until: OffsetDateTime,
    },
    /// Disable (with when and why) or enable (None) a subscription.
    SetDisabled(Uuid, Option<(OffsetDateTime, String)>),
    /// New deliveries and the cursor moved from `from` to `to`, if it is
    /// still at `from`.
    FanOut {
        id: Uuid,
        from: i64,
        to: i64,
        deliveries: Vec<NewDelivery>,
        at: OffsetDateTime,
    },
    /// Claim due deliveries until `until` for `process`.
    Claim {
        process: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
        mail_only: bool,
    },
    Finish {
        id: Uuid,
        process: Uuid,
        outcome: Outcome,
        at: OffsetDateTime,
    },
    /// Deliveries `from`..=`to` (by id) of a subscription sent again.
    Redeliver {
        subscription: Uuid,
        from: Uuid,
        to: Uuid,
        at: OffsetDateTime,
    },
}

/// The SQL conditions of a due delivery, the same on both stores: pending,
/// its time come, not claimed by a live claim, its subscription enabled,
/// and no earlier delivery of the same job to the same subscription still
/// pending (deliveries of one job go in order). An e-mail subscription's
/// pending deliveries all go together once one of them is due: one digest.
pub(crate) const DUE: &str = "d.state = 'pending'
   AND (d.next_attempt_at <= :now
        OR (s.url LIKE 'mailto:%' AND EXISTS (
              SELECT 1 FROM webhook_deliveries f
               WHERE f.subscription_id = d.subscription_id AND f.state = 'pending'
                 AND f.next_attempt_at <= :now)))
   AND (d.claimed_until IS NULL OR d.claimed_until < :now)
   AND s.disabled_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                    WHERE e.subscription_id = d.subscription_id AND e.job_id = d.job_id
                      AND e.state = 'pending' AND e.position < d.position)";

-- Webhooks (issue 22): a user's subscriptions, and one delivery per event
-- and subscription. The fan-out (workers/webhooks.rs) reads the event log
-- after a subscription's `cursor` (a commit position, as the relay's) and
-- writes the deliveries and the new cursor in one transaction, so an event
-- that is committed gets its deliveries however a process dies.
CREATE TABLE webhook_subscriptions (
    id              uuid PRIMARY KEY,
    user_id         text NOT NULL,
    url             text NOT NULL,
    event_types     text NOT NULL,        -- JSON array; [] = every type
    agent           text,
    status          text,
    secret          text NOT NULL,        -- whsec_…: needed to sign, so kept as is
    previous_secret text,                 -- still signed with until previous_until
    previous_until  timestamptz,
    created_at      timestamptz NOT NULL,
    disabled_at     timestamptz,
    disabled_reason text,
    cursor          bigint NOT NULL
);
CREATE INDEX webhook_subscriptions_user ON webhook_subscriptions (user_id, id);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,     -- the webhook-id header, the same on every attempt
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    position        bigint NOT NULL,
    event_id        uuid NOT NULL,
    job_id          uuid NOT NULL,
    event_type      text NOT NULL,
    state           text NOT NULL,        -- pending | delivered | failed
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    window_start    timestamptz NOT NULL, -- retries stop a day (retry_for) after this
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    last_status     integer,
    last_error      text,
    claimed_by      uuid,
    claimed_until   timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (subscription_id, job_id, position)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, id);

-- Webhooks (see the PostgreSQL migration 0012): a user's subscriptions, and one delivery per event
-- and subscription. The fan-out (workers/webhooks.rs) reads the event log
-- after a subscription's `cursor` (a commit position, as the relay's) and
-- writes the deliveries and the new cursor in one transaction, so an event
-- that is committed gets its deliveries however a process dies.
CREATE TABLE webhook_subscriptions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    url             TEXT NOT NULL,
    event_types     TEXT NOT NULL,        -- JSON array; [] = every type
    agent           TEXT,
    status          TEXT,
    secret          TEXT NOT NULL,        -- whsec_…: needed to sign, so kept as is
    previous_secret TEXT,                 -- still signed with until previous_until
    previous_until  TEXT,
    created_at      TEXT NOT NULL,
    disabled_at     TEXT,
    disabled_reason TEXT,
    cursor          INTEGER NOT NULL
);
CREATE INDEX webhook_subscriptions_user ON webhook_subscriptions (user_id, id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,     -- the webhook-id header, the same on every attempt
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    state           TEXT NOT NULL,        -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    window_start    TEXT NOT NULL, -- retries stop a day (retry_for) after this
    created_at      TEXT NOT NULL,
    finished_at     TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    claimed_by      TEXT,
    claimed_until   TEXT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (subscription_id, job_id, position)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, id);

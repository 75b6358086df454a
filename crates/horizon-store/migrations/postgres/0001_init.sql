-- Horizon on PostgreSQL: the same tables as on SQLite, in native types.

-- Jobs: one row per job; status changes are compare-and-set on (status, lifecycle_sequence).
CREATE TABLE jobs (
    id                 uuid PRIMARY KEY,               -- UUID v7: its order is creation order
    user_id            text NOT NULL,
    agent              text NOT NULL,
    dataset_id         text NOT NULL,
    parameters         text NOT NULL,                  -- JSON object, as written
    backend            text NOT NULL,
    status             text NOT NULL,
    remote_job_id      text,
    correlation_id     text NOT NULL,
    error_code         text,
    error_message      text,
    error_exit_code    integer,
    created_at         timestamptz NOT NULL,           -- millisecond precision
    updated_at         timestamptz NOT NULL,
    started_at         timestamptz,
    finished_at        timestamptz,
    lifecycle_sequence bigint NOT NULL,
    metrics_sequence   bigint NOT NULL DEFAULT 0,
    resources          text                            -- JSON object, defaults filled in
);
CREATE INDEX jobs_user ON jobs (user_id, id);
CREATE INDEX jobs_backend_status ON jobs (backend, status, id);
CREATE INDEX jobs_status ON jobs (status, id);

-- The event log and transactional outbox. `position` is the commit order the
-- relay publishes in: every transaction that writes events takes the
-- `outbox` advisory lock first and holds it to its commit, so positions are
-- handed out in commit order (a reader following "position > last seen"
-- never skips a transaction that commits late).
CREATE TABLE events (
    position      bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    job_id        uuid NOT NULL REFERENCES jobs (id),
    stream        text NOT NULL,                       -- lifecycle | metrics
    sequence      bigint NOT NULL,
    event_type    text NOT NULL,
    envelope      text NOT NULL,                       -- the exact JSON served and published
    created_at    timestamptz NOT NULL,
    published_at  timestamptz,
    parked_at     timestamptz,
    park_reason   text,
    UNIQUE (job_id, stream, sequence)
);
CREATE INDEX events_job ON events (job_id, position);
CREATE INDEX events_unpublished ON events (position) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX events_parked ON events (position) WHERE published_at IS NULL AND parked_at IS NOT NULL;

CREATE TABLE idempotency_keys (
    user_id       text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    job_id        uuid NOT NULL REFERENCES jobs (id) DEFERRABLE INITIALLY DEFERRED,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE api_tokens (
    token_hash    text PRIMARY KEY,                    -- SHA-256 of the token, hex
    user_id       text NOT NULL,
    admin         boolean NOT NULL,
    created_at    timestamptz NOT NULL
);

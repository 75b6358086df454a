-- Jobs: one row per job; status changes are compare-and-set on (status, lifecycle_sequence).
CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY NOT NULL,      -- UUID v7, so text order is creation order
    user_id            TEXT NOT NULL,
    agent              TEXT NOT NULL,
    dataset_id         TEXT NOT NULL,
    parameters         TEXT NOT NULL,                  -- JSON object
    backend            TEXT NOT NULL,
    status             TEXT NOT NULL,
    remote_job_id      TEXT,
    correlation_id     TEXT NOT NULL,
    error_code         TEXT,
    error_message      TEXT,
    error_exit_code    INTEGER,
    created_at         TEXT NOT NULL,                  -- RFC 3339 UTC, millisecond precision
    updated_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT,
    lifecycle_sequence INTEGER NOT NULL,
    metrics_sequence   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_user ON jobs (user_id, id);
CREATE INDEX jobs_status ON jobs (status, id);

-- The event log and transactional outbox: every event of every job, written in
-- the same transaction as the change it records. `position` is the commit order
-- the relay publishes in; (job_id, stream, sequence) is unique and gap-free.
CREATE TABLE events (
    position      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    job_id        TEXT NOT NULL REFERENCES jobs (id),
    stream        TEXT NOT NULL,                       -- lifecycle | metrics
    sequence      INTEGER NOT NULL,
    event_type    TEXT NOT NULL,
    envelope      TEXT NOT NULL,                       -- the exact JSON served and published
    created_at    TEXT NOT NULL,
    published_at  TEXT,
    UNIQUE (job_id, stream, sequence)
);
CREATE INDEX events_unpublished ON events (position) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    job_id        TEXT NOT NULL REFERENCES jobs (id) DEFERRABLE INITIALLY DEFERRED,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE api_tokens (
    token_hash    TEXT PRIMARY KEY NOT NULL,           -- SHA-256 of the token, hex
    user_id       TEXT NOT NULL,
    admin         INTEGER NOT NULL,
    created_at    TEXT NOT NULL
);

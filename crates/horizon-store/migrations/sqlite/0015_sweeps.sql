-- Sweeps (see the PostgreSQL migration 0019).
CREATE TABLE sweeps (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL,
    agent              TEXT NOT NULL,
    size               INTEGER NOT NULL,
    concurrency_limit  INTEGER,
    correlation_id     TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    completed_at       TEXT,
    idempotency_key    TEXT,
    request_hash       TEXT,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX sweeps_open ON sweeps (id) WHERE completed_at IS NULL;
ALTER TABLE jobs ADD COLUMN sweep_id TEXT;
ALTER TABLE jobs ADD COLUMN sweep_index INTEGER;
ALTER TABLE jobs ADD COLUMN gated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_sweep ON jobs (sweep_id, id) WHERE sweep_id IS NOT NULL;

-- Sweeps (issue 24): one request, many jobs. The sweep's own record; each
-- job names its sweep and its point (index); a job past the sweep's
-- concurrency limit starts gated (not handed over until another ends).
CREATE TABLE sweeps (
    id                 uuid PRIMARY KEY,
    user_id            text NOT NULL,
    agent              text NOT NULL,
    size               integer NOT NULL,
    concurrency_limit  integer,
    correlation_id     text NOT NULL,
    created_at         timestamptz NOT NULL,
    completed_at       timestamptz,
    idempotency_key    text,
    request_hash       text,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX sweeps_open ON sweeps (id) WHERE completed_at IS NULL;
ALTER TABLE jobs ADD COLUMN sweep_id uuid;
ALTER TABLE jobs ADD COLUMN sweep_index integer;
ALTER TABLE jobs ADD COLUMN gated boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_sweep ON jobs (sweep_id, id) WHERE sweep_id IS NOT NULL;

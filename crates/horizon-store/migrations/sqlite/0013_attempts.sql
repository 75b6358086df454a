-- Retries (see the PostgreSQL migration 0017).
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN retry_policy TEXT;
ALTER TABLE jobs ADD COLUMN next_attempt_at TEXT;
CREATE INDEX jobs_next_attempt ON jobs (backend, next_attempt_at) WHERE next_attempt_at IS NOT NULL;

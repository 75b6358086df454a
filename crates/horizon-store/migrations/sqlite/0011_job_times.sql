-- When the backend accepted the job, and its exit code also on success
-- (see the PostgreSQL migration 0014).
ALTER TABLE jobs ADD COLUMN queued_at TEXT;
ALTER TABLE jobs ADD COLUMN exit_code INTEGER;

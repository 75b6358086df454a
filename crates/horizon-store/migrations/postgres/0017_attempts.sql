-- Retries (issue 25): a job's attempt (from 1), the most its policy
-- allows, the policy itself (JSON, the agent's narrowed by the request),
-- and when its next attempt is due while it waits for it (QUEUED, not yet
-- handed over again).
ALTER TABLE jobs ADD COLUMN attempt integer NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN max_attempts integer NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN retry_policy text;
ALTER TABLE jobs ADD COLUMN next_attempt_at timestamptz;
CREATE INDEX jobs_next_attempt ON jobs (backend, next_attempt_at) WHERE next_attempt_at IS NOT NULL;

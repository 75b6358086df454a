-- What a gateway shows of a job: when the backend accepted it (queue wait
-- = started_at - queued_at) and the program's exit code, also on success.
-- Jobs that ended before this release keep them NULL.
ALTER TABLE jobs ADD COLUMN queued_at TIMESTAMPTZ;
ALTER TABLE jobs ADD COLUMN exit_code INTEGER;

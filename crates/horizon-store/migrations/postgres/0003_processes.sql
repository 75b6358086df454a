-- Several `horizon serve` processes on one database. Each registers and
-- beats here every few seconds; a job is handled (dispatched, polled) by the
-- process in `jobs.owner`, and a job whose owner has gone silent is claimed
-- by another (FOR UPDATE SKIP LOCKED), so exactly one live process handles it.
CREATE TABLE processes (
    id            uuid PRIMARY KEY,
    host          text NOT NULL,
    pid           integer NOT NULL,
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL
);
ALTER TABLE jobs ADD COLUMN owner uuid;
CREATE INDEX jobs_active_owner ON jobs (backend, status, owner, id)
    WHERE status IN ('SUBMITTED', 'QUEUED', 'RUNNING');

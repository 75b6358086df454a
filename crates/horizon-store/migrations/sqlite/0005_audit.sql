-- The audit trail travels through the outbox too: an `events` row with
-- stream 'audit', one per record, whose job_id column holds the record's own
-- id (the Kafka key). So events.job_id no longer references jobs: SQLite
-- cannot drop a constraint, hence the table is rebuilt (same columns, same
-- positions, same indexes; job events are still written only with their job
-- in the same transaction).
CREATE TABLE events_new (
    position      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    job_id        TEXT NOT NULL,
    stream        TEXT NOT NULL,                       -- lifecycle | metrics | audit
    sequence      INTEGER NOT NULL,
    event_type    TEXT NOT NULL,
    envelope      TEXT NOT NULL,                       -- the exact JSON served and published
    created_at    TEXT NOT NULL,
    published_at  TEXT,
    parked_at     TEXT,
    park_reason   TEXT,
    UNIQUE (job_id, stream, sequence)
);
INSERT INTO events_new (position, event_id, job_id, stream, sequence, event_type, envelope,
                        created_at, published_at, parked_at, park_reason)
    SELECT position, event_id, job_id, stream, sequence, event_type, envelope,
           created_at, published_at, parked_at, park_reason
    FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_unpublished ON events (position) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX events_parked ON events (position) WHERE published_at IS NULL AND parked_at IS NOT NULL;
CREATE INDEX events_audit ON events (position) WHERE stream = 'audit';

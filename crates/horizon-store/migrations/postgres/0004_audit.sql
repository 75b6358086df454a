-- The audit trail travels through the outbox too: an `events` row with
-- stream 'audit', one per record, whose job_id column holds the record's own
-- id (the Kafka key), so events.job_id no longer references jobs (job events
-- are still written only with their job, in the same transaction).
ALTER TABLE events DROP CONSTRAINT events_job_id_fkey;
CREATE INDEX events_audit ON events (position) WHERE stream = 'audit';

-- The dead-letter state of the outbox: an event Kafka refuses for good (too
-- large for the topic, not authorized) is parked, with the reason, so the
-- relay can go on with every other job; the later events of the same job and
-- stream are parked behind it, so nothing overtakes it. `horizon events
-- retry-parked` clears parked_at and the relay sends them again, in order.
ALTER TABLE events ADD COLUMN parked_at TEXT;
ALTER TABLE events ADD COLUMN park_reason TEXT;
DROP INDEX events_unpublished;
CREATE INDEX events_unpublished ON events (position) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX events_parked ON events (position) WHERE published_at IS NULL AND parked_at IS NOT NULL;

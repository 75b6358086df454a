-- The relay's order without one lock across every writer (issue 20).
--
-- Until now every event-writing transaction took one advisory lock, held to
-- its commit, so that `events.position` (a bigserial) followed commit order
-- across processes; the processes' commits queued behind each other. Now
-- writers insert without it and a sequencing step, run by whoever reads the
-- outbox, numbers committed events after the fact: `event_order.seq` is
-- the relay's position (the one committed to Kafka, replayed from, listed
-- for parked events). It is handed out in one statement per round over
-- the committed, not yet numbered events in `events.position` order, so a
-- job's events (written one after another: each transaction locks the
-- job's row) keep their order, and a reader following "seq > last seen"
-- never skips one that committed late.
--
-- `events.position` keeps its meaning inside the database (a job's events
-- in order, the audit trail's cursor).
CREATE TABLE event_order (
    seq       bigint PRIMARY KEY,
    position  bigint NOT NULL UNIQUE
);

-- Every position at or below `low_water` is numbered, or belongs to a
-- transaction that never committed: the sequencer looks above it only.
CREATE TABLE outbox_sequencer (
    id        int PRIMARY KEY CHECK (id = 1),
    low_water bigint NOT NULL
);

-- The events written so far keep their positions as their seq (positions
-- committed to Kafka stay valid). Upgrade with every process stopped.
INSERT INTO event_order (seq, position) SELECT position, position FROM events;
INSERT INTO outbox_sequencer (id, low_water) VALUES (1, COALESCE((SELECT max(position) FROM events), 0));

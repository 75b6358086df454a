-- The exactly-once relay's transactional-id generation. A Kafka transaction
-- that touched a partition whose only broker then died cannot end until
-- that broker returns, and with it every later transaction of the same
-- transactional id waits. The leader then moves on to a new id (the next
-- generation), recorded here under its lease so that the next leader
-- fences the id in use.
ALTER TABLE relay_lease ADD COLUMN generation bigint NOT NULL DEFAULT 0;

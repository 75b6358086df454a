-- Un-parked events waiting to be sent again (`retry-parked`): the relay
-- looks for them every few seconds; an index of their own keeps that look
-- independent of the history's size (as on PostgreSQL, migration 0021).
CREATE INDEX events_unparked ON events (position)
    WHERE published_at IS NULL AND parked_at IS NULL AND park_reason IS NOT NULL;

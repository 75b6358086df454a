-- Un-parked events waiting to be sent again (`retry-parked`): the relay
-- looks for them every few seconds. Without an index of their own that
-- look read the whole events table (a sequential scan: 13–30 ms at 20 000
-- events, growing with the history). The index holds only the events
-- waiting to be re-sent, so it stays tiny. (Building it reads the table
-- once, at the upgrade, and holds writes to `events` meanwhile: seconds
-- for millions of events; upgrade with the processes stopped, as ever.)
CREATE INDEX events_unparked ON events (position)
    WHERE published_at IS NULL AND parked_at IS NULL AND park_reason IS NOT NULL;

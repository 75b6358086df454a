-- W3C trace context (see the PostgreSQL migration 0013).
ALTER TABLE jobs ADD COLUMN traceparent TEXT;
ALTER TABLE events ADD COLUMN traceparent TEXT;

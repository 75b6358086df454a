-- W3C trace context (issue 22): a `traceparent` sent with a submission is
-- kept with the job and written with each of its events, which carry it as
-- the CloudEvents distributed-tracing extension (`ce_traceparent` on Kafka)
-- and on their webhooks. The envelopes themselves do not change.
ALTER TABLE jobs ADD COLUMN traceparent TEXT;
ALTER TABLE events ADD COLUMN traceparent TEXT;

-- Hold/release and clone (see the PostgreSQL migration 0016).
ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cloned_from TEXT;
CREATE INDEX jobs_cloned_from ON jobs (cloned_from) WHERE cloned_from IS NOT NULL;

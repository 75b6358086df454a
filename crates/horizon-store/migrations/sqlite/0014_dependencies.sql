-- Dependencies (see the PostgreSQL migration 0018).
ALTER TABLE jobs ADD COLUMN depends_on TEXT;
ALTER TABLE jobs ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_waiting ON jobs (id) WHERE waiting = 1;

-- Where a job runs (see the PostgreSQL migration 0011): the account the
-- identity mapping chose, and where the backend keeps the job's files.
ALTER TABLE jobs ADD COLUMN account TEXT;
ALTER TABLE jobs ADD COLUMN location TEXT;

-- Hold/release and clone (issue 25): a job held before it started is not
-- handed to its scheduler (nor started, on the local backend); a clone
-- records the job it was made from.
ALTER TABLE jobs ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN cloned_from uuid;
CREATE INDEX jobs_cloned_from ON jobs (cloned_from) WHERE cloned_from IS NOT NULL;

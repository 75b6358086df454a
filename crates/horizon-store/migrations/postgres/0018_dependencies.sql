-- Dependencies (issue 24): the jobs a job runs after (JSON: [{job_id,
-- condition}]), and whether it still waits for them in SUBMITTED.
ALTER TABLE jobs ADD COLUMN depends_on text;
ALTER TABLE jobs ADD COLUMN waiting boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_waiting ON jobs (id) WHERE waiting;

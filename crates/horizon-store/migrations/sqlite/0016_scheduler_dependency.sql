-- Dependencies handed to the scheduler (see the PostgreSQL migration 0020).
ALTER TABLE jobs ADD COLUMN scheduler_dependency TEXT;
CREATE INDEX jobs_scheduler_dependency ON jobs (id)
    WHERE scheduler_dependency IS NOT NULL AND status IN ('SUBMITTED', 'QUEUED');

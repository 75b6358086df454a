-- Dependencies handed to the scheduler (issue 24): a Slurm job whose
-- dependencies are Slurm jobs on the same cluster goes to Slurm at once
-- with `--dependency=<this>` (Slurm plans it) instead of waiting in
-- Horizon; Horizon still watches it until it starts.
ALTER TABLE jobs ADD COLUMN scheduler_dependency text;
CREATE INDEX jobs_scheduler_dependency ON jobs (id)
    WHERE scheduler_dependency IS NOT NULL AND status IN ('SUBMITTED', 'QUEUED');

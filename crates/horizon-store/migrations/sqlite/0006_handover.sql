-- "About to hand the job to its scheduler" (Slurm, Tapis), written before
-- the act: a later submit looks the job up by name first.
ALTER TABLE jobs ADD COLUMN handed_over_at TEXT;

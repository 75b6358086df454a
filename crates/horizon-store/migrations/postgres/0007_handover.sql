-- "About to hand the job to its scheduler" (Slurm, Tapis), written before
-- the act by the dispatching process: whichever process submits the job
-- later (a takeover, with its own data directory) looks it up by name first
-- instead of submitting it a second time.
ALTER TABLE jobs ADD COLUMN handed_over_at timestamptz;

-- The claim's fencing token: bumped each time a process claims the job
-- (its owner having gone silent); every write of the claimer carries the
-- epoch it claimed with, and a stale one changes nothing.
ALTER TABLE jobs ADD COLUMN claim_epoch bigint NOT NULL DEFAULT 0;

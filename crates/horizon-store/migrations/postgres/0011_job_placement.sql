-- Where a job runs, as two processes may need to know it (issue 21):
-- account  — whom the backend charges it to (a Slurm account, a Tapis
--            user), as the identity mapping decided at submission;
-- location — where the backend keeps its files (a Slurm job's directory),
--            recorded when it was handed over, so that any process reads
--            its logs.
ALTER TABLE jobs ADD COLUMN account TEXT;
ALTER TABLE jobs ADD COLUMN location TEXT;

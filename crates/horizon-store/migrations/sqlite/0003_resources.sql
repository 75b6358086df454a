-- What a job asked for (nodes, cores per node, memory, GPUs, wall time), as a
-- JSON object with its agent's defaults filled in; NULL for jobs older than
-- this column (no resources asked).
ALTER TABLE jobs ADD COLUMN resources TEXT;

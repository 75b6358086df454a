-- Local jobs run on one machine, in one jobs directory: only a process that
-- sees the same (`local_scope` = host and jobs_dir) can adopt them when
-- their owner goes silent. Others leave them until the owner returns, or
-- until an operator says the host is gone (`gone_at`; `horizon admin
-- host-gone`), after which any process takes them over (and finds their
-- programs lost).
ALTER TABLE processes ADD COLUMN local_scope text;
ALTER TABLE processes ADD COLUMN gone_at timestamptz;

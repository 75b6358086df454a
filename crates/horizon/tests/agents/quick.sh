#!/bin/sh
# A cheap agent for large sweeps on the test Slurm (no Python): records its
# run like testagent.py, sleeps params.seconds (default 0), and exits 3 with
# params.fail (one failing point of a sweep).
[ -n "$HORIZON_TEST_RUNS_DIR" ] && echo $$ >> "$HORIZON_TEST_RUNS_DIR/$HORIZON_JOB_ID"
p=$(cat "$HORIZON_PARAMS_FILE")
s=$(printf '%s' "$p" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p')
sleep "${s:-0}"
case "$p" in *'"fail":true'*) echo "this point fails" >&2; exit 3;; esac
echo "point done"

#!/usr/bin/env bash
# Benchmarks (numbers in BENCHMARKS.md), each next to a baseline measured in
# the same run:
#   1. the store's write path: a bare insert loop (1 and 100 submissions per
#      transaction) vs. Store::create_job with 1, 16 and 64 in flight;
#   2. the outbox relay vs. a plain rdkafka producer (cargo bench);
#   3. `horizon serve` (release) over HTTP with the Kafka relay on:
#      (c) 16 clients and (d) 1 client submitting to a queue-only agent
#      (`slots = 0`), every event published before the run ends, and the
#      server's CPU time per submission; (c) again with 100 000 jobs already
#      QUEUED, and the idle server's CPU per watcher pass, empty vs. full;
#      (e) end to end with a /bin/true agent;
#   4. `pg` (only when asked: scripts/bench.sh pg): 1, 2 and 3 processes on
#      PostgreSQL over HTTP vs. pgbench on the same database, SQLite for reference.
#   5. `live` (only when asked): 1 000 Server-Sent Event clients (commit →
#      client next to commit → Kafka ack, memory per stream) and webhook
#      deliveries per second next to a bare HTTP client loop.
#   7. `sweep` (only when asked): a 10 000-point sweep in one request, next
#      to a bare batched insert of as many rows (100 per transaction) and
#      to 10 000 single submissions through the API (16 clients).
#   6. `dashboard` (only when asked): 100 000 jobs, the jobs page's first
#      render and a filter change in Chromium next to the same API calls by
#      curl, and the bundle's gzipped size.
# Kafka: a local Apache Kafka broker (scripts/kafka.sh) unless HORIZON_BENCH_KAFKA_BROKERS names one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/kafka.sh
source scripts/kafka.sh
work=$(mktemp -d "$PWD/target/horizon-bench.XXXXXX")
server=
stop_server() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; fi
}
# The work directory (databases, some 6 000 job directories) is kept, not
# deleted: on ext4 without a journal (this machine's disk) every file created
# in the next ~5-10 minutes first skips the inodes deleted in that time
# (ext4's recently_deleted), which made a following run's end-to-end phase
# up to 2x slower on creating its job directories. `cargo clean` removes them.
cleanup() { stop_server; kafka_stop; echo "kept $work"; }
trap cleanup EXIT
if [ -z "${HORIZON_BENCH_KAFKA_BROKERS:-}" ]; then
  kafka_install
  kafka_start 19192
  export HORIZON_BENCH_KAFKA_BROKERS=$KAFKA_BOOTSTRAP
fi
what=${1:-all}

if [ "$what" = all ] || [ "$what" = store ]; then
  echo "== store"
  HORIZON_BENCH_DIR=$work cargo bench -q -p horizon-store --bench commit
fi
if [ "$what" = all ] || [ "$what" = relay ]; then
  echo "== relay"
  cargo bench -q -p horizon-kafka --bench relay
fi
if [ "$what" = pg ]; then
  # PostgreSQL: submissions over HTTP (16 clients, queue-only agent, the Kafka
  # relay on: a run ends when every event is in Kafka)
  # with 1, 2 and 3 `horizon serve` processes on one database, next to
  # pgbench on the same database: one submission's rows (job + event) per
  # transaction, and 100 per transaction; SQLite (1 process) for reference.
  echo "== PostgreSQL, 1-3 processes"
  cargo build -q --release -p horizon -p horizon-backend
  bin=./target/release/horizon
  [ -n "${HORIZON_BENCH_POSTGRES_URL:-}" ] || ./scripts/postgres.sh up
  admin=${HORIZON_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  db=horizon_bench_$$
  dbs=("${db}_pgbench")
  pids=()
  stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
  trap 'stop_all; for d in "${dbs[@]}"; do psql "$admin" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)"; done; cleanup' EXIT
  sed "s/^slots = .*/slots = 0/" examples/bench.toml >"$work/pg.toml"
  # statements <url> <n>: where the database's time went during the load
  # (pg_stat_statements, when the server loads it: scripts/postgres.sh does)
  statements() {
    psql -qAt -F ' | ' "$1" -c "
      WITH s AS (SELECT calls, total_exec_time, rows, query FROM pg_stat_statements
                  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()))
      SELECT 'database time per submission: ' || round((sum(total_exec_time) / $(( (6000 / $2) * $2 )))::numeric, 3) || ' ms in '
             || round(sum(calls)::numeric / $(( (6000 / $2) * $2 )), 1) || ' statements' FROM s;" 2>/dev/null | sed 's/^/   /' || true
    psql -qAt -F ' | ' "$1" -c "
      SELECT round(total_exec_time::numeric, 0) || ' ms', calls, left(regexp_replace(query, '\s+', ' ', 'g'), 110)
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       ORDER BY total_exec_time DESC LIMIT 12;" 2>/dev/null | sed 's/^/     /' || true
  }
  # serve_on <n> <database url>: the n-th process, on port 1828n
  serve_on() {
    HORIZON_BIND=127.0.0.1:1828$1 HORIZON_DATA_DIR=$work/pg-$1-$RANDOM HORIZON_DATABASE_URL=$2 \
      HORIZON_KAFKA_BROKERS=$HORIZON_BENCH_KAFKA_BROKERS \
      $bin serve --config "$work/pg.toml" >>"$work/serve.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:1828$1/readyz" >/dev/null && break; sleep 0.1; done
  }
  # lock waits: one psql session samples pg_stat_activity every 10 ms for
  # the backends of the benchmark's database waiting on a lock (row locks,
  # advisory locks): summed, the lock-wait time of the run
  sample_locks() {
    for _ in $(seq 1 6000); do
      echo "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') FROM pg_stat_activity WHERE datname = '$db';"
      echo "SELECT pg_sleep(0.01);"
    done | stdbuf -oL psql -qAt "$admin" 2>/dev/null | grep --line-buffered -E '^[0-9]+$' >"$work/locks.txt" &
    sampler=$!
  }
  # load <n>: 6000 submissions from 16 clients spread over processes 1..n
  load() {
    local n=$1 start end bp=()
    sample_locks
    local db0 hz0
    db0=$(pg_ticks); hz0=$(serve_ticks)
    start=$(date +%s.%N)
    for i in $(seq 1 "$n"); do
      HORIZON_URL=http://127.0.0.1:1828$i $bin bench --agent Noop --jobs $((6000 / n)) \
        --concurrency $((16 / n + (i <= 16 % n ? 1 : 0))) >"$work/load-$i.txt" &
      bp+=($!)
    done
    wait "${bp[@]}"
    # every event in Kafka (the relay, and on PostgreSQL its sequencing
    # step, are part of what is measured)
    local submitted
    submitted=$(date +%s.%N)
    for _ in $(seq 1 1200); do
      [ "$(curl -sf http://127.0.0.1:18281/metrics | awk '$1 == "horizon_outbox_depth" { print $2 }')" = 0 ] && break
      sleep 0.05
    done
    end=$(date +%s.%N)
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    local db1 hz1
    db1=$(pg_ticks); hz1=$(serve_ticks)
    for i in $(seq 1 "$n"); do echo "   process $i: $(cat "$work/load-$i.txt")"; done
    awk -v s="$start" -v e="$end" -v n=$(( (6000 / n) * n )) \
      'BEGIN { printf "   total: %d submissions in %.2f s: %.0f jobs/s\n", n, e - s, n / (e - s) }'
    awk -v s="$start" -v e="$submitted" \
      'BEGIN { printf "   (the submissions alone: %.2f s; the rest is the relay catching up)\n", e - s }'
    # (each sample stands for the 10 ms after it, plus psql's own round trip)
    awk -v n=$(( (6000 / n) * n )) -v s="$start" -v e="$end" \
      '{ sum += $1; samples++ } END { if (samples) printf "   lock waits: %d samples, %.2f backends waiting on average: ~%.3f ms of lock wait per submission\n", samples, sum / samples, (sum / samples) * (e - s) * 1000 / n }' "$work/locks.txt"
    awk -v d=$((db1 - db0)) -v h=$((hz1 - hz0)) -v hz="$(getconf CLK_TCK)" -v n=$(( (6000 / n) * n )) \
      'BEGIN { printf "   CPU per submission: PostgreSQL %.3f ms, horizon serve %.3f ms\n", d * 1000 / hz / n, h * 1000 / hz / n }'
  }
  # CPU ticks of every PostgreSQL server process, and of the serve processes
  pg_ticks() { local t=0 p; for p in $(pgrep -x postgres); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
  serve_ticks() { local t=0 p; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
  # the baselines in a database of their own with Horizon's tables (its
  # rows must not reach the servers measured next)
  psql "$admin" -qc "CREATE DATABASE ${db}_pgbench"
  HORIZON_DATABASE_URL=${admin%/*}/${db}_pgbench HORIZON_DATA_DIR=$work/pg-pgbench \
    $bin token create --config "$work/pg.toml" --user bench >/dev/null 2>&1
  echo "-- baseline: pgbench, 16 clients, one submission (job + event rows) per transaction"
  cat >"$work/one.sql" <<'SQL'
WITH j AS (INSERT INTO jobs (id, user_id, agent, dataset_id, parameters, backend, status, correlation_id,
                             created_at, updated_at, lifecycle_sequence)
           VALUES (gen_random_uuid(), 'bench', 'Noop', 'd', '{}', 'local', 'SUBMITTED', 'c', now(), now(), 1)
           RETURNING id)
INSERT INTO events (event_id, job_id, stream, sequence, event_type, envelope, created_at)
SELECT gen_random_uuid(), id, 'lifecycle', 1, 'job.submitted', '{"event_type":"job.submitted"}', now() FROM j;
SQL
  pgbench -n -c 16 -j 2 -T 8 -f "$work/one.sql" "${admin%/*}/${db}_pgbench" 2>/dev/null | grep -E "^tps|latency average" | sed 's/^/   /'
  echo "-- baseline: pgbench, 16 clients, 100 submissions per transaction (x100 for submissions/s)"
  sed 's/VALUES (gen_random_uuid(), \(.*\))$/SELECT gen_random_uuid(), \1 FROM generate_series(1, 100)/' "$work/one.sql" >"$work/batch.sql"
  pgbench -n -c 16 -j 2 -T 8 -f "$work/batch.sql" "${admin%/*}/${db}_pgbench" 2>/dev/null | grep -E "^tps" | sed 's/^/   /'
  # each count of processes on a database of its own, empty but for a
  # warm-up of 500 jobs, with a relay position of its own in Kafka
  for n in 1 2 3; do
    psql "$admin" -qc "CREATE DATABASE ${db}_$n"
    url=${admin%/*}/${db}_$n
    dbs+=("${db}_$n")
    sed "s/^slots = .*/slots = 0/" examples/bench.toml >"$work/pg.toml"
    printf '[kafka]\ntransactional_id = "horizon-bench-%s-%s"\n' "$$" "$n" >>"$work/pg.toml"
    for i in $(seq 1 "$n"); do serve_on "$i" "$url"; done
    HORIZON_TOKEN=$(HORIZON_DATABASE_URL=$url HORIZON_DATA_DIR=$work/pg-token-$n $bin token create --config "$work/pg.toml" --user bench 2>/dev/null)
    export HORIZON_TOKEN
    HORIZON_URL=http://127.0.0.1:18281 $bin bench --agent Noop --jobs 500 --concurrency 16 >/dev/null   # warm-up
    psql -q "$url" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
    echo "-- $n process(es) on PostgreSQL, 16 clients"
    load "$n"
    statements "$url" "$n"
    stop_all
  done
  echo "-- reference: 1 process on SQLite, 16 clients"
  sed "s/^slots = .*/slots = 0/" examples/bench.toml >"$work/pg.toml"
  printf '[kafka]\ntransactional_id = "horizon-bench-sqlite-%s"\n' "$$" >>"$work/pg.toml"
  serve_on 1 "sqlite://$work/ref.db"
  HORIZON_TOKEN=$(HORIZON_DATABASE_URL=sqlite://$work/ref.db HORIZON_DATA_DIR=$work/pg-token2 $bin token create --config "$work/pg.toml" --user bench 2>/dev/null)
  export HORIZON_TOKEN
  HORIZON_URL=http://127.0.0.1:18281 $bin bench --agent Noop --jobs 500 --concurrency 16 >/dev/null
  load 1
  exit 0
fi
if [ "$what" = live ]; then
  # Server-Sent Events and webhooks (only when asked: scripts/bench.sh live),
  # a release server on SQLite with the Kafka relay on, queue-only agent:
  # 1 000 clients on /v1/events/stream, commit → client latency next to
  # commit → Kafka ack of the same run, memory per stream; webhook
  # deliveries per second next to a bare HTTP client loop. Three runs each.
  echo "== live: streams and webhooks"
  ulimit -n 65536 2>/dev/null || true   # (1 000 streams: the client side needs the descriptors too)
  cargo build -q --release -p horizon -p horizon-backend
  cargo build -q --release -p horizon --example bench_live
  bin=./target/release/horizon
  for run in 1 2 3; do
    sed "s/^slots = .*/slots = 0/" examples/bench.toml >"$work/live.toml"
    printf '\n[api]\nmax_streams_per_user = 5000\nmax_connections = 8192\n' >>"$work/live.toml"
    printf '\n[webhooks]\nallow_private_targets = true\n' >>"$work/live.toml"
    printf '\n[kafka]\ntransactional_id = "horizon-bench-live-%s-%s"\n' "$$" "$run" >>"$work/live.toml"
    rm -rf "$work/live-$run"
    HORIZON_DATA_DIR=$work/live-$run HORIZON_KAFKA_BROKERS=$HORIZON_BENCH_KAFKA_BROKERS \
      $bin serve --config "$work/live.toml" >>"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18180/readyz >/dev/null && break; sleep 0.1; done
    token=$(HORIZON_DATA_DIR=$work/live-$run $bin token create --config "$work/live.toml" --user bench 2>/dev/null)
    echo "-- run $run"
    ./target/release/examples/bench_live streams http://127.0.0.1:18180 "$token" "$server" 1000 100
    ./target/release/examples/bench_live webhooks http://127.0.0.1:18180 "$token" 1000 16
    stop_server
  done
  exit 0
fi
if [ "$what" = sweep ]; then
  # One request of 10 000 points (only when asked: scripts/bench.sh sweep),
  # a release server on SQLite, queue-only agent, no Kafka (the write path
  # alone): the time to its 201 (the sweep, 10 000 jobs and their events
  # durable), next to the same number of job + event rows inserted bare,
  # 100 per transaction, and to 10 000 single submissions over HTTP from 16
  # clients; three runs, each on fresh databases.
  echo "== sweep: 10 000 points in one request"
  cargo build -q --release -p horizon -p horizon-backend
  bin=./target/release/horizon
  export HORIZON_URL=http://127.0.0.1:18180
  sed "s/^slots = .*/slots = 0/" examples/bench.toml >"$work/sweep.toml"
  body=$(python3 -c 'import json; print(json.dumps({"agent": "Noop", "dataset_id": "bench", "grid": {"i": list(range(10000))}}))')
  fresh_server() {
    rm -rf "$work/sweep-$1"
    HORIZON_DATA_DIR=$work/sweep-$1 $bin serve --config "$work/sweep.toml" >>"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "$HORIZON_URL/readyz" >/dev/null && break; sleep 0.1; done
    HORIZON_TOKEN=$(HORIZON_DATA_DIR=$work/sweep-$1 $bin token create --config "$work/sweep.toml" --user bench 2>/dev/null)
    export HORIZON_TOKEN
  }
  for run in 1 2 3; do
    echo "-- run $run"
    fresh_server "a-$run"
    out=$(curl -s -w '\n%{http_code} %{time_total}' -H "Authorization: Bearer $HORIZON_TOKEN" \
      -H 'content-type: application/json' -d "$body" "$HORIZON_URL/v1/sweeps")
    read -r code took <<<"$(tail -1 <<<"$out")"
    size=$(head -1 <<<"$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
    echo "   sweep: HTTP $code, $size jobs in $took s"
    stop_server
    HORIZON_BENCH_ONLY=bare100 HORIZON_BENCH_JOBS=10000 HORIZON_BENCH_DIR=$work \
      cargo bench -q -p horizon-store --bench commit | sed 's/^/   /'
    fresh_server "c-$run"
    $bin bench --agent Noop --jobs 10000 --concurrency 16 | tail -2 | sed 's/^/   single submissions: /'
    stop_server
  done
  exit 0
fi
if [ "$what" = dashboard ]; then
  # The dashboard with 100 000 jobs (only when asked: scripts/bench.sh
  # dashboard): a release server on SQLite, queue-only agent, 100 000 jobs
  # submitted; then, three runs each, the jobs page's first render and a
  # dataset filter in Debian's Chromium, next to the same API calls made by
  # curl in the same run; and the bundle's size, gzipped.
  echo "== dashboard: 100 000 jobs"
  ./scripts/browser.sh
  cargo build -q --release -p horizon -p horizon-backend
  bin=./target/release/horizon
  export HORIZON_URL=http://127.0.0.1:18180
  sed "s/^slots = .*/slots = 0/" examples/bench.toml >"$work/dash.toml"
  HORIZON_DATA_DIR=$work/dash HORIZON_KAFKA_BROKERS=$HORIZON_BENCH_KAFKA_BROKERS \
    $bin serve --config "$work/dash.toml" >>"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$HORIZON_URL/readyz" >/dev/null && break; sleep 0.1; done
  HORIZON_TOKEN=$(HORIZON_DATA_DIR=$work/dash $bin token create --config "$work/dash.toml" --user bench 2>/dev/null)
  export HORIZON_TOKEN
  $bin bench --agent Noop --jobs 100000 --concurrency 16 | tail -2
  echo "-- bundle (gzip): $(cat crates/horizon-server/ui/assets/*.js crates/horizon-server/ui/assets/*.css | gzip -9 | wc -c) bytes"
  for run in 1 2 3; do
    page=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $HORIZON_TOKEN" "$HORIZON_URL/v1/jobs?limit=25")
    filtered=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $HORIZON_TOKEN" "$HORIZON_URL/v1/jobs?limit=25&dataset_id=bench-77777")
    echo "-- curl run $run: first page $(awk -v t="$page" 'BEGIN{printf "%d", t*1000}') ms, dataset filter $(awk -v t="$filtered" 'BEGIN{printf "%d", t*1000}') ms"
  done
  DATASET=bench-77777 RUNS=3 node tools/browser/bench_dashboard.mjs
  stop_server
  exit 0
fi
[ "$what" = all ] || [ "$what" = api ] || exit 0

echo "== API and workers"
cargo build -q --release -p horizon -p horizon-backend
bin=./target/release/horizon
export HORIZON_URL=http://127.0.0.1:18180
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# group_ticks <pgid>: the same summed over a process group (the broker's pip
# entry point and the real broker under it)
group_ticks() { local t=0 p; for p in $(pgrep -g "$1"); do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done; echo "$t"; }
hz=$(getconf CLK_TCK)
# child_ticks: sets CHILD_TICKS to the CPU ticks of this shell's finished
# children so far (bash's `times`, which must run in this shell, not in $(…))
child_ticks() {
  times >"$work/times"
  CHILD_TICKS=$(awk -v hz="$hz" 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz }' "$work/times")
}
# serve <slots> <data dir>: start a release server on bench.toml with that many slots
serve() {
  sed "s/^slots = .*/slots = $1/" examples/bench.toml >"$work/bench-$1.toml"
  HORIZON_DATA_DIR=$2 HORIZON_KAFKA_BROKERS=$HORIZON_BENCH_KAFKA_BROKERS \
    $bin serve --config "$work/bench-$1.toml" >>"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$HORIZON_URL/readyz" >/dev/null && break; sleep 0.1; done
  HORIZON_TOKEN=$(HORIZON_DATA_DIR=$2 $bin token create --config "$work/bench-$1.toml" --user bench 2>/dev/null)
  export HORIZON_TOKEN
}
# measured <label> <jobs> <horizon bench args…>: run it and print the server's CPU per submission
# and the CPU of the two other parties on these 2 cores: the load generator
# (`horizon bench`) and the Kafka broker (when started here)
measured() {
  local label=$1 jobs=$2; shift 2
  local before after kb=0 ka=0 cb ca
  before=$(cpu_ticks "$server")
  [ -n "${KAFKA_PID:-}" ] && kb=$(group_ticks "$KAFKA_PID")
  child_ticks; cb=$CHILD_TICKS
  echo "-- $label"
  $bin bench --jobs "$jobs" "$@"
  child_ticks; ca=$CHILD_TICKS
  after=$(cpu_ticks "$server")
  [ -n "${KAFKA_PID:-}" ] && ka=$(group_ticks "$KAFKA_PID")
  awk -v t=$((after - before)) -v c=$((ca - cb)) -v k=$((ka - kb)) -v hz="$hz" -v n="$jobs" \
    'BEGIN { printf "horizon serve CPU: %.2f s, %.0f us per submission; load generator %.0f us, broker %.0f us per submission\n", t / hz, 1e6 * t / hz / n, 1e6 * c / hz / n, 1e6 * k / hz / n }'
}
# idle_cpu <seconds>: the idle server's CPU per watcher pass (bench.toml polls every 500 ms)
idle_cpu() {
  local before after
  before=$(cpu_ticks "$server"); sleep "$1"; after=$(cpu_ticks "$server")
  awk -v t=$((after - before)) -v hz="$hz" -v s="$1" \
    'BEGIN { printf "idle CPU: %.1f ms per second, %.2f ms per watcher pass\n", 1000 * t / hz / s, 1000 * t / hz / (s * 2) }'
}

serve 0 "$work/queue"
$bin bench --agent Noop --jobs 500 --concurrency 16 --published >/dev/null   # warm-up
measured "(c) 16 clients, queue-only agent, Kafka on" 6000 --agent Noop --concurrency 16 --published
measured "(d) 1 client, queue-only agent, Kafka on" 1500 --agent Noop --concurrency 1 --published
echo "-- idle, $(curl -s "$HORIZON_URL/metrics" | awk '/^horizon_jobs\{status="QUEUED"\}/ {print $2}') jobs QUEUED"
idle_cpu 6
stop_server

# the same with 100 000 jobs QUEUED (written straight into the database)
python3 scripts/insert-queued-jobs.py "$work/queue/horizon.db" 100000 bench Noop
serve 0 "$work/queue"
sleep 10   # the first pass after a start sweeps every QUEUED job
echo "-- idle, $(curl -s "$HORIZON_URL/metrics" | awk '/^horizon_jobs\{status="QUEUED"\}/ {print $2}') jobs QUEUED"
idle_cpu 6
measured "(c) 16 clients with 100k QUEUED, Kafka on" 6000 --agent Noop --concurrency 16 --published
stop_server

serve 16 "$work/e2e"
$bin bench --agent Noop --jobs 300 --concurrency 16 --wait >/dev/null   # warm-up
measured "(e) end to end, /bin/true agent, 16 slots" 3000 --agent Noop --concurrency 16 --wait
stop_server

# Baselines for (e), same machine, same run: the processes every job costs,
# started by xargs 16 at a time with no server, no database and no Kafka:
# the program alone, then the supervisor running it (as the local backend
# does: a job directory, exit.json written durably, the process group led).
n=3000
echo "-- baseline for (e): /bin/true alone, 16 at a time"
start=$(date +%s.%N)
seq 1 $n | xargs -P 16 -I{} /bin/true
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n=$n 'BEGIN { printf "%d runs in %.2f s: %.0f /s\n", n, e - s, n / (e - s) }'
echo "-- baseline for (e): horizon-supervise -- /bin/true, 16 at a time"
for i in $(seq 1 $n); do mkdir -p "$work/sup/$i/work"; done
start=$(date +%s.%N)
seq 1 $n | xargs -P 16 -I{} ./target/release/horizon-supervise --job-dir "$work/sup/{}" --job-id {} -- /bin/true
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n=$n 'BEGIN { printf "%d jobs in %.2f s: %.0f /s\n", n, e - s, n / (e - s) }'

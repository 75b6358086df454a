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
#      (e) end to end with a /bin/true agent.
# Kafka: a local Kafka-protocol broker unless HORIZON_BENCH_KAFKA_BROKERS names one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/kafka-broker.sh
source scripts/kafka-broker.sh
work=$(mktemp -d "$PWD/target/horizon-bench.XXXXXX")
server=
stop_server() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; fi
}
cleanup() { stop_server; kafka_stop; rm -rf "$work"; }
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
[ "$what" = all ] || [ "$what" = api ] || exit 0

echo "== API and workers"
cargo build -q --release -p horizon -p horizon-backend
bin=./target/release/horizon
export HORIZON_URL=http://127.0.0.1:18180
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
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
measured() {
  local label=$1 jobs=$2; shift 2
  local before after
  before=$(cpu_ticks "$server")
  echo "-- $label"
  $bin bench --jobs "$jobs" "$@"
  after=$(cpu_ticks "$server")
  awk -v t=$((after - before)) -v hz="$hz" -v n="$jobs" \
    'BEGIN { printf "horizon serve CPU: %.2f s, %.0f us per submission\n", t / hz, 1e6 * t / hz / n }'
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

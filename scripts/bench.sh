#!/usr/bin/env bash
# Benchmarks (numbers in BENCHMARKS.md):
#   1. the outbox relay next to a plain rdkafka producer (cargo bench), against
#      a local Kafka-protocol broker unless HORIZON_BENCH_KAFKA_BROKERS names one;
#   2. the API and workers: `horizon bench` against a release `horizon serve`
#      with a no-op agent (examples/bench.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/kafka-broker.sh
source scripts/kafka-broker.sh
data=$(mktemp -d "${TMPDIR:-/tmp}/horizon-bench.XXXXXX")
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  kafka_stop
  rm -rf "$data"
}
trap cleanup EXIT
if [ -z "${HORIZON_BENCH_KAFKA_BROKERS:-}" ]; then
  kafka_install
  kafka_start 19192
  export HORIZON_BENCH_KAFKA_BROKERS=$KAFKA_BOOTSTRAP
fi
echo "== relay"
cargo bench -p horizon-kafka --bench relay "$@"

echo "== API and workers"
cargo build --release -p horizon
export HORIZON_DATA_DIR=$data HORIZON_URL=http://127.0.0.1:18180
./target/release/horizon serve --config examples/bench.toml >"$data/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "$HORIZON_URL/readyz" >/dev/null && break; sleep 0.1; done
HORIZON_TOKEN=$(./target/release/horizon token create --config examples/bench.toml --user bench 2>/dev/null)
export HORIZON_TOKEN
# first the end-to-end run (it waits for its jobs), then one request at a time
./target/release/horizon bench --agent Noop --jobs 2000 --concurrency 16 --wait
./target/release/horizon bench --agent Noop --jobs 2000 --concurrency 1

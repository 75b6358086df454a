#!/usr/bin/env bash
# Relay benchmark: starts a local Kafka-protocol broker (unless
# HORIZON_BENCH_KAFKA_BROKERS names one) and runs the relay bench in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/kafka-broker.sh
source scripts/kafka-broker.sh
if [ -z "${HORIZON_BENCH_KAFKA_BROKERS:-}" ]; then
  kafka_install
  kafka_start 19192
  trap kafka_stop EXIT
  export HORIZON_BENCH_KAFKA_BROKERS=$KAFKA_BOOTSTRAP
fi
cargo bench -p horizon-kafka --bench relay "$@"

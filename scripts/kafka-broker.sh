#!/usr/bin/env bash
# A single-node Kafka-protocol broker (noida-db, from PyPI or crates.io) on
# 127.0.0.1, for tests and benchmarks. Source it, then:
#   kafka_install            # sets KAFKA_BIN, installing noida-db when missing
#   kafka_start [port]       # sets KAFKA_BOOTSTRAP, KAFKA_PID
#   kafka_stop
# It is a Kafka emulator, not Apache Kafka: Horizon's tests also run against a
# real cluster with HORIZON_TEST_KAFKA_BROKERS=host:port.
NOIDA_VERSION=0.2.3
KAFKA_TOOLS=${KAFKA_TOOLS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools}

kafka_install() {
  if [ -x "$KAFKA_TOOLS/bin/noida-db" ]; then KAFKA_BIN=$KAFKA_TOOLS/bin/noida-db; return 0; fi
  if command -v noida-db >/dev/null 2>&1 && noida-db --version 2>/dev/null | grep -q "$NOIDA_VERSION"; then
    KAFKA_BIN=$(command -v noida-db); return 0
  fi
  echo "installing noida-db $NOIDA_VERSION (Kafka-protocol test broker)" >&2
  if python3 -m pip install --quiet --disable-pip-version-check "noida-db==$NOIDA_VERSION" >&2 \
     && command -v noida-db >/dev/null 2>&1; then
    KAFKA_BIN=$(command -v noida-db); return 0
  fi
  # fallback: build it from crates.io (~75 s on 2 cores)
  cargo install --locked --root "$KAFKA_TOOLS" "noida-db@$NOIDA_VERSION" --no-default-features --features kafka >&2
  KAFKA_BIN=$KAFKA_TOOLS/bin/noida-db
}

# port_open <port>: something accepts connections on 127.0.0.1:<port>
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kafka_start() {
  local port=${1:-9092}
  # a broker still on the port (one being stopped) would answer the readiness
  # check below in place of this one: wait for the port to be free
  local tries=0
  while port_open "$port"; do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || { echo "kafka_start: port $port is in use" >&2; return 1; }
    sleep 0.1
  done
  KAFKA_DATA=$(mktemp -d "${TMPDIR:-/tmp}/horizon-kafka.XXXXXX")
  # its own process group, so kafka_stop ends the pip entry point and the real binary
  setsid "$KAFKA_BIN" start --only kafka --host 127.0.0.1 --kafka-port "$port" \
    --data-dir "$KAFKA_DATA/data" >"$KAFKA_DATA/broker.log" 2>&1 &
  KAFKA_PID=$!
  export KAFKA_BOOTSTRAP="127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if port_open "$port"; then return 0; fi
    kill -0 "$KAFKA_PID" 2>/dev/null || { cat "$KAFKA_DATA/broker.log" >&2; return 1; }
    sleep 0.1
  done
  cat "$KAFKA_DATA/broker.log" >&2; return 1
}

kafka_stop() {
  if [ -n "${KAFKA_PID:-}" ]; then
    kill -TERM -- "-$KAFKA_PID" 2>/dev/null || true
    wait "$KAFKA_PID" 2>/dev/null || true
    # the entry point can end before the broker under it has let go of its
    # port: a broker started right after on the same port would fail
    for _ in $(seq 1 100); do pgrep -g "$KAFKA_PID" >/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$KAFKA_PID" 2>/dev/null || true
  fi
  rm -rf "${KAFKA_DATA:-/nonexistent}"
  KAFKA_PID=
}

# Run directly: `./scripts/kafka-broker.sh run [port]` installs the broker when
# missing and runs it in the foreground on 127.0.0.1 (Ctrl-C stops it).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    run)
      kafka_install
      port=${2:-9092}
      dir=${KAFKA_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/horizon-kafka}
      mkdir -p "$dir"
      echo "Kafka-protocol broker on 127.0.0.1:$port, data in $dir (Ctrl-C stops it)" >&2
      exec "$KAFKA_BIN" start --only kafka --host 127.0.0.1 --kafka-port "$port" --data-dir "$dir"
      ;;
    *) echo "usage: $0 run [port]   (or source it for kafka_install/kafka_start/kafka_stop)" >&2; exit 2 ;;
  esac
fi

#!/usr/bin/env bash
# Apache Kafka (KRaft, no ZooKeeper) on 127.0.0.1 for Horizon's tests and
# benchmarks, from Maven Central (tools/kafka/pom.xml) and Java 17.
# Source it, then:
#   kafka_install            # sets KAFKA_LIBS, fetching the jars when missing
#   kafka_start [port]       # a single-node broker; sets KAFKA_BOOTSTRAP, KAFKA_PID
#   kafka_stop
# Or run it:
#   scripts/kafka.sh run [port]      # a broker in the foreground (Ctrl-C stops it)
#   scripts/kafka.sh serve DIR NODE PORT CONTROLLER_PORT VOTERS CLUSTER_ID
#        # one node of a cluster (exec's the JVM; the test harness uses it):
#        # VOTERS is `1@127.0.0.1:9093,2@…`, CLUSTER_ID 22 base64url chars
KAFKA_VERSION=4.1.1
HORIZON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_TOOLS=${KAFKA_TOOLS:-$HORIZON_ROOT/.tools}

kafka_install() {
  KAFKA_LIBS=$KAFKA_TOOLS/kafka-$KAFKA_VERSION/libs
  if [ -s "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then return 0; fi
  command -v java >/dev/null || { echo "kafka_install: Java 17 is needed" >&2; return 1; }
  command -v mvn >/dev/null || { echo "kafka_install: Maven is needed" >&2; return 1; }
  mkdir -p "$KAFKA_TOOLS"
  # several brokers of one cluster start at once: one fetches, the others wait
  (
    flock 9
    if [ -s "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then exit 0; fi
    echo "fetching Apache Kafka $KAFKA_VERSION from Maven Central" >&2
    rm -rf "$KAFKA_LIBS.tmp"
    mvn -q -B -f "$HORIZON_ROOT/tools/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS.tmp" >&2
    mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  ) 9>"$KAFKA_TOOLS/.install.lock"
}

# port_open <port>: something accepts connections on 127.0.0.1:<port>
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# kafka_config DIR NODE PORT CONTROLLER_PORT VOTERS: a node's server.properties
kafka_config() {
  local voters=$5 count
  count=$(echo "$voters" | tr ',' '\n' | grep -c .)
  cat <<CONF
process.roles=broker,controller
node.id=$2
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4
advertised.listeners=PLAINTEXT://127.0.0.1:$3
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$1/data
offsets.topic.replication.factor=$count
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=$count
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=$count
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# a test broker: give back its memory and disk quickly
log.segment.bytes=67108864
CONF
}

# kafka_serve DIR NODE PORT CONTROLLER_PORT VOTERS CLUSTER_ID: format the
# node's storage once, then exec the broker (it keeps this process id).
kafka_serve() {
  local dir=$1
  kafka_install
  mkdir -p "$dir"
  kafka_config "$@" >"$dir/server.properties"
  local java_opts=(${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseG1GC -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel=${KAFKA_LOG_LEVEL:-warn}
    -Dorg.slf4j.simpleLogger.showDateTime=true)
  if [ ! -s "$dir/data/meta.properties" ]; then
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      -t "$6" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; return 1; }
  fi
  exec java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
}

# (never starting with '-', which the storage tool would take for an option: Kafka's
# own Uuid.randomUuid avoids it too)
random_cluster_id() { python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"): break
print(s)'; }

kafka_start() {
  local port=${1:-$(free_port)}
  local controller
  controller=$(free_port)
  local tries=0
  while port_open "$port"; do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || { echo "kafka_start: port $port is in use" >&2; return 1; }
    sleep 0.1
  done
  kafka_install
  KAFKA_DATA=$(mktemp -d "${TMPDIR:-/tmp}/horizon-kafka.XXXXXX")
  # its own process group, so kafka_stop ends the script and the JVM
  setsid bash "$HORIZON_ROOT/scripts/kafka.sh" serve "$KAFKA_DATA" 1 "$port" "$controller" \
    "1@127.0.0.1:$controller" "$(random_cluster_id)" >"$KAFKA_DATA/broker.log" 2>&1 &
  KAFKA_PID=$!
  export KAFKA_BOOTSTRAP="127.0.0.1:$port"
  for _ in $(seq 1 600); do
    if port_open "$port"; then return 0; fi
    kill -0 "$KAFKA_PID" 2>/dev/null || { cat "$KAFKA_DATA/broker.log" >&2; return 1; }
    sleep 0.1
  done
  cat "$KAFKA_DATA/broker.log" >&2; return 1
}

kafka_stop() {
  if [ -n "${KAFKA_PID:-}" ]; then
    kill -TERM -- "-$KAFKA_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do pgrep -g "$KAFKA_PID" >/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$KAFKA_PID" 2>/dev/null || true
    wait "$KAFKA_PID" 2>/dev/null || true
  fi
  rm -rf "${KAFKA_DATA:-/nonexistent}"
  KAFKA_PID=
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    install) kafka_install; echo "$KAFKA_LIBS" ;;
    serve) shift; kafka_serve "$@" ;;
    run)
      port=${2:-9092}
      dir=${KAFKA_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/horizon-kafka}
      id_file=$dir/cluster-id
      mkdir -p "$dir"
      [ -s "$id_file" ] || random_cluster_id >"$id_file"
      controller=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
      echo "Apache Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller $controller), data in $dir (Ctrl-C stops it)" >&2
      KAFKA_LOG_LEVEL=${KAFKA_LOG_LEVEL:-info} kafka_serve "$dir" 1 "$port" "$controller" "1@127.0.0.1:$controller" "$(cat "$id_file")"
      ;;
    *) echo "usage: $0 install | run [port] | serve DIR NODE PORT CONTROLLER_PORT VOTERS CLUSTER_ID  (or source it)" >&2; exit 2 ;;
  esac
fi

#!/usr/bin/env bash
# A PostgreSQL server for Horizon's tests and benchmarks on 127.0.0.1:5432
# (user postgres, trust authentication: loopback only, for tests).
#   scripts/postgres.sh up     use the server already answering there, or
#                              install Debian's postgresql when missing and
#                              start a cluster of the project's own
#   scripts/postgres.sh down   stop what `up` started
# Needs root for apt and to run the server as the `postgres` user. State and
# log in $PG_DIR (default /var/tmp/horizon-postgres).
set -euo pipefail

PG_DIR=${PG_DIR:-/var/tmp/horizon-postgres}
PG_PORT=${PG_PORT:-5432}

answering() { (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_packages() {
  if bindir >/dev/null && id postgres >/dev/null 2>&1; then return; fi
  echo "installing PostgreSQL (Debian's postgresql)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
}

up() {
  if answering; then return 0; fi
  install_packages
  local bin
  bin=$(bindir)
  install -d -o postgres -g postgres -m 0700 "$PG_DIR"
  if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
    runuser -u postgres -- "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  fi
  install -d -o postgres -g postgres -m 0755 "$PG_DIR/run"
  # many tests run at once, each with its own database and pool
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DIR/run -c max_connections=400" \
    start >/dev/null || { tail -20 "$PG_DIR/server.log" >&2; return 1; }
  for _ in $(seq 1 100); do answering && return 0; sleep 0.1; done
  echo "PostgreSQL did not answer on 127.0.0.1:$PG_PORT" >&2; tail -20 "$PG_DIR/server.log" >&2; return 1
}

down() {
  local bin
  bin=$(bindir) || return 0
  [ -s "$PG_DIR/data/postmaster.pid" ] || return 0
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

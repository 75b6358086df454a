#!/usr/bin/env bash
# A PostgreSQL server for Horizon's tests and benchmarks on 127.0.0.1:5432
# (user postgres, trust authentication: loopback only, for tests).
#   scripts/postgres.sh up     use the server already answering there, or
#                              install Debian's postgresql when missing and
#                              start a cluster of the project's own
#   scripts/postgres.sh down   stop what `up` started
# Needs root for apt and to run the server as the `postgres` user. State and
# log in $PG_DIR (default /var/tmp/horizon-postgres).
# TLS is on too (loopback clients may still connect without it), with a
# self-signed CA of its own for the TLS tests: $PG_DIR/tls/ca.crt signs the
# server's certificate (localhost, 127.0.0.1); $PG_DIR/tls/other-ca.crt is
# an unrelated CA (a client trusting only it must refuse the server). Role
# `horizon_pw` (password `horizon-test-secret`) must authenticate with its
# password (scram-sha-256), every other role is trusted.
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

# tls: the CAs and the server's certificate, made once
tls() {
  local d=$PG_DIR/tls
  [ -s "$d/server.crt" ] && [ -s "$d/other-ca.crt" ] && return 0
  install -d -m 0755 "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Horizon test CA" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Horizon test CA" \
    -keyout "$d/other-ca.key" -out "$d/other-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -extfile "$d/san.ext" -out "$d/server.crt" 2>/dev/null
  chown postgres:postgres "$d/server.key" "$d/server.crt"
  chmod 0600 "$d/server.key"
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
  tls
  # password authentication for one role (the password-file tests), trust
  # for the others
  cat >"$PG_DIR/data/pg_hba.conf" <<'HBA'
local all all trust
host all horizon_pw 127.0.0.1/32 scram-sha-256
host all horizon_pw ::1/128 scram-sha-256
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
HBA
  chown postgres:postgres "$PG_DIR/data/pg_hba.conf"
  install -d -o postgres -g postgres -m 0755 "$PG_DIR/run"
  # many tests run at once, each with its own database and pool
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DIR/run -c max_connections=400 -c ssl=on -c ssl_cert_file=$PG_DIR/tls/server.crt -c ssl_key_file=$PG_DIR/tls/server.key -c shared_preload_libraries=pg_stat_statements" \
    start >/dev/null || { tail -20 "$PG_DIR/server.log" >&2; return 1; }
  for _ in $(seq 1 100); do
    if answering; then
      psql -q "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -c \
        "DO \$\$ BEGIN CREATE ROLE horizon_pw LOGIN SUPERUSER PASSWORD 'horizon-test-secret'; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
      return 0
    fi
    sleep 0.1
  done
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

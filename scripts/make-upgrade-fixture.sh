#!/usr/bin/env bash
# Make the upgrade test's fixtures with an earlier release's `horizon`:
#   scripts/make-upgrade-fixture.sh <path to that release's horizon> <name>
# writes crates/horizon/tests/fixtures/upgrade/<name>.db (SQLite) and
# <name>.sql (a plain pg_dump of a PostgreSQL database), each holding the
# same story: jobs of alice that completed, failed and were cancelled, and
# one left QUEUED by a process that is gone (slots = 0), with their events;
# its jobs directory is /tmp/horizon-upgrade-fixture/jobs (the PostgreSQL
# fixture records it with the host name as its processes' scope, which the
# test moves to its own machine and directory).
# Needs PostgreSQL on 127.0.0.1:5432 (scripts/postgres.sh up).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "$1")
name=$2
out=crates/horizon/tests/fixtures/upgrade
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=18391
cat >"$work/horizon.toml" <<TOML
bind = "127.0.0.1:$port"
data_dir = "$work/data"

[agents.ok]
backend = "local"
program = "/bin/sh"
args = ["-c", "exit 0"]

[agents.fails]
backend = "local"
program = "/bin/sh"
args = ["-c", "echo broken >&2; exit 3"]

[agents.sleeps]
backend = "local"
program = "/bin/sleep"
args = ["30"]

[local]
slots = 4
poll_interval_ms = 100
# a fixed path: the upgraded process, on the same machine with the same
# jobs directory, adopts the job the old one left queued
jobs_dir = "/tmp/horizon-upgrade-fixture/jobs"
TOML
story() { # story <database url>
  local url=$1 token pid
  HORIZON_DATABASE_URL=$url "$bin" serve --config "$work/horizon.toml" >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  token=$(HORIZON_DATABASE_URL=$url "$bin" token create --config "$work/horizon.toml" --user alice 2>/dev/null)
  submit() {
    curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"agent\": \"$1\", \"dataset_id\": \"fixture-$1\", \"parameters\": {\"n\": 1}}" \
      "http://127.0.0.1:$port/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
  }
  submit ok >/dev/null
  submit fails >/dev/null
  local sleeper
  sleeper=$(submit sleeps)
  sleep 2
  curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"reason": "fixture"}' "http://127.0.0.1:$port/v1/jobs/$sleeper/cancel" >/dev/null
  sleep 2
  kill "$pid"; wait "$pid" || true
  # one more job, accepted by a process that runs nothing (slots = 0) and
  # then goes away: QUEUED or SUBMITTED when the next release opens it
  sed 's/^slots = 4/slots = 0/' "$work/horizon.toml" >"$work/noslots.toml"
  HORIZON_DATABASE_URL=$url "$bin" serve --config "$work/noslots.toml" >>"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  submit ok >/dev/null
  sleep 1
  kill "$pid"; wait "$pid" || true
}
story "sqlite://$work/fixture.db"
# one self-contained file (what is still in the write-ahead log included)
rm -f "$out/$name.db"
# (rollback journal, not WAL: opening the fixture leaves no -wal/-shm files
# beside it; Horizon sets WAL itself when it opens the test's copy)
python3 -c 'import sqlite3, sys; d = sqlite3.connect(sys.argv[2]); sqlite3.connect(sys.argv[1]).backup(d); d.execute("PRAGMA journal_mode=DELETE"); d.close()' \
  "$work/fixture.db" "$out/$name.db"
db=horizon_fixture_$$
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "CREATE DATABASE $db"
story "postgres://postgres@127.0.0.1:5432/$db"
pg_dump --no-owner --no-privileges "postgres://postgres@127.0.0.1:5432/$db" >"$out/$name.sql"
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE $db WITH (FORCE)"
echo "wrote $out/$name.db and $out/$name.sql"

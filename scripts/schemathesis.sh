#!/usr/bin/env bash
# Property-based API testing: Schemathesis (PyPI) generates requests from
# /openapi.json and runs them against a live `horizon serve` with every check
# on — no 5xx, every status, header and body as the document says, bad input
# refused, good input accepted, auth enforced — for a bounded time. The
# Server-Sent Event streams are left out: they never end by design (the
# tests in crates/horizon/tests/live.rs cover them).
#   scripts/schemathesis.sh [seconds]      (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_BUDGET=${1:-120}
command -v schemathesis >/dev/null || python3 -m pip install -q --disable-pip-version-check "schemathesis>=4,<5"
command -v schemathesis >/dev/null || export PATH="$(python3 -m site --user-base)/bin:$PATH"
cargo build -q -p horizon -p horizon-backend
BIN=${CARGO_TARGET_DIR:-target}/debug/horizon
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/horizon.toml" <<TOML
bind = "127.0.0.1:$PORT"
data_dir = "$WORK/data"

[agents.ok]
backend = "local"
program = "/bin/true"

[local]
slots = 0   # jobs stay QUEUED: the run tests the API, not the agents
TOML
TOKEN=$($BIN token create --user fuzz --admin --config "$WORK/horizon.toml" 2>/dev/null)
$BIN serve --config "$WORK/horizon.toml" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
# the document names no agent (it describes the API, not a configuration):
# this run's copy says which one exists, so submissions can succeed too
curl -sf "http://127.0.0.1:$PORT/openapi.json" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
doc["components"]["schemas"]["SubmitJobRequest"]["properties"]["agent"]["enum"] = ["ok"]
json.dump(doc, sys.stdout)' >"$WORK/openapi.json"
status=0
schemathesis --config-file scripts/schemathesis.toml run "$WORK/openapi.json" --url "http://127.0.0.1:$PORT" \
  --checks all \
  --exclude-path-regex '/stream$' \
  --header "Authorization: Bearer $TOKEN" \
  --max-time "$SECONDS_BUDGET" \
  --workers 2 \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --no-color \
  || status=$?
if grep -q "panicked" "$WORK/server.log"; then
  echo "horizon serve panicked during the run:" >&2
  grep -B2 -A10 "panicked" "$WORK/server.log" >&2
  status=1
fi
exit $status

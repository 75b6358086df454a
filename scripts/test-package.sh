#!/usr/bin/env bash
# The Debian package, tested as an operator meets it: built
# (scripts/package-deb.sh), installed with `dpkg -i` on this machine, its
# systemd unit checked with `systemd-analyze verify`, `horizon serve` run
# from the installed files as the package's `horizon` user with the
# installed configuration until a job completes, then purged. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(./scripts/package-deb.sh)
echo "== $deb"
dpkg-deb --info "$deb" | grep -E "Package|Version|Depends" | sed 's/^/   /'
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  dpkg --purge horizon >/dev/null 2>&1 || true
  rm -rf "${data:-/nonexistent}"
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null
dpkg -s horizon | grep -q "^Status: install ok installed"
getent passwd horizon >/dev/null
test -x /usr/bin/horizon && test -x /usr/bin/horizon-supervise
test -f /etc/horizon/horizon.toml
systemd-analyze verify /lib/systemd/system/horizon.service
echo "   installed; the unit verifies"
data=$(mktemp -d)
chown horizon:horizon "$data"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HORIZON_DATA_DIR=$data/state HORIZON_BIND=127.0.0.1:$port
runuser -u horizon -- /usr/bin/horizon serve --config /etc/horizon/horizon.toml >"$data/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$data/serve.log"; exit 1; }
token=$(runuser -u horizon -- /usr/bin/horizon token create --config /etc/horizon/horizon.toml --user alice)
job=$(curl -sf -X POST "http://127.0.0.1:$port/v1/jobs" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' \
  -d '{"agent": "AlphaCal", "dataset_id": "d", "parameters": {"seconds": 0}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 1 300); do
  status=$(curl -sf "http://127.0.0.1:$port/v1/jobs/$job" -H "Authorization: Bearer $token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
  [ "$status" = COMPLETED ] && break
  [ "$status" = FAILED ] && { cat "$data/serve.log"; echo "the job failed" >&2; exit 1; }
  sleep 0.1
done
[ "$status" = COMPLETED ] || { cat "$data/serve.log"; echo "the job did not complete: $status" >&2; exit 1; }
echo "   horizon serve ran from the package as user horizon: job $job COMPLETED"
kill "$server"; wait "$server" || true; server=
dpkg --purge horizon >/dev/null
! test -e /usr/bin/horizon
echo "   purged"

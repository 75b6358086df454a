#!/usr/bin/env bash
# The Debian package, tested as an operator meets it: built
# (scripts/package-deb.sh), installed with `dpkg -i` on this machine, its
# systemd unit checked with `systemd-analyze verify`, `horizon serve` run
# from the installed files as the package's `horizon` user with the
# installed configuration until a job completes, then purged. Then the same
# on a fresh system: a minimal Debian root made by debootstrap, the package
# installed there with apt (which must find everything it needs from its
# Depends), `horizon serve` run in it (HORIZON_TEST_SKIP_FRESH_ROOT=1 skips
# that part). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(./scripts/package-deb.sh)
echo "== $deb"
dpkg-deb --info "$deb" | grep -E "Package|Version|Depends" | sed 's/^/   /'
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  dpkg --purge horizon >/dev/null 2>&1 || true
  rm -rf "${data:-/nonexistent}"
  if [ -n "${fresh:-}" ]; then
    pkill -9 -f "^/usr/bin/horizon serve --config /etc/horizon/fresh.toml" 2>/dev/null || true
    umount "$fresh/proc" 2>/dev/null || true
    rm -rf "$fresh" "$fresh.log"
  fi
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

[ -n "${HORIZON_TEST_SKIP_FRESH_ROOT:-}" ] && exit 0
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fresh=$(mktemp -d /var/tmp/horizon-fresh-root.XXXXXX)
chmod 0755 "$fresh" # (a root other users can enter)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
debootstrap --variant=minbase "$suite" "$fresh" http://deb.debian.org/debian >"$fresh.log" 2>&1 ||
  { tail -20 "$fresh.log"; echo "debootstrap failed" >&2; exit 1; }
cp /etc/resolv.conf "$fresh/etc/resolv.conf"
cp "$deb" "$fresh/tmp/horizon.deb"
mount -t proc proc "$fresh/proc"
in_root() { chroot "$fresh" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get update -q >/dev/null
in_root apt-get install -y -q /tmp/horizon.deb >"$fresh.log" 2>&1 ||
  { tail -20 "$fresh.log"; echo "apt could not install the package on a fresh root" >&2; exit 1; }
echo "== a fresh $suite root (debootstrap --variant=minbase): installed with apt"
# no python3 there: an agent the minimal system can run
cat >"$fresh/etc/horizon/fresh.toml" <<'TOML'
[agents.echo]
backend = "local"
program = "/bin/sh"
args = ["-c", "echo fresh root"]
TOML
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_horizon() { in_root runuser -u horizon -- env HORIZON_DATA_DIR=/var/lib/horizon/state HORIZON_BIND=127.0.0.1:$port "$@"; }
as_horizon /usr/bin/horizon serve --config /etc/horizon/fresh.toml >"$fresh/serve.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$fresh/serve.log"; echo "serve did not start on the fresh root" >&2; exit 1; }
token=$(as_horizon /usr/bin/horizon token create --config /etc/horizon/fresh.toml --user alice)
job=$(curl -sf -X POST "http://127.0.0.1:$port/v1/jobs" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"agent": "echo", "dataset_id": "d", "parameters": {}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 1 300); do
  status=$(curl -sf "http://127.0.0.1:$port/v1/jobs/$job" -H "Authorization: Bearer $token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
  case $status in COMPLETED | FAILED | CANCELLED) break ;; esac
  sleep 0.1
done
[ "$status" = COMPLETED ] || { cat "$fresh/serve.log"; echo "the job on the fresh root ended $status" >&2; exit 1; }
out=$(curl -sf "http://127.0.0.1:$port/v1/jobs/$job/logs?stream=stdout" -H "Authorization: Bearer $token")
[ "$out" = "fresh root" ] || { echo "its output: $out" >&2; exit 1; }
echo "   horizon serve ran there as user horizon: job $job COMPLETED, its output read back"

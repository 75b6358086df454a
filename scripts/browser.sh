#!/usr/bin/env bash
# A real browser for the tests: Debian's Chromium (no browser download works
# on the build machines) and playwright-core to drive it, pinned by
# tools/browser/package-lock.json. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# (again whenever package-lock.json changed since the last install)
lock=$(sha256sum tools/browser/package-lock.json | cut -d' ' -f1)
if [ "$(cat tools/browser/node_modules/.horizon-lock 2>/dev/null)" != "$lock" ]; then
  command -v npm >/dev/null || { echo "Node.js with npm is needed for the browser tests" >&2; exit 1; }
  npm ci --prefix tools/browser --no-audit --no-fund --silent
  echo "$lock" >tools/browser/node_modules/.horizon-lock
fi

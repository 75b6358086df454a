#!/usr/bin/env bash
# Install OpenSSH's server (Debian's openssh-server) when missing: the Slurm
# backend's SSH-mode tests start their own sshd on a loopback port. Only the
# binary is needed; the package's own service is not started (no systemd).
set -euo pipefail
if [ -x /usr/sbin/sshd ]; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
# the package may start its service where it can; the tests want their own
if [ -s /run/sshd.pid ]; then kill "$(cat /run/sshd.pid)" 2>/dev/null || true; fi

#!/usr/bin/env bash
# Build the Debian package (dpkg-deb, no other tool):
#   scripts/package-deb.sh [out dir]   → horizon_<version>_<arch>.deb
# It holds /usr/bin/horizon and /usr/bin/horizon-supervise (release build),
# the systemd unit (/lib/systemd/system/horizon.service), the example
# configuration as /etc/horizon/horizon.toml (a conffile: an upgrade keeps
# yours) and the sample gateway.toml; its postinst makes the `horizon`
# system user. Install with `dpkg -i`, then `systemctl enable --now horizon`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/debian}
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
arch=$(dpkg --print-architecture)
cargo build -q --release -p horizon -p horizon-backend
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 target/release/horizon "$root/usr/bin/horizon"
install -D -m 0755 target/release/horizon-supervise "$root/usr/bin/horizon-supervise"
install -D -m 0644 packaging/horizon.service "$root/lib/systemd/system/horizon.service"
install -D -m 0640 examples/horizon.toml "$root/etc/horizon/horizon.toml"
install -D -m 0644 packaging/gateway.toml "$root/usr/share/doc/horizon/gateway.toml"
install -D -m 0644 README.md "$root/usr/share/doc/horizon/README.md"
# the embedded demo agent the example configuration names
install -D -m 0644 examples/agents/alphacal.py "$root/etc/horizon/examples/agents/alphacal.py"
install -d "$root/DEBIAN"
# Depends: the packages that hold the shared libraries the binaries load
# (libssl, zlib, …), found from this build, so a fresh system gets them
depends=$(for bin in target/release/horizon target/release/horizon-supervise; do
  ldd "$bin" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
  dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true
done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g')
cat >"$root/DEBIAN/control" <<CONTROL
Package: horizon
Version: $version
Architecture: $arch
Maintainer: Horizon developers <horizon@example.org>
Depends: ${depends:-libc6}, adduser
Recommends: python3
Section: science
Priority: optional
Description: job orchestrator for science gateways
 Runs analysis jobs on local processes, Slurm or Tapis, follows them to
 their end and publishes every step as events on Apache Kafka.
CONTROL
echo "/etc/horizon/horizon.toml" >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd horizon >/dev/null; then
    adduser --system --group --home /var/lib/horizon --no-create-home horizon >/dev/null 2>&1
  fi
  install -d -o horizon -g horizon -m 0750 /var/lib/horizon
  chgrp horizon /etc/horizon/horizon.toml || true
fi
POSTINST
chmod 0755 "$root/DEBIAN/postinst"
mkdir -p "$out"
deb="$out/horizon_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"

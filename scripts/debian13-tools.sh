#!/bin/bash
# Fetches Debian 13's Docker engine (docker.io: dockerd, docker-proxy,
# docker-init), compose v2 (the docker-compose CLI plugin) and the registry
# (docker-registry), and unpacks them into one folder beside the machine's own
# packages: nothing is installed, and the machine's apt lists stay as they
# are (apt runs with a state and cache folder of its own). The simulator runs
# a VM's dockerd from here when asked (AZSIM_ENGINE=debian13) and serves its
# registry host from here.
#
# Usage: scripts/debian13-tools.sh [DIR]     (default /var/cache/azure-vnet-sim/debian13,
#                                             or AZSIM_DEBIAN13_DIR)
# Safe to run again: a complete folder is kept as it is.
set -euo pipefail
DIR=${1:-${AZSIM_DEBIAN13_DIR:-/var/cache/azure-vnet-sim/debian13}}
PACKAGES=(docker.io docker-compose docker-registry)
STAMP=$DIR/.complete

if [ -f "$STAMP" ] && [ -x "$DIR/usr/sbin/dockerd" ] && [ -x "$DIR/usr/bin/docker-registry" ]; then
  echo "debian13-tools: present in $DIR ($(cat "$STAMP"))"
  exit 0
fi

APT=$DIR.apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs"
# The machine's own main archive entry (the first stanza), pointed at Debian 13.
SOURCES=/etc/apt/sources.list.d/debian.sources
[ -f "$SOURCES" ] || { echo "debian13-tools: $SOURCES missing (a Debian 12 machine with deb822 sources is expected)" >&2; exit 1; }
awk 'BEGIN { RS = ""; ORS = "\n\n" } NR == 1' "$SOURCES" | sed 's/^Suites:.*/Suites: trixie/' > "$APT/trixie.sources"
grep -q '^Suites: trixie$' "$APT/trixie.sources" || { echo "debian13-tools: no Suites line in the first stanza of $SOURCES" >&2; exit 1; }
O=(-o "Dir::Etc::sourcelist=$APT/trixie.sources" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$APT/lists"
  -o "Dir::Cache=$APT/cache" -o "Dir::Cache::archives=$APT/cache/archives" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
apt-get "${O[@]}" -qq update
rm -f "$APT"/debs/*.deb
(cd "$APT/debs" && apt-get "${O[@]}" -qq download "${PACKAGES[@]}")

TMP=$DIR.tmp
rm -rf "$TMP"
mkdir -p "$TMP"
for deb in "$APT"/debs/*.deb; do dpkg-deb -x "$deb" "$TMP"; done
versions=$(for deb in "$APT"/debs/*.deb; do dpkg-deb -W --showformat='${Package}=${Version} ' "$deb"; done)
versions=${versions% }
echo "$versions" > "$TMP/.complete"
rm -rf "$DIR"
mv "$TMP" "$DIR"
echo "debian13-tools: unpacked $versions into $DIR"

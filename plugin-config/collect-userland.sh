#!/bin/sh
# Copies into DEST the programs the plugin runs (node, iptables in its nft and
# legacy variants, ebtables, nft, conntrack) and exactly the shared libraries they
# load, so the plugin's rootfs carries no distribution: no shell, no package
# manager. Runs in the Dockerfile's first stage and, on the build machine, to
# make an offline base image; it needs only a POSIX sh, cp, ln, mv, mkdir, sed
# and the glibc dynamic loader.
# Usage: collect-userland.sh DEST
# NODE_BINARY names the node to take instead of the one on PATH (plugin-build.sh
# passes the release it pins).
set -eu
DEST=${1:?usage: collect-userland.sh DEST}

# The glibc loader lists what an ELF file loads (what ldd does, without bash).
LOADER=
for l in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
  if [ -e "$l" ]; then LOADER=$l; break; fi
done
[ -n "$LOADER" ] || { echo "collect-userland: no glibc loader found" >&2; exit 1; }

need() {
  command -v "$1" 2>/dev/null || { echo "collect-userland: $1 not found; install iptables, nftables and conntrack" >&2; exit 1; }
}

# Copy one file to the same path under DEST, following symlinks: a library is
# found by the name the loader printed, which is usually a symlink.
put() {
  mkdir -p "$DEST$(dirname "$1")"
  cp -L "$1" "$DEST$1"
}

# The loader and every library the loader resolves for an ELF file.
put_libs() {
  for lib in $("$LOADER" --list "$1" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
    [ -e "$DEST$lib" ] || put "$lib"
  done
}

# The file itself and what it loads.
put_elf() {
  put "$1"
  put_libs "$1"
}

NODE=${NODE_BINARY:-$(need node)}
NFT=$(need xtables-nft-multi)
LEGACY=$(need xtables-legacy-multi)
CONNTRACK=$(need conntrack)
NFTCLI=$(need nft)

# The entrypoint in config.json names /usr/local/bin/node wherever node came from.
mkdir -p "$DEST/usr/local/bin"
cp -L "$NODE" "$DEST/usr/local/bin/node"
put_libs "$NODE"
put_elf "$NFT"
put_elf "$LEGACY"
put_elf "$CONNTRACK"
put_elf "$NFTCLI"

# Matches and targets are modules iptables loads at run time from a fixed directory.
XTDIR=
for d in /usr/lib/x86_64-linux-gnu/xtables /usr/lib/aarch64-linux-gnu/xtables /usr/lib/xtables /usr/lib64/xtables; do
  if [ -d "$d" ]; then XTDIR=$d; break; fi
done
[ -n "$XTDIR" ] || { echo "collect-userland: no xtables module directory found" >&2; exit 1; }
for m in "$XTDIR"/*.so; do put_elf "$m"; done

# The names the dataplane runs: both iptables variants (it follows Docker's
# choice) and their ip6tables twins for dual-stack networks, plain iptables
# (nft, the default of current distributions) for its
# version probe, ebtables to remove the bridge port guards of earlier versions
# (nft only: the legacy ebtables kernel side is gone from many current
# kernels), and nft for the port guards' table.
SBIN="$DEST/usr/sbin"
mkdir -p "$SBIN"
NFTDIR=$(dirname "$NFT")
LEGACYDIR=$(dirname "$LEGACY")
[ "$NFTDIR" = /usr/sbin ] || mv "$DEST$NFT" "$SBIN/xtables-nft-multi"
[ "$LEGACYDIR" = /usr/sbin ] || mv "$DEST$LEGACY" "$SBIN/xtables-legacy-multi"
[ "$(dirname "$CONNTRACK")" = /usr/sbin ] || mv "$DEST$CONNTRACK" "$SBIN/conntrack"
[ "$(dirname "$NFTCLI")" = /usr/sbin ] || mv "$DEST$NFTCLI" "$SBIN/nft"
for v in nft legacy; do
  for suffix in "" -save -restore; do
    ln -sf "xtables-$v-multi" "$SBIN/iptables-$v$suffix"
    ln -sf "xtables-$v-multi" "$SBIN/ip6tables-$v$suffix"
  done
done
for suffix in "" -save -restore; do
  ln -sf xtables-nft-multi "$SBIN/iptables$suffix"
  ln -sf xtables-nft-multi "$SBIN/ebtables-nft$suffix"
  ln -sf xtables-nft-multi "$SBIN/ebtables$suffix"
done

# Protocol and ethertype names in rules (-p tcp, -p IPv4) are looked up in these.
for f in /etc/protocols /etc/ethertypes; do
  [ -e "$f" ] && put "$f"
done

# Directories the plugin and Docker expect: the socket directory (Docker binds the
# host's per-plugin directory over it), the host mount points, a temp directory.
mkdir -p "$DEST/run/docker/plugins" "$DEST/host/var/lib" "$DEST/host/run" "$DEST/tmp" "$DEST/etc"
chmod 1777 "$DEST/tmp"

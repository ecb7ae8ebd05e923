#!/bin/bash
# Builds the azure-vnet managed plugin and creates it in the Docker engine that
# DOCKER_HOST (or the default socket) names: stages the bundled driver
# (dist/bundle, from scripts/bundle.mjs), builds the rootfs image from
# plugin-config/Dockerfile, exports it next to plugin-config/config.json and
# runs `docker plugin create`. Run through `npm run plugin:build`, which
# compiles and bundles the TypeScript first.
#
# Usage: scripts/plugin-build.sh [options]
#   --name NAME:TAG       plugin name (default azure-vnet:latest); networks use it, tag included
#   --base-image IMAGE    base for the rootfs build (default node:20-bookworm-slim, pulled)
#   --offline-base        no registry: import a base made from this machine's own node,
#                         iptables, conntrack and busybox, and build from that
#   --out DIR             keep the plugin directory (config.json + rootfs) in DIR, e.g. to
#                         `docker plugin create` it on another engine without building again
#   --replace             remove an existing plugin of that name first
#   --enable              enable the plugin once created
#   --push REGISTRY/azure-vnet:VERSION
#                         create the plugin under that name and `docker plugin push` it there, so
#                         other hosts `docker plugin install` it by name (implies that --name)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NAME=azure-vnet:latest
BASE_IMAGE=
OFFLINE=0
OUT=
REPLACE=0
ENABLE=0
PUSH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME=${2:?--name needs a value}; shift 2 ;;
    --base-image) BASE_IMAGE=${2:?--base-image needs a value}; shift 2 ;;
    --offline-base) OFFLINE=1; shift ;;
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    --replace) REPLACE=1; shift ;;
    --enable) ENABLE=1; shift ;;
    --push) NAME=${2:?--push needs REGISTRY/NAME:TAG}; PUSH=1; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "plugin-build: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$NAME" in
  *:*) ;;
  *) echo "plugin-build: give the name with its tag, e.g. $NAME:latest: Docker registers the driver under name:tag" >&2; exit 2 ;;
esac
if [ "$OFFLINE" = 1 ] && [ -n "$BASE_IMAGE" ]; then
  echo "plugin-build: --offline-base and --base-image exclude each other" >&2
  exit 2
fi
[ -f dist/bundle/azure-vnet-plugin.js ] || { echo "plugin-build: dist/bundle/azure-vnet-plugin.js missing; run npm run build (npm run plugin:build does)" >&2; exit 1; }

# Image names must be lower case: derive a private one from the plugin name.
SAFE=$(printf '%s' "$NAME" | tr 'A-Z/:' 'a-z--')
IMAGE="azure-vnet-plugin-rootfs:$SAFE"

WORK=$(mktemp -d /tmp/azure-vnet-plugin-build.XXXXXX)
CID=
cleanup() {
  [ -n "$CID" ] && docker rm -f "$CID" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
SECONDS=0

# --- 1. Build context: the bundled driver, which is the whole application. --
# dist/bundle holds azure-vnet-plugin.js (the driver and every package it uses),
# its licence notices, and node_modules with only what Node loads for netlink,
# the one package left out of the bundle (a native add-on); see scripts/bundle.mjs.
CTX=$WORK/context
mkdir -p "$CTX/app"
cp plugin-config/Dockerfile plugin-config/collect-userland.sh "$CTX/"
tar -C dist/bundle --exclude='*.map' -cf - . | tar -xf - -C "$CTX/app"
echo "plugin-build: staged the bundled driver ($(du -sh "$CTX/app" | cut -f1)) at ${SECONDS} s"

# --- 2. Offline: a base image from this machine's own files. ---------------
if [ "$OFFLINE" = 1 ]; then
  BASE_IMAGE=azure-vnet-plugin-base:offline
  BASE=$WORK/base
  sh plugin-config/collect-userland.sh "$BASE"
  # busybox gives the Dockerfile's RUN steps a shell; the final stage leaves it behind.
  BUSYBOX=$(command -v busybox || true)
  [ -n "$BUSYBOX" ] || { echo "plugin-build: --offline-base needs busybox (apt-get install busybox-static)" >&2; exit 1; }
  mkdir -p "$BASE/bin"
  cp -L "$BUSYBOX" "$BASE/bin/busybox"
  for applet in sh cp ln mv mkdir rm chmod sed dirname test [; do ln -sf busybox "$BASE/bin/$applet"; done
  tar -C "$BASE" -cf - . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_IMAGE" >/dev/null
  echo "plugin-build: imported $BASE_IMAGE ($(du -sh "$BASE" | cut -f1)) from this machine's files at ${SECONDS} s"
fi

# --- 3. The rootfs image, exported into the plugin directory. ---------------
BUILD_ARGS=()
[ -n "$BASE_IMAGE" ] && BUILD_ARGS=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
docker build -q -t "$IMAGE" "${BUILD_ARGS[@]}" "$CTX" >/dev/null
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "plugin-build: built $IMAGE ($((SIZE / 1000000)) MB) at ${SECONDS} s"

PLUGIN_DIR=${OUT:-$WORK/plugin}
rm -rf "$PLUGIN_DIR"
mkdir -p "$PLUGIN_DIR/rootfs"
# The image has no command of its own; create needs one but never runs it.
CID=$(docker create "$IMAGE" /usr/local/bin/node)
docker export "$CID" | tar -xf - -C "$PLUGIN_DIR/rootfs"
docker rm "$CID" >/dev/null
CID=
cp plugin-config/config.json "$PLUGIN_DIR/config.json"

# --- 4. The plugin. -------------------------------------------------------
if [ "$REPLACE" = 1 ] && docker plugin inspect "$NAME" >/dev/null 2>&1; then
  docker plugin rm -f "$NAME" >/dev/null
fi
docker plugin create "$NAME" "$PLUGIN_DIR" >/dev/null
[ "$ENABLE" = 1 ] && docker plugin enable "$NAME" >/dev/null
echo "plugin-build: created plugin $NAME$([ "$ENABLE" = 1 ] && echo ", enabled") at ${SECONDS} s"
if [ "$PUSH" = 1 ]; then
  docker plugin push "$NAME" >/dev/null
  echo "plugin-build: pushed $NAME at ${SECONDS} s; install elsewhere: docker plugin install --grant-all-permissions $NAME"
fi
[ -n "$OUT" ] && echo "plugin-build: plugin directory kept in $OUT"
if [ "$ENABLE" = 0 ]; then
  # Docker refuses to start a plugin whose bind sources are missing; tmpfiles.d remakes them at every boot.
  echo "next, on the Docker host: install -m 0644 plugin-config/tmpfiles.d/azure-vnet.conf /etc/tmpfiles.d/"
  echo "      systemd-tmpfiles --create azure-vnet.conf && docker plugin enable $NAME"
fi
echo "use:  docker network create -d $NAME --ipam-driver $NAME --subnet <NIC subnet> vnet"

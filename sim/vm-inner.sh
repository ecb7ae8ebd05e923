#!/bin/sh
# Runs as the first process of a simulated VM's private mount and UTS namespace
# (already inside the VM's network namespace), then becomes dockerd.
# Usage: vm-inner.sh NAME VMDIR CGROUP
# NAME, VMDIR and CGROUP are validated by the simulator before it starts this script.
set -eu
NAME=$1
D=$2
CGROUP=$3

hostname "$NAME"

# A sysfs of this network namespace, with the host's cgroup mounts kept under it
# (dockerd needs both; a plain remount of /sys would hide the cgroups).
mkdir -p "$D/.cgroup"
mount -n --rbind /sys/fs/cgroup "$D/.cgroup"
mount -n -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -n --rbind "$D/.cgroup" /sys/fs/cgroup
umount -n -l "$D/.cgroup"

# A private /run: plugin sockets, the xtables lock, containerd's runtime files.
mount -n -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir -p /run/docker/plugins /run/lock /run/netns
mount -n --bind "$D/plugins" /run/docker/plugins

# Per-VM /etc/docker, resolver (Azure DNS), and plugin state directory.
mount -n --bind "$D/etc-docker" /etc/docker
mount -n --bind "$D/resolv.conf" /etc/resolv.conf
mount -n --bind "$D/var-lib-azure-vnet" /var/lib/azure-vnet

exec dockerd \
  --data-root "$D/data" \
  --exec-root "$D/exec" \
  --pidfile "$D/dockerd.pid" \
  -H "unix://$D/docker.sock" \
  -H unix:///run/docker.sock \
  --storage-driver overlay2 \
  --exec-opt native.cgroupdriver=cgroupfs \
  --cgroup-parent "/$CGROUP" \
  --iptables=true \
  --bip 172.31.0.1/24 \
  ${DOCKERD_EXTRA_ARGS:-}

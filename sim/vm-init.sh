#!/bin/sh
# The "init" of a simulated VM: first process of the VM's private mount and
# UTS namespace (already inside its network namespace). It sets up the VM's
# mounts and then only holds the namespaces, so dockerd can stop and start
# again inside the same VM.
# Usage: vm-init.sh NAME VMDIR
# NAME and VMDIR are validated by the simulator before it starts this script.
set -eu
NAME=$1
D=$2

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
# The simulated Azure Resource Manager's CA, installed as update-ca-certificates would.
if [ -d /usr/local/share/ca-certificates ]; then mount -n --bind "$D/ca-certificates" /usr/local/share/ca-certificates; fi
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then mount -n --bind "$D/ca-bundle.crt" /etc/ssl/certs/ca-certificates.crt; fi
# The VM's own boot id: a simulated reboot changes it.
mount -n --bind "$D/boot_id" /proc/sys/kernel/random/boot_id

# The VM's mounts are ready: dockerd, the plugin and `sim exec` join these
# namespaces from now on. This process only holds them, like a VM's init.
touch "$D/vm.ready"
exec sleep infinity

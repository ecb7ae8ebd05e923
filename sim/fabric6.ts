/**
 * IPv6 in the simulated network, for a topology with a dual-stack subnet
 * (hasIpv6): switched on in the fabric, the VMs and the edge hosts that
 * have IPv6 addresses, and nowhere else (createNamespace keeps it off).
 *
 * The gateway is the link-local fe80::1234:5678:9abc on every fabric port,
 * at the fabric's MAC. Azure gives a VM its address by DHCPv6 (a /128) and
 * its default route by router advertisement; the simulator runs neither
 * and configures the same statically: the primary IPv6 ipconfig as a /128
 * and a default route via the gateway, with router advertisements and
 * autoconfiguration off so nothing else appears. Every other address, the
 * VNet's included, is therefore reached through the gateway's MAC.
 */
import { Topology, Vm } from "./topology";
import { ip, inNetns } from "./exec";
import {
  FABRIC_GATEWAY6,
  FABRIC_INET_PORT,
  FABRIC_NS,
  FABRIC_ONPREM_PORT,
  FABRIC_SINK,
  INET_NS,
  ONPREM_NS,
  fabricPort,
  vmNs,
} from "./names";

/**
 * Turn IPv6 on in a namespace, without router advertisements or address
 * autoconfiguration (interfaces made later inherit `default`; `devs` are ones
 * that exist already). With `forwarding`, the namespace routes IPv6.
 */
export async function enableIpv6(ns: string, devs: string[] = [], forwarding = false): Promise<void> {
  const settings = ["default", "all", ...devs].flatMap((d) => [
    `net.ipv6.conf.${d}.accept_ra=0`,
    `net.ipv6.conf.${d}.autoconf=0`,
    `net.ipv6.conf.${d}.disable_ipv6=0`,
  ]);
  if (forwarding) settings.push("net.ipv6.conf.all.forwarding=1");
  await inNetns(ns, "sysctl", ["-q", "-w", ...settings]);
}

/** The gateway's link-local address on a fabric port (no duplicate address detection: it is the fabric's own). */
async function addGateway6(port: string): Promise<void> {
  await ip(FABRIC_NS, ["-6", "addr", "add", `${FABRIC_GATEWAY6}/64`, "dev", port, "nodad"]);
}

/** An edge host's IPv6 address and its default route via the fabric. */
async function edgeHost6(ns: string, port: string, address: string): Promise<void> {
  await enableIpv6(ns, ["eth0"]);
  await addGateway6(port);
  await ip(ns, ["-6", "addr", "add", `${address}/128`, "dev", "eth0", "nodad"]);
  await ip(ns, ["-6", "route", "add", "default", "via", FABRIC_GATEWAY6, "dev", "eth0"]);
  await ip(FABRIC_NS, ["-6", "route", "add", `${address}/128`, "dev", port]);
}

/** IPv6 in the fabric (after buildFabric made its links): routing, the undeliverable sink, internet and on-premises hosts. */
export async function buildFabric6(topo: Topology): Promise<void> {
  await enableIpv6(FABRIC_NS, [FABRIC_SINK, `${FABRIC_SINK}-end`, FABRIC_INET_PORT, FABRIC_ONPREM_PORT], true);
  // VNet addresses that are no ipconfig end here, dropped and counted, as in IPv4.
  await ip(FABRIC_NS, ["-6", "route", "add", topo.vnet.addressSpace6 as string, "dev", FABRIC_SINK]);
  const inet = topo.internet.hostAddress6;
  if (inet !== undefined) {
    await edgeHost6(INET_NS, FABRIC_INET_PORT, inet);
    await ip(FABRIC_NS, ["-6", "route", "add", "default", "via", inet, "dev", FABRIC_INET_PORT]);
  }
  const { cidr6, hostAddress6 } = topo.onPrem;
  if (cidr6 !== undefined && hostAddress6 !== undefined) {
    await edgeHost6(ONPREM_NS, FABRIC_ONPREM_PORT, hostAddress6);
    await ip(FABRIC_NS, ["-6", "route", "replace", cidr6, "dev", FABRIC_ONPREM_PORT]);
  }
}

/**
 * A VM's NIC in IPv6 (after plugVm): the gateway on its fabric port, and in
 * the VM the primary IPv6 ipconfig and the default route, as DHCPv6 and the
 * router advertisement would give them.
 */
export async function plugVm6(vm: Vm): Promise<void> {
  await addGateway6(fabricPort(vm.name));
  if (!vm.nic.ipv6) return;
  const ns = vmNs(vm.name);
  await ip(ns, ["-6", "addr", "add", `${vm.nic.ipv6.primary.address}/128`, "dev", "eth0", "nodad"]);
  await ip(ns, ["-6", "route", "add", "default", "via", FABRIC_GATEWAY6, "dev", "eth0"]);
}

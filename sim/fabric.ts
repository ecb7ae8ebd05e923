/**
 * The Azure fabric in its own network namespace: one link per VM NIC, the
 * internet and on-premises hosts, the platform addresses, and Azure's packet
 * rules (fabric-rules.ts; docs/simulator.md lists what is modelled).
 */
import { Address4 } from "ip-address";
import { NicView, Topology, Vm, hasIpv6, ipv6ConfigsOf, nicIpConfigs, nicsOf } from "./topology";
import { ip, inNetns, run } from "./exec";
import {
  ARM_IP,
  FABRIC_INET_PORT,
  FABRIC_MAC,
  FABRIC_NS,
  FABRIC_ONPREM_PORT,
  FABRIC_REGISTRY_PORT,
  FABRIC_SINK,
  IMDS_IP,
  INET_GATEWAY,
  INET_NS,
  ONPREM_NS,
  REGISTRY_NS,
  WIRESERVER_IP,
  fabricNicPort,
  vmNs,
} from "./names";
import { fullRuleset, updateRuleset } from "./fabric-rules";
import { applyFabricRules6 } from "./fabric-rules6";
import { buildFabric6, enableIpv6, plugVm6 } from "./fabric6";

export const NIC_MTU = 1500;

/** Write a sysctl inside a namespace (never the machine's own). */
export async function nsSysctl(ns: string, key: string, value: string): Promise<void> {
  await inNetns(ns, "sysctl", ["-q", "-w", `${key}=${value}`]);
}

export async function createNamespace(ns: string): Promise<void> {
  await ip("", ["netns", "add", ns]);
  await ip(ns, ["link", "set", "lo", "up"]);
  // IPv6 is off unless the topology has a dual-stack subnet (fabric6.ts turns
  // it on); keeping it off keeps router solicitations and link-local chatter
  // out of the packet counters.
  await nsSysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1");
  await nsSysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1");
}

function prefixOf(cidr: string): number {
  return new Address4(cidr).subnetMask;
}

/** A /24 around a host address, for the point-to-point-ish edge links. */
function edgeNetwork(host: string): string {
  return `${host.split(".").slice(0, 3).join(".")}.1`;
}

export async function buildFabric(topo: Topology): Promise<void> {
  await createNamespace(FABRIC_NS);
  await nsSysctl(FABRIC_NS, "net.ipv4.ip_forward", "1");
  await nsSysctl(FABRIC_NS, "net.ipv4.conf.all.rp_filter", "0");
  await nsSysctl(FABRIC_NS, "net.ipv4.conf.default.rp_filter", "0");
  // The fabric is the gateway of every subnet.
  const gateways = [topo.vnet.gateway, ...topo.vnet.extraSubnets.map((s) => s.gateway)];
  for (const addr of [IMDS_IP, WIRESERVER_IP, ARM_IP, ...gateways]) {
    await ip(FABRIC_NS, ["addr", "add", `${addr}/32`, "dev", "lo"]);
  }
  // Traffic for VNet addresses that are no ipconfig is routed here and dropped
  // (and counted), after the fabric has answered ARP for it as Azure does.
  await ip(FABRIC_NS, ["link", "add", FABRIC_SINK, "type", "veth", "peer", "name", `${FABRIC_SINK}-end`]);
  await ip(FABRIC_NS, ["link", "set", FABRIC_SINK, "up"]);
  await ip(FABRIC_NS, ["link", "set", `${FABRIC_SINK}-end`, "up"]);
  await ip(FABRIC_NS, ["route", "add", topo.vnet.addressSpace, "dev", FABRIC_SINK]);

  await buildEdgeHost(INET_NS, FABRIC_INET_PORT, topo.internet.hostAddress, INET_GATEWAY);
  await buildEdgeHost(ONPREM_NS, FABRIC_ONPREM_PORT, topo.onPrem.hostAddress, edgeNetwork(topo.onPrem.hostAddress));
  await ip(FABRIC_NS, ["route", "replace", topo.onPrem.cidr, "dev", FABRIC_ONPREM_PORT]);
  // The registry host, like a private endpoint: every VNet address reaches it.
  await buildEdgeHost(REGISTRY_NS, FABRIC_REGISTRY_PORT, topo.registry.hostAddress, edgeNetwork(topo.registry.hostAddress));
  // The internet is everywhere else.
  await ip(FABRIC_NS, ["route", "add", "default", "via", topo.internet.hostAddress, "dev", FABRIC_INET_PORT]);
  if (hasIpv6(topo)) await buildFabric6(topo);
}

/** A host outside the VNet (internet or on-premises) behind a fabric port. */
async function buildEdgeHost(ns: string, port: string, hostAddress: string, gateway: string): Promise<void> {
  await createNamespace(ns);
  await ip(FABRIC_NS, ["link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns]);
  await ip(FABRIC_NS, ["addr", "add", `${gateway}/24`, "dev", port]);
  await ip(FABRIC_NS, ["link", "set", port, "up"]);
  await ip(ns, ["addr", "add", `${hostAddress}/24`, "dev", "eth0"]);
  await ip(ns, ["link", "set", "eth0", "up"]);
  await ip(ns, ["route", "add", "default", "via", gateway]);
}

/**
 * The VM's NICs: eth0, eth1 ... in the VM, each with only its primary address,
 * as Azure's DHCP configures them; the default route via eth0's gateway only
 * (another NIC has its connected route and nothing else).
 */
export async function plugVm(topo: Topology, vm: Vm): Promise<void> {
  const ns = vmNs(vm.name);
  const nics = nicsOf(vm, topo);
  // A VM just powered off may leave its fabric ports behind for a moment (the
  // kernel tears a namespace down asynchronously): remove them first.
  for (const nic of nics) await ip(FABRIC_NS, ["link", "del", fabricNicPort(vm.name, nic.index)], { allowFailure: true });
  await createNamespace(ns);
  if (hasIpv6(topo)) await enableIpv6(ns);
  for (const nic of nics) {
    const port = fabricNicPort(vm.name, nic.index);
    await ip(FABRIC_NS, [
      "link",
      "add",
      port,
      "address",
      FABRIC_MAC,
      "mtu",
      String(NIC_MTU),
      "type",
      "veth",
      "peer",
      "name",
      nic.link,
      "address",
      nic.mac,
      "mtu",
      String(NIC_MTU),
      "netns",
      ns,
    ]);
    // IPv6 is the primary NIC's only: off on both ends of another NIC's link
    // (the fabric drops IPv6 arriving there), before either end is up.
    if (hasIpv6(topo) && nic.index > 0) {
      await nsSysctl(ns, `net.ipv6.conf.${nic.link}.disable_ipv6`, "1");
      await nsSysctl(FABRIC_NS, `net.ipv6.conf.${port}.disable_ipv6`, "1");
    }
    // The fabric answers every ARP request the VM sends on the NIC, except for
    // the NIC's own primary address (whose route points back at the asking port).
    await nsSysctl(FABRIC_NS, `net.ipv4.conf.${port}.proxy_arp`, "1");
    await nsSysctl(FABRIC_NS, `net.ipv4.neigh.${port}.proxy_delay`, "0");
    await ip(FABRIC_NS, ["link", "set", port, "up"]);
    await ip(ns, ["addr", "add", `${nic.primary.address}/${prefixOf(nic.subnet)}`, "dev", nic.link]);
    await ip(ns, ["link", "set", nic.link, "up"]);
    if (nic.index === 0) await ip(ns, ["route", "add", "default", "via", nic.gateway]);
    for (const ipc of nicIpConfigs(nic)) await routeIpConfig(vm.name, nic, ipc.address);
  }
  if (hasIpv6(topo)) await plugVm6(vm);
  for (const ipc of ipv6ConfigsOf(vm)) await routeIpConfig(vm.name, nics[0], ipc.address);
}

/** Deliver packets for an ipconfig address (IPv4 or IPv6) to the link of the NIC holding it (with the NIC's MAC, no ARP or NDP). */
export async function routeIpConfig(vmName: string, nic: NicView, address: string): Promise<void> {
  const port = fabricNicPort(vmName, nic.index);
  await ip(FABRIC_NS, ["route", "replace", `${address}/${hostPrefix(address)}`, "dev", port]);
  await ip(FABRIC_NS, ["neigh", "replace", address, "lladdr", nic.mac, "dev", port, "nud", "permanent"]);
}

export async function unrouteIpConfig(vmName: string, nic: Pick<NicView, "index">, address: string): Promise<void> {
  const port = fabricNicPort(vmName, nic.index);
  await ip(FABRIC_NS, ["route", "del", `${address}/${hostPrefix(address)}`, "dev", port], { allowFailure: true });
  await ip(FABRIC_NS, ["neigh", "del", address, "dev", port], { allowFailure: true });
  // Flows to the removed address must not live on in conntrack.
  const family = address.includes(":") ? ["-f", "ipv6"] : [];
  await inNetns(FABRIC_NS, "conntrack", ["-D", ...family, "-d", address], { allowFailure: true });
  await inNetns(FABRIC_NS, "conntrack", ["-D", ...family, "-s", address], { allowFailure: true });
}

/** The prefix length of one address: /32 in IPv4, /128 in IPv6. */
function hostPrefix(address: string): number {
  return address.includes(":") ? 128 : 32;
}

export async function applyFabricRules(topo: Topology, full: boolean): Promise<void> {
  const args = full ? [] : ["--noflush"];
  await inNetns(FABRIC_NS, "iptables-restore", ["-w", "5", ...args], { input: full ? fullRuleset(topo) : updateRuleset(topo) });
  if (hasIpv6(topo)) await applyFabricRules6(topo, full);
}

/** Packet counter of a chain's single DROP rule in the fabric (its IPv6 rules with family 6). */
export async function dropCount(table: "raw" | "filter", chain: string, family: 4 | 6 = 4): Promise<number> {
  const out = await inNetns(FABRIC_NS, family === 6 ? "ip6tables" : "iptables", ["-w", "5", "-t", table, "-L", chain, "-n", "-v", "-x"]);
  const rule = out.stdout
    .split("\n")
    .slice(2)
    .find((l) => /^\s*\d+\s+\d+\s+DROP\b/.test(l));
  if (!rule) throw new Error(`no DROP rule in fabric chain ${chain}`);
  return Number(rule.trim().split(/\s+/)[0]);
}

export { run };

/**
 * The Azure side of a test VM, as the packet tests build it: the VM's NIC is
 * one end of a veth whose other end is in the `fab` namespace, which holds the
 * gateway (10.0.0.1), another VNet host (10.0.0.9), an "internet" host, a
 * peered range, 168.63.129.16 and 169.254.169.254. Like Azure, the fabric
 * delivers the containers' ipconfig addresses to the NIC's MAC without ARP,
 * drops frames from any other MAC and packets from sources that are not an
 * ipconfig, and counts what it accepts per container (`from-<suffix>`).
 */
import { ipLink, sh } from "./host";
import type { ChildNamespaces } from "./netns";

export interface FabricSpec {
  fab: string;
  uplink: string;
  fabricEnd: string;
  vmIp: string;
  containers: { ip: string; suffix: string }[];
  /** Fabric INPUT rules that go before the per-source ones. */
  firstRules?: string[][];
}

/** Builds the fabric and the VM's NIC; returns the NIC's MAC. */
export async function buildFabric(spaces: ChildNamespaces, spec: FabricSpec): Promise<string> {
  const { fab, uplink, fabricEnd, vmIp } = spec;
  await sh("ip", "link", "add", uplink, "type", "veth", "peer", "name", fabricEnd, "netns", fab);
  await sh("ip", "addr", "add", `${vmIp}/24`, "dev", uplink);
  await sh("ip", "link", "set", uplink, "up");
  await sh("ip", "route", "add", "default", "via", "10.0.0.1");
  const vmMac = (await ipLink(uplink))?.address;
  if (!vmMac) throw new Error(`${uplink} has no MAC`);

  const f = (...args: string[]) => sh("ip", "-n", fab, ...args);
  await f("addr", "add", "10.0.0.1/24", "dev", fabricEnd);
  await f("addr", "add", "10.0.0.9/24", "dev", fabricEnd);
  for (const a of ["198.51.100.7/32", "168.63.129.16/32", "169.254.169.254/32", "10.1.0.7/32"]) await f("addr", "add", a, "dev", "lo");
  await f("link", "set", fabricEnd, "up");
  for (const c of spec.containers) await f("neigh", "add", c.ip, "lladdr", vmMac, "dev", fabricEnd, "nud", "permanent");
  const fw = (...rule: string[]) => spaces.sh(fab, "iptables", "-w", "-A", "INPUT", "-i", fabricEnd, ...rule);
  await fw("-m", "mac", "!", "--mac-source", vmMac, "-m", "comment", "--comment", "foreign-mac", "-j", "DROP");
  for (const rule of spec.firstRules ?? []) await fw(...rule);
  await fw("-s", vmIp, "-j", "ACCEPT");
  for (const c of spec.containers) await fw("-s", c.ip, "-m", "comment", "--comment", `from-${c.suffix}`, "-j", "ACCEPT");
  await fw("-m", "comment", "--comment", "foreign-source", "-j", "DROP");
  return vmMac;
}

/** Docker's part of a container: its veth end moved into its namespace as eth0, addressed, default route via the gateway. */
export async function plugContainer(spaces: ChildNamespaces, c: { suffix: string; peer: string; ip: string }): Promise<void> {
  const ns = spaces.name(c.suffix);
  await sh("ip", "link", "set", c.peer, "netns", ns);
  await sh("ip", "-n", ns, "link", "set", c.peer, "name", "eth0");
  await sh("ip", "-n", ns, "addr", "add", `${c.ip}/24`, "dev", "eth0");
  await sh("ip", "-n", ns, "link", "set", "eth0", "up");
  await sh("ip", "-n", ns, "route", "add", "default", "via", "10.0.0.1");
}

/**
 * What the kernel should hold for the saved records, and how what it holds
 * differs from that: one pure model, read by endpoint creation, start-up
 * repair and `doctor` alike, as the firewall plan is for the iptables rules.
 * The two modes differ only in where things hang: a bridge network's host
 * veths join its bridge and its routes point at the bridge; a transparent
 * network has no bridge, and each endpoint's route points at its own host
 * veth (a routed port). Only bridge ports get port guards.
 */
import type { PortGuard, RoutedPortState } from "../dataplane";
import type { NetworkMode } from "./options";
import {
  BRIDGE_PREFIX,
  type EndpointRecord,
  HOST_VETH_PREFIX,
  type NetworkRecord,
  type NetworkState,
  PEER_VETH_PREFIX,
  portGroup,
  vethNames,
} from "./records";

/** One endpoint's share of the kernel: its veth pair, its /32 route and, in bridge mode, its port guard. */
export interface EndpointKernel {
  endpointId: string;
  networkId: string;
  address: string;
  hostVeth: string;
  peerVeth: string;
  /** Its network's mode; undefined when its network has no record. */
  mode?: NetworkMode;
  /** Bridge mode: the bridge its host veth joins. */
  bridge?: string;
  /** The link its /32 route points to: its network's bridge, or its own host veth (transparent). Undefined without a network record. */
  routeDev?: string;
  /** Transparent mode: the link group its host veth carries (its network's, for the firewall). */
  portGroup?: number;
  /** The MAC its port guard allows; unknown for some adopted endpoints. */
  mac?: string;
  /** Its IPv6 address on a dual-stack network: routed as a /128 like the IPv4 /32, and allowed by its guard. */
  address6?: string;
}

export interface DesiredKernel {
  /** One bridge per bridge-mode network. */
  bridges: { name: string; mtu: number; networkId: string }[];
  /** Endpoints of recorded networks whose host veth is present: each wants its route, and a bridge port its guard. */
  live: EndpointKernel[];
  /** Endpoints whose host veth is gone: their container is gone with it. */
  withoutLink: EndpointKernel[];
  /** The guards the live bridge ports want (those whose MAC is known). */
  guards: PortGuard[];
  /** Container addresses wanted through each link: every bridge, and the host veth of every live transparent endpoint. */
  routes: Map<string, Set<string>>;
  /** Every link name a record explains. */
  names: Set<string>;
}

/** What the kernel holds, as far as it was read. */
export interface KernelSnapshot {
  /** Names of the links present. */
  links: ReadonlySet<string>;
  /** Container routes through each link of `routes` above; a link that could not be read is absent. */
  routes?: ReadonlyMap<string, readonly string[]>;
  /** Ports that have a guard chain, when they were read. */
  guards?: readonly string[];
}

export interface KernelDiff {
  /** Bridges of recorded networks that do not exist. */
  missingBridges: string[];
  /** Links named like the plugin's that no record explains. */
  orphanLinks: string[];
  /** `dev`: the bridge, or the host veth of a transparent endpoint. */
  missingRoutes: { address: string; dev: string; endpointId: string }[];
  leftoverRoutes: { address: string; dev: string }[];
  /** Live bridge-mode endpoints whose port has no guard. */
  missingGuards: EndpointKernel[];
  /** Guards of ports no endpoint record explains. */
  orphanGuards: string[];
}

const PREFIXES = [BRIDGE_PREFIX, HOST_VETH_PREFIX, PEER_VETH_PREFIX];

/** Where an endpoint of this network hangs, by the network's mode. */
function placement(net: NetworkRecord, hostVeth: string): Pick<EndpointKernel, "mode" | "bridge" | "routeDev" | "portGroup"> {
  switch (net.options.mode) {
    case "bridge":
      return { mode: "bridge", bridge: net.bridge, routeDev: net.bridge };
    case "transparent":
      return { mode: "transparent", routeDev: hostVeth, portGroup: portGroup(net.id) };
  }
}

/** The bridge a network has in the kernel: its own in bridge mode, none in transparent mode. */
export function bridgeOf(net: NetworkRecord): string | undefined {
  return net.options.mode === "bridge" ? net.bridge : undefined;
}

/** A new endpoint's kernel pieces, named from its id. */
export function newEndpointKernel(
  endpointId: string,
  address: string,
  net: NetworkRecord,
  mac?: string,
  address6?: string,
): EndpointKernel {
  const names = vethNames(endpointId);
  return {
    endpointId,
    networkId: net.id,
    address,
    hostVeth: names.host,
    peerVeth: names.peer,
    ...placement(net, names.host),
    ...(mac ? { mac } : {}),
    ...(address6 ? { address6 } : {}),
  };
}

/** A recorded endpoint's kernel pieces. */
export function endpointKernel(ep: EndpointRecord, net: NetworkRecord | undefined): EndpointKernel {
  return {
    endpointId: ep.id,
    networkId: ep.networkId,
    address: ep.address,
    hostVeth: ep.hostVeth,
    peerVeth: ep.peerVeth,
    ...(net ? placement(net, ep.hostVeth) : {}),
    ...(ep.mac ? { mac: ep.mac } : {}),
    ...(ep.address6 ? { address6: ep.address6 } : {}),
  };
}

/** Whether the endpoint's port gets a port guard: bridge ports do; a routed port is guarded by the VM's routing. */
export function isGuarded(ep: EndpointKernel): boolean {
  return ep.mode === "bridge";
}

/** The guard an endpoint's port wants, if it is a bridge port and its MAC is known. */
export function guardOf(ep: EndpointKernel): PortGuard | undefined {
  if (!isGuarded(ep) || !ep.mac) return undefined;
  return { port: ep.hostVeth, address: ep.address, mac: ep.mac, ...(ep.address6 ? { address6: ep.address6 } : {}) };
}

export function desiredKernel(state: NetworkState, links: ReadonlySet<string>): DesiredKernel {
  const networks = Object.values(state.networks);
  const bridges = networks.flatMap((n) => {
    const name = bridgeOf(n);
    return name ? [{ name, mtu: n.mtu, networkId: n.id }] : [];
  });
  const desired: DesiredKernel = {
    bridges,
    live: [],
    withoutLink: [],
    guards: [],
    routes: new Map(bridges.map((b) => [b.name, new Set<string>()])),
    names: new Set(bridges.map((b) => b.name)),
  };
  for (const ep of Object.values(state.endpoints)) {
    const kernel = endpointKernel(ep, state.networks[ep.networkId]);
    desired.names.add(ep.hostVeth).add(ep.peerVeth);
    if (!links.has(ep.hostVeth)) {
      desired.withoutLink.push(kernel);
      continue;
    }
    if (!kernel.routeDev) continue;
    desired.live.push(kernel);
    const routes = desired.routes.get(kernel.routeDev) ?? new Set<string>();
    desired.routes.set(kernel.routeDev, routes.add(ep.address));
    const guard = guardOf(kernel);
    if (guard) desired.guards.push(guard);
  }
  return desired;
}

export function diffKernel(desired: DesiredKernel, kernel: KernelSnapshot): KernelDiff {
  const diff: KernelDiff = {
    missingBridges: [],
    orphanLinks: [],
    missingRoutes: [],
    leftoverRoutes: [],
    missingGuards: [],
    orphanGuards: [],
  };
  diff.missingBridges = desired.bridges.filter((b) => !kernel.links.has(b.name)).map((b) => b.name);
  diff.orphanLinks = [...kernel.links].filter((name) => PREFIXES.some((p) => name.startsWith(p)) && !desired.names.has(name));
  for (const [dev, wanted] of desired.routes) {
    const present = kernel.routes?.get(dev);
    if (!present) continue;
    for (const ep of desired.live) {
      if (ep.routeDev === dev && !present.includes(ep.address))
        diff.missingRoutes.push({ address: ep.address, dev, endpointId: ep.endpointId });
    }
    for (const address of present) if (!wanted.has(address)) diff.leftoverRoutes.push({ address, dev });
  }
  if (kernel.guards) {
    const guarded = new Set(kernel.guards);
    diff.missingGuards = desired.live.filter((e) => isGuarded(e) && !guarded.has(e.hostVeth));
    diff.orphanGuards = kernel.guards.filter((port) => !desired.names.has(port));
  }
  return diff;
}

/**
 * What is wrong with a live transparent endpoint's routed port, as read back:
 * each problem with the command that puts it right. None when it is as
 * modes.ts sets it up; `undefined` state means the port could not be found.
 */
export function routedPortProblems(ep: EndpointKernel, port: RoutedPortState | undefined): { problem: string; fix: string }[] {
  const dev = ep.hostVeth;
  if (!port)
    return [{ problem: `${dev} does not exist`, fix: `docker network disconnect -f <network> <container>, then connect it again` }];
  const out: { problem: string; fix: string }[] = [];
  const group = ep.portGroup ?? 0;
  if (port.group !== group) {
    out.push({
      problem: `${dev} is in link group ${port.group}, not its network's ${group}: the firewall does not recognise its traffic`,
      fix: `ip link set ${dev} group ${group}`,
    });
  }
  if (!port.up) out.push({ problem: `${dev} is down`, fix: `ip link set ${dev} up` });
  if (port.proxyArp === false) {
    out.push({
      problem: `${dev} has proxy_arp off, so its container gets no answer for its gateway`,
      fix: `sysctl -w net.ipv4.conf.${dev}.proxy_arp=1`,
    });
  }
  if (port.proxyDelay !== undefined && port.proxyDelay !== 0) {
    out.push({ problem: `${dev} answers ARP only after a delay`, fix: `sysctl -w net.ipv4.neigh.${dev}.proxy_delay=0` });
  }
  // On a port without an address, loose (2) rejects what strict (1) does: only 0 checks nothing.
  if (port.rpFilter === 0) {
    out.push({
      problem: `${dev} has rp_filter off: only the firewall's source check keeps its container from sending as another address`,
      fix: `sysctl -w net.ipv4.conf.${dev}.rp_filter=1`,
    });
  }
  if (port.ipv6Disabled === false && !ep.address6) {
    out.push({
      problem: `${dev} has IPv6 on: its container can reach the VM over link-local IPv6`,
      fix: `sysctl -w net.ipv6.conf.${dev}.disable_ipv6=1`,
    });
  }
  if (port.ipv6Disabled === true && ep.address6) {
    out.push({
      problem: `${dev} has IPv6 off: its container's IPv6 does not get through`,
      fix: `sysctl -w net.ipv6.conf.${dev}.addr_gen_mode=1 net.ipv6.conf.${dev}.disable_ipv6=0 && ip -6 addr add fe80::1/64 dev ${dev} nodad`,
    });
  }
  return out;
}

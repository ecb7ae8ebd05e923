/**
 * What the kernel should hold for the saved records, and how what it holds
 * differs from that: one pure model, read by endpoint creation, start-up
 * repair and `doctor` alike, as the firewall plan is for the iptables rules.
 */
import type { PortGuard } from "../dataplane";
import {
  BRIDGE_PREFIX,
  type EndpointRecord,
  HOST_VETH_PREFIX,
  type NetworkRecord,
  type NetworkState,
  PEER_VETH_PREFIX,
  vethNames,
} from "./records";

/** One endpoint's share of the kernel: its veth pair, its /32 route and its port guard. */
export interface EndpointKernel {
  endpointId: string;
  networkId: string;
  address: string;
  hostVeth: string;
  peerVeth: string;
  /** The bridge its host veth joins and its route points to; undefined when its network has no record. */
  bridge?: string;
  /** The MAC its port guard allows; unknown for some adopted endpoints. */
  mac?: string;
}

export interface DesiredKernel {
  /** One bridge per network. */
  bridges: { name: string; mtu: number; networkId: string }[];
  /** Endpoints of recorded networks whose host veth is present: each wants its route and its guard. */
  live: EndpointKernel[];
  /** Endpoints whose host veth is gone: their container is gone with it. */
  withoutLink: EndpointKernel[];
  /** The guards the live endpoints want (those whose MAC is known). */
  guards: PortGuard[];
  /** Container addresses wanted on each network's bridge. */
  routes: Map<string, Set<string>>;
  /** Every link name a record explains. */
  names: Set<string>;
}

/** What the kernel holds, as far as it was read. */
export interface KernelSnapshot {
  /** Names of the links present. */
  links: ReadonlySet<string>;
  /** Container routes on each network's bridge; a bridge that could not be read is absent. */
  routes?: ReadonlyMap<string, readonly string[]>;
  /** Ports that have a guard chain, when they were read. */
  guards?: readonly string[];
}

export interface KernelDiff {
  /** Bridges of recorded networks that do not exist. */
  missingBridges: string[];
  /** Links named like the plugin's that no record explains. */
  orphanLinks: string[];
  missingRoutes: { address: string; bridge: string; endpointId: string }[];
  leftoverRoutes: { address: string; bridge: string }[];
  /** Live endpoints whose port has no guard. */
  missingGuards: EndpointKernel[];
  /** Guards of ports no endpoint record explains. */
  orphanGuards: string[];
}

const PREFIXES = [BRIDGE_PREFIX, HOST_VETH_PREFIX, PEER_VETH_PREFIX];

/** A new endpoint's kernel pieces, named from its id. */
export function newEndpointKernel(endpointId: string, address: string, net: NetworkRecord, mac?: string): EndpointKernel {
  const names = vethNames(endpointId);
  return {
    endpointId,
    networkId: net.id,
    address,
    hostVeth: names.host,
    peerVeth: names.peer,
    bridge: net.bridge,
    ...(mac ? { mac } : {}),
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
    ...(net ? { bridge: net.bridge } : {}),
    ...(ep.mac ? { mac: ep.mac } : {}),
  };
}

/** The guard an endpoint's port wants, if its MAC is known. */
export function guardOf(ep: EndpointKernel): PortGuard | undefined {
  return ep.mac ? { port: ep.hostVeth, address: ep.address, mac: ep.mac } : undefined;
}

export function desiredKernel(state: NetworkState, links: ReadonlySet<string>): DesiredKernel {
  const networks = Object.values(state.networks);
  const desired: DesiredKernel = {
    bridges: networks.map((n) => ({ name: n.bridge, mtu: n.mtu, networkId: n.id })),
    live: [],
    withoutLink: [],
    guards: [],
    routes: new Map(networks.map((n) => [n.bridge, new Set<string>()])),
    names: new Set(networks.map((n) => n.bridge)),
  };
  for (const ep of Object.values(state.endpoints)) {
    const kernel = endpointKernel(ep, state.networks[ep.networkId]);
    desired.names.add(ep.hostVeth).add(ep.peerVeth);
    if (!links.has(ep.hostVeth)) {
      desired.withoutLink.push(kernel);
      continue;
    }
    if (!kernel.bridge) continue;
    desired.live.push(kernel);
    desired.routes.get(kernel.bridge)?.add(ep.address);
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
  for (const [bridge, wanted] of desired.routes) {
    const present = kernel.routes?.get(bridge);
    if (!present) continue;
    for (const ep of desired.live) {
      if (ep.bridge === bridge && !present.includes(ep.address))
        diff.missingRoutes.push({ address: ep.address, bridge, endpointId: ep.endpointId });
    }
    for (const address of present) if (!wanted.has(address)) diff.leftoverRoutes.push({ address, bridge });
  }
  if (kernel.guards) {
    const guarded = new Set(kernel.guards);
    diff.missingGuards = desired.live.filter((e) => !guarded.has(e.hostVeth));
    diff.orphanGuards = kernel.guards.filter((port) => !desired.names.has(port));
  }
  return diff;
}

/**
 * Everything `status` and `doctor` look at, read once: the checkpoint, the
 * kernel, the metadata service and the plugin's socket. Both commands are
 * pure functions of these facts, which is what their unit tests feed them.
 */
import { type Checkpoint, emptyCheckpoint } from "../checkpoint";
import type { BackendsProbe, Dataplane, FirewallState, LinkInfo, RoutedPortState, RouteInfo, RuleInfo } from "../dataplane";
import { bridgeOf, desiredKernel } from "../network/kernel-model";
import type { DockerReconcileReport } from "../reconcile/docker";
import type { PluginStatusReply } from "../reconcile/report";
import type { CheckpointView } from "./checkpoint-view";
import type { MetadataProbe } from "./metadata-probe";
import { type Probed, probe } from "./probed";
import type { SocketProbe } from "./socket-probe";
import type { PluginLocation } from "./locate";

export interface KernelFacts {
  links: Probed<LinkInfo[]>;
  /** Container routes (/32) per bridge of a recorded network and per routed port of a live transparent endpoint. */
  routes: Record<string, Probed<string[]>>;
  /** proxy_arp per bridge of a recorded network; undefined value when the bridge is missing. */
  proxyArp: Record<string, Probed<boolean | undefined>>;
  /** Group and sysctls per routed port (host veth) of a live transparent endpoint; undefined value when it is gone. */
  routedPorts: Record<string, Probed<RoutedPortState | undefined>>;
  ipForward: Probed<boolean>;
  /** The plugin's chains in the ruleset the plugin uses (Docker's). */
  firewall: Probed<FirewallState>;
  backends: Probed<BackendsProbe>;
  /** Bridge ports that have an anti-spoofing guard. */
  portGuards: Probed<string[]>;
  /** Every IPv4 rule and route of every table: secondary NICs' policy routing. */
  policyRouting: Probed<PolicyRouting>;
  /** Per bridge of a dual-stack network: its IPv6 addresses, its /128 routes, and IPv6 forwarding. */
  ipv6?: Record<string, Probed<Ipv6Facts>>;
}

export interface Ipv6Facts {
  addresses: string[];
  routes: string[];
  forwarding: boolean;
}

export interface PolicyRouting {
  rules: RuleInfo[];
  routes: RouteInfo[];
}

export interface Facts {
  stateDir: string;
  checkpoint: Probed<CheckpointView>;
  /** Undefined when the caller chose not to ask. */
  metadata: MetadataProbe | undefined;
  kernel: KernelFacts;
  socket: SocketProbe;
  /** What the daemon's last reconciliation with Docker did: as it says over its socket, else as it recorded it beside the state. */
  lastReconcile?: DockerReconcileReport;
  /** Which plugin the socket is, as found through Docker's API; undefined when not looked for. */
  location?: PluginLocation;
  /** The daemon's answer to AzureVnet.Status; undefined when not asked. */
  daemon?: Probed<PluginStatusReply>;
  /** How often the daemon reconciles, when it did not say (the serve setting). */
  reconcileIntervalSeconds?: number;
  /** When the facts were read (ms since the epoch). */
  readAt?: number;
}

/** The host reads the commands need; the real one is over the dataplane, tests pass fakes. */
export interface KernelReader {
  listLinks(): Promise<LinkInfo[]>;
  /** Container routes through each of these links, in one read; links that do not exist are left out. */
  containerRoutes(links: readonly string[]): Promise<Map<string, string[]>>;
  routedPort(name: string): Promise<RoutedPortState | undefined>;
  readFirewall(): Promise<FirewallState>;
  ipForward(): Promise<boolean>;
  proxyArp(bridge: string): Promise<boolean | undefined>;
  backends(): Promise<BackendsProbe>;
  portGuards(): Promise<string[]>;
  policyRouting(): Promise<PolicyRouting>;
  /** A dual-stack bridge's IPv6: addresses, /128 routes, forwarding. Absent: not read. */
  ipv6?(bridge: string): Promise<Ipv6Facts>;
}

export interface FactSources {
  stateDir: string;
  checkpoint(): Promise<CheckpointView>;
  metadata?: () => Promise<MetadataProbe>;
  kernel: KernelReader;
  socket(): Promise<SocketProbe>;
  lastReconcile?: () => Promise<DockerReconcileReport | undefined>;
  location?: PluginLocation;
  daemon?: () => Promise<PluginStatusReply>;
  reconcileIntervalSeconds?: number;
}

export function linuxKernelReader(
  dp: Pick<
    Dataplane,
    | "listLinks"
    | "listContainerRoutesOn"
    | "readRoutedPort"
    | "readFirewall"
    | "listPortGuards"
    | "ipForward"
    | "proxyArp"
    | "iptablesBackends"
    | "readPolicyRouting"
    | "ipv6State"
    | "listContainerRoutes6On"
  >,
): KernelReader {
  return {
    listLinks: () => dp.listLinks(),
    containerRoutes: (links) => dp.listContainerRoutesOn(links),
    routedPort: (name) => dp.readRoutedPort(name),
    readFirewall: () => dp.readFirewall(),
    ipForward: () => dp.ipForward(),
    proxyArp: (bridge) => dp.proxyArp(bridge),
    backends: () => dp.iptablesBackends(),
    portGuards: () => dp.listPortGuards(),
    policyRouting: () => dp.readPolicyRouting(),
    ipv6: async (bridge) => ({
      ...(await dp.ipv6State(bridge)),
      routes: (await dp.listContainerRoutes6On([bridge])).get(bridge) ?? [],
    }),
  };
}

export async function gatherFacts(src: FactSources): Promise<Facts> {
  // Metadata and the socket do not depend on the rest and may each wait out a timeout.
  const metadata = src.metadata?.();
  const socket = src.socket();
  const daemonAnswer = src.daemon && probe(src.daemon);
  const checkpoint = await probe(() => src.checkpoint());
  const network = checkpoint.ok ? checkpoint.value.data?.network : undefined;
  const k = src.kernel;
  const links = await probe(() => k.listLinks());
  // What the records want: every bridge, and the routed port of every live transparent endpoint.
  const desired = network && desiredKernel(network, new Set(links.ok ? links.value.map((l) => l.name) : []));
  const routed = [...(desired?.routes.keys() ?? [])];
  const read = routed.length ? await probe(() => k.containerRoutes(routed)) : { ok: true as const, value: new Map<string, string[]>() };
  const routes: KernelFacts["routes"] = Object.fromEntries(
    routed.map((dev) => [dev, read.ok ? { ok: true as const, value: read.value.get(dev) ?? [] } : read]),
  );
  const proxyArp: KernelFacts["proxyArp"] = {};
  for (const bridge of Object.values(network?.networks ?? {}).flatMap((n) => bridgeOf(n) ?? [])) {
    proxyArp[bridge] = await probe(() => k.proxyArp(bridge));
  }
  const routedPorts: KernelFacts["routedPorts"] = {};
  for (const ep of desired?.live.filter((e) => e.mode === "transparent") ?? []) {
    routedPorts[ep.hostVeth] = await probe(() => k.routedPort(ep.hostVeth));
  }
  const ipv6: NonNullable<KernelFacts["ipv6"]> = {};
  const readIpv6 = k.ipv6?.bind(k);
  for (const net of Object.values(network?.networks ?? {})) {
    const bridge = bridgeOf(net);
    if (net.subnet6 && bridge && readIpv6) ipv6[bridge] = await probe(() => readIpv6(bridge));
  }
  const kernel: KernelFacts = {
    links,
    routes,
    proxyArp,
    routedPorts,
    ipForward: await probe(() => k.ipForward()),
    firewall: await probe(() => k.readFirewall()),
    backends: await probe(() => k.backends()),
    portGuards: await probe(() => k.portGuards()),
    policyRouting: await probe(() => k.policyRouting()),
    ...(Object.keys(ipv6).length ? { ipv6 } : {}),
  };
  const daemon = await daemonAnswer;
  // The daemon's own word first: a managed plugin's state directory may not be the host's.
  const lastReconcile = (daemon?.ok && daemon.value.lastReconcile) || (await src.lastReconcile?.().catch(() => undefined));
  return {
    stateDir: src.stateDir,
    checkpoint,
    metadata: await metadata,
    kernel,
    socket: await socket,
    ...(lastReconcile && { lastReconcile }),
    ...(src.location && { location: src.location }),
    ...(daemon && { daemon }),
    ...(src.reconcileIntervalSeconds !== undefined && { reconcileIntervalSeconds: src.reconcileIntervalSeconds }),
    readAt: Date.now(),
  };
}

/** The saved state; empty when there is none yet; undefined only when it could not be read. */
export function savedState(f: Facts): Checkpoint | undefined {
  if (!f.checkpoint.ok) return undefined;
  return f.checkpoint.value.data ?? emptyCheckpoint();
}

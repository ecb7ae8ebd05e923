/**
 * Owns `azure-vnet-plugin status`: what the plugin holds (networks, pools,
 * addresses, endpoints) next to what the kernel has, from the checkpoint and
 * the host alone. Docker is asked only which managed plugin is enabled (to find its socket).
 */
import { DEFAULT_NON_MASQUERADE } from "../network/options";
import { bridgeOf, endpointKernel } from "../network/kernel-model";
import type { DockerReconcileReport } from "../reconcile/docker";
import { buildReport } from "../ipam/pool-report";
import { summariseAddresses } from "../lib/address";
import { shortId } from "../lib/text";
import type { Facts } from "./facts";
import { nicUsage, type HeldAddress } from "./nic-usage";
import { valueOf } from "./probed";
import { section } from "./table";
import { describeLocation } from "./locate";
import type { LinkInfo } from "../dataplane";

/** "none": the network's mode has no bridge (transparent). */
export type LinkState = "up" | "down" | "missing" | "unknown" | "none";

export interface StatusReport {
  stateDir: string;
  checkpoint: { path?: string; source?: string; writtenAt?: string; rebooted?: boolean; problems: string[]; error?: string };
  metadata: { configured: string; answeredBy?: string; attempts: { source: string; ok: boolean; error?: string; ms: number }[] } | null;
  plugin: {
    socket: string;
    answering: boolean;
    error?: string;
    /** How the socket was chosen and which plugin it is (see cli/locate.ts); absent when not looked for. */
    located?: string;
    how?: "given" | "managed" | "legacy";
    /** The managed plugin, as Docker lists it. */
    managed?: { name: string; id: string; enabled: boolean };
  };
  firewall: { mode: string; forwardRules: number; natRules: number; forwardJumps: number; postroutingJumps: number } | { error: string };
  networks: {
    id: string;
    /** Null for a transparent network, which has no bridge. */
    bridge: string | null;
    subnet: string;
    gateway: string;
    primaryAddress: string;
    nicMac: string;
    /** The NIC's interface on this VM; null when none has its MAC, absent when the links could not be read. */
    nicLink?: string | null;
    /** Whether the NIC is the VM's primary one; absent on records made before the plugin told NICs apart. */
    nicPrimary?: boolean;
    mtu: number;
    options: {
      mode: string;
      snat: boolean;
      nonMasqueradeCidrs: string[];
      allowImds: boolean;
      applicationSecurityGroups?: string[];
      lbBackendPools?: string[];
      parent?: string;
    };
    endpoints: number;
    bridgeState: LinkState;
    createdAt: string;
  }[];
  pools: {
    poolId: string;
    subnet: string;
    subPool?: string;
    nicMac: string;
    networks: number;
    /** Null when the metadata could not be read. */
    free: string[] | null;
    used: string[];
    flagged: string[];
    auxAddresses: string[];
  }[];
  nics: {
    nicMac: string;
    /** The local link with that MAC; null when none, undefined when links could not be read. */
    link?: string | null;
    subnet: string;
    primaryAddress?: string;
    secondaries: string[] | null;
    free: string[] | null;
    used: HeldAddress[];
    flagged: string[];
  }[];
  endpoints: {
    id: string;
    networkId: string;
    address: string;
    /** Its IPv6 address, on a dual-stack network. */
    address6?: string;
    container?: string;
    hostVeth: string;
    /** As last saved; the plugin does not save on Join, so see also peerInContainer. */
    joined: boolean;
    /** Null when the kernel could not be read. */
    hostVethExists: boolean | null;
    /** The veth's other end has moved into another namespace: a container is using it. */
    peerInContainer: boolean | null;
    routed: boolean | null;
    createdAt: string;
  }[];
  /** The daemon's last reconciliation with Docker; null when none was recorded. */
  lastReconcile: DockerReconcileReport | null;
  /** Sources that could not be read. */
  unavailable: string[];
}

export function buildStatus(f: Facts): StatusReport {
  const unavailable: string[] = [];
  const cp = valueOf(f.checkpoint);
  if (!f.checkpoint.ok) unavailable.push(`checkpoint: ${f.checkpoint.error}`);
  const data = cp?.data;
  const links = valueOf(f.kernel.links);
  if (!f.kernel.links.ok) unavailable.push(`links: ${f.kernel.links.error}`);
  const linkByName = new Map((links ?? []).map((l) => [l.name, l]));
  const nics = f.metadata?.nics;
  if (f.metadata && !nics) unavailable.push(`metadata: ${f.metadata.attempts.map((a) => a.error).join("; ")}`);

  const networks = Object.values(data?.network.networks ?? {}).map((n) => {
    const bridge = bridgeOf(n);
    const link = bridge === undefined ? undefined : linkByName.get(bridge);
    const bridgeState: LinkState = bridge === undefined ? "none" : !links ? "unknown" : !link ? "missing" : link.up ? "up" : "down";
    return {
      id: n.id,
      bridge: bridge ?? null,
      subnet: n.subnet,
      gateway: n.gateway,
      primaryAddress: n.primaryAddress,
      nicMac: n.nicMac,
      ...(links && { nicLink: nicLinkName(links, n.nicMac) }),
      ...(n.nicPrimary !== undefined && { nicPrimary: n.nicPrimary }),
      mtu: n.mtu,
      options: { ...n.options, nonMasqueradeCidrs: n.options.nonMasqueradeCidrs ?? DEFAULT_NON_MASQUERADE },
      endpoints: Object.values(data?.network.endpoints ?? {}).filter((e) => e.networkId === n.id).length,
      bridgeState,
      createdAt: n.createdAt,
    };
  });

  const snapshot = nics && { nics, fetchedAt: 0, source: f.metadata?.answeredBy ?? "", stale: false };
  const pools = data
    ? buildReport(data.ipam, snapshot).pools.map((p) => ({
        poolId: p.poolId,
        subnet: p.subnet,
        ...(p.subPool && { subPool: p.subPool }),
        nicMac: p.nicMac,
        networks: p.refCount,
        free: nics ? p.free : null,
        used: p.used.map((u) => u.address),
        flagged: p.flagged,
        auxAddresses: p.auxAddresses,
      }))
    : [];

  const usage = nicUsage(data?.ipam, nics).map((u) => {
    const link = links && nicLinkName(links, u.nicMac);
    return {
      nicMac: u.nicMac,
      ...(links && { link }),
      subnet: u.subnet,
      ...(u.primaryAddress && { primaryAddress: u.primaryAddress }),
      secondaries: u.secondaries ?? null,
      free: u.free ?? null,
      used: u.held,
      flagged: u.flagged,
    };
  });

  const endpoints = Object.values(data?.network.endpoints ?? {}).map((e) => {
    // Through its network's bridge, or its own routed port (transparent).
    const dev = endpointKernel(e, data?.network.networks[e.networkId]).routeDev;
    const routes = dev ? valueOf(f.kernel.routes[dev]) : undefined;
    const name = data?.ipam.addresses[e.address]?.name;
    return {
      id: e.id,
      networkId: e.networkId,
      address: e.address,
      ...(e.address6 && { address6: e.address6 }),
      ...(name && { container: name }),
      hostVeth: e.hostVeth,
      joined: e.joined,
      hostVethExists: links ? linkByName.has(e.hostVeth) : null,
      peerInContainer: links ? linkByName.get(e.hostVeth)?.linkNetnsid !== undefined : null,
      routed: routes ? routes.includes(e.address) : null,
      createdAt: e.createdAt,
    };
  });

  const fw = f.kernel.firewall;
  return {
    stateDir: f.stateDir,
    checkpoint: cp
      ? { path: cp.path, source: cp.source, ...(cp.writtenAt && { writtenAt: cp.writtenAt }), rebooted: cp.rebooted, problems: cp.problems }
      : { problems: [], error: f.checkpoint.ok ? undefined : f.checkpoint.error },
    metadata: f.metadata
      ? {
          configured: f.metadata.configured,
          ...(f.metadata.answeredBy && { answeredBy: f.metadata.answeredBy }),
          attempts: f.metadata.attempts.map((a) => ({ source: a.source, ok: a.ok, ...(a.error && { error: a.error }), ms: a.ms })),
        }
      : null,
    plugin: {
      socket: f.socket.path,
      answering: f.socket.answering,
      ...(f.socket.error && { error: f.socket.error }),
      ...(f.location && { located: describeLocation(f.location), how: f.location.how }),
      ...(f.location?.plugin && {
        managed: { name: f.location.plugin.name, id: f.location.plugin.id, enabled: f.location.plugin.enabled },
      }),
    },
    firewall: fw.ok
      ? {
          mode: fw.value.mode,
          forwardRules: fw.value.filterRules.length,
          natRules: fw.value.natRules.length,
          forwardJumps: fw.value.forwardJumps,
          postroutingJumps: fw.value.postroutingJumps,
        }
      : { error: fw.error },
    networks,
    pools,
    nics: usage,
    endpoints,
    lastReconcile: f.lastReconcile ?? null,
    unavailable,
  };
}

const yesNo = (v: boolean | null) => (v === null ? "?" : v ? "yes" : "no");
const list = (addresses: string[] | null) => (addresses === null ? "?" : addresses.length ? summariseAddresses(addresses) : "-");

export function renderStatus(r: StatusReport): string {
  const head: string[] = [];
  const cp = r.checkpoint;
  head.push(
    cp.error
      ? `checkpoint: cannot read (${cp.error})`
      : `checkpoint: ${cp.path} (${cp.source === "none" ? "none yet" : `from ${cp.source}`}${cp.writtenAt ? `, written ${cp.writtenAt}` : ""}${cp.rebooted ? ", before the last reboot" : ""})`,
  );
  for (const p of cp.problems) head.push(`  problem: ${p}`);
  if (r.metadata) {
    const tried = r.metadata.attempts.map((a) => `${a.source} ${a.ok ? `answered in ${a.ms} ms` : `failed: ${a.error}`}`).join("; ");
    head.push(`metadata (${r.metadata.configured}): ${tried}`);
  } else head.push("metadata: not asked (--no-metadata)");
  if (r.plugin.located) head.push(`plugin: ${r.plugin.located}`);
  head.push(
    `plugin socket: ${r.plugin.socket} ${r.plugin.answering ? "answering" : `not answering${r.plugin.error ? ` (${r.plugin.error})` : ""}`}`,
  );
  head.push(
    "error" in r.firewall
      ? `firewall: cannot read (${r.firewall.error})`
      : `firewall: iptables ${r.firewall.mode}, ${r.firewall.forwardRules} filter and ${r.firewall.natRules} nat rules in the plugin's chains`,
  );

  const rec = r.lastReconcile;
  if (rec) {
    const released = [
      ...rec.endpointsReleased.map((e) => `endpoint ${e}`),
      ...rec.addressesReleased,
      ...rec.networksRemoved.map((n) => `network ${n}`),
    ];
    const settled = (rec.poolsSettled ?? []).map((p) => `, set the count of pool ${p}`).join("");
    head.push(
      rec.ok
        ? `last reconciliation with Docker: ${rec.at}, ${released.length ? `released ${released.join(", ")}` : "nothing to release"}${rec.endpointsAdopted + rec.networksAdopted ? `, adopted ${rec.networksAdopted} networks and ${rec.endpointsAdopted} endpoints` : ""}${settled}`
        : `last reconciliation with Docker: ${rec.at}, failed: ${rec.error ?? "unknown error"}`,
    );
  }

  const networks = section(
    "NETWORKS",
    ["NETWORK", "BRIDGE", "STATE", "SUBNET", "GATEWAY", "NIC", "ENDPOINTS", "OPTIONS"],
    r.networks.map((n) => [
      shortId(n.id),
      n.bridge ?? "-",
      n.bridgeState,
      n.subnet,
      n.gateway,
      [n.nicLink, n.nicMac, n.nicPrimary === false ? "(secondary)" : undefined].filter(Boolean).join(" "),
      String(n.endpoints),
      [
        `mode=${n.options.mode} snat=${n.options.snat} allow-imds=${n.options.allowImds} non-masquerade-cidrs=${n.options.nonMasqueradeCidrs.join(",")}`,
        ...(n.options.parent ? [`parent=${n.options.parent}`] : []),
        ...(n.options.applicationSecurityGroups ? [`application-security-groups=${n.options.applicationSecurityGroups.join(",")}`] : []),
        ...(n.options.lbBackendPools ? [`lb-backend-pools=${n.options.lbBackendPools.join(",")}`] : []),
      ].join(" "),
    ]),
    "no networks",
  );
  const pools = section(
    "POOLS",
    ["POOL", "NIC", "NETWORKS", "FREE", "USED", "FLAGGED"],
    r.pools.map((p) => [
      p.poolId,
      p.nicMac,
      String(p.networks),
      p.free === null ? "?" : String(p.free.length),
      String(p.used.length),
      String(p.flagged.length),
    ]),
    "no pools",
  );
  const nics = section(
    "ADDRESSES PER NIC",
    ["NIC", "LINK", "SUBNET", "PRIMARY", "SECONDARY", "FREE", "USED", "FLAGGED", "FREE ADDRESSES"],
    r.nics.map((n) => [
      n.nicMac,
      n.link === undefined ? "?" : (n.link ?? "missing"),
      n.subnet,
      n.primaryAddress ?? "?",
      n.secondaries === null ? "?" : String(n.secondaries.length),
      n.free === null ? "?" : String(n.free.length),
      String(n.used.length),
      n.flagged.length ? `${n.flagged.length} (${summariseAddresses(n.flagged)})` : "0",
      list(n.free),
    ]),
    "no NICs known: no metadata answer and no pools",
  );
  const endpoints = section(
    "ENDPOINTS",
    ["ENDPOINT", "NETWORK", "ADDRESS", "CONTAINER", "HOST VETH", "VETH EXISTS", "JOINED", "ROUTED"],
    r.endpoints.map((e) => [
      shortId(e.id),
      shortId(e.networkId),
      e.address6 ? `${e.address}, ${e.address6}` : e.address,
      e.container ?? "-",
      e.hostVeth,
      yesNo(e.hostVethExists),
      yesNo(e.joined || e.peerInContainer),
      yesNo(e.routed),
    ]),
    "no endpoints",
  );
  const tail = r.unavailable.length ? `\ncould not read: ${r.unavailable.join("; ")}\n` : "";
  return `${head.join("\n")}\n\n${networks}\n${pools}\n${nics}\n${endpoints}${tail}`;
}

/** The interface with a NIC's MAC: the NIC itself rather than a link enslaved elsewhere (a VF under it); null if none. */
function nicLinkName(links: readonly LinkInfo[], mac: string): string | null {
  return (
    links.filter((l) => l.mac === mac).sort((a, b) => Number(a.master !== undefined) - Number(b.master !== undefined))[0]?.name ?? null
  );
}

/**
 * Owns the plugin's iptables rules as a pure function of its networks. The
 * rules live in chains of the plugin's own and are regenerated whole, so there
 * is no per-container state in the firewall and re-applying is idempotent.
 *
 * Every value is validated before it is rendered; anything that is not a plain
 * interface name, IPv4 address, CIDR or short id is refused, so nothing from a
 * request can smuggle extra options or lines into the iptables-restore input.
 * Rules are rendered exactly as iptables-save prints them, which lets callers
 * compare a plan with what is live.
 *
 * A network's container traffic is recognised by where it enters and leaves
 * the VM's routing: a bridge network's by its bridge (`-i`/`-o <bridge>`), a
 * transparent network's by its containers' routed host veths (`azvh+`) and
 * the link group they carry, which is the network's own. Neither depends on
 * addresses, so networks of either mode, on the same subnet or not, never
 * match each other's rules.
 */
import { PluginError } from "../errors";
import { canonicalIpCidr, parseCidrAsWritten } from "../lib/address";
import { assertCidr, assertIfName, assertIPv4, assertIPv6 } from "./validate";

export const FORWARD_CHAIN = "AZURE-VNET-FORWARD";
export const POSTROUTING_CHAIN = "AZURE-VNET-POSTROUTING";
/** nat, from PREROUTING and OUTPUT: the published ports, sent on to their containers. */
export const DNAT_CHAIN = "AZURE-VNET-DNAT";
/** mangle, from FORWARD: marks what containers send to the platform addresses they may not reach. */
export const MARK_CHAIN = "AZURE-VNET-MARK";
/** mangle, from POSTROUTING: drops whatever marked packet got past FORWARD (an operator's ACCEPT above ours). */
export const PLATFORM_CHAIN = "AZURE-VNET-PLATFORM";
/** raw, from PREROUTING: drops what a routed (transparent) container port sends from an address not routed back to it. */
export const SOURCE_CHAIN = "AZURE-VNET-SOURCE";
/**
 * The host ends of containers' veth pairs (records.ts's HOST_VETH_PREFIX). Only
 * a transparent network's ports appear as such to iptables: a bridge port's
 * packets enter and leave the VM's routing as the bridge's.
 */
export const ROUTED_PORTS = "azvh+";
/** Where each of the plugin's chains is jumped to from: first in each of these built-in chains. */
export const HOOKS = [
  { table: "filter", parent: "FORWARD", chain: FORWARD_CHAIN },
  { table: "nat", parent: "POSTROUTING", chain: POSTROUTING_CHAIN },
  { table: "nat", parent: "PREROUTING", chain: DNAT_CHAIN },
  { table: "nat", parent: "OUTPUT", chain: DNAT_CHAIN },
  { table: "mangle", parent: "FORWARD", chain: MARK_CHAIN },
  { table: "mangle", parent: "POSTROUTING", chain: PLATFORM_CHAIN },
  { table: "raw", parent: "PREROUTING", chain: SOURCE_CHAIN },
] as const;
/** The plugin's chains, each once, with its table. */
export const CHAINS = [...new Map(HOOKS.map(({ table, chain }) => [`${table} ${chain}`, { table, chain }])).values()];
/** One bit of the packet mark, set and matched under its own mask so other users' bits are left alone. */
export const PLATFORM_MARK = "0x1000000/0x1000000";
/** Azure's virtual public IP: DNS on 53, the wireserver on 80 and 32526. */
export const WIRESERVER = "168.63.129.16";
export const WIRESERVER_BLOCKED_TCP_PORTS = [80, 32526] as const;
/** The Instance Metadata Service. */
export const IMDS = "169.254.169.254";

export interface FirewallNetwork {
  /** Short network id; it only appears inside rule comments. */
  id: string;
  /** How its containers' traffic is recognised: by its `bridge`, or (transparent) by its ports' `portGroup`. */
  mode: "bridge" | "transparent";
  /** Bridge mode: the network's bridge. */
  bridge?: string;
  /** Transparent mode: the link group of its containers' host veths (1 to 0xffffffff). */
  portGroup?: number;
  subnet: string;
  /** The VM's primary address: the source for SNATed traffic. */
  primaryAddress: string;
  snat: boolean;
  /** Destinations never SNATed, in addition to every network's subnet and the platform addresses. */
  nonMasqueradeCidrs: string[];
  allowImds: boolean;
  /** A dual-stack network: its IPv6 /64 (ip6tables rules are made only for these). */
  subnet6?: string;
  /** The NIC's primary IPv6 address: the source for SNATed IPv6. */
  primaryAddress6?: string;
  /** IPv6 destinations never SNATed, in addition to every network's IPv6 subnet. */
  nonMasqueradeCidrs6?: string[];
}

/** The fields that say how a network's container traffic is recognised. */
export type FirewallPorts = Pick<FirewallNetwork, "mode" | "bridge" | "portGroup">;

/** A container port published on the VM (`docker run -p`). */
export interface FirewallPublished {
  /** Short network id (one of the input's networks). */
  networkId: string;
  /** Short endpoint id; it only appears inside rule comments. */
  endpointId: string;
  /** The container's address. */
  address: string;
  proto: "tcp" | "udp";
  /** One of the VM's addresses; absent for all of them. */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
}

export interface FirewallInput {
  networks: FirewallNetwork[];
  /** Published ports; none when absent. */
  published?: FirewallPublished[];
}

export interface FirewallPlan {
  /** Input for one `iptables-restore --noflush` run covering both tables. */
  readonly restoreText: string;
  /** The filter chain's rules, as iptables-save prints them ("-A AZURE-VNET-FORWARD ..."). */
  readonly filterRules: readonly string[];
  readonly natRules: readonly string[];
  /** The nat chain of the published ports (DNAT_CHAIN). */
  readonly dnatRules: readonly string[];
  /** The mangle chains' rules (MARK_CHAIN, then PLATFORM_CHAIN). */
  readonly mangleRules: readonly string[];
  /** The raw chain's rules (SOURCE_CHAIN): one when a transparent network exists, else none. */
  readonly rawRules: readonly string[];
  /**
   * Input for one `ip6tables-restore --noflush` run (filter FORWARD_CHAIN and
   * nat POSTROUTING_CHAIN), when a dual-stack network exists; undefined otherwise.
   */
  readonly restoreText6?: string;
  readonly filterRules6?: readonly string[];
  readonly natRules6?: readonly string[];
  /** The raw source check (SOURCE_CHAIN) when a dual-stack transparent network exists. */
  readonly rawRules6?: readonly string[];
}

/** The ip6tables chains and where they are jumped to from (IPv6 has no platform addresses to block). */
export const HOOKS6 = [
  { table: "filter", parent: "FORWARD", chain: FORWARD_CHAIN },
  { table: "nat", parent: "POSTROUTING", chain: POSTROUTING_CHAIN },
  { table: "raw", parent: "PREROUTING", chain: SOURCE_CHAIN },
] as const;

const NETWORK_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/** Plans made here, and only these, may be applied: nothing else has been validated. */
const issued = new WeakSet<FirewallPlan>();

export function isIssuedPlan(plan: FirewallPlan): boolean {
  return issued.has(plan);
}

function validNetwork(raw: FirewallNetwork, index: number): FirewallNetwork {
  const where = `network #${index + 1}`;
  if (typeof raw !== "object" || raw === null) throw new PluginError(`${where}: not an object`);
  // Each field is read once into a fresh object, so what was checked is what gets rendered.
  const base: FirewallNetwork = {
    id: raw.id,
    mode: raw.mode,
    subnet: raw.subnet,
    primaryAddress: raw.primaryAddress,
    snat: raw.snat,
    nonMasqueradeCidrs: Array.isArray(raw.nonMasqueradeCidrs) ? [...raw.nonMasqueradeCidrs] : raw.nonMasqueradeCidrs,
    allowImds: raw.allowImds,
  };
  if (typeof base.id !== "string" || !NETWORK_ID.test(base.id)) {
    throw new PluginError(`${where}: invalid network id ${JSON.stringify(base.id)}`);
  }
  assertCidr(base.subnet, `${where} subnet`);
  if (parseCidrAsWritten(base.subnet)?.prefix === 0) throw new PluginError(`${where}: subnet ${base.subnet} is not a subnet`);
  assertIPv4(base.primaryAddress, `${where} primary address`);
  if (typeof base.snat !== "boolean") throw new PluginError(`${where}: snat must be true or false`);
  if (typeof base.allowImds !== "boolean") throw new PluginError(`${where}: allowImds must be true or false`);
  if (!Array.isArray(base.nonMasqueradeCidrs)) throw new PluginError(`${where}: nonMasqueradeCidrs must be a list`);
  base.nonMasqueradeCidrs.forEach((c) => assertCidr(c, `${where} non-masquerade CIDR`));
  if (raw.subnet6 !== undefined || raw.primaryAddress6 !== undefined) {
    const subnet6 = canonicalIpCidr(String(raw.subnet6), 6);
    if (!subnet6 || subnet6 !== raw.subnet6) throw new PluginError(`${where}: invalid IPv6 subnet ${JSON.stringify(raw.subnet6)}`);
    base.subnet6 = subnet6;
    base.primaryAddress6 = assertIPv6(raw.primaryAddress6, `${where} primary IPv6 address`);
    const extra: unknown = raw.nonMasqueradeCidrs6 ?? [];
    if (!Array.isArray(extra)) throw new PluginError(`${where}: nonMasqueradeCidrs6 must be a list`);
    base.nonMasqueradeCidrs6 = extra.map((c: unknown) => {
      const cidr = canonicalIpCidr(String(c), 6);
      if (!cidr || cidr !== c) throw new PluginError(`${where}: invalid IPv6 non-masquerade CIDR ${JSON.stringify(c)}`);
      return cidr;
    });
  }
  const mode: unknown = base.mode;
  if (mode === "bridge") {
    const bridge: unknown = raw.bridge;
    assertIfName(bridge, `${where} bridge name`);
    return { ...base, bridge: bridge as string };
  }
  if (mode === "transparent") {
    const group: unknown = raw.portGroup;
    if (typeof group !== "number" || !Number.isInteger(group) || group < 1 || group > 0xffffffff) {
      throw new PluginError(`${where}: invalid port group ${JSON.stringify(group)}`);
    }
    return { ...base, portGroup: group };
  }
  throw new PluginError(`${where}: invalid mode ${JSON.stringify(mode)}`);
}

const PROTOS = new Set(["tcp", "udp"]);

function validPort(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new PluginError(`${what}: invalid port ${JSON.stringify(value)}`);
  }
  return value;
}

function validPublished(raw: FirewallPublished, index: number, networks: Map<string, FirewallNetwork>): FirewallPublished {
  const where = `published port #${index + 1}`;
  if (typeof raw !== "object" || raw === null) throw new PluginError(`${where}: not an object`);
  const p: FirewallPublished = {
    networkId: raw.networkId,
    endpointId: raw.endpointId,
    address: raw.address,
    proto: raw.proto,
    hostPort: validPort(raw.hostPort, where),
    containerPort: validPort(raw.containerPort, where),
  };
  if (typeof p.networkId !== "string" || !networks.has(p.networkId)) {
    throw new PluginError(`${where}: unknown network ${JSON.stringify(p.networkId)}`);
  }
  if (typeof p.endpointId !== "string" || !NETWORK_ID.test(p.endpointId)) {
    throw new PluginError(`${where}: invalid endpoint id ${JSON.stringify(p.endpointId)}`);
  }
  assertIPv4(p.address, `${where} container address`);
  if (typeof p.proto !== "string" || !PROTOS.has(p.proto)) throw new PluginError(`${where}: invalid protocol ${JSON.stringify(p.proto)}`);
  if (raw.hostIp !== undefined) p.hostIp = assertIPv4(raw.hostIp, `${where} host address`);
  return p;
}

/** Whether two published ports would take the same packets. */
export function samePublishedPort(a: Pick<FirewallPublished, "proto" | "hostIp" | "hostPort">, b: typeof a): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp);
}

function comment(id: string, what: string): string {
  return `-m comment --comment "azure-vnet ${id}: ${what}"`;
}

/** How a network's container traffic is matched, written where iptables-save puts each part. */
interface Ports {
  /** Coming from its containers: the in-interface, and a module match after the protocol. */
  from: { iface: string; module: string };
  /** Going to its containers. */
  to: { iface: string; module: string };
}

function portsOf(n: FirewallNetwork): Ports {
  switch (n.mode) {
    case "bridge":
      return { from: { iface: `-i ${n.bridge as string}`, module: "" }, to: { iface: `-o ${n.bridge as string}`, module: "" } };
    case "transparent": {
      const group = `0x${(n.portGroup as number).toString(16)}`;
      return {
        from: { iface: `-i ${ROUTED_PORTS}`, module: ` -m devgroup --src-group ${group}` },
        to: { iface: `-o ${ROUTED_PORTS}`, module: ` -m devgroup --dst-group ${group}` },
      };
    }
  }
}

/** What a network's containers may not reach: the match of each block and its comment. */
function platformBlocks(n: FirewallNetwork): { match: string; what: string; reject: string }[] {
  const { from } = portsOf(n);
  const blocks = WIRESERVER_BLOCKED_TCP_PORTS.map((port) => ({
    match: `-d ${WIRESERVER}/32 ${from.iface} -p tcp -m tcp --dport ${port}${from.module}`,
    what: "no wireserver",
    reject: "tcp-reset",
  }));
  if (!n.allowImds) blocks.push({ match: `-d ${IMDS}/32 ${from.iface}${from.module}`, what: "no IMDS", reject: "icmp-port-unreachable" });
  return blocks;
}

function forwardRules(n: FirewallNetwork): string[] {
  const c = (what: string) => comment(n.id, what);
  // Refused rather than dropped: a container learns at once that the endpoint
  // is off limits instead of hanging until its client times out.
  const rules = platformBlocks(n).map((b) => `-A ${FORWARD_CHAIN} ${b.match} ${c(b.what)} -j REJECT --reject-with ${b.reject}`);
  // Docker sets FORWARD's policy to DROP; with br_netfilter this also admits
  // container-to-container frames on the same bridge.
  return [...rules, ...acceptRules(n)];
}

/** Accepts a network's container traffic both ways (iptables and ip6tables alike). */
function acceptRules(n: FirewallNetwork): string[] {
  const { from, to } = portsOf(n);
  return [
    `-A ${FORWARD_CHAIN} ${from.iface}${from.module} ${comment(n.id, "from containers")} -j ACCEPT`,
    `-A ${FORWARD_CHAIN} ${to.iface}${to.module} ${comment(n.id, "to containers")} -j ACCEPT`,
  ];
}

/**
 * The same platform blocks a second time, where nothing Docker or an operator
 * puts in filter FORWARD can overtake them: marked in mangle FORWARD (which
 * runs before filter), dropped in mangle POSTROUTING (which runs after it).
 * A packet the REJECT in filter refused never gets there; one that a rule
 * above ours accepted does, and goes no further.
 */
function markRules(n: FirewallNetwork): string[] {
  return platformBlocks(n).map((b) => `-A ${MARK_CHAIN} ${b.match} ${comment(n.id, b.what)} -j MARK --set-xmark ${PLATFORM_MARK}`);
}

const PLATFORM_DROP = `-A ${PLATFORM_CHAIN} -m mark --mark ${PLATFORM_MARK} -m comment --comment "azure-vnet: platform addresses containers may not reach" -j DROP`;

/**
 * A routed port sends only from addresses routed back to it: its container's.
 * The ports' own rp_filter=1 says the same (and on a link without an address,
 * as the ports are, even conf/all's "loose" rejects what strict does), but a
 * sysctl can be rewritten behind the plugin's back: a `conf.*.rp_filter = 0`
 * glob re-applied by a tool turns the kernel's check off on every port. This
 * check holds whatever the sysctls say (nft renders it as a `fib` lookup), and
 * drops before conntrack sees the packet.
 */
const SOURCE_CHECK = `-A ${SOURCE_CHAIN} -i ${ROUTED_PORTS} -m rpfilter --invert -m comment --comment "azure-vnet: routed container ports send only from their own address" -j DROP`;

/**
 * Traffic to the VNet (every network's subnet plus the user's ranges) and to the
 * platform addresses keeps the container's own address; everything else leaves
 * as the VM's primary address. The addrtype match keeps the VM's own traffic
 * (its primary address is inside the subnet) out of the SNAT rule.
 */
function postroutingRules(n: FirewallNetwork, allSubnets: string[]): string[] {
  const exclusions = [...allSubnets, ...n.nonMasqueradeCidrs, `${WIRESERVER}/32`, `${IMDS}/32`];
  return snatRules(n.id, n.subnet, exclusions, n.primaryAddress);
}

/** RETURN for each excluded destination, then SNAT to `source` of what leaves `subnet` (iptables and ip6tables alike). */
function snatRules(id: string, subnet: string, exclusions: string[], source: string): string[] {
  const rules = [...new Set(exclusions)].map((cidr) => {
    // iptables-save omits a match on 0.0.0.0/0 (::/0); render it the same way.
    const dst = cidr.endsWith("/0") ? "" : ` -d ${cidr}`;
    return `-A ${POSTROUTING_CHAIN} -s ${subnet}${dst} ${comment(id, "no SNAT")} -j RETURN`;
  });
  rules.push(`-A ${POSTROUTING_CHAIN} -s ${subnet} -m addrtype ! --src-type LOCAL ${comment(id, "SNAT")} -j SNAT --to-source ${source}`);
  return rules;
}

/**
 * IPv6 to the VNet (every dual-stack network's /64 plus the user's IPv6
 * ranges) keeps the container's own address; everything else leaves as the
 * NIC's primary IPv6 address, the one Azure gives a public IPv6 to.
 */
function postroutingRules6(n: FirewallNetwork, allSubnets6: string[]): string[] {
  return snatRules(n.id, n.subnet6 as string, [...allSubnets6, ...(n.nonMasqueradeCidrs6 ?? [])], n.primaryAddress6 as string);
}

/** Loopback is never the VM's address a client uses; traffic to it is left to local listeners. */
const LOOPBACK = "127.0.0.0/8";

/**
 * A published port's DNAT, from any of the VM's own addresses (or the one
 * asked for): what arrives at the VM (PREROUTING) and what the VM itself
 * sends (OUTPUT) alike. Forwarded on, it is admitted by the network's
 * "to containers" rule, and its replies by "from containers". The source is
 * left alone, so the container sees its real client; a client that is a
 * container of the same VM works too (hairpin), as every container's packets
 * pass the VM's routing, where the reply is translated back.
 */
function dnatRule(p: FirewallPublished): string {
  const dst = p.hostIp === undefined ? `! -d ${LOOPBACK}` : `-d ${p.hostIp}/32`;
  const on = p.hostIp ?? "*";
  return (
    `-A ${DNAT_CHAIN} ${dst} -p ${p.proto} -m addrtype --dst-type LOCAL -m ${p.proto} --dport ${p.hostPort} ` +
    `${comment(p.networkId, `endpoint ${p.endpointId} ${on}:${p.hostPort}/${p.proto}`)} -j DNAT --to-destination ${p.address}:${p.containerPort}`
  );
}

function checkNoOverlap(published: FirewallPublished[]): void {
  published.forEach((p, i) => {
    const other = published.slice(0, i).find((q) => samePublishedPort(p, q));
    if (other)
      throw new PluginError(`port ${p.hostPort}/${p.proto} is published twice (endpoints ${other.endpointId} and ${p.endpointId})`);
  });
}

export function planFirewall(input: FirewallInput): FirewallPlan {
  if (typeof input !== "object" || input === null || !Array.isArray(input.networks)) {
    throw new PluginError("firewall input must have a list of networks");
  }
  const networks = input.networks.map(validNetwork);
  const keys = {
    id: (n: FirewallNetwork) => n.id,
    bridge: (n: FirewallNetwork) => (n.mode === "bridge" ? n.bridge : undefined),
    "port group": (n: FirewallNetwork) => (n.mode === "transparent" ? String(n.portGroup) : undefined),
  };
  for (const [name, key] of Object.entries(keys)) {
    const seen = new Set<string>();
    for (const n of networks) {
      const value = key(n);
      if (value === undefined) continue;
      if (seen.has(value)) throw new PluginError(`two networks share the ${name} ${value}`);
      seen.add(value);
    }
  }
  const byId = new Map(networks.map((n) => [n.id, n]));
  if (input.published !== undefined && !Array.isArray(input.published)) throw new PluginError("published ports must be a list");
  const published = (input.published ?? []).map((p, i) => validPublished(p, i, byId));
  checkNoOverlap(published);
  const allSubnets = [...new Set(networks.map((n) => n.subnet))];
  const filterRules = networks.flatMap(forwardRules);
  const natRules = networks.filter((n) => n.snat).flatMap((n) => postroutingRules(n, allSubnets));
  const dnatRules = published.map(dnatRule);
  const mangleRules = [...networks.flatMap(markRules), PLATFORM_DROP];
  const rawRules = networks.some((n) => n.mode === "transparent") ? [SOURCE_CHECK] : [];
  // Declaring a chain in a --noflush batch flushes it, which makes the batch a full replacement.
  const restoreText = [
    "*filter",
    `:${FORWARD_CHAIN} - [0:0]`,
    ...filterRules,
    "COMMIT",
    "*nat",
    `:${POSTROUTING_CHAIN} - [0:0]`,
    `:${DNAT_CHAIN} - [0:0]`,
    ...natRules,
    ...dnatRules,
    "COMMIT",
    "*mangle",
    `:${MARK_CHAIN} - [0:0]`,
    `:${PLATFORM_CHAIN} - [0:0]`,
    ...mangleRules,
    "COMMIT",
    "*raw",
    `:${SOURCE_CHAIN} - [0:0]`,
    ...rawRules,
    "COMMIT",
    "",
  ].join("\n");
  const dual = networks.filter((n) => n.subnet6 !== undefined);
  const allSubnets6 = [...new Set(dual.map((n) => n.subnet6 as string))];
  // Docker may set ip6tables' FORWARD policy to DROP too.
  const filterRules6 = dual.flatMap(acceptRules);
  const natRules6 = dual.filter((n) => n.snat).flatMap((n) => postroutingRules6(n, allSubnets6));
  // IPv6 has no rp_filter: for routed ports this check is the only reverse-path check.
  const rawRules6 = dual.some((n) => n.mode === "transparent") ? [SOURCE_CHECK] : [];
  const restoreText6 = dual.length
    ? [
        "*filter",
        `:${FORWARD_CHAIN} - [0:0]`,
        ...filterRules6,
        "COMMIT",
        "*nat",
        `:${POSTROUTING_CHAIN} - [0:0]`,
        ...natRules6,
        "COMMIT",
        "*raw",
        `:${SOURCE_CHAIN} - [0:0]`,
        ...rawRules6,
        "COMMIT",
        "",
      ].join("\n")
    : undefined;
  const plan: FirewallPlan = Object.freeze({
    restoreText,
    ...(restoreText6 ? { restoreText6 } : {}),
    filterRules6: Object.freeze(filterRules6),
    natRules6: Object.freeze(natRules6),
    rawRules6: Object.freeze(rawRules6),
    filterRules: Object.freeze(filterRules),
    natRules: Object.freeze(natRules),
    dnatRules: Object.freeze(dnatRules),
    mangleRules: Object.freeze(mangleRules),
    rawRules: Object.freeze(rawRules),
  });
  issued.add(plan);
  return plan;
}

/**
 * Owns the one way into the host's network stack: everything the network
 * layer changes and everything the operator commands read, behind one
 * interface so both can be unit-tested with a fake. LinuxDataplane is the real
 * thing: netlink for links and routes, /proc/sys for sysctls, iptables and
 * nftables (bridge family) for the port guards. It acts on the network namespace the process
 * runs in.
 */
import { DeferredBatch } from "../lib/deferred-batch";
import type { IdleGate } from "../lib/idle-gate";
import { SerialQueue } from "../lib/serial";
import { forgetFlowsOf } from "./conntrack";
import { Runner } from "./exec";
import {
  applyFirewall,
  detectBackend,
  ensureFirewall,
  FirewallInput,
  FirewallState,
  IptablesBackend,
  planFirewall,
  readFirewall,
  removeFirewall,
  removeFirewall6,
} from "./firewall";
import { type BackendsProbe, probeBackends } from "./iptables";
import { EndpointLink, EndpointLinkSpec, LinkOps, NicLinkInfo, RoutedPortState } from "./links";
import { LinkInfo, RouteInfo, RuleInfo, Rtnl, TableRouteSpec } from "./netlink";
import { Nfnl } from "./nfnetlink";
import { NftPortGuards, type PortGuard } from "./nft-guards";
import { getIpForward, getIpv6Forwarding, getProxyArp, setIpForward } from "./sysctl";
import { assertIfName, assertIPv4 } from "./validate";

export type { EndpointLink, EndpointLinkSpec, NicLinkInfo, RoutedPortState } from "./links";
export type { LinkInfo, RouteInfo, AddressInfo, RuleInfo, TableRouteSpec } from "./netlink";
export type { FirewallInput, FirewallNetwork, FirewallPlan, FirewallPorts, FirewallState, IptablesBackend } from "./firewall";
export type { BackendsProbe, RulesetView } from "./iptables";
export { planFirewall } from "./firewall";
export { bridgeMac } from "./links";
export { DataplaneError } from "./errors";
export type { PortGuard } from "./nft-guards";

export interface Dataplane {
  /** Create or repair a network's bridge: MTU, proxy ARP, up; also turns on ip_forward. */
  ensureBridge(name: string, mtu: number): Promise<LinkInfo>;
  /** False if it was already gone. Refuses to delete a link that is not a bridge. */
  removeBridge(name: string): Promise<boolean>;
  /** A veth pair: the host end joins the bridge, the peer waits for Docker to move it. */
  createEndpointLink(spec: EndpointLinkSpec): Promise<EndpointLink>;
  removeEndpointLink(hostName: string): Promise<boolean>;
  /** `ip/32 dev bridge scope link`, replacing a stale route for the same address. */
  addContainerRoute(ip: string, bridge: string): Promise<void>;
  removeContainerRoute(ip: string, bridge: string): Promise<void>;
  listContainerRoutes(bridge: string): Promise<string[]>;
  /** Container (/32) routes through each of these links, bridges or routed ports, in one read; absent links are left out. */
  listContainerRoutesOn(links: readonly string[]): Promise<Map<string, string[]>>;
  /**
   * A dual-stack network's bridge: IPv6 on, the link-local gateway `gateway6`
   * on it at once; the NIC's accept_ra 1 made 2, then IPv6 forwarding on.
   */
  ensureBridgeIpv6(bridge: string, gateway6: string, nic: string): Promise<void>;
  /** `ip6/128 dev <link>`, replacing a route for the same address. */
  addContainerRoute6(ip6: string, dev: string): Promise<void>;
  /** Only if it goes through `dev`; a missing link or route is fine. */
  removeContainerRoute6(ip6: string, dev: string): Promise<void>;
  /** Container (/128) routes through each of these links, in one read; absent links are left out. */
  listContainerRoutes6On(links: readonly string[]): Promise<Map<string, string[]>>;
  /** The IPv6 addresses of a link (empty when none or absent), and whether IPv6 forwarding is on. Read-only. */
  ipv6State(link: string): Promise<{ addresses: string[]; forwarding: boolean }>;
  /** net.ipv4.ip_forward=1, for a network that has no bridge to turn it on (transparent). */
  ensureForwarding(): Promise<void>;
  /**
   * Make a (transparent) host veth a routed port: the link group, proxy ARP at
   * once, strict rp_filter, IPv6 off, up. Its sysctls go with the link.
   */
  ensureRoutedPort(hostName: string, group: number, opts?: { gateway6?: string }): Promise<void>;
  /** A dual-stack transparent network: the NIC's accept_ra 1 made 2, then IPv6 forwarding on. */
  ensureIpv6Forwarding(nic: string): Promise<void>;
  /** `ip/32 dev <routed port> scope link`, replacing a stale route for the same address; goes with the link. */
  addPortRoute(ip: string, hostName: string): Promise<void>;
  /** A routed port's group and sysctls as the kernel has them; undefined when it does not exist. Read-only. */
  readRoutedPort(hostName: string): Promise<RoutedPortState | undefined>;
  /** Drop the conntrack entries of an address being released (ctnetlink); true once done. */
  forgetFlows(ip: string): Promise<boolean>;
  findLinkByMac(mac: string): Promise<LinkInfo | undefined>;
  /** Every IPv4 policy-routing rule and every IPv4 route of every table, in one read. Read-only. */
  readPolicyRouting(): Promise<{ rules: RuleInfo[]; routes: RouteInfo[] }>;
  /** `from <src> lookup <table> [suppress_prefixlength N] priority P proto <protocol>`; an identical rule is left alone. */
  addPolicyRule(rule: RuleInfo & { src: string }): Promise<void>;
  /** False if there was no such rule. */
  removePolicyRule(rule: RuleInfo & { src: string }): Promise<boolean>;
  /** A route in a table other than main, replacing the table's route to the same prefix. */
  replaceTableRoute(spec: TableRouteSpec): Promise<void>;
  /** False if the table had no route to `dst`. */
  removeTableRoute(dst: string, table: number): Promise<boolean>;
  nicInfo(name: string): Promise<NicLinkInfo | undefined>;
  listLinks(): Promise<LinkInfo[]>;
  /** The MAC of a veth's other end, looked up in the namespace it was moved to (a container's); undefined if gone. */
  endpointPeerMac(hostName: string): Promise<string | undefined>;
  /** Let a bridge port send only with its container's MAC and IPv4 address. */
  addPortGuard(guard: PortGuard): Promise<void>;
  /** False if the port had no guard. */
  removePortGuard(port: string): Promise<boolean>;
  /**
   * Guards for exactly these ports (with removeOthers) in one step, writing
   * nothing when the kernel already matches; returns the ports whose guards
   * were missing or damaged and rewritten, and those whose guards went.
   */
  syncPortGuards(wanted: PortGuard[], removeOthers: boolean): Promise<{ repaired: string[]; removed: string[] }>;
  listPortGuards(): Promise<string[]>;
  /** The MAC and address a port's guard allows, if it has one. */
  readPortGuard(port: string): Promise<{ mac?: string; address?: string } | undefined>;
  removeAllPortGuards(): Promise<void>;
  /** Replace the plugin's firewall chains with the rules for these networks. */
  applyFirewall(input: FirewallInput): Promise<void>;
  /** The same, but writes nothing when the live chains already match; true if it had to apply. */
  ensureFirewall(input: FirewallInput): Promise<boolean>;
  removeFirewall(): Promise<boolean>;
  readFirewall(): Promise<FirewallState>;
  /** net.ipv4.ip_forward is 1. Read-only. */
  ipForward(): Promise<boolean>;
  /** proxy_arp of a link; undefined when the link does not exist. Read-only. */
  proxyArp(name: string): Promise<boolean | undefined>;
  /** Which iptables rulesets (nft, legacy) hold Docker's chains and the plugin's, and which one plain iptables is. Read-only. */
  iptablesBackends(): Promise<BackendsProbe>;
  close(): Promise<void>;
}

export interface LinuxDataplaneOptions {
  netlinkTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Fixed iptables backend; detected (and re-detected until Docker's chains show up) when absent. */
  iptables?: IptablesBackend;
  run?: Runner;
  onNetlinkError?: (err: Error) => void;
  /**
   * When the daemon is between requests: veth deletions and conntrack clean-up
   * (which hold the event loop inside the kernel) wait for it. Without one they
   * run at once, still batched with whatever arrives while one runs.
   */
  idle?: Pick<IdleGate, "whenIdle">;
}

export class LinuxDataplane implements Dataplane {
  private readonly nl: Rtnl;
  /** The netfilter netlink socket: conntrack clean-up and nf_tables. */
  private readonly netfilter: Nfnl;
  private readonly links: LinkOps;
  /**
   * Kernel calls that hold the event loop (a veth deletion waits for grace
   * periods, a conntrack dump walks the whole table) are made in batches, in
   * the daemon's lulls: one call for many veths, one dump for many addresses.
   */
  private readonly retiringLinks: DeferredBatch<string, boolean>;
  private readonly releasedFlows: DeferredBatch<string, boolean>;
  private backend?: IptablesBackend;
  /** Firewall changes are serialized so two applies cannot both add a jump. */
  private readonly firewallQueue = new SerialQueue();
  /** Guard changes from this process go one at a time, so each knows what the last one left. */
  private readonly guardQueue = new SerialQueue();
  private readonly guards: NftPortGuards;

  constructor(private readonly opts: LinuxDataplaneOptions = {}) {
    this.nl = new Rtnl({ timeoutMs: opts.netlinkTimeoutMs, onError: opts.onNetlinkError });
    this.netfilter = new Nfnl({ timeoutMs: opts.netlinkTimeoutMs });
    this.links = new LinkOps(this.nl);
    this.retiringLinks = new DeferredBatch((names) => this.links.removeEndpointLinks(names), opts.idle);
    this.releasedFlows = new DeferredBatch<string, boolean>(async (ips) => {
      await forgetFlowsOf(ips, { nfnl: this.netfilter });
      return ips.map(() => ({ status: "fulfilled", value: true }));
    }, opts.idle);
    this.backend = opts.iptables;
    this.guards = new NftPortGuards({ nfnl: () => this.nfnl, run: opts.run, timeoutMs: opts.commandTimeoutMs });
  }

  ensureBridge(name: string, mtu: number): Promise<LinkInfo> {
    return this.links.ensureBridge(name, mtu);
  }
  removeBridge(name: string): Promise<boolean> {
    return this.links.removeBridge(name);
  }
  createEndpointLink(spec: EndpointLinkSpec): Promise<EndpointLink> {
    return this.links.createEndpointLink(spec);
  }
  async removeEndpointLink(hostName: string): Promise<boolean> {
    assertIfName(hostName, "host interface name");
    return this.retiringLinks.add(hostName);
  }
  addContainerRoute(ip: string, bridge: string): Promise<void> {
    return this.links.addContainerRoute(ip, bridge);
  }
  removeContainerRoute(ip: string, bridge: string): Promise<void> {
    return this.links.removeContainerRoute(ip, bridge);
  }
  listContainerRoutes(bridge: string): Promise<string[]> {
    return this.links.listContainerRoutes(bridge);
  }
  /** The netfilter netlink socket (ctnetlink, nf_tables) this dataplane owns and closes. */
  get nfnl(): Nfnl {
    return this.netfilter;
  }
  async forgetFlows(ip: string): Promise<boolean> {
    assertIPv4(ip, "container address");
    return this.releasedFlows.add(ip);
  }
  findLinkByMac(mac: string): Promise<LinkInfo | undefined> {
    return this.links.findLinkByMac(mac);
  }
  async readPolicyRouting(): Promise<{ rules: RuleInfo[]; routes: RouteInfo[] }> {
    return { rules: await this.nl.listRules(), routes: await this.nl.listRoutes() };
  }
  async addPolicyRule(rule: RuleInfo & { src: string }): Promise<void> {
    await this.nl.addRule(rule);
  }
  removePolicyRule(rule: RuleInfo & { src: string }): Promise<boolean> {
    return this.nl.deleteRule(rule);
  }
  replaceTableRoute(spec: TableRouteSpec): Promise<void> {
    return this.nl.replaceTableRoute(spec);
  }
  removeTableRoute(dst: string, table: number): Promise<boolean> {
    return this.nl.deleteTableRoute(dst, table);
  }
  nicInfo(name: string): Promise<NicLinkInfo | undefined> {
    return this.links.nicInfo(name);
  }
  listLinks(): Promise<LinkInfo[]> {
    return this.nl.listLinks();
  }
  endpointPeerMac(hostName: string): Promise<string | undefined> {
    return this.links.peerMac(hostName);
  }

  addPortGuard(guard: PortGuard): Promise<void> {
    return this.guarded(() => this.guards.add(guard));
  }
  removePortGuard(port: string): Promise<boolean> {
    return this.guarded(() => this.guards.remove(port));
  }
  syncPortGuards(wanted: PortGuard[], removeOthers: boolean): Promise<{ repaired: string[]; removed: string[] }> {
    return this.guarded(() => this.guards.sync(wanted, removeOthers));
  }
  listPortGuards(): Promise<string[]> {
    return this.guarded(() => this.guards.list());
  }
  readPortGuard(port: string): Promise<{ mac?: string; address?: string } | undefined> {
    return this.guarded(() => this.guards.allowedOn(port));
  }
  removeAllPortGuards(): Promise<void> {
    return this.guarded(() => this.guards.removeAll());
  }

  async applyFirewall(input: FirewallInput): Promise<void> {
    // Planned before queueing: invalid input is refused before anything runs.
    const plan = planFirewall(input);
    await this.firewall(async (o) => {
      await applyFirewall(plan, o);
      await this.settleFirewall6({ wanted: plan.restoreText6 !== undefined }, o);
    });
  }
  async ensureFirewall(input: FirewallInput): Promise<boolean> {
    const plan = planFirewall(input);
    return this.firewall(async (o) => {
      const applied = await ensureFirewall(plan, o);
      await this.settleFirewall6({ wanted: plan.restoreText6 !== undefined }, o);
      return applied;
    });
  }
  removeFirewall(): Promise<boolean> {
    return this.firewall(async (o) => {
      const removed = await removeFirewall(o);
      await this.settleFirewall6({ wanted: false }, o);
      return removed;
    });
  }

  /**
   * Whether this process has written ip6tables chains (for a dual-stack
   * network); once none is left they go. An IPv4-only VM never runs ip6tables.
   */
  private had6 = false;
  private async settleFirewall6(
    { wanted }: { wanted: boolean },
    o: { backend: IptablesBackend; run?: Runner; timeoutMs?: number },
  ): Promise<void> {
    if (wanted) this.had6 = true;
    else if (this.had6) {
      await removeFirewall6(o);
      this.had6 = false;
    }
  }
  readFirewall(): Promise<FirewallState> {
    return this.firewall((o) => readFirewall(o));
  }

  listContainerRoutesOn(links: readonly string[]): Promise<Map<string, string[]>> {
    return this.links.listContainerRoutesOn(links);
  }
  ensureBridgeIpv6(bridge: string, gateway6: string, nic: string): Promise<void> {
    return this.links.ensureBridgeIpv6(bridge, gateway6, nic);
  }
  addContainerRoute6(ip6: string, dev: string): Promise<void> {
    return this.links.addContainerRoute6(ip6, dev);
  }
  removeContainerRoute6(ip6: string, dev: string): Promise<void> {
    return this.links.removeContainerRoute6(ip6, dev);
  }
  listContainerRoutes6On(links: readonly string[]): Promise<Map<string, string[]>> {
    return this.links.listContainerRoutes6On(links);
  }
  async ipv6State(link: string): Promise<{ addresses: string[]; forwarding: boolean }> {
    return { addresses: await this.links.addresses6(link), forwarding: await getIpv6Forwarding() };
  }
  async ensureForwarding(): Promise<void> {
    await setIpForward({ on: true });
  }
  ensureRoutedPort(hostName: string, group: number, opts?: { gateway6?: string }): Promise<void> {
    return this.links.ensureRoutedPort(hostName, group, opts);
  }
  ensureIpv6Forwarding(nic: string): Promise<void> {
    return this.links.ensureIpv6Forwarding(nic);
  }
  addPortRoute(ip: string, hostName: string): Promise<void> {
    return this.links.addPortRoute(ip, hostName);
  }
  readRoutedPort(hostName: string): Promise<RoutedPortState | undefined> {
    return this.links.readRoutedPort(hostName);
  }

  ipForward(): Promise<boolean> {
    return getIpForward();
  }
  proxyArp(name: string): Promise<boolean | undefined> {
    return getProxyArp(name);
  }
  iptablesBackends(): Promise<BackendsProbe> {
    return probeBackends({ run: this.opts.run, timeoutMs: this.opts.commandTimeoutMs });
  }

  async close(): Promise<void> {
    await this.firewallQueue.idle();
    await this.nl.close();
    this.netfilter.close();
  }

  private guarded<T>(fn: () => Promise<T>): Promise<T> {
    return this.guardQueue.run(fn);
  }

  private firewall<T>(fn: (o: { backend: IptablesBackend; run?: Runner; timeoutMs?: number }) => Promise<T>): Promise<T> {
    return this.firewallQueue.run(async () => {
      const o = { run: this.opts.run, timeoutMs: this.opts.commandTimeoutMs };
      const backend = this.backend ?? (await detectBackend(o));
      // Until Docker has made its chains, the choice rests only on `iptables -V`: look again next time.
      if (backend.dockerChains || this.opts.iptables) this.backend = backend;
      return fn({ ...o, backend });
    });
  }
}

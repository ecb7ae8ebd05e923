/** An in-memory Dataplane that records what the network layer asks of the kernel. */
import type { IdleGate } from "../../../driver/lib/idle-gate";
import type {
  BackendsProbe,
  Dataplane,
  EndpointLink,
  EndpointLinkSpec,
  FirewallInput,
  FirewallState,
  LinkInfo,
  NicLinkInfo,
  PortGuard,
  RoutedPortState,
  RouteInfo,
  RuleInfo,
  TableRouteSpec,
} from "../../../driver/dataplane";

export class FakeDataplane implements Dataplane {
  links = new Map<string, LinkInfo & { masterName?: string }>();
  routes = new Map<string, string>(); // ip -> bridge or routed port
  /** Routed (transparent) ports as ensureRoutedPort left them: name -> link group. */
  ports = new Map<string, number>();
  forwarding = false;
  firewall: FirewallInput | undefined;
  firewallApplies = 0;
  calls: string[] = [];
  failOn = new Set<string>();
  /** Addresses whose flows were dropped, in order. */
  flowsForgotten: string[] = [];
  /** While set, endpoint clean-up (veth removal, flows) waits for it: a clean-up caught mid-way. */
  hold: Promise<void> | undefined;
  /** Like the real dataplane's deferred clean-up: veth removal and flows wait for this gate. */
  idle: Pick<IdleGate, "whenIdle"> | undefined;
  private nextIndex = 10;

  constructor() {
    this.links.set("eth0", { name: "eth0", index: 2, mac: "00:0d:3a:00:00:01", mtu: 1400, up: true });
  }

  private step(name: string): void {
    this.calls.push(name);
    if (this.failOn.has(name)) throw new Error(`injected failure in ${name}`);
  }

  async ensureBridge(name: string, mtu: number): Promise<LinkInfo> {
    this.step("ensureBridge");
    const link = { name, index: this.nextIndex++, mtu, up: true, kind: "bridge" };
    this.links.set(name, link);
    return link;
  }
  async removeBridge(name: string): Promise<boolean> {
    this.step("removeBridge");
    this.bridges6.delete(name);
    for (const [ip, dev] of this.routes6) if (dev === name) this.routes6.delete(ip);
    return this.links.delete(name);
  }
  async createEndpointLink(spec: EndpointLinkSpec): Promise<EndpointLink> {
    this.step("createEndpointLink");
    const host = { name: spec.hostName, index: this.nextIndex++, mtu: spec.mtu, up: true, kind: "veth", masterName: spec.bridge };
    const peer = {
      name: spec.peerName,
      index: this.nextIndex++,
      mtu: spec.mtu,
      up: false,
      kind: "veth",
      mac: spec.peerMac ?? "02:00:00:00:00:01",
    };
    this.links.set(host.name, host);
    this.links.set(peer.name, peer);
    return { host, peer };
  }
  async removeEndpointLink(hostName: string): Promise<boolean> {
    await this.hold;
    await this.idle?.whenIdle();
    this.step("removeEndpointLink");
    const peer = hostName.replace(/^azvh/, "azvc");
    this.links.delete(peer);
    // A routed port's routes and settings go with it, as in the kernel.
    for (const [ip, dev] of this.routes) if (dev === hostName) this.routes.delete(ip);
    for (const [ip, dev] of this.routes6) if (dev === hostName) this.routes6.delete(ip);
    this.ports6.delete(hostName);
    this.ports.delete(hostName);
    return this.links.delete(hostName);
  }
  async addContainerRoute(ip: string, bridge: string): Promise<void> {
    this.step("addContainerRoute");
    this.routes.set(ip, bridge);
  }
  async removeContainerRoute(ip: string, bridge: string): Promise<void> {
    this.step("removeContainerRoute");
    if (this.routes.get(ip) === bridge) this.routes.delete(ip);
  }
  async listContainerRoutes(bridge: string): Promise<string[]> {
    return [...this.routes].filter(([, b]) => b === bridge).map(([ip]) => ip);
  }
  async listContainerRoutesOn(links: readonly string[]): Promise<Map<string, string[]>> {
    this.step("listContainerRoutesOn");
    const present = links.filter((l) => this.links.has(l));
    return new Map(present.map((l) => [l, [...this.routes].filter(([, d]) => d === l).map(([ip]) => ip)]));
  }
  /** Bridges with IPv6 on, by name: the gateway on it and the NIC it was asked for. */
  bridges6 = new Map<string, { gateway6: string; nic: string }>();
  forwarding6 = false;
  routes6 = new Map<string, string>(); // ip6 -> bridge
  async ensureBridgeIpv6(bridge: string, gateway6: string, nic: string): Promise<void> {
    this.step("ensureBridgeIpv6");
    if (!this.links.has(bridge)) throw new Error(`bridge ${bridge} does not exist`);
    this.bridges6.set(bridge, { gateway6, nic });
    this.forwarding6 = true;
  }
  async addContainerRoute6(ip6: string, dev: string): Promise<void> {
    this.step("addContainerRoute6");
    this.routes6.set(ip6, dev);
  }
  async removeContainerRoute6(ip6: string, dev: string): Promise<void> {
    this.step("removeContainerRoute6");
    if (this.routes6.get(ip6) === dev) this.routes6.delete(ip6);
  }
  async listContainerRoutes6On(links: readonly string[]): Promise<Map<string, string[]>> {
    const present = links.filter((l) => this.links.has(l));
    return new Map(present.map((l) => [l, [...this.routes6].filter(([, d]) => d === l).map(([ip]) => ip)]));
  }
  async ipv6State(link: string): Promise<{ addresses: string[]; forwarding: boolean }> {
    const b = this.links.has(link) ? this.bridges6.get(link) : undefined;
    return { addresses: b ? [b.gateway6] : [], forwarding: this.forwarding6 };
  }
  async ensureForwarding(): Promise<void> {
    this.step("ensureForwarding");
    this.forwarding = true;
  }
  /** Routed ports set up with IPv6 on (a dual-stack network's): name -> gateway. */
  ports6 = new Map<string, string>();
  async ensureRoutedPort(hostName: string, group: number, opts: { gateway6?: string } = {}): Promise<void> {
    this.step("ensureRoutedPort");
    const link = this.links.get(hostName);
    if (!link) throw new Error(`link ${hostName} does not exist`);
    link.group = group;
    this.ports.set(hostName, group);
    if (opts.gateway6) this.ports6.set(hostName, opts.gateway6);
    else this.ports6.delete(hostName);
  }
  async ensureIpv6Forwarding(): Promise<void> {
    this.step("ensureIpv6Forwarding");
    this.forwarding6 = true;
  }
  async addPortRoute(ip: string, hostName: string): Promise<void> {
    this.step("addPortRoute");
    if (!this.links.has(hostName)) throw new Error(`port ${hostName} does not exist`);
    this.routes.set(ip, hostName);
  }
  async readRoutedPort(hostName: string): Promise<RoutedPortState | undefined> {
    const link = this.links.get(hostName);
    if (!link) return undefined;
    const routed = this.ports.has(hostName);
    return {
      group: link.group ?? 0,
      up: link.up,
      proxyArp: routed,
      proxyDelay: routed ? 0 : 100,
      rpFilter: routed ? 1 : 0,
      ipv6Disabled: routed && !this.ports6.has(hostName),
    };
  }
  async forgetFlows(ip: string): Promise<boolean> {
    await this.hold;
    await this.idle?.whenIdle();
    this.step("forgetFlows");
    this.flowsForgotten.push(ip);
    return true;
  }
  async findLinkByMac(mac: string): Promise<LinkInfo | undefined> {
    return [...this.links.values()].find((l) => l.mac === mac);
  }
  /** The addresses NICs carry (nicInfo), by link name. */
  nicAddresses = new Map<string, string[]>();
  /** Policy-routing rules and routes of tables other than main, as the kernel would list them. */
  rules: RuleInfo[] = [];
  tableRoutes: RouteInfo[] = [];
  async readPolicyRouting(): Promise<{ rules: RuleInfo[]; routes: RouteInfo[] }> {
    this.step("readPolicyRouting");
    return { rules: this.rules.map((r) => ({ ...r })), routes: this.tableRoutes.map((r) => ({ ...r })) };
  }
  async addPolicyRule(rule: RuleInfo & { src: string }): Promise<void> {
    this.step("addPolicyRule");
    const same = (r: RuleInfo) => JSON.stringify({ ...r }) === JSON.stringify({ ...rule });
    if (!this.rules.some(same)) this.rules.push({ ...rule });
  }
  async removePolicyRule(rule: RuleInfo & { src: string }): Promise<boolean> {
    this.step("removePolicyRule");
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => !(r.priority === rule.priority && r.src === rule.src && r.table === rule.table));
    return this.rules.length < before;
  }
  async replaceTableRoute(spec: TableRouteSpec): Promise<void> {
    this.step("replaceTableRoute");
    const [dst, len] = spec.dst.split("/");
    this.tableRoutes = this.tableRoutes.filter((r) => !(r.table === spec.table && `${r.dst}/${r.prefixLen}` === spec.dst));
    this.tableRoutes.push({
      dst,
      prefixLen: Number(len),
      table: spec.table,
      type: "UNICAST",
      scope: spec.gateway ? "UNIVERSE" : "LINK",
      protocol: String(spec.protocol),
      oif: spec.oif,
      ...(spec.gateway ? { gateway: spec.gateway } : {}),
      ...(spec.prefsrc ? { prefsrc: spec.prefsrc } : {}),
    });
  }
  async removeTableRoute(dst: string, table: number): Promise<boolean> {
    this.step("removeTableRoute");
    const before = this.tableRoutes.length;
    this.tableRoutes = this.tableRoutes.filter((r) => !(r.table === table && `${r.dst}/${r.prefixLen}` === dst));
    return this.tableRoutes.length < before;
  }
  async nicInfo(name: string): Promise<NicLinkInfo | undefined> {
    const l = this.links.get(name);
    const addresses = (this.nicAddresses.get(name) ?? []).map((address) => ({ address, prefixLen: 24 }));
    return l && { name: l.name, index: l.index, mac: l.mac, mtu: l.mtu, up: l.up, addresses };
  }
  async listLinks(): Promise<LinkInfo[]> {
    return [...this.links.values()];
  }
  guards = new Map<string, PortGuard>();
  async addPortGuard(g: PortGuard): Promise<void> {
    this.step("addPortGuard");
    this.guards.set(g.port, g);
  }
  async removePortGuard(port: string): Promise<boolean> {
    this.step("removePortGuard");
    return this.guards.delete(port);
  }
  async syncPortGuards(wanted: PortGuard[], removeOthers: boolean): Promise<{ repaired: string[]; removed: string[] }> {
    this.step("syncPortGuards");
    const keep = new Set(wanted.map((g) => g.port));
    const gone = removeOthers ? [...this.guards.keys()].filter((p) => !keep.has(p)) : [];
    const same = (a: PortGuard | undefined, b: PortGuard) => a?.mac === b.mac && a.address === b.address;
    const repaired = wanted.filter((g) => !same(this.guards.get(g.port), g)).map((g) => g.port);
    for (const p of gone) this.guards.delete(p);
    for (const g of wanted) this.guards.set(g.port, g);
    return { repaired, removed: gone };
  }
  async endpointPeerMac(hostName: string): Promise<string | undefined> {
    return this.links.get(hostName.replace(/^azvh/, "azvc"))?.mac;
  }
  async readPortGuard(port: string): Promise<{ mac?: string; address?: string } | undefined> {
    const g = this.guards.get(port);
    return g && { mac: g.mac, address: g.address };
  }
  async listPortGuards(): Promise<string[]> {
    return [...this.guards.keys()];
  }
  async removeAllPortGuards(): Promise<void> {
    this.step("removeAllPortGuards");
    this.guards.clear();
  }
  async applyFirewall(input: FirewallInput): Promise<void> {
    this.step("applyFirewall");
    this.firewallApplies++;
    this.firewall = structuredClone(input);
  }
  async ensureFirewall(input: FirewallInput): Promise<boolean> {
    if (JSON.stringify(this.firewall) === JSON.stringify(input)) return false;
    await this.applyFirewall(input);
    return true;
  }
  async removeFirewall(): Promise<boolean> {
    this.step("removeFirewall");
    const had = this.firewall !== undefined;
    this.firewall = undefined;
    return had;
  }
  async readFirewall(): Promise<FirewallState> {
    throw new Error("not used");
  }
  /** What the read-only kernel facts answer; tests change them. */
  ipForwardOn = true;
  proxyArpOff = new Set<string>();
  backends: BackendsProbe = {
    defaultMode: "nft",
    rulesets: [{ mode: "nft", available: true, dockerChains: ["DOCKER"], pluginChains: [] }],
  };
  async ipForward(): Promise<boolean> {
    return this.ipForwardOn;
  }
  async proxyArp(name: string): Promise<boolean | undefined> {
    return this.links.has(name) ? !this.proxyArpOff.has(name) : undefined;
  }
  async iptablesBackends(): Promise<BackendsProbe> {
    return structuredClone(this.backends);
  }
  async close(): Promise<void> {}

  /** A copy of the kernel as it is now, for a plugin started after a crash. */
  snapshot(): FakeDataplane {
    const copy = new FakeDataplane();
    copy.links = new Map([...this.links].map(([k, v]) => [k, { ...v }]));
    copy.routes = new Map(this.routes);
    copy.guards = new Map([...this.guards].map(([k, v]) => [k, { ...v }]));
    copy.firewall = this.firewall;
    copy.rules = this.rules.map((r) => ({ ...r }));
    copy.tableRoutes = this.tableRoutes.map((r) => ({ ...r }));
    return copy;
  }
}

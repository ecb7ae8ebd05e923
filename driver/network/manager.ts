/**
 * The NetworkDriver: what to build for each network and endpoint, and the
 * records that let it be rebuilt. The kernel work itself is the dataplane's.
 */
import type { IdleGate } from "../lib/idle-gate";
import { PluginError, errorMessage, throwIfAbandoned } from "../errors";
import type { Dataplane, FirewallInput } from "../dataplane";
import type { Logger } from "../log";
import type {
  CallContext,
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  EndpointRequest,
  JoinRequest,
  JoinResponse,
  NetworkCapabilities,
  NetworkDriver,
  NetworkRequest,
  ProgramExternalConnectivityRequest,
} from "../protocol/types";
import { AsyncMutex } from "../lib/serial";
import { addressInCidr, canonicalAddress, containerMac, ipInCidr } from "../lib/address";
import { shortId as short } from "../lib/text";
import { DEFAULT_NON_MASQUERADE, checkEndpointOptions, hasMemberships, parseNetworkOptions } from "./options";
import { EndpointRecord, GATEWAY6, NetworkRecord, NetworkState, bridgeName } from "./records";
import { type EndpointKernel, endpointKernel, isGuarded, newEndpointKernel } from "./kernel-model";
import { checkNetworkFits, endpointLinkSpec, ensureNetworkKernel, firewallPortsOf, setUpEndpointKernel } from "./modes";
import { findEndpointMac, syncGuards } from "./guards";
import { type KernelRepairReport, repairKernel } from "./repair";
import type { Persist } from "../checkpoint";
import { type PublishedPort, checkPortsFree, parsePortBindings, portHolders } from "./ports";
import { samePublishedPort } from "../dataplane/firewall-plan";
import type { NicInfo } from "../ipam/metadata/types";
import { type NicChoice, chooseNic, otherNicSubnets } from "./nic-choice";
import { type NicRoutingPlan, type NicRoutingResult, needsNicRouting, planNicRouting, syncNicRouting } from "./nic-routing";

/** What the network layer needs of a pool. */
export interface PoolFacts {
  subnet: string;
  gateway: string;
  primaryAddress: string;
  nicMac: string;
}

/** What the network layer asks of the IPAM side. */
export interface PoolDirectory {
  poolInfoBySubnet(addressSpace: string, subnet: string): PoolFacts | undefined;
  /** The VM's NICs as the metadata lists them. */
  vmNics(): Promise<NicInfo[]>;
  /** Binds the subnet's pools to this NIC before any container address is handed out (`-o parent=`). */
  bindPoolsToNic(addressSpace: string, subnet: string, nic: NicInfo): Promise<PoolFacts | undefined>;
  networkCreated(ipamData: { AddressSpace: string; Pool: string }): void;
  /** The endpoint holds the address from now on (memory only: the caller saves). */
  bindAddress(pool: { addressSpace: string; subnet: string }, address: string, endpointId: string): Promise<void>;
  /** The endpoint lets go; `release` frees the address too (memory only: the caller saves). */
  unbindAddress(address: string, endpointId: string, release?: boolean): Promise<boolean>;
}

/** What puts an endpoint's ipconfig into its network's security groups and backend pools (--ipconfig-management arm). */
export interface MembershipSupply {
  /** Resolves once ARM has the address's ipconfig in the memberships membershipOf names; throws why not by `deadline`. */
  join(address: string, deadline: number, signal?: AbortSignal): Promise<void>;
  /** The address's endpoint is gone: its memberships are cleared in the background. */
  touched(address: string): void;
}

/** How long a CreateEndpoint waits for its ipconfig's memberships, within Docker's wait for the answer. */
export const JOIN_WAIT_MS = 20_000;

export interface NetworkManagerOptions {
  dataplane: Dataplane;
  pools: PoolDirectory;
  /** Changed in place; persist() saves it with the rest of the checkpoint. */
  state: NetworkState;
  persist: Persist;
  logger: Logger;
  now?: () => Date;
  /** non-masquerade-cidrs recorded for a network created without that option; default DEFAULT_NON_MASQUERADE. */
  defaultNonMasqueradeCidrs?: string[];
  /** Present in ARM mode only: networks with application-security-groups or lb-backend-pools need it. */
  memberships?: MembershipSupply;
  /**
   * The gate the dataplane's deferred clean-up waits on (between requests): a
   * request that waits for that clean-up itself hurries it.
   */
  idle?: Pick<IdleGate, "hurry">;
}

export class NetworkManager implements NetworkDriver {
  private readonly mutex = new AsyncMutex();
  private readonly dp: Dataplane;
  private readonly state: NetworkState;
  private readonly now: () => Date;
  /**
   * Kernel clean-up of removed endpoints, by address, still running after the
   * reply: a new endpoint with the same address waits for it, so it never
   * meets the old route, guard or flows.
   */
  private readonly teardowns = new Map<string, Promise<void>>();

  constructor(private readonly o: NetworkManagerOptions) {
    this.dp = o.dataplane;
    this.state = o.state;
    this.now = o.now ?? (() => new Date());
  }

  /**
   * Addresses are the VM's own (data scope local: each node's IPAM hands out
   * its NIC's ipconfigs, also for a swarm network), and containers on
   * different VMs reach each other through the VNet (connectivity scope
   * global). Docker reads the latter only for swarm-scoped networks: it makes
   * them join swarm's gossip, which carries service names and task addresses
   * to every node; a local network is the same either way.
   */
  getCapabilities(): NetworkCapabilities {
    return { Scope: "local", ConnectivityScope: "global" };
  }

  createNetwork(req: CreateNetworkRequest): Promise<void> {
    return this.mutex.runExclusive(async () => {
      const bridge = bridgeName(req.NetworkID);
      const generic = (req.Options["com.docker.network.generic"] ?? {}) as Record<string, unknown>;
      const options = parseNetworkOptions(generic);
      // The plugin's setting at creation: a later change of it leaves this network as it was made.
      if (options.nonMasqueradeCidrs === undefined && this.o.defaultNonMasqueradeCidrs)
        options.nonMasqueradeCidrs = [...this.o.defaultNonMasqueradeCidrs];
      if (hasMemberships(options) && !this.o.memberships)
        throw new PluginError(
          "network options application-security-groups and lb-backend-pools need the plugin to manage ipconfigs through Azure Resource Manager (--ipconfig-management arm); it runs with static ipconfigs",
        );
      if (req.IPv4Data.length !== 1) {
        throw new PluginError(
          `an azure-vnet network has exactly one IPv4 subnet (a subnet of the VM's NIC); this request has ${req.IPv4Data.length}`,
        );
      }
      const data = req.IPv4Data[0];
      const pool = this.o.pools.poolInfoBySubnet(data.AddressSpace, data.Pool);
      if (!pool) {
        throw new PluginError(
          `the subnet ${data.Pool} was not allocated by the azure-vnet IPAM driver; create the network with --ipam-driver azure-vnet (the same name as -d) and --subnet set to the NIC's subnet`,
        );
      }
      const pool6 = this.ipv6Pool(req);
      this.o.pools.networkCreated(data);
      if (req.IPv6Data.length === 1) this.o.pools.networkCreated(req.IPv6Data[0]);
      if (this.state.networks[req.NetworkID]) return;
      const { facts, choice, others } = await this.bindNic(data.AddressSpace, pool, options.parent);
      if (pool6 && pool6.nicMac !== facts.nicMac) {
        throw new PluginError(
          `the IPv6 subnet ${pool6.subnet} belongs to the NIC ${pool6.nicMac}, the IPv4 subnet ${facts.subnet} to the NIC ${facts.nicMac}; a dual-stack network uses one NIC: give it the IPv6 /64 of ${facts.nicMac}`,
        );
      }
      const nic = await this.dp.findLinkByMac(facts.nicMac);
      if (!nic)
        throw new PluginError(
          `no network interface with MAC ${facts.nicMac} on this VM, although the metadata service lists it`,
          "unavailable",
        );
      const record: NetworkRecord = {
        id: req.NetworkID,
        bridge,
        addressSpace: data.AddressSpace,
        subnet: facts.subnet,
        gateway: facts.gateway,
        primaryAddress: facts.primaryAddress,
        nicMac: facts.nicMac,
        nicPrimary: choice.primary,
        ...(choice.primary && others.length ? { otherNicSubnets: others } : {}),
        mtu: nic.mtu,
        ...(pool6 ? { subnet6: pool6.subnet, primaryAddress6: pool6.primaryAddress } : {}),
        options,
        createdAt: this.now().toISOString(),
      };
      checkNetworkFits(this.state, record);
      if (!choice.primary) await this.checkSecondaryNic(nic.name, record);
      await ensureNetworkKernel(this.dp, record);
      this.state.networks[record.id] = record;
      try {
        await this.applyFirewall();
        await this.syncNicRouting("none");
        await this.o.persist();
      } catch (err) {
        const before = await this.nicRoutingPlan();
        delete this.state.networks[record.id];
        await this.syncNicRouting(before).catch(() => undefined);
        await this.dp.removeBridge(record.bridge).catch(() => undefined);
        await this.applyFirewall().catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Docker's DeleteNetwork; with `releaseAddresses` (the plugin's own clean-up
   * of a network Docker no longer has) the addresses of endpoints left on it go too.
   */
  deleteNetwork(req: NetworkRequest, opts: { releaseAddresses?: boolean } = {}): Promise<void> {
    return this.mutex.runExclusive(async () => {
      const net = Object.hasOwn(this.state.networks, req.NetworkID) ? this.state.networks[req.NetworkID] : undefined;
      if (!net) return;
      await this.settled();
      const stale = Object.values(this.state.endpoints).filter((e) => e.networkId === net.id);
      for (const ep of stale) {
        delete this.state.endpoints[ep.id];
        await this.o.pools.unbindAddress(ep.address, ep.id, opts.releaseAddresses === true);
      }
      const routing = await this.nicRoutingPlan();
      delete this.state.networks[net.id];
      await this.o.persist();
      // The records are gone first: a crash from here on leaves only kernel
      // leftovers, which the start-up reconciliation removes.
      // Together: the dataplane deletes their veths in one batch.
      await this.hurried(Promise.all(stale.map((ep) => this.removeEndpointKernel(endpointKernel(ep, net)))));
      await this.dp.removeBridge(net.bridge);
      await this.applyFirewall();
      // What only this network needed: its NIC's rules and table once it was the NIC's last.
      // The network is gone already; what is left here goes at the next start-up.
      await this.syncNicRouting(routing).catch((err: unknown) =>
        this.o.logger.warn("policy routing of the network's NIC not removed", { networkId: short(net.id), error: errorMessage(err) }),
      );
    });
  }

  /**
   * The endpoint's kernel pieces and record are made under the lock; the
   * save that makes them durable is started there and awaited after it, so
   * concurrent CreateEndpoints share one fsync. A save that fails, or a call
   * Docker abandoned meanwhile, is undone.
   */
  async createEndpoint(req: CreateEndpointRequest, ctx: CallContext = {}): Promise<CreateEndpointResponse> {
    const made = await this.mutex.runExclusive(() => this.makeEndpoint(req, ctx));
    if (!made) return {};
    try {
      await made.saving;
      throwIfAbandoned(ctx.signal);
      const net = this.state.networks[req.NetworkID];
      if (this.o.memberships && net && hasMemberships(net.options)) {
        await this.o.memberships.join(made.kernel.address, Date.now() + JOIN_WAIT_MS, ctx.signal);
      }
    } catch (err) {
      await this.mutex.runExclusive(() => this.unmakeEndpoint(made.kernel));
      throw err;
    }
    return {};
  }

  private async makeEndpoint(
    req: CreateEndpointRequest,
    ctx: CallContext,
  ): Promise<{ kernel: EndpointKernel; saving: Promise<void> } | undefined> {
    throwIfAbandoned(ctx.signal);
    const net = this.network(req.NetworkID);
    checkEndpointOptions(req.Options);
    const address6 = this.endpointIpv6(net, req.Interface.AddressIPv6);
    if (!req.Interface.Address) {
      throw new PluginError("Docker sent no IPv4 address for this endpoint; create the network with --ipam-driver azure-vnet");
    }
    const address = req.Interface.Address.split("/")[0];
    if (!addressInCidr(net.subnet, address)) {
      throw new PluginError(`address ${address} is not inside the network's subnet ${net.subnet}`);
    }
    if (this.state.endpoints[req.EndpointID]) return undefined;
    // Clean-up of the address's previous endpoint comes first.
    await this.hurried(this.teardowns.get(address));
    const holder = Object.values(this.state.endpoints).find((e) => e.address === address);
    if (holder) {
      // A holder whose host veth is there is live: its container runs, or
      // Docker is between its CreateEndpoint and Join. It keeps its address
      // whatever the request says.
      const links = new Set((await this.dp.listLinks()).map((l) => l.name));
      if (links.has(holder.hostVeth)) {
        throw new PluginError(`address ${address} is already used by endpoint ${short(holder.id)}`, "conflict");
      }
      // Its container is gone, and the veth pair with it: the record
      // outlived a DeleteEndpoint the plugin never saw (it was down). Clear it.
      this.o.logger.warn("replacing a stale endpoint that held the address", { endpointId: short(holder.id), address });
      delete this.state.endpoints[holder.id];
      await this.o.pools.unbindAddress(address, holder.id);
      await this.hurried(this.removeEndpointKernel(endpointKernel(holder, this.state.networks[holder.networkId])));
      // Its published ports would otherwise reach the address's new holder.
      if (holder.published) await this.applyFirewall();
    }
    const kernel = newEndpointKernel(req.EndpointID, address, net, req.Interface.MacAddress || containerMac(address), address6);
    const record = recordOf(kernel, { joined: false, createdAt: this.now().toISOString() });
    try {
      const link = await this.dp.createEndpointLink(endpointLinkSpec(kernel, net.mtu));
      kernel.mac = record.mac = link.peer?.mac ?? kernel.mac;
      if (isGuarded(kernel) && !kernel.mac)
        throw new PluginError(`the container end ${kernel.peerVeth} of the new veth pair has no MAC address`, "unavailable");
      // Before Join: a bridge port lets the container send nothing but its own
      // MAC and address (its guard), a routed port nothing but its own address.
      await setUpEndpointKernel(this.dp, kernel);
      throwIfAbandoned(ctx.signal);
      await this.o.pools.bindAddress(net, address, record.id);
    } catch (err) {
      await this.hurried(this.removeEndpointKernel(kernel));
      throw err;
    }
    this.state.endpoints[record.id] = record;
    return { kernel, saving: this.o.persist() };
  }

  /** Takes back an endpoint whose save failed or whose caller gave up (Docker will neither join nor delete it). */
  private async unmakeEndpoint(kernel: EndpointKernel): Promise<void> {
    const record = this.state.endpoints[kernel.endpointId];
    if (record?.address !== kernel.address) return;
    delete this.state.endpoints[kernel.endpointId];
    await this.o.pools.unbindAddress(kernel.address, kernel.endpointId);
    await this.o.persist("soon");
    await this.hurried(this.removeEndpointKernel(kernel));
  }

  deleteEndpoint(req: EndpointRequest): Promise<void> {
    return this.mutex.runExclusive(async () => void (await this.dropEndpoint(req.EndpointID, { releaseAddress: false })));
  }

  /**
   * Removes an endpoint whose container is gone together with its address,
   * in one saved change: the plugin's own clean-up (reconciliation, start-up),
   * never Docker's, whose ReleaseAddress follows its DeleteEndpoint.
   */
  releaseEndpoint(endpointId: string): Promise<boolean> {
    return this.mutex.runExclusive(() => this.dropEndpoint(endpointId, { releaseAddress: true }));
  }

  private async dropEndpoint(endpointId: string, opts: { releaseAddress: boolean }): Promise<boolean> {
    const ep = Object.hasOwn(this.state.endpoints, endpointId) ? this.state.endpoints[endpointId] : undefined;
    if (!ep) return false;
    delete this.state.endpoints[ep.id];
    await this.o.pools.unbindAddress(ep.address, ep.id, opts.releaseAddress);
    // A lost removal is repaired by reconciliation (the container is gone,
    // and its veth with it): it rides on the next durable save.
    await this.o.persist("soon");
    if (ep.published) await this.closePorts(ep);
    this.o.memberships?.touched(ep.address);
    this.retire(endpointKernel(ep, this.state.networks[ep.networkId]));
    return true;
  }

  /** Takes a removed endpoint's published ports out of the firewall before the answer; reconciliation retries a failure. */
  private async closePorts(ep: EndpointRecord): Promise<void> {
    try {
      await this.applyFirewall();
    } catch (err) {
      this.o.logger.warn("published ports not yet closed", { endpointId: short(ep.id), error: errorMessage(err) });
    }
  }

  /** Cleans up an endpoint's kernel pieces after the reply, after any earlier clean-up of the same address. */
  private retire(ep: EndpointKernel): void {
    const before = this.teardowns.get(ep.address) ?? Promise.resolve();
    const done: Promise<void> = before
      .then(() => this.removeEndpointKernel(ep))
      .finally(() => {
        if (this.teardowns.get(ep.address) === done) this.teardowns.delete(ep.address);
      });
    this.teardowns.set(ep.address, done);
  }

  /** The security groups and backend pools of the network whose endpoint holds `address`, if it names any. */
  membershipOf(address: string): { applicationSecurityGroups: string[]; lbBackendPools: string[] } | undefined {
    const ep = Object.values(this.state.endpoints).find((e) => e.address === address);
    const net = ep && this.state.networks[ep.networkId];
    if (!net || !hasMemberships(net.options)) return undefined;
    return { applicationSecurityGroups: net.options.applicationSecurityGroups ?? [], lbBackendPools: net.options.lbBackendPools ?? [] };
  }

  /** Whether the kernel clean-up of the address's previous endpoint is still running. */
  cleaningUp(address: string): boolean {
    return this.teardowns.has(address);
  }

  /** Resolves once every clean-up started so far has finished (network removal, shutdown, tests). */
  async settled(): Promise<void> {
    while (this.teardowns.size > 0) await this.hurried(Promise.all(this.teardowns.values()));
  }

  /** Waits for clean-up that may be waiting for the daemon to be idle, while a request (or shutdown) waits for it. */
  private async hurried(work: Promise<unknown> | undefined): Promise<void> {
    if (!work) return;
    await (this.o.idle ? this.o.idle.hurry(work) : work);
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const ep = this.endpointOf(req);
    const net = this.network(req.NetworkID);
    ep.joined = true;
    // The subnet gateway as default route: the container looks like an Azure
    // VM from the inside, and Docker adds no docker_gwbridge. IPv6: the
    // bridge's link-local address (the container's address is a /128), with
    // a connected route to it: Docker 26 looks the gateway up before the
    // interface has a link-local route of its own.
    return {
      InterfaceName: { SrcName: ep.peerVeth, DstPrefix: "eth" },
      Gateway: net.gateway,
      ...(ep.address6 ? { GatewayIPv6: GATEWAY6, StaticRoutes: [{ Destination: `${GATEWAY6}/128`, RouteType: 1 as const }] } : {}),
    };
  }

  /**
   * The IPv6 pool of a CreateNetwork with --ipv6: one, of the azure-vnet IPAM.
   * Undefined without --ipv6.
   */
  private ipv6Pool(req: CreateNetworkRequest): PoolFacts | undefined {
    if (req.IPv6Data.length === 0) return undefined;
    if (req.IPv6Data.length > 1) {
      throw new PluginError(
        `a dual-stack azure-vnet network has exactly one IPv6 subnet (the IPv6 /64 of the VM's NIC); this request has ${req.IPv6Data.length}`,
      );
    }
    const data = req.IPv6Data[0];
    const pool = this.o.pools.poolInfoBySubnet(data.AddressSpace, data.Pool);
    if (!pool) {
      throw new PluginError(
        `the IPv6 subnet ${data.Pool} was not allocated by the azure-vnet IPAM driver; create the network with --ipam-driver azure-vnet and --subnet set to the NIC's IPv6 /64`,
      );
    }
    return pool;
  }

  /** The endpoint's IPv6 address (canonical, no prefix), checked against its network; undefined without one. */
  private endpointIpv6(net: NetworkRecord, given: string | undefined): string | undefined {
    if (!given) return undefined;
    if (!net.subnet6) throw new PluginError(`network ${short(net.id)} has no IPv6 subnet (it was created without --ipv6)`);
    const address6 = canonicalAddress(given.split("/")[0]);
    if (!address6 || !ipInCidr(net.subnet6, address6)) {
      throw new PluginError(`IPv6 address ${given} is not inside the network's IPv6 subnet ${net.subnet6}`);
    }
    return address6;
  }

  async leave(req: EndpointRequest): Promise<void> {
    const ep = this.state.endpoints[req.EndpointID];
    if (ep) ep.joined = false;
  }

  /**
   * Publishes the endpoint's `-p` bindings on the VM, replacing any it had:
   * checked, refused if another endpoint holds one of the ports, applied and
   * saved before the answer (a failed apply or save leaves the old ones).
   */
  async programExternalConnectivity(req: ProgramExternalConnectivityRequest): Promise<void> {
    // Nothing to change, the usual case (no -p): answered without queueing behind
    // the lock. Docker sends one call at a time per endpoint, so its record holds still.
    const known = Object.hasOwn(this.state.endpoints, req.EndpointID) ? this.state.endpoints[req.EndpointID] : undefined;
    if (known?.networkId === req.NetworkID && samePorts(parsePortBindings(req.Options), known.published ?? [])) return;
    return this.mutex.runExclusive(async () => {
      const ep = this.endpointOf(req);
      const wanted = parsePortBindings(req.Options);
      const before = ep.published;
      if (samePorts(wanted, before ?? [])) return;
      const holders = portHolders(wanted, ep.id, Object.values(this.state.endpoints));
      if (holders.length) {
        // A holder whose host veth is gone has no container any more (its
        // DeleteEndpoint was missed; reconciliation removes the record): it gives its ports up.
        const links = new Set((await this.dp.listLinks()).map((l) => l.name));
        for (const h of holders) {
          const stale = this.state.endpoints[h.id];
          if (links.has(stale.hostVeth)) continue;
          this.o.logger.warn("taking published ports from an endpoint whose container is gone", { endpointId: short(h.id) });
          delete stale.published;
        }
      }
      checkPortsFree(wanted, ep.id, Object.values(this.state.endpoints), short);
      await this.setPorts(ep, wanted, before);
    });
  }

  /** Closes the endpoint's published ports (the container stops, or another endpoint becomes its gateway). */
  async revokeExternalConnectivity(req: EndpointRequest): Promise<void> {
    const publishedNow = () =>
      Object.hasOwn(this.state.endpoints, req.EndpointID) ? this.state.endpoints[req.EndpointID].published : undefined;
    // Nothing published (the usual case): nothing to queue behind the lock for.
    if (!publishedNow()) return;
    return this.mutex.runExclusive(async () => {
      const ports = publishedNow();
      if (ports) await this.setPorts(this.state.endpoints[req.EndpointID], [], ports);
    });
  }

  private async setPorts(ep: EndpointRecord, ports: PublishedPort[], before: PublishedPort[] | undefined): Promise<void> {
    const assign = (list: PublishedPort[] | undefined) => {
      if (list?.length) ep.published = list;
      else delete ep.published;
    };
    assign(ports);
    try {
      await this.applyFirewall();
      await this.o.persist(ports.length ? "now" : "soon");
    } catch (err) {
      assign(before);
      await this.applyFirewall().catch(() => undefined);
      throw err;
    }
  }

  private endpointOf(req: EndpointRequest): EndpointRecord {
    const net = this.network(req.NetworkID);
    const ep = Object.hasOwn(this.state.endpoints, req.EndpointID) ? this.state.endpoints[req.EndpointID] : undefined;
    if (!ep || ep.networkId !== net.id) {
      throw new PluginError(`endpoint ${short(req.EndpointID)} is not known on network ${short(req.NetworkID)}`, "not-found");
    }
    return ep;
  }

  async endpointOperInfo(req: EndpointRequest): Promise<Record<string, unknown>> {
    const ep = this.state.endpoints[req.EndpointID];
    return ep ? { address: ep.address, ...(ep.address6 ? { address6: ep.address6 } : {}), hostVeth: ep.hostVeth } : {};
  }

  /**
   * Record an endpoint Docker already has for a running container (state
   * rebuilt from Docker). Kernel pieces are restored only if its veth is
   * still there; otherwise the container's namespace is gone with it.
   */
  adoptEndpoint(ep: { id: string; networkId: string; address: string; mac?: string; address6?: string }): Promise<boolean> {
    return this.mutex.runExclusive(async () => {
      const net = this.network(ep.networkId);
      const address6 = net.subnet6 && ep.address6 ? this.endpointIpv6(net, ep.address6) : undefined;
      if (this.state.endpoints[ep.id]) return false;
      const holder = Object.values(this.state.endpoints).find((e) => e.address === ep.address);
      if (holder) throw new PluginError(`address ${ep.address} is already held by endpoint ${short(holder.id)}`, "conflict");
      const kernel = newEndpointKernel(ep.id, ep.address, net, ep.mac, address6);
      const record = recordOf(kernel, { joined: true, createdAt: this.now().toISOString() });
      const links = new Set((await this.dp.listLinks()).map((l) => l.name));
      if (links.has(kernel.hostVeth)) {
        // Docker seldom knows the MAC of a remote driver's endpoint, which a
        // bridge port's guard needs: the guard written when the endpoint was
        // created, or the container's end itself, does.
        const mac = record.mac ?? (isGuarded(kernel) ? await findEndpointMac(this.dp, record) : undefined);
        if (mac) kernel.mac = record.mac = mac;
        // Without a MAC a bridge port stays without a guard of its own, and so drops everything.
        if (!(await setUpEndpointKernel(this.dp, kernel)))
          this.o.logger.warn("adopted endpoint has no known MAC: its port drops all frames", { endpointId: short(ep.id) });
      }
      await this.o.pools.bindAddress(net, ep.address, record.id);
      this.state.endpoints[record.id] = record;
      try {
        await this.o.persist();
      } catch (err) {
        delete this.state.endpoints[record.id];
        await this.o.pools.unbindAddress(ep.address, record.id);
        throw err;
      }
      return true;
    });
  }

  /**
   * Brings every live endpoint's port guard back in line with its record
   * (someone flushed a chain, or removed a jump), finding MACs the records
   * lack. Run on every reconciliation; cheap when nothing is wrong.
   */
  repairGuards(opts: { removeOthers: boolean }): Promise<{ repaired: string[]; removed: string[] }> {
    return this.mutex.runExclusive(async () => {
      const before = JSON.stringify(this.state.endpoints);
      const result = await syncGuards(this.state, this.dp, opts.removeOthers);
      if (JSON.stringify(this.state.endpoints) !== before) await this.o.persist("soon");
      return result;
    });
  }

  /** How many of a network's endpoints still have their host veth. */
  async endpointsWithLinks(networkId: string): Promise<number> {
    const links = new Set((await this.dp.listLinks()).map((l) => l.name));
    return Object.values(this.state.endpoints).filter((e) => e.networkId === networkId && links.has(e.hostVeth)).length;
  }

  /**
   * Brings the kernel in line with the records (start-up, and once a damaged
   * checkpoint is confirmed): what they need is rebuilt and, with
   * `removeOrphans`, what they do not explain removed; the firewall is applied
   * only together with that (an untrusted state may not know every network).
   */
  repairKernel(opts: { removeOrphans: boolean }): Promise<KernelRepairReport> {
    return this.mutex.runExclusive(() =>
      repairKernel(
        this.state,
        this.dp,
        { removeOrphans: opts.removeOrphans, applyFirewall: () => (opts.removeOrphans ? this.applyFirewall() : Promise.resolve()) },
        this.o.logger,
      ),
    );
  }

  /**
   * Puts the NICs' rules and table routes back where someone took them away
   * (a tool that flushed `ip rule`, a NIC re-plugged), and removes the
   * plugin's own that no network needs. Run on every reconciliation; on a VM
   * with one NIC it reads nothing.
   */
  repairNicRouting(): Promise<NicRoutingResult> {
    return this.mutex.runExclusive(async () => {
      if (await this.refreshOtherNicSubnets()) await this.o.persist();
      if (!Object.values(this.state.networks).some(needsNicRouting)) return { added: [], removed: [], problems: [] };
      return syncNicRouting(this.dp, this.state, "others");
    });
  }

  /**
   * Brings each primary-NIC network's list of the VM's other NICs' subnets up
   * to date (a NIC added or removed while the VM was deallocated). True if a
   * record changed; a metadata read that fails changes nothing.
   */
  private async refreshOtherNicSubnets(): Promise<boolean> {
    const primaries = Object.values(this.state.networks).filter((n) => n.nicPrimary !== false);
    if (!primaries.length) return false;
    const nics = await this.o.pools.vmNics().catch(() => undefined);
    if (!nics?.length) return false;
    // One NIC and nothing recorded: nothing to compare (and nothing read on one-NIC VMs).
    if (nics.length === 1 && primaries.every((n) => !n.otherNicSubnets?.length)) return false;
    const links = await this.dp.listLinks();
    let changed = false;
    for (const net of primaries) {
      const others = otherNicSubnets(nics, links, net.nicMac, net.subnet);
      if (others.join() === (net.otherNicSubnets ?? []).join()) continue;
      if (others.length) net.otherNicSubnets = others;
      else delete net.otherNicSubnets;
      this.o.logger.info("the VM's other NICs changed", { network: short(net.id), subnets: others.join(",") || "none" });
      changed = true;
    }
    return changed;
  }

  /** Applies the firewall again (its jumps back on top), with no network change in progress. */
  /**
   * Puts the firewall back as the networks need it where it differs (a jump
   * overtaken by Docker's, a chain changed by hand), with no network change in
   * progress; writes nothing when it is in place. True if it had to.
   */
  reapplyFirewall(): Promise<boolean> {
    return this.mutex.runExclusive(async () => {
      if (Object.keys(this.state.networks).length === 0) return false;
      return this.dp.ensureFirewall(this.firewallInput());
    });
  }

  /** The firewall input for the networks that exist now. */
  firewallInput(): FirewallInput {
    return firewallInputFor(this.state);
  }

  /** Rules depend on the networks and the published ports: one atomic apply per change of either. */
  async applyFirewall(): Promise<void> {
    if (Object.keys(this.state.networks).length === 0) {
      await this.dp.removeFirewall();
      await this.dp.removeAllPortGuards();
    } else await this.dp.applyFirewall(this.firewallInput());
  }

  /**
   * The NIC a new network uses (`-o parent=`, or the one NIC holding the
   * subnet), with its pool bound to it before any container address is handed
   * out. A second network on the subnet must use the NIC the first one uses:
   * they share the pool.
   */
  private async bindNic(
    addressSpace: string,
    pool: PoolFacts,
    parent: string | undefined,
  ): Promise<{ facts: PoolFacts; choice: NicChoice; others: string[] }> {
    const dir = this.o.pools;
    const nics = await dir.vmNics();
    const links = await this.dp.listLinks();
    const choice = chooseNic(pool.subnet, parent, nics, links);
    const others = otherNicSubnets(nics, links, choice.mac, pool.subnet);
    const sharing = Object.values(this.state.networks).find(
      (n) => n.addressSpace === addressSpace && n.subnet === pool.subnet && n.nicMac !== choice.mac,
    );
    if (sharing) {
      const theirs = links.find((l) => l.mac === sharing.nicMac)?.name ?? "no interface on this VM";
      throw new PluginError(
        `network ${short(sharing.id)} already uses the subnet ${pool.subnet} on the NIC ${theirs} (${sharing.nicMac}); a second network on the subnet shares its pool of ipconfigs, so it must use the same NIC (-o parent=${sharing.nicMac}), not ${choice.ifname ?? "the NIC"} (${choice.mac})`,
        "conflict",
      );
    }
    if (choice.mac === pool.nicMac) return { facts: pool, choice, others };
    const nic = nics.find((n) => n.mac === choice.mac) as NicInfo;
    const facts = await dir.bindPoolsToNic(addressSpace, pool.subnet, nic);
    if (!facts) throw new PluginError(`the pool of ${pool.subnet} is gone; create the network again`, "unavailable");
    return { facts, choice, others };
  }

  /**
   * A secondary NIC's table routes through it from its own primary address:
   * the kernel takes them only while the NIC is up and holds that address
   * (Azure's DHCP gives it, when the distribution configures the NIC).
   */
  private async checkSecondaryNic(name: string, net: NetworkRecord): Promise<void> {
    const link = await this.dp.nicInfo(name);
    const has = link?.addresses.some((a) => a.address === net.primaryAddress);
    if (link?.up && (has || !net.primaryAddress)) return;
    throw new PluginError(
      `the NIC ${name} (${net.nicMac}) is ${link?.up ? "up" : "down"}${has ? "" : ` without its primary address ${net.primaryAddress}`}; a network on a secondary NIC routes its containers' packets out of it: bring it up with its address (the distribution's network configuration, by DHCP) and create the network again`,
      "unavailable",
    );
  }

  /** The NICs' rules and table routes the networks need now (before a change, to undo it). */
  private async nicRoutingPlan(): Promise<NicRoutingPlan> {
    return planNicRouting(Object.values(this.state.networks), await this.dp.listLinks());
  }

  /** Adds what the networks' NICs lack; with a plan, removes what only that plan needed. */
  private async syncNicRouting(remove: "none" | NicRoutingPlan): Promise<void> {
    const result = await syncNicRouting(this.dp, this.state, remove);
    if (result.problems.length) this.o.logger.warn("policy routing incomplete", { problems: result.problems.join("; ") });
  }

  private network(id: string): NetworkRecord {
    const net = this.state.networks[id];
    if (!net) {
      throw new PluginError(
        `network ${short(id)} is not known to azure-vnet on this VM; if the plugin's state was lost, remove the network (docker network rm) and create it again`,
        "not-found",
      );
    }
    return net;
  }

  private async removeEndpointKernel(ep: EndpointKernel): Promise<void> {
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${errorMessage(err)}`);
      }
    };
    if (isGuarded(ep)) await attempt("port guard", () => this.dp.removePortGuard(ep.hostVeth));
    // Flows of the old address must not reach its next holder. They go
    // before the veth: what a crash leaves (the veth, or a bridge's route to
    // the address) tells start-up to drop them again.
    await attempt("flows", () => this.dp.forgetFlows(ep.address));
    await attempt("veth", () => this.dp.removeEndpointLink(ep.hostVeth));
    // On a bridge the route goes last; a routed port's goes with its veth.
    const bridge = ep.bridge;
    const address6 = ep.address6;
    if (bridge && address6) await attempt("IPv6 route", () => this.dp.removeContainerRoute6(address6, bridge));
    if (bridge) await attempt("route", () => this.dp.removeContainerRoute(ep.address, bridge));
    if (problems.length)
      this.o.logger.warn("endpoint cleanup incomplete", { endpointId: short(ep.endpointId), problems: problems.join("; ") });
  }
}

/** The record of an endpoint whose kernel pieces are these. */
function recordOf(k: EndpointKernel, extra: { joined: boolean; createdAt: string }): EndpointRecord {
  return {
    id: k.endpointId,
    networkId: k.networkId,
    address: k.address,
    hostVeth: k.hostVeth,
    peerVeth: k.peerVeth,
    ...(k.address6 ? { address6: k.address6 } : {}),
    ...(k.mac ? { mac: k.mac } : {}),
    ...extra,
  };
}

/** Whether two lists publish the same ports, in the same order. */
function samePorts(a: PublishedPort[], b: PublishedPort[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The published ports of the endpoints on recorded networks, oldest endpoint
 * first. A port two records claim (only a hand-edited checkpoint can hold
 * that) goes to the first, so the rest of the firewall is still applied.
 */
function publishedPorts(state: NetworkState): NonNullable<FirewallInput["published"]> {
  const out: NonNullable<FirewallInput["published"]> = [];
  const endpoints = Object.values(state.endpoints).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  for (const e of endpoints) {
    if (!Object.hasOwn(state.networks, e.networkId)) continue;
    for (const p of e.published ?? []) {
      if (out.some((q) => samePublishedPort(p, q))) continue;
      out.push({ networkId: short(e.networkId), endpointId: short(e.id), address: e.address, ...p });
    }
  }
  return out;
}

/** What the firewall must hold for these networks and ports; also what `doctor` compares the live rules with. */
export function firewallInputFor(state: NetworkState): FirewallInput {
  return {
    published: publishedPorts(state),
    networks: Object.values(state.networks).map((n) => ({
      id: short(n.id),
      ...firewallPortsOf(n),
      subnet: n.subnet,
      primaryAddress: n.primaryAddress,
      snat: n.options.snat,
      nonMasqueradeCidrs: (n.options.nonMasqueradeCidrs ?? DEFAULT_NON_MASQUERADE).filter((c) => !c.includes(":")),
      allowImds: n.options.allowImds,
      ...(n.subnet6 && n.primaryAddress6
        ? {
            subnet6: n.subnet6,
            primaryAddress6: n.primaryAddress6,
            nonMasqueradeCidrs6: (n.options.nonMasqueradeCidrs ?? []).filter((c) => c.includes(":")),
          }
        : {}),
    })),
  };
}

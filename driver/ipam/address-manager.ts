/**
 * Owns the IPAM driver Docker talks to: every pool and address change runs
 * here, under one lock, together with its persist.
 */
import { errorMessage, PluginError, throwIfAbandoned } from "../errors";
import type {
  AddressSpaces,
  CallContext,
  IpamCapabilities,
  IpamDriver,
  ReleaseAddressRequest,
  RequestAddressRequest,
  RequestAddressResponse,
  RequestPoolRequest,
  RequestPoolResponse,
} from "../protocol/types";
import {
  canonicalAddress,
  canonicalIpCidr,
  familyName,
  type IpCidr,
  ipFamily,
  ipInCidr,
  normaliseMac,
  parseIpCidr,
  subnetGateway,
} from "../lib/address";
import { AsyncMutex } from "../lib/serial";
import { cleanText, shortId } from "../lib/text";
import { Allocator, poolById } from "./allocator";
import { type Clock, systemClock } from "./clock";
import type { IpamState } from "./ipam-state";
import type { Persist } from "../checkpoint";
import { allIpConfigAddresses, allSubnets, type MetadataCache, type MetadataSnapshot, type NicInfo, primaryAddress } from "./metadata";
import { checkAddressSpace, choosePool } from "./pool-choice";
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, parsePoolId } from "./pool-id";
import { validatePoolOptions } from "./pool-options";
import { buildReport, type IpamReport } from "./pool-report";
import type { AddressSupply, SupplyHost } from "./supply";

export interface AddressManagerOptions {
  metadata: MetadataCache;
  /** Changed in place; the caller persists it inside its checkpoint. */
  state: IpamState;
  /** Saves `state`; called after every change and before the reply to Docker. */
  persist: Persist;
  /** Addresses whose previous container's kernel clean-up is still running: handed out last. */
  cleaningUp?: (address: string) => boolean;
  /** Hand out only this NIC's ipconfigs (any MAC spelling); default: every NIC. */
  nicMac?: string;
  /** Metadata older than this is refreshed before allocating. */
  refreshMs?: number;
  clock?: Clock;
  /**
   * How long after RequestPool an address request without options counts as
   * an --aux-address (Docker sends those during network create, shaped like
   * a container's --ip). `networkCreated` ends the window for certain.
   */
  auxWindowMs?: number;
  /**
   * Asked before a container address is handed out: a reason to refuse, or
   * undefined. Used while the plugin cannot yet prove which addresses are free.
   */
  admission?: () => string | undefined;
  /**
   * Whether an endpoint recorded as an address's holder still exists (the
   * network layer's records). Default: every recorded holder is live.
   */
  liveEndpoint?: (endpointId: string) => boolean;
  /** Told about requests that were refused as no-ops (late or duplicate releases). */
  onWarning?: (message: string, fields: Record<string, string>) => void;
  /** Adds ipconfigs on demand (--ipconfig-management arm); see setSupply. */
  supply?: AddressSupply;
  /**
   * How long a request finding its pool empty waits for the supply to add ipconfigs: within the
   * protocol layer's 25 s answer to Docker (DEFAULT_HANDLER_TIMEOUT_MS).
   */
  supplyWaitMs?: number;
}

/** The parts of a network the IPAM needs to find the pool of an address. */
export interface PoolRef {
  addressSpace: string;
  subnet: string;
}

/** What the network layer needs to know about a pool. */
export interface PoolInfo {
  subnet: string;
  gateway: string;
  prefixLength: number;
  primaryAddress: string;
  nicMac: string;
  subPool?: string;
}

const GATEWAY_REQUEST = "com.docker.network.gateway";
/** Docker 29+ names the container in endpoint requests; aux requests never carry it. */
const ENDPOINT_NAME = "com.docker.network.endpoint.name";

/**
 * The IPAM driver: one pool per NIC subnet, containers get the NIC's
 * secondary ipconfigs. IPv4 and IPv6 pools (RequestPool with V6) go through
 * the same code: an IPv6 pool is the /64 of a NIC's IPv6 ipconfigs. Every change runs under one lock together with its
 * persist, so no address is handed out twice or without being saved.
 */
export class AddressManager implements IpamDriver, SupplyHost {
  private readonly mutex = new AsyncMutex();
  private readonly metadata: MetadataCache;
  private readonly state: IpamState;
  private readonly persist: Persist;
  private readonly cleaningUp: (address: string) => boolean;
  private readonly nicMac: string | undefined;
  private readonly refreshMs: number;
  private readonly clock: Clock;
  private readonly auxWindowMs: number;
  private readonly admission: (() => string | undefined) | undefined;
  private readonly liveEndpoint: (endpointId: string) => boolean;
  private readonly onWarning: (message: string, fields: Record<string, string>) => void;
  /** Newest metadata seen; concurrent callers may finish fetching out of order. */
  private latest: MetadataSnapshot | undefined;
  /** PoolID -> clock time until which option-less address requests are aux addresses. */
  private readonly auxWindows = new Map<string, number>();
  private supply: AddressSupply | undefined;
  private readonly supplyWaitMs: number;
  /** Ipconfigs being returned to Azure: handed out to nobody while the metadata still lists them. */
  private readonly withheld = new Set<string>();

  constructor(options: AddressManagerOptions) {
    this.metadata = options.metadata;
    this.state = options.state;
    this.persist = options.persist;
    this.cleaningUp = options.cleaningUp ?? (() => false);
    this.refreshMs = options.refreshMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    this.auxWindowMs = options.auxWindowMs ?? 5_000;
    this.admission = options.admission;
    this.liveEndpoint = options.liveEndpoint ?? (() => true);
    this.onWarning = options.onWarning ?? (() => undefined);
    this.supply = options.supply;
    this.supplyWaitMs = options.supplyWaitMs ?? 20_000;
    if (options.nicMac !== undefined) {
      this.nicMac = normaliseMac(options.nicMac.trim());
      if (!this.nicMac) throw new Error(`"${options.nicMac}" is not a MAC address`);
    }
  }

  getCapabilities(): IpamCapabilities {
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  getDefaultAddressSpaces(): AddressSpaces {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  async requestPool(req: RequestPoolRequest, ctx: CallContext = {}): Promise<RequestPoolResponse> {
    const family = req.V6 ? 6 : 4;
    const addressSpace = checkAddressSpace(req.AddressSpace);
    const options = validatePoolOptions(req.Options);
    await this.refresh();
    return this.transact(
      (allocator) => {
        const choice = choosePool(
          { addressSpace, pool: (req.Pool ?? "").trim(), subPool: (req.SubPool ?? "").trim(), family },
          this.usableNics(),
          this.state,
        );
        const poolId = allocator.grantPool(choice.key, choice.nic, options, choice.auto);
        this.auxWindows.set(poolId, this.clock.now() + this.auxWindowMs);
        return { PoolID: poolId, Pool: choice.key.subnet };
      },
      { signal: ctx.signal },
    );
  }

  async releasePool(req: { PoolID: string }): Promise<void> {
    await this.transact(
      (allocator) => {
        allocator.releasePool(req.PoolID);
        if (!poolById(this.state, req.PoolID)) this.auxWindows.delete(req.PoolID);
      },
      { reconcile: false },
    );
  }

  /** The supply is made after the manager, which it needs as its host. */
  setSupply(supply: AddressSupply | undefined): void {
    this.supply = supply;
  }

  /**
   * With a supply, a request finding its pool empty waits (up to supplyWaitMs, 20 s) for new
   * ipconfigs and tries again, instead of failing.
   */
  async requestAddress(req: RequestAddressRequest, ctx: CallContext = {}): Promise<RequestAddressResponse> {
    const deadline = this.clock.now() + this.supplyWaitMs;
    for (;;) {
      try {
        const reply = await this.requestAddressOnce(req, ctx);
        const address = stripPrefixLength(reply.Address);
        this.supplyFor(address)?.touched(address);
        return reply;
      } catch (err) {
        const pool = poolById(this.state, req.PoolID);
        const supply = pool && this.supplyFor(pool.subnet);
        if (!supply || !pool || !(err instanceof PluginError) || err.code !== "exhausted") throw err;
        if (!(await supply.grow(pool, deadline, ctx.signal))) throw err;
        await this.refresh({ maxAgeMs: 0, waitForInterval: true });
      }
    }
  }

  private async requestAddressOnce(req: RequestAddressRequest, ctx: CallContext): Promise<RequestAddressResponse> {
    const options = req.Options ?? {};
    const isGateway = options.RequestAddressType === GATEWAY_REQUEST;
    const requested = addressKey(stripPrefixLength(req.Address ?? ""));
    const name = options[ENDPOINT_NAME];
    // A gateway answer is arithmetic on the subnet; everything else needs the NIC's ipconfigs.
    if (!isGateway || !poolById(this.state, req.PoolID)) await this.refresh();
    // A container's --ip that the cached answer does not list may be an ipconfig added since:
    // ask once more before refusing (the cache keeps that to one fetch a second, shared).
    if (requested && !isGateway && (name || !this.inAuxWindow(req.PoolID)) && !allIpConfigAddresses(this.nics()).has(requested)) {
      await this.refresh({ maxAgeMs: 0, waitForInterval: true });
      // Still not an ipconfig: one the supply can make (arm) is made, then read back.
      const pool = poolById(this.state, req.PoolID);
      const inRange = pool && ipInCidr(pool.subPool ?? pool.subnet, requested) && !this.withheld.has(requested);
      const supply = pool && this.supplyFor(pool.subnet);
      if (supply && inRange && !allIpConfigAddresses(this.nics()).has(requested) && !this.state.addresses[requested]) {
        if (await supply.create(requested, pool, ctx.signal)) await this.refresh({ maxAgeMs: 0, waitForInterval: true });
      }
    }
    let granted: { address: string; lease: number } | undefined;
    return this.transact(
      (allocator) => {
        const pool = allocator.poolOrAdopt(req.PoolID, this.usableNics());
        // Any address request means Docker kept the pool it was given.
        delete pool.unconfirmedAutoPick;
        const { prefix, family } = parseIpCidr(pool.subnet) as IpCidr;
        if (isGateway) return { Address: `${allocator.gateway(pool, requested)}/${prefix}` };
        if (requested && ipFamily(requested) !== family) {
          throw new PluginError(`"${req.Address}" is not an ${familyName(family)} address`);
        }
        if (requested && !name && this.inAuxWindow(req.PoolID)) {
          allocator.reserveAux(req.PoolID, pool, requested);
          return { Address: `${requested}/${prefix}` };
        }
        this.auxWindows.delete(req.PoolID);
        const refusal = this.admission?.();
        if (refusal) throw new PluginError(refusal, "unavailable");
        const address = requested
          ? allocator.claim(req.PoolID, pool, requested, name)
          : allocator.allocateLowest(req.PoolID, pool, name, this.cleaningUp);
        granted = { address, lease: this.state.addresses[address].lease ?? 0 };
        return { Address: `${address}/${containerPrefix(family, prefix)}` };
      },
      {
        signal: ctx.signal,
        // Only an endpoint's grant is saved outside the lock (and taken back by its lease if that fails).
        undo: () => undoGrant(granted),
        // A full pool is refused before the state is copied for a rollback: under a crowd of
        // containers waiting for an address that copy was most of each refusal's cost.
        precheck: (allocator) => {
          const pool = poolById(this.state, req.PoolID);
          if (!pool || isGateway || requested || this.admission?.()) return;
          // The flags as the metadata has them, so the refusal counts what the full path would;
          // they are facts of the metadata, kept whatever the request's outcome.
          if (this.latest) allocator.reconcile();
          allocator.refuseIfFull(pool);
        },
      },
    );
  }

  async releaseAddress(req: ReleaseAddressRequest): Promise<void> {
    const address = addressKey(stripPrefixLength(req.Address ?? ""));
    // A lost release is found again by reconciliation: it need not hold up the reply.
    const outcome = await this.transact((allocator) => allocator.releaseAddress(req.PoolID, address), { reconcile: false, soon: true });
    this.supplyFor(address)?.touched(address);
    if (typeof outcome === "object") {
      this.onWarning("release refused: a live endpoint holds the address (a late or repeated ReleaseAddress)", {
        address: cleanText(address, 64),
        endpointId: shortId(outcome.keptFor),
      });
    }
  }

  /**
   * Record an address Docker already gave a running container (state rebuilt
   * from Docker) and bind it to that container's endpoint: "held" if it was
   * recorded already, "adopted" if recorded now. An address another live
   * endpoint holds is refused.
   */
  async adoptAddress(poolId: string, given: string, endpointId: string, name?: string): Promise<"held" | "adopted"> {
    const address = addressKey(given);
    await this.refresh();
    return this.transact((allocator) => {
      const pool = allocator.poolOrAdopt(poolId, this.usableNics());
      const held = this.state.addresses[address];
      if (held && held.kind === "endpoint" && held.poolId === poolId) {
        allocator.bind(address, endpointId, pool);
        return "held";
      }
      allocator.claim(poolId, pool, address, name);
      allocator.bind(address, endpointId, pool);
      return "adopted";
    });
  }

  /**
   * CreateEndpoint: `endpointId` holds `address` from now on. Changes memory
   * only; the network layer saves it together with its endpoint record (one
   * checkpoint) and calls unbindAddress if that fails.
   */
  bindAddress(pool: PoolRef, address: string, endpointId: string): Promise<void> {
    return this.mutex.runExclusive(async () => {
      new Allocator(this.state, this.nics(), this.liveEndpoint).bind(address, endpointId, pool);
    });
  }

  /**
   * DeleteEndpoint: the endpoint lets go of its address, which stays granted
   * until Docker's ReleaseAddress (or, with `release`, is freed now, for an
   * endpoint the plugin removes itself). Memory only, like bindAddress.
   */
  unbindAddress(address: string, endpointId: string, release = false): Promise<boolean> {
    return this.mutex.runExclusive(async () =>
      new Allocator(this.state, this.nics(), this.liveEndpoint).unbind(address, endpointId, release),
    );
  }

  /** Grants no live endpoint holds, each with its lease, for reconciliation against Docker. */
  pendingGrants(): { address: string; poolId: string; lease: number }[] {
    return new Allocator(this.state, this.nics(), this.liveEndpoint).pendingGrants();
  }

  /** Frees one grant (address and lease) that reconciliation found abandoned; false if it changed since. */
  releaseGrant(address: string, lease: number): Promise<boolean> {
    return this.transact((allocator) => allocator.releaseLease(address, lease), { reconcile: false, soon: true });
  }

  /** Every pool with its count of networks, for reconciliation against Docker's networks. */
  poolCounts(): { poolId: string; addressSpace: string; subnet: string; subPool?: string; refCount: number }[] {
    return Object.entries(this.state.pools).map(([poolId, p]) => ({
      poolId,
      addressSpace: p.addressSpace,
      subnet: p.subnet,
      ...(p.subPool && { subPool: p.subPool }),
      refCount: p.refCount,
    }));
  }

  /** Sets a pool's count of networks to Docker's if it is still `seen` (at zero the pool goes); false if not. */
  async settlePoolCount(poolId: string, seen: number, users: number): Promise<boolean> {
    const settled = await this.transact((allocator) => allocator.settleCount(poolId, seen, users), { reconcile: false });
    if (!poolById(this.state, poolId)) this.auxWindows.delete(poolId);
    return settled;
  }

  /** Make sure a pool Docker still uses exists (state rebuilt from Docker). */
  async adoptPool(poolId: string): Promise<void> {
    await this.refresh();
    await this.transact((allocator) => void allocator.poolOrAdopt(poolId, this.usableNics()));
  }

  /**
   * Docker sends CreateNetwork after the gateway and aux requests, so once
   * the network layer has it, an option-less address request is a container.
   */
  networkCreated(ipamData: { AddressSpace: string; Pool: string }): void {
    for (const poolId of this.auxWindows.keys()) {
      const key = parsePoolId(poolId);
      if (key && key.addressSpace === ipamData.AddressSpace && key.subnet === ipamData.Pool) {
        this.auxWindows.delete(poolId);
      }
    }
  }

  poolInfo(poolId: string): PoolInfo | undefined {
    const pool = poolById(this.state, poolId);
    if (!pool) return undefined;
    const cidr = parseIpCidr(pool.subnet) as IpCidr;
    return {
      subnet: pool.subnet,
      gateway: subnetGateway(cidr),
      prefixLength: cidr.prefix,
      primaryAddress: pool.primaryAddress,
      nicMac: pool.nicMac,
      ...(pool.subPool && { subPool: pool.subPool }),
    };
  }

  /** CreateNetwork carries the address space and subnet, not the PoolID. */
  poolInfoBySubnet(addressSpace: string, subnet: string): PoolInfo | undefined {
    const wanted = canonicalIpCidr(subnet) ?? subnet;
    const match = Object.entries(this.state.pools).find(([, pool]) => pool.addressSpace === addressSpace && pool.subnet === wanted);
    return match && this.poolInfo(match[0]);
  }

  /** The VM's NICs this plugin may use, as the newest metadata lists them. */
  async vmNics(): Promise<NicInfo[]> {
    await this.refresh();
    return this.usableNics();
  }

  /**
   * Binds the pools of a subnet to one NIC holding it (a network's `-o
   * parent=`, at CreateNetwork: RequestPool sees no driver options). Refused
   * once a container holds an address of a pool bound elsewhere.
   */
  bindPoolsToNic(addressSpace: string, subnet: string, nic: NicInfo): Promise<PoolInfo | undefined> {
    const primary = primaryAddress(nic, subnet);
    return this.transact(() => {
      const pools = Object.entries(this.state.pools).filter(([, p]) => p.addressSpace === addressSpace && p.subnet === subnet);
      for (const [poolId, pool] of pools) {
        if (pool.nicMac === nic.mac) continue;
        const held = Object.values(this.state.addresses).find((a) => a.poolId === poolId && a.kind === "endpoint");
        if (held)
          throw new PluginError(
            `the pool of ${subnet} already gives containers ipconfigs of the NIC ${pool.nicMac}; it cannot move to the NIC ${nic.mac}`,
            "conflict",
          );
        pool.nicMac = nic.mac;
        pool.primaryAddress = primary ?? "";
      }
      return pools.length ? this.poolInfo(pools[0][0]) : undefined;
    });
  }

  /** Every IPv4 subnet of every NIC of this VM (the ranges containers reach without NAT). */
  async vnetPrefixes(): Promise<string[]> {
    await this.refresh();
    return allSubnets(this.nics());
  }

  /** Pools with their free, used and flagged addresses, for a status command. */
  async report(): Promise<IpamReport> {
    let error: string | undefined;
    try {
      await this.refresh();
    } catch (err) {
      error = errorMessage(err);
    }
    return this.transact(() => buildReport(this.state, this.latest, error));
  }

  held(address: string): boolean {
    return Object.hasOwn(this.state.addresses, address);
  }

  withhold(addresses: readonly string[]): Promise<string[]> {
    return this.mutex.runExclusive(async () => {
      const free = addresses.filter((address) => !this.held(address));
      for (const address of free) this.withheld.add(address);
      return free;
    });
  }

  unwithhold(addresses: readonly string[]): void {
    for (const address of addresses) this.withheld.delete(address);
  }

  refreshMetadata(): Promise<void> {
    return this.refresh({ maxAgeMs: 0, waitForInterval: true });
  }

  private async refresh(options: { maxAgeMs: number; waitForInterval?: boolean } = { maxAgeMs: this.refreshMs }): Promise<void> {
    const snapshot = await this.metadata.get(options);
    if (!this.latest || snapshot.fetchedAt >= this.latest.fetchedAt) this.latest = snapshot;
    if (this.withheld.size > 0) {
      const listed = allIpConfigAddresses(this.latest.nics);
      for (const address of this.withheld) if (!listed.has(address)) this.withheld.delete(address);
    }
  }

  /** The NICs as the newest metadata has them, without the ipconfigs being returned. */
  private nics(): NicInfo[] {
    const nics = this.latest?.nics ?? [];
    if (this.withheld.size === 0) return nics;
    return nics.map((nic) => ({
      ...nic,
      subnets: nic.subnets.map((s) => ({ ...s, ipConfigs: s.ipConfigs.filter((c) => !this.withheld.has(c.address)) })),
    }));
  }

  private usableNics(): NicInfo[] {
    const all = this.nics();
    if (!this.nicMac) return all;
    const chosen = all.filter((nic) => nic.mac === this.nicMac);
    if (chosen.length === 0) {
      throw new PluginError(
        `NIC ${this.nicMac}, which this plugin is configured to use, is not among this VM's NICs ` +
          `(${all.map((n) => n.mac).join(", ") || "none reported"})`,
        "unavailable",
      );
    }
    return chosen;
  }

  /**
   * Runs one change under the lock, persists it if anything changed, and puts
   * the state back as it was if the change or the persist fails. Flags are
   * first brought up to date with the newest metadata, except for releases,
   * which do not read metadata. With a `signal`, a change whose caller gave up
   * is never kept: it is not made once the signal has fired, and undone
   * (saved again without it) if the signal fired while it was being saved.
   *
   * With `undo` (an inverse that stays right whatever other changes follow),
   * the save is started under the lock and awaited after it, so concurrent
   * changes share one write and fsync; a failed save runs the inverse. With
   * `soon`, the reply does not wait for the disk at all.
   */
  private async transact<T>(
    change: (allocator: Allocator) => T,
    opts: {
      reconcile?: boolean;
      signal?: AbortSignal;
      soon?: boolean;
      undo?: () => ((allocator: Allocator) => unknown) | undefined;
      /** Runs first and may refuse; it may only bring flags in line with the metadata. */
      precheck?: (allocator: Allocator) => void;
    } = {},
  ): Promise<T> {
    const { result, saving, inverse } = await this.mutex.runExclusive(async () => {
      throwIfAbandoned(opts.signal);
      opts.precheck?.(this.allocator());
      const before = JSON.stringify(this.state);
      let result: T;
      try {
        const allocator = this.allocator();
        if (opts.reconcile !== false && this.latest) allocator.reconcile();
        result = change(allocator);
      } catch (err) {
        this.restore(before);
        throw err;
      }
      type Outcome = { result: T; saving?: Promise<void>; inverse?: (allocator: Allocator) => unknown };
      if (JSON.stringify(this.state) === before) return { result } as Outcome;
      // The store reports a deferred save that fails; nobody waits for it.
      if (opts.soon) return (void this.persist("soon").catch(() => undefined), { result } as Outcome);
      const inverse = opts.undo?.();
      if (inverse) return { result, saving: this.persist(), inverse } as Outcome;
      try {
        await this.persist();
      } catch (err) {
        this.restore(before);
        throw saveFailed(err);
      }
      if (opts.signal?.aborted) {
        this.restore(before);
        await this.persist("soon");
        throwIfAbandoned(opts.signal);
      }
      return { result } as Outcome;
    });
    if (!saving) return result;
    try {
      await saving;
    } catch (err) {
      await this.takeBack(inverse);
      throw saveFailed(err);
    }
    if (opts.signal?.aborted) {
      await this.takeBack(inverse);
      throwIfAbandoned(opts.signal);
    }
    return result;
  }

  private allocator(): Allocator {
    return new Allocator(this.state, this.nics(), this.liveEndpoint);
  }

  private takeBack(inverse: ((allocator: Allocator) => unknown) | undefined): Promise<void> {
    if (!inverse) return Promise.resolve();
    return this.mutex.runExclusive(async () => {
      inverse(this.allocator());
      await this.persist("soon").catch(() => undefined);
    });
  }

  /** In place, because the caller holds a reference to the same object. */
  private restore(json: string): void {
    const saved = JSON.parse(json) as IpamState;
    for (const key of Object.keys(this.state)) delete (this.state as unknown as Record<string, unknown>)[key];
    Object.assign(this.state, saved);
  }

  /**
   * The supply for a pool or address of this family: ARM mode adds IPv4
   * ipconfigs only, so an IPv6 pool hands out the NIC's IPv6 ipconfigs as
   * they are, and a full one is refused at once.
   */
  private supplyFor(subnetOrAddress: string): AddressSupply | undefined {
    return ipFamily(subnetOrAddress) === 4 ? this.supply : undefined;
  }

  private inAuxWindow(poolId: string): boolean {
    const until = this.auxWindows.get(poolId);
    return until !== undefined && this.clock.now() <= until;
  }
}

/** Frees exactly the grant a failed or abandoned RequestAddress made. */
function undoGrant(granted: { address: string; lease: number } | undefined): ((allocator: Allocator) => unknown) | undefined {
  return granted && ((allocator) => allocator.releaseLease(granted.address, granted.lease));
}

function saveFailed(err: unknown): PluginError {
  return new PluginError(`could not save the plugin state, so nothing was changed: ${errorMessage(err)}`, "unavailable");
}

/** Docker sends plain addresses; tolerate a "/len" suffix from other clients. */
/**
 * The prefix length a container's address is handed out with: the subnet's
 * for IPv4, /128 for IPv6. The VM cannot answer neighbour solicitations for a
 * whole /64 (Linux proxies NDP only address by address), so a container must
 * not take the /64 as on-link: it reaches everything, its neighbours in the
 * subnet too, through its gateway, a link-local address of the VM's.
 */
function containerPrefix(family: number, prefix: number): number {
  return family === 6 ? 128 : prefix;
}

function stripPrefixLength(address: string): string {
  return address.trim().replace(/\/\d{1,3}$/, "");
}

/** The state's key for an address: its canonical spelling ("FD00::0010" is "fd00::10"); text that is no address stays as given. */
function addressKey(address: string): string {
  return canonicalAddress(address) ?? address;
}

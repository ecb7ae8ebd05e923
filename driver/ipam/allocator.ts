/**
 * Owns the rules that change IpamState, given the NIC list of the moment. All
 * synchronous: the AddressManager runs them under its lock and persists after.
 */
import { PluginError } from "../errors";
import { canonicalAddress, type IpCidr, ipInCidr, parseIpCidr, subnetGateway } from "../lib/address";
import { cleanText, shortId } from "../lib/text";
import type { AddressRecord, IpamState, PoolRecord } from "./ipam-state";
import * as text from "./messages";
import { allIpConfigAddresses, findNic, findSubnet, type NicInfo, primaryAddress, secondaryAddresses } from "./metadata";
import { formatPoolId, parsePoolId, type PoolKey } from "./pool-id";

/**
 * Applies Docker's IPAM calls to the state, against the NICs' ipconfigs. The
 * same rules serve IPv4 and IPv6 pools: an address is its canonical text
 * (lib/address), which is its key in the state, so the families never mix.
 */
export class Allocator {
  constructor(
    private readonly state: IpamState,
    private readonly nics: readonly NicInfo[],
    /** Whether an endpoint the IPAM recorded as a holder still exists. */
    private readonly liveEndpoint: (endpointId: string) => boolean = () => true,
  ) {}

  /** The endpoint holding `address` now, if that endpoint still exists. */
  liveHolder(address: string): string | undefined {
    const record = this.record(address);
    const id = record?.kind === "endpoint" ? record.endpointId : undefined;
    return id !== undefined && this.liveEndpoint(id) ? id : undefined;
  }

  /** Flags in-use addresses whose ipconfig left the NIC, and clears the flag when it returns. */
  reconcile(): void {
    const secondaries = new Map<string, Set<string>>();
    for (const pool of Object.values(this.state.pools)) {
      const nic = findNic(this.nics, pool.nicMac);
      const primary = nic && primaryAddress(nic, pool.subnet);
      if (primary) pool.primaryAddress = primary;
      const key = `${pool.nicMac} ${pool.subnet}`;
      if (!secondaries.has(key)) secondaries.set(key, new Set(secondaryAddresses(this.nics, pool.nicMac, pool.subnet)));
    }
    for (const [address, record] of Object.entries(this.state.addresses)) {
      const pool = this.state.pools[record.poolId];
      if (!pool) {
        // Only a damaged checkpoint leaves these; nothing would ever release them.
        delete this.state.addresses[address];
        continue;
      }
      if (secondaries.get(`${pool.nicMac} ${pool.subnet}`)?.has(address)) delete record.flagged;
      else record.flagged = true;
    }
  }

  /** Adds a reference to the pool (creating it) and returns its PoolID. */
  grantPool(key: PoolKey, nic: NicInfo, options: Record<string, string>, auto: boolean): string {
    const poolId = formatPoolId(key);
    const pool = this.state.pools[poolId];
    if (pool) pool.refCount += 1;
    else this.state.pools[poolId] = newPoolRecord(key, nic, options);
    if (auto) this.state.pools[poolId].unconfirmedAutoPick = true;
    return poolId;
  }

  /** Drops one reference; at zero the pool and its addresses go. */
  releasePool(poolId: string): void {
    const pool = poolById(this.state, poolId);
    if (!pool) return;
    pool.refCount -= 1;
    // Docker releases the pools it rejected in its overlap loop this way.
    delete pool.unconfirmedAutoPick;
    if (pool.refCount <= 0) this.dropPool(poolId);
  }

  /**
   * Sets the pool's count of networks to `users` if it is still `seen` (the
   * networks Docker shows using it, for a count a lost release left wrong).
   * At zero the pool goes as with its last ReleasePool, unless a live
   * endpoint still holds one of its addresses.
   */
  settleCount(poolId: string, seen: number, users: number): boolean {
    const pool = poolById(this.state, poolId);
    if (!pool || pool.refCount !== seen || users < 0) return false;
    if (users > 0) {
      pool.refCount = users;
      return true;
    }
    const held = Object.entries(this.state.addresses).some(([address, r]) => r.poolId === poolId && this.liveHolder(address) !== undefined);
    if (held) return false;
    this.dropPool(poolId);
    return true;
  }

  private dropPool(poolId: string): void {
    delete this.state.pools[poolId];
    for (const [address, record] of Object.entries(this.state.addresses)) {
      if (record.poolId === poolId) delete this.state.addresses[address];
    }
  }

  /**
   * A PoolID spells out the pool, so one missing from the state (a lost or
   * damaged checkpoint) is rebuilt rather than failing every container.
   */
  poolOrAdopt(poolId: string, usable: readonly NicInfo[]): PoolRecord {
    const existing = poolById(this.state, poolId);
    if (existing) return existing;
    const key = parsePoolId(poolId);
    const nic = key && usable.find((n) => findSubnet(n, key.subnet));
    if (!key || !nic) {
      throw new PluginError(
        `unknown pool "${cleanText(poolId)}": this plugin has no record of it; remove the network and create it again`,
        "not-found",
      );
    }
    this.state.pools[poolId] = newPoolRecord(key, nic, {});
    return this.state.pools[poolId];
  }

  /** Azure's gateway, whatever was asked; a different --gateway cannot work in Azure. */
  gateway(pool: PoolRecord, requested: string): string {
    const gateway = subnetGateway(parseIpCidr(pool.subnet) as IpCidr);
    if (requested && canonicalAddress(requested) !== gateway) {
      throw new PluginError(text.gatewayMismatch(pool.subnet, gateway));
    }
    return gateway;
  }

  /** Aux addresses are accepted; only free ipconfigs inside the range are actually held back. */
  reserveAux(poolId: string, pool: PoolRecord, address: string): void {
    if (!ipInCidr(pool.subnet, address)) {
      throw new PluginError(`--aux-address ${address} is outside the subnet ${pool.subnet}`);
    }
    if (!pool.auxAddresses.includes(address)) pool.auxAddresses.push(address);
    if (!this.rangeSecondaries(pool).includes(address)) return;
    const holder = this.state.addresses[address];
    if (!holder) this.state.addresses[address] = { poolId, kind: "aux" };
    else if (holder.kind === "endpoint") {
      throw new PluginError(`${address} is already in use by a container; choose another --aux-address`, "conflict");
    }
  }

  /** A container's --ip: must be a free secondary ipconfig of the pool's NIC, inside its range. */
  claim(poolId: string, pool: PoolRecord, address: string, name: string | undefined): string {
    if (!ipInCidr(pool.subnet, address)) {
      throw new PluginError(`${address} is not inside ${pool.subnet}, the subnet of this network`);
    }
    if (pool.subPool && !ipInCidr(pool.subPool, address)) {
      throw new PluginError(`${address} is outside this network's --ip-range ${pool.subPool}`);
    }
    const isPrimary = this.nics.some((nic) => nic.subnets.some((s) => s.ipConfigs.some((c) => c.isPrimary && c.address === address)));
    if (isPrimary) throw new PluginError(`${address} is the VM's primary address and cannot be given to a container`);
    const secondaries = secondaryAddresses(this.nics, pool.nicMac, pool.subnet);
    if (!secondaries.includes(address)) {
      throw new PluginError(text.notAnIpConfig(address, this.nicRef(pool.nicMac), pool.subnet, secondaries));
    }
    const holder = this.state.addresses[address];
    if (holder?.kind === "aux") throw new PluginError(`${address} is reserved by --aux-address`, "conflict");
    if (holder) throw new PluginError(`${address} is already in use by another container`, "conflict");
    this.grant(address, poolId, name);
    return address;
  }

  /**
   * The lowest free secondary ipconfig, so the choice is predictable; one
   * `avoid` names (its previous container's clean-up still running) only
   * when no other is free.
   */
  allocateLowest(poolId: string, pool: PoolRecord, name: string | undefined, avoid: (address: string) => boolean = () => false): string {
    const candidates = this.rangeSecondaries(pool);
    const isFree = (address: string) => !this.state.addresses[address];
    const free = candidates.find((address) => isFree(address) && !avoid(address)) ?? candidates.find(isFree);
    if (!free) this.throwExhausted(pool, candidates);
    this.grant(free, poolId, name);
    return free;
  }

  /** Throws what allocateLowest would when the pool has no free address; changes nothing. */
  refuseIfFull(pool: PoolRecord): void {
    const candidates = this.rangeSecondaries(pool);
    if (!candidates.some((address) => !this.state.addresses[address])) this.throwExhausted(pool, candidates);
  }

  /** The pool's NIC for an az command: its resource group when the metadata names it. */
  private nicRef(mac: string): text.NicRef {
    const resourceGroup = findNic(this.nics, mac)?.resourceGroup;
    return { mac, ...(resourceGroup && { resourceGroup }) };
  }

  private throwExhausted(pool: PoolRecord, candidates: string[]): never {
    const range = pool.subPool ?? pool.subnet;
    const held = Object.entries(this.state.addresses).filter(([address]) => ipInCidr(range, address));
    throw new PluginError(
      text.exhausted({
        nic: this.nicRef(pool.nicMac),
        subnet: pool.subnet,
        subPool: pool.subPool,
        primaryAddress: pool.primaryAddress,
        secondaries: candidates,
        inUse: candidates.length,
        flagged: held.filter(([, record]) => record.flagged).length,
        taken: new Set([...allIpConfigAddresses(this.nics), ...Object.keys(this.state.addresses)]),
      }),
      "exhausted",
    );
  }

  /**
   * Docker's ReleaseAddress. Idempotent: anything unknown, or held for another
   * pool, is left alone. An address whose holder is a live endpoint is kept:
   * Docker deletes the endpoint before it releases the address, so such a
   * release is late or duplicated and was meant for an earlier holder.
   */
  releaseAddress(poolId: string, address: string): "released" | "absent" | { keptFor: string } {
    const pool = poolById(this.state, poolId);
    if (!pool) return "absent";
    const holder = this.liveHolder(address);
    if (holder !== undefined && this.record(address)?.poolId === poolId) return { keptFor: holder };
    let released = false;
    if (this.record(address)?.poolId === poolId) {
      delete this.state.addresses[address];
      released = true;
    }
    if (pool.auxAddresses.includes(address)) pool.auxAddresses = pool.auxAddresses.filter((a) => a !== address);
    return released ? "released" : "absent";
  }

  /**
   * CreateEndpoint: the endpoint now holds the address. A grant that a late
   * release freed (or a lost checkpoint forgot) is taken again if it is still
   * free; an address another live endpoint holds, or an --aux-address, is refused.
   */
  bind(address: string, endpointId: string, pools: { addressSpace: string; subnet: string }): void {
    const record = this.record(address);
    if (record?.kind === "aux") throw new PluginError(`${address} is reserved by --aux-address`, "conflict");
    const holder = this.liveHolder(address);
    if (holder !== undefined && holder !== endpointId) {
      throw new PluginError(`${address} is already held by endpoint ${shortId(holder)}`, "conflict");
    }
    if (record) {
      record.endpointId = endpointId;
      return;
    }
    const match = Object.entries(this.state.pools).find(
      ([, p]) => p.addressSpace === pools.addressSpace && p.subnet === pools.subnet && (!p.subPool || ipInCidr(p.subPool, address)),
    );
    if (!match) throw new PluginError(`no azure-vnet pool of ${pools.subnet} covers ${address}`, "conflict");
    this.grant(address, match[0], undefined).endpointId = endpointId;
  }

  /** DeleteEndpoint: the endpoint lets go; with `release` the address is freed too, else it waits for ReleaseAddress. */
  unbind(address: string, endpointId: string, release: boolean): boolean {
    const record = this.record(address);
    if (record?.kind !== "endpoint" || (record.endpointId !== undefined && record.endpointId !== endpointId)) return false;
    if (release) delete this.state.addresses[address];
    else delete record.endpointId;
    return true;
  }

  /** Frees exactly this grant of the address: not a later one, and never one a live endpoint holds. */
  releaseLease(address: string, lease: number): boolean {
    const record = this.record(address);
    if (record?.kind !== "endpoint" || (record.lease ?? 0) !== lease || this.liveHolder(address) !== undefined) return false;
    delete this.state.addresses[address];
    return true;
  }

  /** Grants no live endpoint holds: between RequestAddress and CreateEndpoint, or not released after DeleteEndpoint. */
  pendingGrants(): { address: string; poolId: string; lease: number }[] {
    return Object.entries(this.state.addresses)
      .filter(([address, r]) => r.kind === "endpoint" && this.liveHolder(address) === undefined)
      .map(([address, r]) => ({ address, poolId: r.poolId, lease: r.lease ?? 0 }));
  }

  private grant(address: string, poolId: string, name: string | undefined): AddressRecord {
    const lease = this.state.nextLease ?? 1;
    this.state.nextLease = lease + 1;
    const record: AddressRecord = { poolId, kind: "endpoint", lease, ...(name && { name }) };
    this.state.addresses[address] = record;
    return record;
  }

  /** Addresses come from requests: no lookup may find Object.prototype's members. */
  private record(address: string): AddressRecord | undefined {
    return Object.hasOwn(this.state.addresses, address) ? this.state.addresses[address] : undefined;
  }

  /** Secondary ipconfigs of the pool's NIC inside its subnet and --ip-range. */
  private rangeSecondaries(pool: PoolRecord): string[] {
    const all = secondaryAddresses(this.nics, pool.nicMac, pool.subnet);
    return pool.subPool ? all.filter((address) => ipInCidr(pool.subPool as string, address)) : all;
  }
}

/**
 * The pool with this ID. IDs come from requests, and a plain lookup would
 * find Object.prototype's members for IDs such as "constructor".
 */
export function poolById(state: IpamState, poolId: string): PoolRecord | undefined {
  return Object.hasOwn(state.pools, poolId) ? state.pools[poolId] : undefined;
}

function newPoolRecord(key: PoolKey, nic: NicInfo, options: Record<string, string>): PoolRecord {
  return {
    addressSpace: key.addressSpace,
    subnet: key.subnet,
    ...(key.subPool && { subPool: key.subPool }),
    nicMac: nic.mac,
    primaryAddress: primaryAddress(nic, key.subnet) ?? "",
    refCount: 1,
    options,
    auxAddresses: [],
  };
}

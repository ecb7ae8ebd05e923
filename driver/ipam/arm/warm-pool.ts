/**
 * Owns the warm pool of --ipconfig-management arm: keeps `warm` free
 * secondary ipconfigs on the NIC beyond those in use (at least `min`, at most
 * `max`), grows in one NIC PUT per batch, makes the ipconfig a --ip names,
 * and returns its own (azvnet-…) ipconfigs idle longer than the cooldown
 * above the target. Every pass starts from ARM's view of the NIC, so a
 * restart (even after a kill mid-PUT) adopts what exists and never adds twice.
 */
import { randomBytes } from "node:crypto";
import { errorMessage, PluginError } from "../../errors";
import { addressInCidr, compareIpv4, normaliseMac } from "../../lib/address";
import { SerialQueue } from "../../lib/serial";
import type { Logger } from "../../log";
import type { AddressSupply, SupplyHost, SupplyPool } from "../supply";
import type { ArmClient } from "./client";
import { ArmError, armErrorText, type VmRef } from "./errors";
import type { ManagedIdentity } from "./identity";
import {
  explain,
  getNic,
  type IpConfigView,
  type Json,
  locateNic,
  type Membership,
  NO_MEMBERSHIP,
  newIpConfig,
  type NicDocument,
  nicUrl,
  OWN_PREFIX,
  withIpConfigs,
  withMembership,
} from "./nic";
import { retryAfterMs, retryDelayMs, type Timing } from "./retry";

export interface PoolTargets {
  warm: number;
  min: number;
  max: number;
  cooldownMs: number;
}

export interface WarmPoolOptions {
  client: ArmClient;
  identity: Pick<ManagedIdentity, "vm" | "principal">;
  /** The MAC of the NIC the plugin uses (the metadata's primary NIC). */
  nicMac: () => Promise<string>;
  host: SupplyHost;
  targets: PoolTargets;
  timing: Timing;
  logger: Logger;
  /** How often the pool is looked at without a request asking (shrinking, refilling). */
  intervalMs?: number;
  /** Grants and releases are gathered this long before the pool is looked at. */
  settleMs?: number;
}

/**
 * Grants within this window measure demand: while containers start faster
 * than one NIC update takes, each growth adds what they will take meanwhile,
 * so the pool grows ahead of them instead of running dry at every update.
 * Short, so a burst is measured by its own pace, not diluted by a quiet
 * stretch before it.
 */
const DEMAND_WINDOW_MS = 5_000;
/** A NIC PUT refused because the NIC changed or is busy is tried again from a fresh GET this many times. */
const PUT_ATTEMPTS = 10;
/** What grow() answers once ipconfigs were added (or may have appeared): look again. */
const GROWN = true;
/** What grow() and create() answer for a pool this NIC and subnet do not serve. */
const NOT_HERE = false;

interface Waiter {
  resolve: (made: boolean) => void;
  reject: (err: Error) => void;
}

/** The memberships the ipconfig with `address` should have (its endpoint's network's), undefined for none. */
export type MembershipSource = (address: string) => Membership | undefined;

/** A CreateEndpoint waiting for its ipconfig to join its network's groups and pools. */
interface JoinWaiter {
  address: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A request waiting for the pool to grow: let go to look again, or refused. */
interface GrowWaiter {
  grown: () => void;
  reject: (err: Error) => void;
}

export class WarmPool implements AddressSupply {
  private readonly queue = new SerialQueue();
  private readonly freeSince = new Map<string, number>();
  /** When addresses were granted, within DEMAND_WINDOW_MS. */
  private grants: number[] = [];
  /** How long the last growth took, from its GET of the NIC to the new addresses in the metadata. */
  private growthMs = 0;
  private readonly growWaiters = new Set<GrowWaiter>();
  private readonly createWaiters = new Map<string, { pool: SupplyPool; waiters: Waiter[] }>();
  private readonly joinWaiters = new Set<JoinWaiter>();
  private membershipOf: MembershipSource = () => undefined;
  private located: { vm: VmRef; nicId: string; mac: string } | undefined;
  /** The primary ipconfig's address and subnet, from the last GET. */
  private primary: IpConfigView | undefined;
  private queued = false;
  private timer: NodeJS.Timeout | undefined;
  private kickTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private adopted = false;
  private readonly log: Logger;

  constructor(private readonly options: WarmPoolOptions) {
    this.log = options.logger.child({ component: "arm" });
  }

  /** First pass now (adopting what ARM has), then one every intervalMs. */
  start(): Promise<void> {
    this.timer = setInterval(() => this.kick(0), this.options.intervalMs ?? 15_000);
    this.timer.unref();
    return this.kick(0);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.kickTimer);
    const err = new PluginError("the plugin is stopping", "unavailable");
    for (const w of this.growWaiters) w.reject(err);
    for (const { waiters } of this.createWaiters.values()) for (const w of waiters) w.reject(err);
    for (const w of this.joinWaiters) w.reject(err);
  }

  /** Where each pass reads which groups and pools an address's ipconfig belongs in (the network manager, made after the pool). */
  setMemberships(source: MembershipSource): void {
    this.membershipOf = source;
  }

  /**
   * Resolves once one NIC PUT (or ARM's view) has the ipconfig of `address`
   * in the memberships the source names for it; requests arriving while a
   * PUT runs share the next one. Throws why not by `deadline`.
   */
  join(address: string, deadline: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new PluginError("the plugin is stopping", "unavailable"));
    const waitMs = deadline - this.options.timing.now();
    if (signal?.aborted) return Promise.reject(stoppedWaiting());
    const timedOut = () =>
      new PluginError(
        `Azure Resource Manager did not put the ipconfig of ${address} into the network's security groups and backend pools in time; the plugin keeps trying (see its log)`,
        "unavailable",
      );
    const joined = this.waitIn<void, JoinWaiter>(this.joinWaiters, waitMs, signal, timedOut, (resolve, reject) => ({
      address,
      resolve: () => resolve(),
      reject,
    }));
    this.log.info("waiting for the ipconfig to join the network's security groups and backend pools", {
      address,
      upToSeconds: Math.ceil(waitMs / 1000),
    });
    return joined;
  }

  /**
   * A request waiting in `waiters` for a pass (one is asked for now) until
   * the waiter made by `make` is settled, `waitMs` passed (`timedOut()`) or
   * Docker stopped waiting; it leaves the set either way.
   */
  private waitIn<T, W extends { reject: (err: Error) => void }>(
    waiters: Set<W>,
    waitMs: number,
    signal: AbortSignal | undefined,
    timedOut: () => Error,
    make: (resolve: (value: T) => void, reject: (err: Error) => void) => W,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        clearTimeout(timeout);
        signal?.removeEventListener("abort", abort);
        waiters.delete(waiter);
      };
      const waiter = make(
        (value) => (done(), resolve(value)),
        (err) => (done(), reject(err)),
      );
      const timeout = setTimeout(() => waiter.reject(timedOut()), Math.max(0, waitMs));
      const abort = () => waiter.reject(stoppedWaiting());
      signal?.addEventListener("abort", abort, { once: true });
      waiters.add(waiter);
      void this.kick(0);
    });
  }

  /** Looks at the pool now (after any pass running); resolves when that pass is over. */
  check(): Promise<void> {
    return this.kick(0);
  }

  /** Resolves when everything queued so far has run (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  grow(pool: SupplyPool, deadline: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || !this.serves(pool)) return Promise.resolve(NOT_HERE);
    const waitMs = deadline - this.options.timing.now();
    if (waitMs <= 0) return Promise.reject(this.timedOut(pool));
    if (signal?.aborted) return Promise.reject(stoppedWaiting());
    const grown = this.waitIn<boolean, GrowWaiter>(
      this.growWaiters,
      waitMs,
      signal,
      () => this.timedOut(pool),
      (resolve, reject) => ({ grown: () => resolve(GROWN), reject }),
    );
    this.log.info("no free ipconfig: waiting for new ones from Azure Resource Manager", {
      subnet: pool.subnet,
      waiting: this.growWaiters.size,
      ipconfigs: this.growWaiters.size + this.options.targets.warm,
      upToSeconds: Math.ceil(waitMs / 1000),
    });
    return grown;
  }

  create(address: string, pool: SupplyPool, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || !this.serves(pool)) return Promise.resolve(NOT_HERE);
    return new Promise<boolean>((resolve, reject) => {
      const entry = this.createWaiters.get(address) ?? { pool, waiters: [] };
      this.createWaiters.set(address, entry);
      const waiter: Waiter = { resolve, reject };
      entry.waiters.push(waiter);
      signal?.addEventListener("abort", () => reject(stoppedWaiting()), { once: true });
      this.log.info("creating the ipconfig a container asked for through Azure Resource Manager", { address });
      void this.kick(0);
    });
  }

  touched(address: string): void {
    const now = this.options.timing.now();
    this.freeSince.set(address, now);
    if (this.options.host.held(address)) this.grants.push(now);
    void this.kick(this.options.settleMs ?? 1_000);
  }

  /** Whether this pool draws on the NIC and subnet managed here (the NIC's primary ipconfig's subnet). */
  private serves(pool: SupplyPool): boolean {
    if (this.located && normaliseMac(pool.nicMac) !== normaliseMac(this.located.mac)) return false;
    return !this.primary?.address || addressInCidr(pool.subnet, this.primary.address);
  }

  /** Queues one pass after `delayMs`, unless one is queued already. */
  private kick(delayMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (delayMs > 0) {
      this.kickTimer ??= setTimeout(() => {
        this.kickTimer = undefined;
        void this.kick(0);
      }, delayMs);
      return Promise.resolve();
    }
    if (this.queued) return this.queue.idle();
    this.queued = true;
    return this.queue.run(async () => {
      this.queued = false;
      if (this.closed) return;
      try {
        await this.pass();
      } catch (err) {
        this.log.error("cannot manage the NIC's ipconfigs", { error: errorMessage(err) });
        const failure = err instanceof Error ? err : new Error(String(err));
        for (const w of this.growWaiters) w.reject(failure);
        for (const [address, { waiters }] of this.createWaiters) {
          this.createWaiters.delete(address);
          for (const w of waiters) w.reject(failure);
        }
        for (const w of this.joinWaiters) w.reject(failure);
      }
    });
  }

  private async pass(): Promise<void> {
    const where = await this.locate();
    for (const [address, entry] of [...this.createWaiters]) {
      this.createWaiters.delete(address);
      try {
        const made = await this.createOne(where, address, entry.pool);
        for (const w of entry.waiters) w.resolve(made);
      } catch (err) {
        for (const w of entry.waiters) w.reject(err as Error);
      }
    }
    let read: NicDocument | undefined;
    try {
      read = await this.converge(where);
    } catch (err) {
      // A refused membership (say a pool id ARM does not know) must not stop the pool from growing.
      this.log.error("cannot set the security groups and backend pools of ipconfigs", { error: errorMessage(err) });
      const failure = err instanceof Error ? err : new Error(String(err));
      for (const w of this.joinWaiters) w.reject(failure);
    }
    await this.balance(where, read);
  }

  /**
   * Puts each of the plugin's ipconfigs into the groups and pools its
   * address's endpoint's network names, and a free one into none: one PUT
   * for all that differ. Requests waiting when the NIC was read are answered
   * by it; later ones by the next pass. Returns the NIC as read when it
   * changed nothing, so the pass reads it once.
   */
  private async converge(where: { vm: VmRef; nicId: string }): Promise<NicDocument | undefined> {
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      const waiting = [...this.joinWaiters];
      const nic = await this.getNic(where);
      const changed: string[] = [];
      const list = nic.ipConfigs.map((c) => {
        if (!c.own || c.address === undefined) return c.raw;
        const next = withMembership(c.raw, this.membershipOf(c.address) ?? NO_MEMBERSHIP);
        if (next !== c.raw) changed.push(c.address);
        return next;
      });
      if (changed.length > 0) {
        this.log.info("setting the security groups and backend pools of ipconfigs through Azure Resource Manager", {
          addresses: changed.join(","),
        });
        if ((await this.put(where, nic, list)) === "retry") continue;
      }
      for (const w of waiting) {
        const ipconfig = nic.ipConfigs.find((c) => c.address === w.address);
        if (ipconfig?.own) w.resolve();
        else w.reject(notJoinable(w.address, ipconfig?.name));
      }
      return changed.length === 0 ? nic : undefined;
    }
    throw new ArmError(
      `the NIC kept changing or stayed busy through ${PUT_ATTEMPTS} attempts to set its ipconfigs' security groups and backend pools`,
      409,
      "AnotherOperationInProgress",
    );
  }

  private async locate(): Promise<{ vm: VmRef; nicId: string; mac: string }> {
    if (this.located) return this.located;
    const vm = await this.options.identity.vm();
    const mac = await this.options.nicMac();
    const nicId = await locateNic(this.options.client, vm, mac, () => this.options.identity.principal);
    this.located = { vm, nicId, mac };
    this.log.info("managing the NIC's ipconfigs through Azure Resource Manager", { nic: nicId, mac });
    return this.located;
  }

  private getNic(where: { vm: VmRef; nicId: string }): Promise<NicDocument> {
    return getNic(this.options.client, where.nicId, where.vm, () => this.options.identity.principal);
  }

  /** Brings the pool to its target: one PUT adding or one removing, retried from a fresh GET when the NIC changed or was busy. */
  private async balance(where: { vm: VmRef; nicId: string }, read?: NicDocument): Promise<void> {
    const { warm, min, max, cooldownMs } = this.options.targets;
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      const nic = attempt === 0 && read ? read : await this.getNic(where);
      const primary = this.findPrimary(nic);
      // IPv6 ipconfigs are the user's, used as they are: they neither count towards the targets nor go.
      const secondaries = nic.ipConfigs.filter((c) => !c.primary && !c.ipv6 && sameId(c.subnetId, primary.subnetId));
      const now = this.options.timing.now();
      this.trackIdle(secondaries, now);
      const used = secondaries.filter((c) => c.address !== undefined && this.options.host.held(c.address)).length;
      const total = secondaries.length;
      const waiting = this.growWaiters.size;
      const headroom = this.headroom(now);
      const desired = Math.min(max, Math.max(min, used + waiting + warm + headroom));
      if (!this.adopted) {
        this.adopted = true;
        this.log.info("warm pool", {
          own: secondaries.filter((c) => c.own).length,
          others: total - secondaries.filter((c) => c.own).length,
          used,
          desired,
        });
      }
      let list: Json[];
      let removed: string[] = [];
      if (total < desired) {
        const names = new Set(nic.ipConfigs.map((c) => c.name));
        const added = Array.from({ length: desired - total }, () => newIpConfig(uniqueName(names), primary.subnetId));
        list = [...nic.ipConfigs.map((c) => c.raw), ...added];
        this.log.info("adding ipconfigs through Azure Resource Manager", {
          count: added.length,
          used,
          free: total - used,
          waiting,
          headroom,
        });
      } else {
        if (total === desired || total - used <= 0) return this.noChange(total, waiting);
        const idle = secondaries
          .filter((c) => c.own && c.address !== undefined && !this.options.host.held(c.address))
          .filter((c) => now - (this.freeSince.get(c.address as string) ?? now) >= cooldownMs)
          .map((c) => c.address as string)
          .sort((a, b) => compareIpv4(b, a))
          .slice(0, total - desired);
        removed = idle.length ? await this.options.host.withhold(idle) : [];
        if (removed.length === 0) return this.noChange(total, waiting);
        const gone = new Set(removed);
        list = nic.ipConfigs.filter((c) => !(c.own && c.address !== undefined && gone.has(c.address))).map((c) => c.raw);
        this.log.info("returning idle ipconfigs to Azure", { count: removed.length, addresses: removed.join(","), used });
      }
      let outcome: "done" | "retry";
      try {
        outcome = await this.put(where, nic, list);
      } catch (err) {
        this.options.host.unwithhold(removed);
        throw err;
      }
      if (outcome === "retry") {
        this.options.host.unwithhold(removed);
        continue;
      }
      for (const address of removed) this.freeSince.delete(address);
      await this.options.host.refreshMetadata();
      if (removed.length === 0) this.growthMs = this.options.timing.now() - now;
      for (const w of this.growWaiters) w.grown();
      return;
    }
    throw new ArmError(
      `the NIC kept changing or stayed busy through ${PUT_ATTEMPTS} attempts to update it`,
      409,
      "AnotherOperationInProgress",
    );
  }

  /** Nothing to change: waiters are let go to look again (the NIC may have ipconfigs the metadata shows late), or refused at the maximum. */
  private async noChange(total: number, waiting: number): Promise<void> {
    if (waiting === 0) return;
    if (total >= this.options.targets.max) {
      const err = new PluginError(
        `the NIC has ${total} secondary ipconfigs, the most --max-ip-target (${this.options.targets.max}) allows, and all are in use`,
        "exhausted",
      );
      for (const w of this.growWaiters) w.reject(err);
      return;
    }
    await this.options.host.refreshMetadata();
    await this.options.timing.sleep(1_000);
    for (const w of this.growWaiters) w.grown();
  }

  /** One --ip address made an ipconfig of its own (Static), so ARM's refusal answers that request alone. */
  private async createOne(where: { vm: VmRef; nicId: string }, address: string, pool: SupplyPool): Promise<boolean> {
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      const nic = await this.getNic(where);
      if (nic.ipConfigs.some((c) => c.address === address)) return true;
      const primary = this.findPrimary(nic);
      // The subnet of an ipconfig already in the pool's subnet, the primary's first.
      const home = [primary, ...nic.ipConfigs].find((c) => c.address !== undefined && addressInCidr(pool.subnet, c.address));
      if (!home) return false;
      const secondaries = nic.ipConfigs.filter((c) => !c.primary).length;
      if (secondaries >= this.options.targets.max) {
        throw new PluginError(
          `cannot add ${address}: the NIC has ${secondaries} secondary ipconfigs, the most --max-ip-target (${this.options.targets.max}) allows`,
          "exhausted",
        );
      }
      const names = new Set(nic.ipConfigs.map((c) => c.name));
      const list = [...nic.ipConfigs.map((c) => c.raw), newIpConfig(uniqueName(names), home.subnetId, address)];
      try {
        if ((await this.put(where, nic, list)) === "retry") continue;
      } catch (err) {
        if (err instanceof ArmError && err.armCode) throw refusedAddress(address, err);
        throw err;
      }
      await this.options.host.refreshMetadata();
      return true;
    }
    throw new ArmError(
      `the NIC kept changing or stayed busy through ${PUT_ATTEMPTS} attempts to add ${address}`,
      409,
      "AnotherOperationInProgress",
    );
  }

  /** PUTs the NIC with `ipConfigs` if it is still as read, and waits for the operation: "retry" when ARM says it changed or is busy. */
  private async put(where: { vm: VmRef; nicId: string }, nic: NicDocument, ipConfigs: Json[]): Promise<"done" | "retry"> {
    const { client, timing } = this.options;
    const result = await client.call("PUT", nicUrl(nic.id), { body: withIpConfigs(nic, ipConfigs), ifMatch: nic.etag });
    if (result.status === 412) {
      this.log.info("the NIC changed since it was read: reading it again");
      return "retry";
    }
    if (result.status === 409 && armErrorText(result.body).code === "AnotherOperationInProgress") {
      const wait = retryDelayMs(2, timing, retryAfterMs(result.headers, timing.now()));
      this.log.info("another operation on the NIC is in progress: waiting", { ms: wait });
      await timing.sleep(wait);
      return "retry";
    }
    if (result.status !== 200 && result.status !== 201) {
      throw explain(result, `PUT network interface ${nic.id}`, where.vm, this.options.identity.principal, nic.id);
    }
    try {
      await client.awaitOperation(result, nicUrl(nic.id));
    } catch (err) {
      if (err instanceof ArmError && err.armCode === "AnotherOperationInProgress") return "retry";
      const before = new Set(nic.ipConfigs.map((c) => c.name));
      await this.rollback(
        where,
        ipConfigs.map((c) => String(c.name)).filter((name) => !before.has(name)),
      );
      throw err;
    }
    return "done";
  }

  /** After a failed operation, removes the ipconfigs it was adding if ARM kept them, so no later PUT carries them back. */
  private async rollback(where: { vm: VmRef; nicId: string }, added: string[]): Promise<void> {
    if (added.length === 0) return;
    try {
      const nic = await this.getNic(where);
      const left = new Set(added.filter((name) => nic.ipConfigs.some((c) => c.name === name)));
      if (left.size === 0) return;
      this.log.warn("the NIC update failed: removing the ipconfigs it was adding", { names: [...left].join(",") });
      const result = await this.options.client.call("PUT", nicUrl(nic.id), {
        body: withIpConfigs(
          nic,
          nic.ipConfigs.filter((c) => !left.has(c.name)).map((c) => c.raw),
        ),
        ifMatch: nic.etag,
      });
      if (result.status !== 200 && result.status !== 201)
        throw explain(result, `PUT network interface ${nic.id}`, where.vm, undefined, nic.id);
      await this.options.client.awaitOperation(result, nicUrl(nic.id));
    } catch (err) {
      // The next pass sees them as free ipconfigs of its own and returns them after the cooldown.
      this.log.warn("could not remove the ipconfigs of a failed NIC update", { error: errorMessage(err) });
    }
  }

  private findPrimary(nic: NicDocument): IpConfigView {
    const primary = nic.ipConfigs.find((c) => c.primary) ?? nic.ipConfigs[0];
    if (!primary) throw new ArmError(`network interface ${nic.id} has no ipconfig`, 200, undefined);
    this.primary = primary;
    return primary;
  }

  /**
   * The grants expected while one growth runs: the rate of the recent ones
   * (over the time since the first of them, at least a second) times how long
   * the last growth took. Nothing without recent grants or before the first growth.
   */
  private headroom(now: number): number {
    this.grants = this.grants.filter((t) => now - t <= DEMAND_WINDOW_MS);
    if (this.grants.length === 0 || this.growthMs === 0) return 0;
    const perMs = this.grants.length / Math.max(1_000, now - this.grants[0]);
    return Math.ceil(perMs * this.growthMs);
  }

  /** An ipconfig's idle time starts when it is first seen free, and again at each grant or release. */
  private trackIdle(secondaries: IpConfigView[], now: number): void {
    const present = new Set<string>();
    for (const c of secondaries) {
      if (c.address === undefined) continue;
      present.add(c.address);
      if (this.options.host.held(c.address) || !this.freeSince.has(c.address)) this.freeSince.set(c.address, now);
    }
    for (const address of this.freeSince.keys()) if (!present.has(address)) this.freeSince.delete(address);
  }

  private timedOut(pool: SupplyPool): PluginError {
    return new PluginError(
      `no free address in ${pool.subnet}: Azure Resource Manager did not add an ipconfig in time; the plugin keeps trying (see its log)`,
      "exhausted",
    );
  }
}

function stoppedWaiting(): PluginError {
  return new PluginError("Docker stopped waiting for an address", "unavailable");
}

/** Why an address's ipconfig cannot join its network's groups and pools: it is not one the plugin manages. */
function notJoinable(address: string, name: string | undefined): PluginError {
  return new PluginError(
    name === undefined
      ? `${address} is not an ipconfig of the NIC in Azure Resource Manager, so it cannot join the network's security groups and backend pools`
      : `${address} is ipconfig ${name}, which the plugin did not create (its own are named ${OWN_PREFIX}…); it changes only its own, so the address cannot join the network's security groups and backend pools`,
    "unavailable",
  );
}

function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** azvnet-<8 hex>: the name an ipconfig keeps for life, which marks it as the plugin's. */
function uniqueName(taken: Set<string>): string {
  for (;;) {
    const name = OWN_PREFIX + randomBytes(4).toString("hex");
    if (!taken.has(name)) {
      taken.add(name);
      return name;
    }
  }
}

/** ARM's refusal of one --ip address, in words. */
function refusedAddress(address: string, err: ArmError): PluginError {
  const why: Record<string, string> = {
    PrivateIPAddressInUse: "another ipconfig in the virtual network has that address",
    PrivateIPAddressNotInSubnet: "it is not inside the NIC's subnet",
    PrivateIPAddressIsReserved: "Azure reserves it",
  };
  const reason = (err.armCode && why[err.armCode]) ?? "Azure refused it";
  return new PluginError(`cannot add ${address} to the NIC: ${reason} (${err.message})`, err.code);
}

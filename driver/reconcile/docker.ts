/**
 * Reconciliation against Docker, run in the background once Docker answers
 * (never while answering a plugin request: Docker may be waiting on us).
 *
 * Docker is the authority on which containers run. The one rule: an address
 * is freed only together with its holder, and only on positive evidence that
 * the holder is gone. An endpoint is released (with its address, in one
 * saved change) when Docker shows its network and no running container on it
 * has the endpoint, in runs at least `graceMs` apart with nothing in between
 * that saw it; a network Docker does not show (yet) is left alone, and so is
 * everything on a network for which Docker's answer is incomplete. A grant no
 * endpoint holds (RequestAddress whose CreateEndpoint never came, or a lost
 * ReleaseAddress) is freed the same way, that grant only: a later grant of the
 * same address starts its own clock. Networks and endpoints Docker has but the
 * plugin lost (a damaged checkpoint) are adopted, never over another live holder.
 */
import type { Logger } from "../log";
import { errorMessage } from "../errors";
import type { NetworkState } from "../network/records";
import type { CreateNetworkRequest } from "../protocol/types";
import { formatPoolId, LOCAL_ADDRESS_SPACE } from "../ipam";
import { canonicalAddress, canonicalIpCidr, ipFamily } from "../lib/address";
import { shortId as short } from "../lib/text";
import { DockerUnreachableError } from "./docker-engine";
import { type PoolCount, poolUsers } from "./pool-users";

/** The parts of Docker's API answers this module reads. */
export interface DockerNetworkInfo {
  Id: string;
  Name: string;
  Driver: string;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string }> };
  Options?: Record<string, string>;
  /** "local", or "swarm" for a swarm network (a manager lists every one; a worker its instances). */
  Scope?: string;
  /** A --config-only network: settings for others, no pool of its own. */
  ConfigOnly?: boolean;
  /** The config-only network a --config-from network takes its settings from. */
  ConfigFrom?: { Network?: string };
}

export interface DockerContainerInfo {
  Id: string;
  Names?: string[];
  State?: string;
  NetworkSettings?: {
    Networks?: Record<
      string,
      { NetworkID?: string; EndpointID?: string; IPAddress?: string; GlobalIPv6Address?: string; MacAddress?: string }
    >;
  };
}

export interface DockerApi {
  listNetworks(): Promise<DockerNetworkInfo[]>;
  listContainers(): Promise<DockerContainerInfo[]>;
}

/** What the reconciler asks of the network layer and the IPAM. */
export interface ReconcileTargets {
  network: {
    createNetwork(req: CreateNetworkRequest): Promise<void>;
    /** With releaseAddresses: the addresses of endpoints left on the network go with it. */
    deleteNetwork(req: { NetworkID: string }, opts: { releaseAddresses: boolean }): Promise<void>;
    /** The endpoint and the address it holds, in one saved change. */
    releaseEndpoint(endpointId: string): Promise<boolean>;
    adoptEndpoint(ep: { id: string; networkId: string; address: string; mac?: string; address6?: string }): Promise<boolean>;
    /** How many of the network's endpoints still have their host veth (a container may still use them). */
    endpointsWithLinks(networkId: string): Promise<number>;
  };
  ipam: {
    adoptPool(poolId: string): Promise<void>;
    adoptAddress(poolId: string, address: string, endpointId: string, name?: string): Promise<"held" | "adopted">;
    pendingGrants(): { address: string; poolId: string; lease: number }[];
    releaseGrant(address: string, lease: number): Promise<boolean>;
    /** Every pool with its count of networks using it. */
    poolCounts(): PoolCount[];
    /** Sets the pool's count to `users` (at 0 the pool goes) if it is still `seen`; false if it changed or could not be set. */
    settlePoolCount(poolId: string, seen: number, users: number): Promise<boolean>;
  };
}

/** A run that has not (yet) reached Docker or changed anything. */
export function emptyReconcileReport(at: Date): DockerReconcileReport {
  return {
    at: at.toISOString(),
    ok: false,
    networksAdopted: 0,
    endpointsAdopted: 0,
    endpointsReleased: [],
    addressesReleased: [],
    networksRemoved: [],
    poolsSettled: [],
    itemErrors: [],
  };
}

export interface DockerReconcileReport {
  at: string;
  ok: boolean;
  error?: string;
  /** When Docker's API could not be reached at all: where it was tried ("unix:///run/docker.sock"). */
  unreachable?: string;
  networksAdopted: number;
  endpointsAdopted: number;
  endpointsReleased: string[];
  addressesReleased: string[];
  networksRemoved: string[];
  /** Pools whose count of networks was set to Docker's ("<pool id> <was>-><now>"); absent in older reports. */
  poolsSettled?: string[];
  /** Items that failed; the run carried on with the rest. */
  itemErrors: string[];
  /**
   * What is on the release clock after this run: key -> when it was first
   * found missing (ISO time). A restarted daemon resumes these clocks.
   */
  missingSince?: Record<string, string>;
}

/**
 * Names Docker knows the plugin by, for adopting networks the plugin forgot:
 * "azure-vnet" (legacy) or "[registry[:port]/][path/]azure-vnet[:tag]" (managed).
 */
export const DRIVER_NAME = /^(?:[\w.-]+(?::\d+)?\/)?(?:[\w.-]+\/)*azure-vnet(?::[\w.-]+)?$/;

export interface DockerReconcilerOptions extends ReconcileTargets {
  docker: DockerApi;
  state: NetworkState;
  logger: Logger;
  graceMs?: number;
  now?: () => number;
  /** Driver names taken for this plugin's when adopting (default DRIVER_NAME). */
  driverName?: RegExp;
  /**
   * Whether to adopt what Docker has and the plugin does not: only after the
   * plugin lost state. With trusted state a missing record means the plugin
   * already deleted it, and Docker's list may just be a moment old.
   */
  adopt?: () => boolean;
  /**
   * The clocks of the daemon's previous run (its report's missingSince). While
   * the plugin was down nothing could take up what was missing: every grant
   * and endpoint is the plugin's to make, so a key still missing in the first
   * run keeps its clock, and a plugin that restarts often still releases.
   */
  resume?: Record<string, string>;
}

// Pools are kept canonical; older engines list a --subnet as the user wrote it, and IPv6 in any spelling.
const canonical = (cidr: string) => canonicalIpCidr(cidr) ?? cidr;
const poolIdOf = (subnet: string, ipRange?: string) =>
  formatPoolId({ addressSpace: LOCAL_ADDRESS_SPACE, subnet: canonical(subnet), ...(ipRange ? { subPool: canonical(ipRange) } : {}) });
/** The network's pool of one family as Docker lists it (a dual-stack network lists both). */
const ipConfig = (net: DockerNetworkInfo | undefined, family: 4 | 6) =>
  net?.IPAM?.Config?.find((c) => c.Subnet && ipFamily(c.Subnet) === family);
const ipv4Config = (net: DockerNetworkInfo | undefined) => ipConfig(net, 4);
const LIVE_STATES = new Set(["running", "paused", "restarting"]);

interface LiveEndpoint {
  networkId: string;
  address: string;
  /** The container's IPv6 address on the network, when it has one. */
  address6?: string;
  mac?: string;
  name?: string;
}

export class DockerReconciler {
  /** When each thing was first seen missing from Docker; only keys seen missing in every run since. */
  private readonly missingSince = new Map<string, number>();
  /** Keys seen missing in the run in progress. */
  private seen = new Set<string>();
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly driverName: RegExp;
  last: DockerReconcileReport | undefined;

  constructor(private readonly o: DockerReconcilerOptions) {
    this.graceMs = o.graceMs ?? 30_000;
    this.now = o.now ?? Date.now;
    this.driverName = o.driverName ?? DRIVER_NAME;
    for (const [key, at] of Object.entries(o.resume ?? {})) {
      const since = Date.parse(at);
      // A clock from the future (the time was set back) starts again.
      if (Number.isFinite(since) && since <= this.now()) this.missingSince.set(key, since);
    }
  }

  async runOnce(): Promise<DockerReconcileReport> {
    const report = emptyReconcileReport(new Date(this.now()));
    try {
      const [networks, containers] = await Promise.all([this.o.docker.listNetworks(), this.o.docker.listContainers()]);
      report.ok = true;
      await this.reconcile(networks, containers, report);
    } catch (err) {
      report.ok = false;
      report.error = errorMessage(err);
      if (err instanceof DockerUnreachableError) report.unreachable = err.where;
    }
    report.missingSince = Object.fromEntries([...this.missingSince].map(([key, since]) => [key, new Date(since).toISOString()]));
    this.last = report;
    const changed =
      report.itemErrors.length +
      report.networksAdopted +
      report.endpointsAdopted +
      report.endpointsReleased.length +
      report.addressesReleased.length +
      report.networksRemoved.length +
      (report.poolsSettled?.length ?? 0);
    const level = !report.ok ? "warn" : changed ? "info" : "debug";
    this.o.logger[level]("reconciled with Docker", {
      ok: report.ok,
      error: report.error ?? "none",
      itemErrors: report.itemErrors.join("; ") || "none",
      networksAdopted: report.networksAdopted,
      endpointsAdopted: report.endpointsAdopted,
      endpointsReleased: report.endpointsReleased.join(",") || "none",
      addressesReleased: report.addressesReleased.join(",") || "none",
      networksRemoved: report.networksRemoved.join(",") || "none",
      poolsSettled: report.poolsSettled?.join(",") || "none",
    });
    return report;
  }

  /**
   * `key` is missing in this run: true when it was also missing in every run
   * since one at least graceMs ago (a first sighting starts the clock).
   */
  private overdue(key: string): boolean {
    this.seen.add(key);
    const since = this.missingSince.get(key);
    if (since === undefined) {
      this.missingSince.set(key, this.now());
      return false;
    }
    return this.now() - since >= this.graceMs;
  }

  /** One item's failure is reported and the run goes on with the next. */
  private async step(report: DockerReconcileReport, what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      report.itemErrors.push(`${what}: ${errorMessage(err)}`);
    }
  }

  private async reconcile(all: DockerNetworkInfo[], containers: DockerContainerInfo[], report: DockerReconcileReport): Promise<void> {
    this.seen = new Set();
    try {
      await this.reconcileSeen(all, containers, report);
    } finally {
      // A key not missing in this run starts again from nothing next time.
      for (const key of [...this.missingSince.keys()]) if (!this.seen.has(key)) this.missingSince.delete(key);
    }
  }

  private async reconcileSeen(all: DockerNetworkInfo[], containers: DockerContainerInfo[], report: DockerReconcileReport): Promise<void> {
    const st = this.o.state;
    // A network is the plugin's if it has a record of it, whatever Docker
    // calls the driver; by driver name only when adopting a forgotten one.
    const known = new Set(all.map((n) => n.Id));
    const networks = all.filter((n) => st.networks[n.Id] || this.driverName.test(n.Driver));
    const ours = new Map(networks.map((n) => [n.Id, n]));

    const adopting = this.o.adopt?.() ?? true;
    // Networks Docker has and the plugin lost.
    for (const net of adopting ? networks : []) {
      if (st.networks[net.Id]) continue;
      await this.step(report, `adopt network ${short(net.Id)}`, () => this.adoptNetwork(net, report));
    }

    // Endpoints of running containers on the plugin's networks. A running
    // container listed on one of them without its endpoint or address is
    // an answer Docker has not finished: nothing on that network is judged.
    const live = new Map<string, LiveEndpoint>();
    const incomplete = new Set<string>();
    for (const c of containers) {
      // A paused or restarting container keeps its endpoints.
      if (c.State && !LIVE_STATES.has(c.State)) continue;
      for (const n of Object.values(c.NetworkSettings?.Networks ?? {})) {
        if (!n.NetworkID || !ours.has(n.NetworkID)) continue;
        if (!n.EndpointID || !n.IPAddress) {
          incomplete.add(n.NetworkID);
          continue;
        }
        live.set(n.EndpointID, {
          networkId: n.NetworkID,
          address: n.IPAddress,
          ...(n.GlobalIPv6Address && { address6: canonicalAddress(n.GlobalIPv6Address) ?? n.GlobalIPv6Address }),
          mac: n.MacAddress || undefined,
          name: c.Names?.[0]?.replace(/^\//, ""),
        });
      }
    }
    for (const [id, ep] of adopting ? live : new Map<string, never>()) {
      if (st.endpoints[id] || !st.networks[ep.networkId]) continue;
      await this.step(report, `adopt endpoint ${short(id)}`, () => this.adoptEndpoint(id, ep, live, ours, report));
    }

    // Endpoints the plugin holds for containers Docker no longer runs.
    const judged = (networkId: string) => ours.has(networkId) && !incomplete.has(networkId);
    for (const ep of Object.values(st.endpoints)) {
      const key = `endpoint:${ep.id}`;
      if (!judged(ep.networkId) || live.has(ep.id) || !this.overdue(key)) continue;
      await this.step(report, `release endpoint ${short(ep.id)}`, async () => {
        if (await this.o.network.releaseEndpoint(ep.id)) report.endpointsReleased.push(short(ep.id));
        // Done with: an endpoint made again under the same id starts its own clock.
        this.missingSince.delete(key);
      });
    }

    // Grants no endpoint holds, on pools of networks Docker shows in full.
    const shownPools = new Map<string, string[]>();
    for (const net of ours.values()) {
      for (const cfg of net.IPAM?.Config ?? []) {
        if (!cfg.Subnet) continue;
        const poolId = poolIdOf(cfg.Subnet, cfg.IPRange);
        shownPools.set(poolId, [...(shownPools.get(poolId) ?? []), net.Id]);
      }
    }
    // A container's IPv6 grant is held while it runs, like its IPv4 one.
    const liveAddresses = new Set([...live.values()].flatMap((e) => [e.address, ...(e.address6 ? [e.address6] : [])]));
    for (const grant of this.o.ipam.pendingGrants()) {
      const nets = shownPools.get(grant.poolId);
      if (!nets || !nets.every(judged) || liveAddresses.has(grant.address)) continue;
      const key = `grant:${grant.address}:${grant.lease}`;
      if (!this.overdue(key)) continue;
      await this.step(report, `release address ${grant.address}`, async () => {
        if (await this.o.ipam.releaseGrant(grant.address, grant.lease)) report.addressesReleased.push(grant.address);
        this.missingSince.delete(key);
      });
    }

    // Networks Docker no longer has at all (removed while the plugin could not
    // hear it). Docker refuses to remove a network with containers on it, so
    // one whose endpoints still have their links is not one Docker removed.
    for (const id of Object.keys(st.networks)) {
      if (known.has(id)) continue;
      await this.step(report, `remove network ${short(id)}`, async () => {
        if ((await this.o.network.endpointsWithLinks(id)) > 0 || !this.overdue(`network:${id}`)) return;
        await this.o.network.deleteNetwork({ NetworkID: id }, { releaseAddresses: true });
        report.networksRemoved.push(short(id));
        this.missingSince.delete(`network:${id}`);
      });
    }

    await this.settlePools(all, report);
  }

  /**
   * Each pool's count against the networks Docker shows using it: a count
   * that differs the same way in runs at least graceMs apart is set to
   * Docker's (a network being made holds its pool a moment before Docker
   * lists it). At zero the pool goes.
   */
  private async settlePools(all: DockerNetworkInfo[], report: DockerReconcileReport): Promise<void> {
    const pools = this.o.ipam.poolCounts();
    const { users, unknown } = poolUsers(all, this.o.state, pools, this.driverName);
    for (const pool of pools) {
      const count = users.get(pool.poolId)?.size ?? 0;
      if (unknown.has(pool.poolId) || count === pool.refCount) continue;
      const key = `pool:${pool.poolId}:${pool.refCount}->${count}`;
      if (!this.overdue(key)) continue;
      await this.step(report, `settle pool ${pool.poolId}`, async () => {
        if (await this.o.ipam.settlePoolCount(pool.poolId, pool.refCount, count)) {
          (report.poolsSettled ??= []).push(`${pool.poolId} ${pool.refCount}->${count}`);
        }
        this.missingSince.delete(key);
      });
    }
  }

  /** Adopts an endpoint Docker runs; a stale record of another endpoint holding its address gives way, a live one does not. */
  private async adoptEndpoint(
    id: string,
    ep: LiveEndpoint,
    live: Map<string, LiveEndpoint>,
    ours: Map<string, DockerNetworkInfo>,
    report: DockerReconcileReport,
  ): Promise<void> {
    const cfg = ipv4Config(ours.get(ep.networkId));
    if (!cfg?.Subnet) return;
    const holder = Object.values(this.o.state.endpoints).find((e) => e.address === ep.address && e.id !== id);
    if (holder && live.has(holder.id)) {
      throw new Error(`Docker shows endpoints ${short(id)} and ${short(holder.id)} both with ${ep.address}; neither is adopted`);
    }
    if (holder) await this.o.network.releaseEndpoint(holder.id);
    await this.o.ipam.adoptAddress(poolIdOf(cfg.Subnet, cfg.IPRange), ep.address, id, ep.name);
    // A dual-stack endpoint's IPv6 address too, so its guard lets it send IPv6 again.
    const cfg6 = ep.address6 ? ipConfig(ours.get(ep.networkId), 6) : undefined;
    const address6 = cfg6?.Subnet ? ep.address6 : undefined;
    if (cfg6?.Subnet && address6) await this.o.ipam.adoptAddress(poolIdOf(cfg6.Subnet, cfg6.IPRange), address6, id, ep.name);
    const adopted = await this.o.network.adoptEndpoint({
      id,
      networkId: ep.networkId,
      address: ep.address,
      mac: ep.mac,
      ...(address6 && { address6 }),
    });
    if (adopted) report.endpointsAdopted++;
  }

  private async adoptNetwork(net: DockerNetworkInfo, report: DockerReconcileReport): Promise<void> {
    const cfg = ipv4Config(net);
    if (!cfg?.Subnet) return;
    await this.o.ipam.adoptPool(poolIdOf(cfg.Subnet, cfg.IPRange));
    // A dual-stack network's IPv6 pool comes back with it.
    const cfg6 = ipConfig(net, 6);
    if (cfg6?.Subnet) await this.o.ipam.adoptPool(poolIdOf(cfg6.Subnet, cfg6.IPRange));
    await this.o.network.createNetwork({
      NetworkID: net.Id,
      Options: { "com.docker.network.generic": net.Options ?? {} },
      IPv4Data: [
        {
          AddressSpace: LOCAL_ADDRESS_SPACE,
          Pool: cfg.Subnet,
          ...(cfg.Gateway ? { Gateway: `${cfg.Gateway}/${cfg.Subnet.split("/")[1]}` } : {}),
        },
      ],
      IPv6Data: cfg6?.Subnet ? [{ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: canonical(cfg6.Subnet) }] : [],
    });
    report.networksAdopted++;
  }
}

/**
 * Reconciliation against Docker, run in the background once Docker answers
 * (never while answering a plugin request: Docker may be waiting on us).
 *
 * Docker is the authority on which containers run. Endpoints and addresses
 * the plugin holds for containers Docker no longer has are released; networks
 * and endpoints Docker has but the plugin lost (a damaged checkpoint) are
 * adopted. Something is released only when it was missing on two runs at
 * least `graceMs` apart, so a container in the middle of starting is safe.
 */
import type { Logger } from "../log";
import { errorMessage } from "../errors";
import type { NetworkState } from "../network/records";
import type { CreateNetworkRequest } from "../protocol/types";
import { formatPoolId, LOCAL_ADDRESS_SPACE } from "../ipam";

/** The parts of Docker's API answers this module reads. */
export interface DockerNetworkInfo {
  Id: string;
  Name: string;
  Driver: string;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string }> };
  Options?: Record<string, string>;
}

export interface DockerContainerInfo {
  Id: string;
  Names?: string[];
  State?: string;
  NetworkSettings?: { Networks?: Record<string, { NetworkID?: string; EndpointID?: string; IPAddress?: string; MacAddress?: string }> };
}

export interface DockerApi {
  listNetworks(): Promise<DockerNetworkInfo[]>;
  listContainers(): Promise<DockerContainerInfo[]>;
}

/** What the reconciler asks of the network layer and the IPAM. */
export interface ReconcileTargets {
  network: {
    createNetwork(req: CreateNetworkRequest): Promise<void>;
    deleteNetwork(req: { NetworkID: string }): Promise<void>;
    deleteEndpoint(req: { NetworkID: string; EndpointID: string }): Promise<void>;
    adoptEndpoint(ep: { id: string; networkId: string; address: string; mac?: string }): Promise<boolean>;
  };
  ipam: {
    adoptPool(poolId: string): Promise<void>;
    adoptAddress(poolId: string, address: string, name?: string): Promise<"held" | "adopted">;
    endpointPoolOf(address: string): string | undefined;
    endpointAddresses(): string[];
    releaseAddress(req: { PoolID: string; Address: string }): Promise<void>;
  };
}

export interface DockerReconcileReport {
  at: string;
  ok: boolean;
  error?: string;
  networksAdopted: number;
  endpointsAdopted: number;
  endpointsReleased: string[];
  addressesReleased: string[];
  networksRemoved: string[];
  /** Items that failed; the run carried on with the rest. */
  itemErrors: string[];
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
}

const short = (id: string) => id.slice(0, 12);
const poolIdOf = (subnet: string, ipRange?: string) => formatPoolId({ addressSpace: LOCAL_ADDRESS_SPACE, subnet, ...(ipRange ? { subPool: ipRange } : {}) });
const LIVE_STATES = new Set(["running", "paused", "restarting"]);

export class DockerReconciler {
  /** When each thing was first seen missing from Docker. */
  private readonly missingSince = new Map<string, number>();
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly driverName: RegExp;
  last: DockerReconcileReport | undefined;

  constructor(private readonly o: DockerReconcilerOptions) {
    this.graceMs = o.graceMs ?? 30_000;
    this.now = o.now ?? Date.now;
    this.driverName = o.driverName ?? DRIVER_NAME;
  }

  async runOnce(): Promise<DockerReconcileReport> {
    const report: DockerReconcileReport = {
      at: new Date(this.now()).toISOString(), ok: false, networksAdopted: 0, endpointsAdopted: 0,
      endpointsReleased: [], addressesReleased: [], networksRemoved: [], itemErrors: [],
    };
    try {
      const [networks, containers] = await Promise.all([this.o.docker.listNetworks(), this.o.docker.listContainers()]);
      report.ok = true;
      await this.reconcile(networks, containers, report);
    } catch (err) {
      report.ok = false;
      report.error = errorMessage(err);
    }
    this.last = report;
    const changed = report.itemErrors.length + report.networksAdopted + report.endpointsAdopted + report.endpointsReleased.length + report.addressesReleased.length + report.networksRemoved.length;
    const level = !report.ok ? "warn" : changed ? "info" : "debug";
    this.o.logger[level]("reconciled with Docker", {
      ok: report.ok, error: report.error ?? "none", itemErrors: report.itemErrors.join("; ") || "none", networksAdopted: report.networksAdopted, endpointsAdopted: report.endpointsAdopted,
      endpointsReleased: report.endpointsReleased.join(",") || "none", addressesReleased: report.addressesReleased.join(",") || "none",
      networksRemoved: report.networksRemoved.join(",") || "none",
    });
    return report;
  }

  /** True when `key` has been missing since at least graceMs ago (first sighting starts the clock). */
  private overdue(key: string, missing: boolean): boolean {
    if (!missing) {
      this.missingSince.delete(key);
      return false;
    }
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

    // Endpoints of running containers on the plugin's networks.
    const live = new Map<string, { networkId: string; address: string; mac?: string; name?: string }>();
    for (const c of containers) {
      // A paused or restarting container keeps its endpoints.
      if (c.State && !LIVE_STATES.has(c.State)) continue;
      for (const n of Object.values(c.NetworkSettings?.Networks ?? {})) {
        if (!n.NetworkID || !n.EndpointID || !ours.has(n.NetworkID) || !n.IPAddress) continue;
        live.set(n.EndpointID, { networkId: n.NetworkID, address: n.IPAddress, mac: n.MacAddress || undefined, name: c.Names?.[0]?.replace(/^\//, "") });
      }
    }
    for (const [id, ep] of adopting ? live : new Map<string, never>()) {
      if (st.endpoints[id] || !st.networks[ep.networkId]) continue;
      const net = ours.get(ep.networkId);
      const cfg = net?.IPAM?.Config?.[0];
      if (!cfg?.Subnet) continue;
      await this.step(report, `adopt endpoint ${short(id)}`, async () => {
        await this.o.ipam.adoptAddress(poolIdOf(cfg.Subnet as string, cfg.IPRange), ep.address, ep.name);
        if (await this.o.network.adoptEndpoint({ id, networkId: ep.networkId, address: ep.address, mac: ep.mac })) report.endpointsAdopted++;
      });
    }

    // Endpoints the plugin holds for containers Docker no longer runs.
    const liveAddresses = new Set([...live.values()].map((e) => e.address));
    for (const ep of Object.values(st.endpoints)) {
      if (!this.overdue(`endpoint:${ep.id}`, !live.has(ep.id))) continue;
      await this.step(report, `release endpoint ${short(ep.id)}`, async () => {
        await this.o.network.deleteEndpoint({ NetworkID: ep.networkId, EndpointID: ep.id });
        // The address may already be another container's (Docker released it,
        // the IPAM handed it out again): free it only if nobody holds it.
        const poolId = this.o.ipam.endpointPoolOf(ep.address);
        const stillUsed = liveAddresses.has(ep.address) || Object.values(st.endpoints).some((e) => e.address === ep.address);
        if (poolId && !stillUsed) await this.o.ipam.releaseAddress({ PoolID: poolId, Address: ep.address });
        this.missingSince.delete(`endpoint:${ep.id}`);
        report.endpointsReleased.push(short(ep.id));
      });
    }

    // Addresses handed out (RequestAddress) whose endpoint never came or is gone.
    const recorded = new Set(Object.values(st.endpoints).map((e) => e.address));
    for (const address of this.o.ipam.endpointAddresses()) {
      if (!this.overdue(`address:${address}`, !liveAddresses.has(address) && !recorded.has(address))) continue;
      await this.step(report, `release address ${address}`, async () => {
        const poolId = this.o.ipam.endpointPoolOf(address);
        if (poolId) await this.o.ipam.releaseAddress({ PoolID: poolId, Address: address });
        this.missingSince.delete(`address:${address}`);
        report.addressesReleased.push(address);
      });
    }

    // Networks Docker no longer has at all (removed while the plugin could not hear it).
    for (const id of Object.keys(st.networks)) {
      if (!this.overdue(`network:${id}`, !known.has(id))) continue;
      await this.step(report, `remove network ${short(id)}`, async () => {
        await this.o.network.deleteNetwork({ NetworkID: id });
        this.missingSince.delete(`network:${id}`);
        report.networksRemoved.push(short(id));
      });
    }
  }

  private async adoptNetwork(net: DockerNetworkInfo, report: DockerReconcileReport): Promise<void> {
    const cfg = net.IPAM?.Config?.[0];
    if (!cfg?.Subnet) return;
    await this.o.ipam.adoptPool(poolIdOf(cfg.Subnet, cfg.IPRange));
    await this.o.network.createNetwork({
      NetworkID: net.Id,
      Options: { "com.docker.network.generic": net.Options ?? {} },
      IPv4Data: [{ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: cfg.Subnet, ...(cfg.Gateway ? { Gateway: `${cfg.Gateway}/${cfg.Subnet.split("/")[1]}` } : {}) }],
      IPv6Data: [],
    });
    report.networksAdopted++;
  }
}

/** Docker's API through dockerode (DOCKER_HOST or /var/run/docker.sock). */
export function dockerodeApi(): DockerApi {
  // Loaded lazily: only the daemon needs it, not the CLI commands.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Docker = require("dockerode") as typeof import("dockerode");
  const docker = new Docker({ timeout: 10_000 } as import("dockerode").DockerOptions);
  return {
    listNetworks: async () => (await docker.listNetworks()) as unknown as DockerNetworkInfo[],
    listContainers: async () => (await docker.listContainers()) as unknown as DockerContainerInfo[],
  };
}

/**
 * The lifecycle fuzzer's generator: containers going through Docker's
 * endpoint lifecycle on the plugin's network, driven by a seeded PRNG and
 * stepped by a few concurrent workers, with the mistakes Docker makes mixed
 * in, reconciliation triggered every few requests (awaited or not), and
 * pauses long enough for reconciliation's grace period to expire. One run
 * of one seed, on a fresh plugin, is `runSeed`.
 */
import { setTimeout as delay } from "node:timers/promises";
import { vethNames } from "../../../driver/network/records";
import { Rng } from "../../e2e/helpers/fuzz-rng";
import { type Harness, startHarness } from "./lifecycle-harness";
import { GATEWAY, INVARIANTS, LifecycleModel, type ModelStats, PRIMARY, SECONDARIES, type Violation } from "./lifecycle-model";

export interface RunOptions {
  seed: number;
  /** Requests to send. */
  count: number;
  /** Workers, i.e. requests in flight at once. */
  concurrency: number;
  /** Containers taking turns; more than there are workers so that some stay running. */
  containers: number;
  /** Pauses per run, each `pauseMs` long, with no requests sent meanwhile. */
  pauses: number;
  pauseMs: number;
  /**
   * What the fake Docker lists: "none" (no networks, no containers), or
   * "networks" (the networks the run created, still no containers), under
   * which reconciliation judges the plugin's networks and reclaims.
   */
  docker: "none" | "networks";
}

export interface SeedResult {
  seed: number;
  docker: RunOptions["docker"];
  stats: ModelStats;
  violations: Violation[];
  ms: number;
}

type Phase = "idle" | "granted" | "created" | "joined" | "left" | "deleted";

interface Container {
  slot: number;
  incarnation: number;
  busy: boolean;
  phase: Phase;
  /** The name sent with RequestAddress, if one was. */
  owner?: string;
  address?: string;
  poolId?: string;
  networkId?: string;
  endpointId?: string;
  /** A running container stops once this many requests have been sent. */
  stopAt: number;
}

/** What Docker's mistakes left behind, cleaned up late. */
interface Leak {
  actor: string;
  address: string;
  poolId: string;
  /** Set for an endpoint Docker never deleted; else a grant it never used. */
  endpoint?: { networkId: string; id: string };
}

/** How many requests a joined container keeps running for. */
const LIFETIMES: ReadonlyArray<readonly [number, readonly [number, number]]> = [
  [60, [0, 30]],
  [30, [30, 300]],
  [10, [300, 3000]],
];
/** Addresses not to be had: the VM's own, the gateway, one outside the ipconfigs. */
const NOT_IPCONFIGS = [PRIMARY, GATEWAY, "10.0.0.30"];
const STALE_KEPT = 30;
/** Leaks beyond this many are cleaned up before anything else, so the pool is not used up for good. */
const LEAKS_KEPT = 3;

export async function runSeed(options: RunOptions): Promise<SeedResult> {
  const t0 = performance.now();
  let model: LifecycleModel | undefined;
  const harness = await startHarness({
    onReconcileStart: () => model?.onRunStart(),
    onReconcileEnd: (outcome) => model?.onRunEnd(outcome),
    ...(options.docker === "networks" && { dockerNetworks: () => model?.networkIds() ?? [] }),
  });
  try {
    // Reconciliation started with the plugin: wait for any run in progress, so the model sees every run whole.
    await harness.plugin.reconcileNow();
    const m = new LifecycleModel(harness.call, () => harness.plugin.checkpoint, harness.recentErrors);
    model = m;
    await new LifecycleGenerator(harness, m, options).run();
    await harness.plugin.reconcileNow();
    m.finish();
    return { seed: options.seed, docker: options.docker, stats: m.stats, violations: m.violations, ms: performance.now() - t0 };
  } finally {
    await harness.close();
  }
}

export function summaryLine(result: SeedResult): string {
  const s = result.stats;
  const byInvariant = INVARIANTS.map((inv) => `${inv}=${result.violations.filter((v) => v.invariant === inv).length}`).join(" ");
  return [
    `lifecycle-fuzz seed=${result.seed}`,
    `docker=${result.docker}`,
    `requests=${s.requests}`,
    `grants=${s.grants}`,
    `releases=${s.releases}`,
    `releases-refused=${s.releasesRefused}`,
    `reconcile-runs=${s.reconcileRuns}`,
    `violations=${result.violations.length} (${byInvariant})`,
    `double-grants=${s.doubleGrants}`,
    `endpoints=${s.endpointsCreated}`,
    `joins=${s.joins}`,
    `networks=${s.networksCreated}`,
    `failed-requests=${s.refusedRequests}`,
    `exhausted=${s.exhausted}`,
    `reclaimed=[addresses ${s.reclaimedAddresses}, endpoints ${s.reclaimedEndpoints}, networks ${s.removedNetworks}]`,
    `regrants-after-reclaim=${s.regrantsAfterReclaim}`,
    `time=${(result.ms / 1000).toFixed(1)}s`,
  ].join(" ");
}

export class LifecycleGenerator {
  private readonly rng: Rng;
  private readonly containers: Container[];
  private network: { id: string; poolId: string } | undefined;
  private networkSetup: Promise<void> | undefined;
  private paused: Promise<void> | undefined;
  private readonly pausePoints: number[];
  private nextReconcile = 0;
  private readonly background: Promise<void>[] = [];
  /** Addresses containers released, for late and duplicate releases. */
  private readonly stale: string[] = [];
  private readonly leaks: Leak[] = [];
  private aborted: string | undefined;

  constructor(
    private readonly harness: Harness,
    private readonly model: LifecycleModel,
    private readonly o: RunOptions,
  ) {
    this.rng = new Rng(o.seed);
    this.containers = Array.from({ length: o.containers }, (_, slot) => ({ slot, incarnation: 0, busy: false, phase: "idle", stopAt: 0 }));
    this.pausePoints = Array.from({ length: o.pauses }, (_, i) => Math.floor((o.count * (i + 1)) / (o.pauses + 1)));
  }

  async run(): Promise<void> {
    await this.networkReady();
    await Promise.all(Array.from({ length: this.o.concurrency }, () => this.worker()));
    await Promise.all(this.background);
  }

  private get more(): boolean {
    return this.aborted === undefined && this.model.sent < this.o.count;
  }

  private async worker(): Promise<void> {
    while (this.more) {
      await this.paused;
      if (this.pausePoints.length > 0 && this.model.sent >= this.pausePoints[0]) {
        this.pausePoints.shift();
        await this.pause();
        continue;
      }
      await this.act();
      await this.maybeReconcile();
    }
  }

  /** No requests for a while, so that what reconciliation has seen missing becomes overdue. */
  private async pause(): Promise<void> {
    let resume = () => {};
    this.paused = new Promise((r) => (resume = r));
    this.background.push(this.reconcile());
    await delay(this.o.pauseMs);
    await this.reconcile();
    this.paused = undefined;
    resume();
  }

  private async maybeReconcile(): Promise<void> {
    if (this.model.sent < this.nextReconcile) return;
    this.nextReconcile = this.model.sent + this.rng.between(10, 30);
    const run = this.reconcile();
    if (this.rng.chance(0.5)) await run;
    else this.background.push(run);
  }

  private reconcile(): Promise<void> {
    return this.harness.plugin.reconcileNow().then(
      () => undefined,
      (err: unknown) => this.model.note("reconciler", `reconcileNow rejected: ${String(err)}`, true),
    );
  }

  private async act(): Promise<void> {
    const roll = this.rng.int(100);
    if (this.leaks.length > 0 && (roll < 2 || this.leaks.length > LEAKS_KEPT)) return this.cleanUp();
    if (roll < 5 && this.stale.length > 0) return this.lateRelease();
    if (roll < 7) return this.unknownEndpoint();
    if (roll < 11) {
      const running = this.containers.filter((c) => !c.busy && c.phase === "joined");
      if (running.length > 0) return this.with(this.rng.pick(running), (c) => this.runningMistake(c));
    }
    let ready = this.containers.filter((c) => !c.busy && (c.phase !== "joined" || this.model.sent >= c.stopAt));
    if (ready.length === 0) {
      // Everyone is running: the one due soonest stops now.
      const running = this.containers.filter((c) => !c.busy && c.phase === "joined").sort((a, b) => a.stopAt - b.stopAt);
      ready = running.slice(0, 1);
    }
    if (ready.length === 0) {
      await delay(1);
      return;
    }
    await this.with(this.rng.pick(ready), (c) => this.step(c));
  }

  private async with(c: Container, fn: (c: Container) => Promise<void>): Promise<void> {
    c.busy = true;
    try {
      await fn(c);
    } finally {
      c.busy = false;
    }
  }

  private actor(c: Container): string {
    return `c${c.slot}.${c.incarnation}`;
  }

  private async step(c: Container): Promise<void> {
    switch (c.phase) {
      case "idle":
        return this.requestAddress(c);
      case "granted":
        return this.afterGrant(c);
      case "created":
        return this.afterCreate(c);
      case "joined":
        return this.stop(c);
      case "left":
        return this.afterLeave(c);
      case "deleted":
        return this.release(
          c,
          "after DeleteEndpoint",
          this.rng.weighted([
            [82, 0],
            [10, 1],
            [8, 2],
          ] as const),
        );
    }
  }

  private async requestAddress(c: Container): Promise<void> {
    await this.networkReady();
    const net = this.network;
    if (!net) return;
    c.incarnation++;
    Object.assign(c, { owner: undefined, address: undefined, endpointId: undefined, networkId: net.id, poolId: net.poolId });
    const held = this.harness.plugin.checkpoint.ipam.addresses;
    const free = SECONDARIES.filter((a) => !Object.hasOwn(held, a));
    const taken = SECONDARIES.filter((a) => Object.hasOwn(held, a));
    const address = this.rng.weighted([
      [80, undefined],
      [12, this.rng.pick(free.length > 0 ? free : SECONDARIES)],
      [4, this.rng.pick(taken.length > 0 ? taken : SECONDARIES)],
      [4, this.rng.pick(NOT_IPCONFIGS)],
    ] as const);
    // A specific address without a name would be an --aux-address while the aux window is open.
    const name = address !== undefined || this.rng.chance(0.9) ? `c${c.slot}-${c.incarnation}` : undefined;
    const got = await this.model.requestAddress(this.actor(c), net.poolId, { name, address });
    if (got === undefined) return;
    Object.assign(c, { phase: "granted", owner: name, address: got });
  }

  private async afterGrant(c: Container): Promise<void> {
    const roll = this.rng.int(100);
    if (roll < 6) {
      this.model.note(this.actor(c), `abandons ${c.address}: its CreateEndpoint never comes`, false, [c.address as string]);
      this.leaks.push({ actor: this.actor(c), address: c.address as string, poolId: c.poolId as string });
      Object.assign(c, { phase: "idle", address: undefined });
      return;
    }
    if (roll < 14) return this.release(c, "Docker gave up before CreateEndpoint");
    c.endpointId = this.rng.hex(64);
    const ok = this.rng.chance(0.08) ? (await Promise.all([this.create(c), this.create(c)])).some(Boolean) : await this.create(c);
    if (ok) c.phase = "created";
    else await this.release(c, "CreateEndpoint failed");
  }

  private async afterCreate(c: Container): Promise<void> {
    const roll = this.rng.int(100);
    if (roll < 8) {
      await this.create(c);
      return;
    }
    if (roll < 14) {
      await this.model.deleteEndpoint(this.actor(c), c.networkId as string, c.endpointId as string);
      return this.release(c, "rolled back before Join");
    }
    if (roll < 18) {
      await this.model.releaseAddress(this.actor(c), c.poolId as string, c.address as string, "stray, endpoint not deleted");
      return;
    }
    if (await this.model.join(this.actor(c), c.networkId as string, c.endpointId as string)) {
      this.movePeer(c, "into the container");
      const [low, high] = this.rng.weighted(LIFETIMES);
      Object.assign(c, { phase: "joined", stopAt: this.model.sent + this.rng.between(low, high) });
      return;
    }
    // Docker's rollback of a failed Join.
    await this.model.leave(this.actor(c), c.networkId as string, c.endpointId as string);
    await this.model.deleteEndpoint(this.actor(c), c.networkId as string, c.endpointId as string);
    await this.release(c, "Join failed");
  }

  private async stop(c: Container): Promise<void> {
    await this.model.leave(this.actor(c), c.networkId as string, c.endpointId as string);
    this.movePeer(c, "back to the host");
    c.phase = "left";
  }

  private async afterLeave(c: Container): Promise<void> {
    if (this.rng.chance(0.1)) {
      this.leaks.push({
        actor: this.actor(c),
        address: c.address as string,
        poolId: c.poolId as string,
        endpoint: { networkId: c.networkId as string, id: c.endpointId as string },
      });
      return this.release(c, "without DeleteEndpoint");
    }
    await this.model.deleteEndpoint(this.actor(c), c.networkId as string, c.endpointId as string);
    c.phase = "deleted";
  }

  /** Mistakes while the container runs: a stray ReleaseAddress, or CreateEndpoint sent again. */
  private async runningMistake(c: Container): Promise<void> {
    if (this.rng.chance(0.55))
      await this.model.releaseAddress(this.actor(c), c.poolId as string, c.address as string, "stray, container running");
    else await this.create(c);
  }

  private create(c: Container): Promise<boolean> {
    return this.model.createEndpoint(this.actor(c), c.networkId as string, c.endpointId as string, c.address as string, c.owner);
  }

  /** The container's ReleaseAddress, then `duplicates` more: 1 sent after it, 2 sent alongside it. */
  private async release(c: Container, why: string, duplicates: 0 | 1 | 2 = 0): Promise<void> {
    const address = c.address as string;
    const send = (what: string) => this.model.releaseAddress(this.actor(c), c.poolId as string, address, what);
    if (duplicates === 2) await Promise.all([send(why), send(`${why}, duplicate`)]);
    else {
      await send(why);
      if (duplicates === 1) await send(`${why}, duplicate`);
    }
    this.stale.push(address);
    if (this.stale.length > STALE_KEPT) this.stale.shift();
    Object.assign(c, { phase: "idle", address: undefined });
  }

  /** Docker catches up with a leak: DeleteEndpoint for an endpoint it skipped, then ReleaseAddress. */
  private async cleanUp(): Promise<void> {
    const leak = this.leaks.splice(this.rng.int(this.leaks.length), 1)[0];
    if (leak.endpoint) await this.model.deleteEndpoint(leak.actor, leak.endpoint.networkId, leak.endpoint.id);
    await this.model.releaseAddress(
      leak.actor,
      leak.poolId,
      leak.address,
      leak.endpoint ? "late clean-up after DeleteEndpoint" : "late clean-up of an abandoned grant",
    );
  }

  /** A ReleaseAddress Docker sends long after the container gave the address back. */
  private async lateRelease(): Promise<void> {
    const address = this.rng.pick(this.stale);
    const poolId = this.network?.poolId ?? "";
    await this.model.releaseAddress("docker", poolId, address, "late");
  }

  private async unknownEndpoint(): Promise<void> {
    await this.model.deleteEndpoint("docker", this.network?.id ?? "0".repeat(64), this.rng.hex(64));
  }

  /**
   * Docker moves the container end of the veth into the container after Join
   * and back to the host before DeleteEndpoint; the network layer reads a
   * live endpoint from that.
   */
  private movePeer(c: Container, where: "into the container" | "back to the host"): void {
    const links = this.harness.dataplane.links;
    const names = vethNames(c.endpointId as string);
    if (where === "into the container") {
      links.delete(names.peer);
      return;
    }
    const host = links.get(names.host);
    if (host && !links.has(names.peer))
      links.set(names.peer, { name: names.peer, index: host.index + 1, mtu: host.mtu, up: false, kind: "veth", mac: "02:00:00:00:00:01" });
  }

  /** The current network, created again if reconciliation removed it (Docker lists none). */
  private async networkReady(): Promise<void> {
    for (let attempt = 0; attempt < 3 && this.aborted === undefined; attempt++) {
      const net = this.network;
      if (net && Object.hasOwn(this.harness.plugin.checkpoint.network.networks, net.id)) return;
      await (this.networkSetup ??= this.setupNetwork().finally(() => (this.networkSetup = undefined)));
    }
  }

  /** What `docker network create` sends: RequestPool, the gateway, CreateNetwork. */
  private async setupNetwork(): Promise<void> {
    const poolId = await this.model.requestPool("docker");
    const id = this.rng.hex(64);
    if (poolId === undefined || !(await this.model.requestGateway("docker", poolId)) || !(await this.model.createNetwork("docker", id))) {
      this.aborted = "the network could not be created";
      this.model.note("docker", `${this.aborted}: no more requests are sent`, false);
      return;
    }
    this.network = { id, poolId };
  }
}

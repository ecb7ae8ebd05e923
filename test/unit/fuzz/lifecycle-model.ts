/**
 * The oracle of the lifecycle fuzzer. It sends each request the generator
 * decides on, keeps Docker's side of the story (which container was given
 * which address and has not given it back, which endpoints and networks it
 * created), follows the plugin's reconciliation runs, and after every answer
 * checks the plugin's checkpoint:
 *
 *  I1  no two endpoint records share an address;
 *  I2  every endpoint record's address is held by the IPAM as "endpoint"
 *      (and for that endpoint, when the address record names one);
 *  I3  RequestAddress never hands out an address that, when it was asked
 *      for, a live endpoint record or a grant Docker has not released held
 *      (a "double grant");
 *  I4  a ReleaseAddress of an address a live endpoint record holds leaves the
 *      address held as it was;
 *  I5  reconciliation takes nothing back sooner than the grace period after
 *      Docker was given it. The fake Docker lists no containers, so the
 *      plugin may reclaim anything older than the grace period; a grant it
 *      reclaimed (and reported reclaiming) may be handed out again, and I5 is
 *      what keeps that exemption from I3 honest.
 *
 * Besides these: no internal error, no request left unanswered, and no
 * failure that neither the state before and after it nor the calls that
 * overlapped it explain.
 *
 * Concurrency makes "the state when the request was made" a window rather
 * than an instant, so every check is one-sided: it reports only what no
 * ordering of the overlapping requests and reconciliation runs explains.
 */
import type { Answer } from "./lifecycle-harness";

export const ADDRESS_SPACE = "AzureVNetLocal";
export const SUBNET = "10.0.0.0/24";
export const PREFIX = 24;
export const GATEWAY = "10.0.0.1";
export const PRIMARY = "10.0.0.4";
export const SECONDARIES: readonly string[] = Array.from({ length: 12 }, (_, i) => `10.0.0.${10 + i}`);
export const GRACE_MS = 1000;

/** The reconciler times with Date.now() (whole milliseconds), this model with performance.now(). */
const CLOCK_SLACK_MS = 5;
const NAME_OPTION = "com.docker.network.endpoint.name";
const GATEWAY_OPTION = { RequestAddressType: "com.docker.network.gateway" };
/** Violations of one invariant beyond this many are counted without a trace. */
const TRACED_PER_INVARIANT = 5;
const TRACE_LENGTH = 30;

export type Transport = (method: string, body: unknown) => Promise<Answer>;

/** The parts of the plugin's checkpoint the invariants read. */
export interface CheckpointView {
  network: { networks: Record<string, unknown>; endpoints: Record<string, EndpointView> };
  ipam: { addresses: Record<string, AddressView> };
}
interface EndpointView {
  id: string;
  networkId: string;
  address: string;
  createdAt?: string;
}
interface AddressView {
  poolId: string;
  kind: string;
  name?: string;
  endpointId?: string;
  lease?: number;
}

export type Invariant = "I1" | "I2" | "I3" | "I4" | "I5" | "failure";
export const INVARIANTS: readonly Invariant[] = ["I1", "I2", "I3", "I4", "I5", "failure"];

export interface Violation {
  invariant: Invariant;
  /** The request after whose answer it was found (0: during a reconciliation run). */
  seq: number;
  message: string;
  /** The requests and reconciliation runs that touched the addresses and endpoints involved, oldest first. */
  trace?: string[];
}

export interface ModelStats {
  requests: number;
  grants: number;
  releases: number;
  releasesRefused: number;
  refusedRequests: number;
  exhausted: number;
  endpointsCreated: number;
  joins: number;
  networksCreated: number;
  reconcileRuns: number;
  reclaimedAddresses: number;
  reclaimedEndpoints: number;
  removedNetworks: number;
  regrantsAfterReclaim: number;
  doubleGrants: number;
}

interface TraceEvent {
  seq: number;
  actor: string;
  /** "<Interface>.<Method>" for requests. */
  method?: string;
  text: string;
  sentAt: number;
  respAt?: number;
  outcome?: string;
  addresses: string[];
  /** Short (12-character) endpoint IDs. */
  endpoints: string[];
}

interface Grant {
  seq: number;
  actor: string;
  sentAt: number;
  respAt: number;
}

interface Release {
  sentAt: number;
  respAt?: number;
}

interface Run {
  k: number;
  startAt: number;
  endAt?: number;
  addresses: Set<string>;
  endpoints: Set<string>;
  networks: Set<string>;
  event: TraceEvent;
}

interface MadeEndpoint {
  id: string;
  networkId: string;
  address: string;
  /** Successful CreateEndpoint calls. */
  creates: Array<{ sentAt: number; respAt: number }>;
  inflight: number;
  /** Start of the last run that reported releasing it. */
  reclaimedFrom: number;
}

interface MadeNetwork {
  id: string;
  sentAt: number;
  respAt: number;
}

/** A re-grant of an address some earlier grant held, judged once the runs it overlapped have reported. */
interface PendingGrant {
  event: TraceEvent;
  address: string;
  earlier: Grant;
  answeredAt: number;
}

type Verdict = "ok" | "refused" | "broken";

/** A call on one address; calls for the same endpoint (retries) do not count as overlapping each other. */
interface Touch {
  endpointId?: string;
  overlapped: boolean;
}

export const short = (id: string): string => id.slice(0, 12);
const stripPrefix = (cidr: string): string => cidr.replace(/\/\d+$/, "");

export class LifecycleModel {
  readonly stats: ModelStats = {
    requests: 0,
    grants: 0,
    releases: 0,
    releasesRefused: 0,
    refusedRequests: 0,
    exhausted: 0,
    endpointsCreated: 0,
    joins: 0,
    networksCreated: 0,
    reconcileRuns: 0,
    reclaimedAddresses: 0,
    reclaimedEndpoints: 0,
    removedNetworks: 0,
    regrantsAfterReclaim: 0,
    doubleGrants: 0,
  };
  readonly violations: Violation[] = [];
  private readonly t0 = performance.now();
  private readonly events: TraceEvent[] = [];
  /** Per address, the latest grant Docker was given. */
  private readonly grants = new Map<string, Grant>();
  private readonly releases = new Map<string, Release[]>();
  private readonly endpointsMade = new Map<string, MadeEndpoint>();
  private readonly networksMade = new Map<string, MadeNetwork>();
  private readonly runs: Run[] = [];
  /** End of the last run that reported releasing each address. */
  private readonly addressReclaimedAt = new Map<string, number>();
  private readonly pending: PendingGrant[] = [];
  /** Container RequestAddress calls in flight; each counts the others it overlapped. */
  private readonly inflightRequests = new Set<{ overlaps: number }>();
  /** Calls in flight that may change one address's records, by address; each notes whether another overlapped it. */
  private readonly touching = new Map<string, Set<Touch>>();
  private readonly reported = new Set<string>();
  private readonly tracedPer = new Map<Invariant, number>();

  constructor(
    private readonly transport: Transport,
    private readonly checkpoint: () => CheckpointView,
    private readonly diagnostics: () => string[] = () => [],
  ) {}

  get sent(): number {
    return this.stats.requests;
  }

  /** Networks Docker created (and, never having sent DeleteNetwork, still has). */
  networkIds(): string[] {
    return [...this.networksMade.values()].map((n) => n.id);
  }

  now(): number {
    return performance.now() - this.t0;
  }

  // ---- requests ------------------------------------------------------------

  async requestPool(actor: string): Promise<string | undefined> {
    const event = this.begin(actor, "IpamDriver.RequestPool", SUBNET);
    const answer = await this.send(event, { AddressSpace: ADDRESS_SPACE, Pool: SUBNET, SubPool: "", Options: {}, V6: false });
    const verdict = this.verdict(event, answer);
    const poolId = verdict === "ok" ? (answer.body as { PoolID?: unknown }).PoolID : undefined;
    if (verdict === "refused") this.unexplained(event, "RequestPool for the NIC's subnet failed");
    else if (verdict === "ok" && typeof poolId !== "string")
      this.violate("failure", event, `RequestPool answered without a PoolID: ${JSON.stringify(answer.body)}`);
    this.checkState(event);
    return typeof poolId === "string" ? poolId : undefined;
  }

  async requestGateway(actor: string, poolId: string): Promise<boolean> {
    const event = this.begin(actor, "IpamDriver.RequestAddress", "gateway");
    const answer = await this.send(event, { PoolID: poolId, Address: "", Options: GATEWAY_OPTION });
    const verdict = this.verdict(event, answer);
    if (verdict === "refused") this.unexplained(event, "the gateway request failed");
    const address = verdict === "ok" ? (answer.body as { Address?: unknown }).Address : undefined;
    if (verdict === "ok" && address !== `${GATEWAY}/${PREFIX}`)
      this.violate("failure", event, `the gateway request answered ${JSON.stringify(answer.body)}`);
    this.checkState(event);
    return verdict === "ok";
  }

  async createNetwork(actor: string, networkId: string): Promise<boolean> {
    const event = this.begin(actor, "NetworkDriver.CreateNetwork", short(networkId));
    const answer = await this.send(event, {
      NetworkID: networkId,
      Options: { "com.docker.network.generic": {} },
      IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: SUBNET, Gateway: `${GATEWAY}/${PREFIX}` }],
      IPv6Data: [],
    });
    const verdict = this.verdict(event, answer);
    if (verdict === "refused") this.unexplained(event, "CreateNetwork failed");
    if (verdict === "ok") {
      this.stats.networksCreated++;
      this.networksMade.set(short(networkId), { id: networkId, sentAt: event.sentAt, respAt: event.respAt as number });
    }
    this.checkState(event);
    return verdict === "ok";
  }

  /** A container's address: any free one, or `address`. Returns the address granted. */
  async requestAddress(actor: string, poolId: string, opts: { name?: string; address?: string }): Promise<string | undefined> {
    const before = this.checkpoint();
    const liveAtSend = new Map<string, EndpointView>();
    for (const ep of Object.values(before.network.endpoints)) if (!liveAtSend.has(ep.address)) liveAtSend.set(ep.address, ep);
    const freeAtSend = this.freeCount(before);
    const wantedHeldAtSend = opts.address !== undefined && Object.hasOwn(before.ipam.addresses, opts.address);
    const overlap = { overlaps: this.inflightRequests.size };
    for (const other of this.inflightRequests) other.overlaps++;
    this.inflightRequests.add(overlap);

    const touch = opts.address === undefined ? undefined : this.touch(opts.address);

    const args = [opts.address ?? "any", opts.name ? `name=${opts.name}` : "no name"].join(" ");
    const event = this.begin(actor, "IpamDriver.RequestAddress", args, opts.address ? [opts.address] : []);
    const answer = await this.send(event, {
      PoolID: poolId,
      Address: opts.address ?? "",
      Options: opts.name ? { [NAME_OPTION]: opts.name } : {},
    });
    this.inflightRequests.delete(overlap);
    if (opts.address !== undefined && touch) this.untouch(opts.address, touch);
    const verdict = this.verdict(event, answer);
    let granted: string | undefined;
    if (verdict === "ok") {
      const text = (answer.body as { Address?: unknown }).Address;
      granted = typeof text === "string" ? stripPrefix(text) : undefined;
      event.outcome = `-> ${String(text)}`;
      if (granted === undefined || !SECONDARIES.includes(granted) || (opts.address !== undefined && granted !== opts.address)) {
        this.violate(
          "failure",
          event,
          `RequestAddress answered ${JSON.stringify(answer.body)}, not ${opts.address ?? "a secondary ipconfig"}`,
        );
        granted = undefined;
      } else {
        event.addresses.push(granted);
        this.stats.grants++;
        this.judgeGrant(event, granted, liveAtSend);
        this.grants.set(granted, { seq: event.seq, actor, sentAt: event.sentAt, respAt: event.respAt as number });
      }
    } else if (verdict === "refused") {
      const after = this.checkpoint();
      const explained =
        opts.address === undefined
          ? freeAtSend <= overlap.overlaps
          : !SECONDARIES.includes(opts.address) ||
            wantedHeldAtSend ||
            Object.hasOwn(after.ipam.addresses, opts.address) ||
            overlap.overlaps > 0 ||
            touch?.overlapped === true;
      if (opts.address === undefined && explained) this.stats.exhausted++;
      if (!explained) {
        this.unexplained(
          event,
          opts.address === undefined
            ? `RequestAddress failed although ${freeAtSend} ipconfigs were free when it was sent and only ${overlap.overlaps} other requests overlapped it`
            : `RequestAddress for ${opts.address} failed although it was free and no other call on it overlapped`,
        );
      }
    }
    this.checkState(event);
    return granted;
  }

  async createEndpoint(actor: string, networkId: string, endpointId: string, address: string, owner: string | undefined): Promise<boolean> {
    const made = this.made(endpointId, networkId, address);
    made.inflight++;
    const sendExplains = this.createFailureReason(networkId, endpointId, address, owner);
    const touch = this.touch(address, endpointId);
    const event = this.begin(actor, "NetworkDriver.CreateEndpoint", `${short(endpointId)} ${address}/${PREFIX}`, [address], [endpointId]);
    const answer = await this.send(event, {
      NetworkID: networkId,
      EndpointID: endpointId,
      Interface: { Address: `${address}/${PREFIX}`, AddressIPv6: "", MacAddress: "" },
      Options: {},
    });
    made.inflight--;
    this.untouch(address, touch);
    const verdict = this.verdict(event, answer);
    if (verdict === "ok") {
      this.stats.endpointsCreated++;
      made.creates.push({ sentAt: event.sentAt, respAt: event.respAt as number });
    } else if (
      verdict === "refused" &&
      !sendExplains &&
      !touch.overlapped &&
      !this.createFailureReason(networkId, endpointId, address, owner)
    ) {
      this.unexplained(
        event,
        `CreateEndpoint failed although the network existed, ${address} was held for ${owner ?? "the container"} and no other endpoint had it, before and after, and no other call on it overlapped`,
      );
    }
    this.checkState(event);
    return verdict === "ok";
  }

  async join(actor: string, networkId: string, endpointId: string): Promise<boolean> {
    const before = this.checkpoint();
    const ep = this.endpointRecord(before, endpointId);
    const event = this.begin(actor, "NetworkDriver.Join", short(endpointId), ep ? [ep.address] : [], [endpointId]);
    const answer = await this.send(event, {
      NetworkID: networkId,
      EndpointID: endpointId,
      SandboxKey: `/var/run/docker/netns/${endpointId.slice(0, 12)}`,
      Options: {},
    });
    const verdict = this.verdict(event, answer);
    if (verdict === "ok") this.stats.joins++;
    const after = this.checkpoint();
    if (verdict === "refused" && ep && this.stillLive(after, ep) && Object.hasOwn(after.network.networks, networkId)) {
      this.unexplained(event, `Join failed although endpoint ${short(endpointId)} and its network existed throughout`);
    }
    this.checkState(event);
    return verdict === "ok";
  }

  async leave(actor: string, networkId: string, endpointId: string): Promise<boolean> {
    return this.idempotent(actor, "NetworkDriver.Leave", networkId, endpointId);
  }

  async deleteEndpoint(actor: string, networkId: string, endpointId: string): Promise<boolean> {
    return this.idempotent(actor, "NetworkDriver.DeleteEndpoint", networkId, endpointId);
  }

  /** `why` is for the trace: "normal", "duplicate", "stray" (endpoint still there), "late", ... */
  async releaseAddress(actor: string, poolId: string, address: string, why: string): Promise<boolean> {
    const before = this.checkpoint();
    const holder = Object.values(before.network.endpoints).find((ep) => ep.address === address);
    const heldBefore = Object.hasOwn(before.ipam.addresses, address) ? { ...before.ipam.addresses[address] } : undefined;
    const release: Release = { sentAt: this.now() };
    const list = this.releases.get(address) ?? [];
    list.push(release);
    this.releases.set(address, list);
    this.stats.releases++;

    const note = holder ? `, endpoint ${short(holder.id)} holds it` : "";
    const touch = this.touch(address);
    const event = this.begin(actor, "IpamDriver.ReleaseAddress", `${address} (${why}${note})`, [address], holder ? [holder.id] : []);
    const answer = await this.send(event, { PoolID: poolId, Address: address });
    release.respAt = event.respAt;
    this.untouch(address, touch);
    const verdict = this.verdict(event, answer);
    const after = this.checkpoint();
    const live = holder !== undefined && this.stillLive(after, holder);
    if (live && heldBefore) {
      const heldAfter = Object.hasOwn(after.ipam.addresses, address) ? after.ipam.addresses[address] : undefined;
      const kept =
        heldAfter !== undefined &&
        heldAfter.kind === heldBefore.kind &&
        heldAfter.poolId === heldBefore.poolId &&
        heldAfter.name === heldBefore.name &&
        heldAfter.endpointId === heldBefore.endpointId &&
        heldAfter.lease === heldBefore.lease;
      if (kept) this.stats.releasesRefused++;
      else {
        this.violate(
          "I4",
          event,
          `ReleaseAddress of ${address} changed its address record from ${describe(heldBefore)} to ${describe(heldAfter)} while live endpoint ${short(holder.id)} held it`,
          [address],
          [holder.id],
        );
      }
    } else if (verdict === "refused") {
      const stillHeld = Object.values(after.network.endpoints).some((ep) => ep.address === address);
      if (!holder && !stillHeld && !touch.overlapped)
        this.unexplained(event, `ReleaseAddress of ${address} failed although no endpoint held it`);
    }
    this.checkState(event);
    return verdict === "ok";
  }

  /** A trace entry for something Docker did without a request; `failed` also reports it as a failure. */
  note(actor: string, text: string, failed: boolean, addresses: string[] = []): void {
    const at = this.now();
    const event: TraceEvent = { seq: 0, actor, text, sentAt: at, respAt: at, addresses, endpoints: [] };
    this.events.push(event);
    if (failed) this.violate("failure", event, text);
  }

  // ---- reconciliation --------------------------------------------------------

  onRunStart(): void {
    const k = this.runs.length + 1;
    const startAt = this.now();
    const event: TraceEvent = { seq: 0, actor: "reconciler", text: `run ${k}`, sentAt: startAt, addresses: [], endpoints: [] };
    this.events.push(event);
    this.runs.push({ k, startAt, addresses: new Set(), endpoints: new Set(), networks: new Set(), event });
  }

  onRunEnd(outcome: { addressesReleased: string[]; endpointsReleased: string[]; networksRemoved: string[] }): void {
    const run = this.runs.find((r) => r.endAt === undefined);
    if (!run) {
      this.violate("failure", undefined, "a reconciliation run ended that was never seen to start");
      return;
    }
    run.endAt = this.now();
    outcome.addressesReleased.forEach((a) => run.addresses.add(a));
    outcome.endpointsReleased.forEach((e) => run.endpoints.add(short(e)));
    outcome.networksRemoved.forEach((n) => run.networks.add(short(n)));
    this.stats.reconcileRuns++;
    this.stats.reclaimedAddresses += run.addresses.size;
    this.stats.reclaimedEndpoints += run.endpoints.size;
    this.stats.removedNetworks += run.networks.size;
    const endpointAddresses = [...this.endpointsMade.values()]
      .filter((m) => run.endpoints.has(short(m.id)) || run.networks.has(short(m.networkId)))
      .map((m) => m.address);
    Object.assign(run.event, {
      respAt: run.endAt,
      outcome: `released addresses [${[...run.addresses].join(",")}] endpoints [${[...run.endpoints].join(",")}] networks [${[...run.networks].join(",")}]`,
      addresses: [...new Set([...run.addresses, ...endpointAddresses])],
      endpoints: [...run.endpoints],
    });
    this.checkReclaims(run);
    this.settle();
    this.checkState(run.event);
  }

  /** After the last request and the last reconciliation run: judge what is still open. */
  finish(): void {
    for (const run of this.runs.filter((r) => r.endAt === undefined)) {
      this.violate(
        "failure",
        run.event,
        `reconciliation run ${run.k} never reported its end (the log line "reconciled with Docker" was not seen)`,
      );
      run.endAt = this.now();
    }
    this.settle();
    this.checkState(undefined);
  }

  // ---- checks ----------------------------------------------------------------

  /** I3 for one grant, first against live endpoint records, then against Docker's grants. */
  private judgeGrant(event: TraceEvent, address: string, liveAtSend: Map<string, EndpointView>): void {
    const holder = liveAtSend.get(address);
    if (holder && this.stillLive(this.checkpoint(), holder)) {
      this.stats.doubleGrants++;
      this.violate(
        "I3",
        event,
        `double grant: ${address} handed out while live endpoint ${short(holder.id)} held it from before the request until after the answer`,
        [address],
        [holder.id],
      );
      return;
    }
    const earlier = this.grants.get(address);
    if (earlier) {
      this.pending.push({ event, address, earlier, answeredAt: event.respAt as number });
      this.settle();
    }
  }

  /** Judges the re-grants whose overlapping reconciliation runs have all reported. */
  private settle(): void {
    for (let i = 0; i < this.pending.length;) {
      const p = this.pending[i];
      if (this.runs.some((r) => r.startAt < p.answeredAt && r.endAt === undefined)) {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      if (this.releasedByDocker(p.address, p.earlier.sentAt, p.answeredAt)) continue;
      const reclaimed = this.runs.some(
        (r) => r.startAt < p.answeredAt && (r.endAt as number) > p.earlier.sentAt && this.runReleased(r, p.address),
      );
      if (reclaimed) {
        this.stats.regrantsAfterReclaim++;
        continue;
      }
      this.stats.doubleGrants++;
      this.violate(
        "I3",
        p.event,
        `double grant: ${p.address} handed out while ${p.earlier.actor}'s grant of it (#${p.earlier.seq}) was neither released by Docker nor reported reclaimed by reconciliation`,
        [p.address],
      );
    }
  }

  /** I5 for what one run reported releasing. */
  private checkReclaims(run: Run): void {
    const end = run.endAt as number;
    const early = (since: number) => end - since < GRACE_MS - CLOCK_SLACK_MS;
    for (const address of run.addresses) {
      const grant = this.grants.get(address);
      const previous = this.addressReclaimedAt.get(address) ?? -Infinity;
      this.addressReclaimedAt.set(address, end);
      if (!grant || grant.respAt >= run.startAt || previous > grant.sentAt || this.releasedByDocker(address, grant.sentAt, end)) continue;
      if (early(grant.sentAt)) {
        this.violate(
          "I5",
          run.event,
          `reconciliation run ${run.k} released ${address} ${Math.round(end - grant.sentAt)} ms after it was granted to ${grant.actor} (#${grant.seq}); the grace is ${GRACE_MS} ms`,
          [address],
        );
      }
    }
    for (const id of run.endpoints) {
      const made = this.endpointsMade.get(id);
      if (!made) continue;
      const creators = made.creates.filter((c) => c.respAt > made.reclaimedFrom && c.sentAt < end);
      made.reclaimedFrom = run.startAt;
      if (made.inflight > 0 || creators.length === 0) continue;
      const born = Math.min(...creators.map((c) => c.sentAt));
      if (early(born)) {
        this.violate(
          "I5",
          run.event,
          `reconciliation run ${run.k} released endpoint ${id} ${Math.round(end - born)} ms after it was created; the grace is ${GRACE_MS} ms`,
          [made.address],
          [id],
        );
      }
    }
    for (const id of run.networks) {
      const made = this.networksMade.get(id);
      if (made && early(made.sentAt)) {
        this.violate(
          "I5",
          run.event,
          `reconciliation run ${run.k} removed network ${id} ${Math.round(end - made.sentAt)} ms after it was created; the grace is ${GRACE_MS} ms`,
        );
      }
    }
  }

  /** I1 and I2 against the checkpoint as it is now; each finding is reported once. */
  private checkState(event: TraceEvent | undefined): void {
    const cp = this.checkpoint();
    const byAddress = new Map<string, EndpointView[]>();
    for (const ep of Object.values(cp.network.endpoints)) byAddress.set(ep.address, [...(byAddress.get(ep.address) ?? []), ep]);
    for (const [address, eps] of byAddress) {
      if (eps.length < 2) continue;
      const ids = eps.map((e) => short(e.id)).sort();
      this.once(`I1 ${address} ${ids.join(" ")}`, () =>
        this.violate(
          "I1",
          event,
          `endpoints ${ids.join(" and ")} both have ${address}`,
          [address],
          eps.map((e) => e.id),
        ),
      );
    }
    for (const ep of Object.values(cp.network.endpoints)) {
      const held = Object.hasOwn(cp.ipam.addresses, ep.address) ? cp.ipam.addresses[ep.address] : undefined;
      let problem: string | undefined;
      if (!held) problem = "is not held by the IPAM";
      else if (held.kind !== "endpoint") problem = `is held by the IPAM as "${held.kind}"`;
      else if (held.endpointId !== undefined && held.endpointId !== ep.id)
        problem = `is held by the IPAM for endpoint ${short(held.endpointId)}`;
      if (problem) {
        const text = problem;
        this.once(`I2 ${ep.id} ${ep.createdAt} ${text}`, () =>
          this.violate("I2", event, `endpoint ${short(ep.id)}'s address ${ep.address} ${text}`, [ep.address], [ep.id]),
        );
      }
    }
  }

  // ---- helpers ---------------------------------------------------------------

  private async idempotent(actor: string, method: string, networkId: string, endpointId: string): Promise<boolean> {
    const ep = this.endpointRecord(this.checkpoint(), endpointId);
    const event = this.begin(actor, method, short(endpointId), ep ? [ep.address] : [], [endpointId]);
    const answer = await this.send(event, { NetworkID: networkId, EndpointID: endpointId });
    const verdict = this.verdict(event, answer);
    if (verdict === "refused") this.unexplained(event, `${method} failed; it must be idempotent`);
    this.checkState(event);
    return verdict === "ok";
  }

  /** Why a CreateEndpoint may fail in the state of now, or undefined if nothing explains a failure. */
  private createFailureReason(networkId: string, endpointId: string, address: string, owner: string | undefined): string | undefined {
    const cp = this.checkpoint();
    if (!Object.hasOwn(cp.network.networks, networkId)) return "no network";
    if (Object.values(cp.network.endpoints).some((ep) => ep.address === address && ep.id !== endpointId)) return "address used";
    const held = Object.hasOwn(cp.ipam.addresses, address) ? cp.ipam.addresses[address] : undefined;
    if (!held || held.kind !== "endpoint") return "address not held";
    if (owner !== undefined && held.name !== undefined && held.name !== owner) return "address held for another";
    return undefined;
  }

  private touch(address: string, endpointId?: string): Touch {
    const calls = this.touching.get(address) ?? new Set<Touch>();
    this.touching.set(address, calls);
    const me: Touch = { endpointId, overlapped: false };
    for (const other of calls) {
      if (endpointId !== undefined && other.endpointId === endpointId) continue;
      other.overlapped = true;
      me.overlapped = true;
    }
    calls.add(me);
    return me;
  }

  private untouch(address: string, touch: Touch): void {
    this.touching.get(address)?.delete(touch);
  }

  private made(endpointId: string, networkId: string, address: string): MadeEndpoint {
    const key = short(endpointId);
    let made = this.endpointsMade.get(key);
    if (!made) {
      made = { id: endpointId, networkId, address, creates: [], inflight: 0, reclaimedFrom: -Infinity };
      this.endpointsMade.set(key, made);
    }
    return made;
  }

  private endpointRecord(cp: CheckpointView, endpointId: string): EndpointView | undefined {
    return Object.hasOwn(cp.network.endpoints, endpointId) ? cp.network.endpoints[endpointId] : undefined;
  }

  /** The same record (not a recreated one) is still in the checkpoint. */
  private stillLive(cp: CheckpointView, ep: EndpointView): boolean {
    const now = this.endpointRecord(cp, ep.id);
    return now === ep || (now !== undefined && now.address === ep.address && now.createdAt === ep.createdAt);
  }

  /** Docker sent a ReleaseAddress for `address` that may have taken effect between `from` and `until`. */
  private releasedByDocker(address: string, from: number, until: number): boolean {
    return (this.releases.get(address) ?? []).some((r) => r.sentAt < until && (r.respAt ?? Infinity) > from);
  }

  /** The run reported releasing the address, an endpoint that had it, or the network of such an endpoint. */
  private runReleased(run: Run, address: string): boolean {
    if (run.addresses.has(address)) return true;
    if ([...run.endpoints].some((id) => this.endpointsMade.get(id)?.address === address)) return true;
    return (
      run.networks.size > 0 && [...this.endpointsMade.values()].some((m) => m.address === address && run.networks.has(short(m.networkId)))
    );
  }

  private freeCount(cp: CheckpointView): number {
    return SECONDARIES.filter((a) => !Object.hasOwn(cp.ipam.addresses, a)).length;
  }

  private begin(actor: string, method: string, args: string, addresses: string[] = [], endpoints: string[] = []): TraceEvent {
    this.stats.requests++;
    const event: TraceEvent = {
      seq: this.stats.requests,
      actor,
      method,
      text: `${method.replace(/^(IpamDriver|NetworkDriver)\./, "")} ${args}`,
      sentAt: this.now(),
      addresses: [...addresses],
      endpoints: endpoints.map(short),
    };
    this.events.push(event);
    return event;
  }

  private async send(event: TraceEvent, body: unknown): Promise<Answer> {
    const answer = await this.transport(event.method as string, body);
    event.respAt = this.now();
    return answer;
  }

  private verdict(event: TraceEvent, answer: Answer): Verdict {
    if (answer.transportError !== undefined || answer.status === 0) {
      event.outcome = `no answer: ${answer.transportError ?? "none"}`;
      this.violate("failure", event, `no answer: ${answer.transportError ?? "the connection closed"}`);
      return "broken";
    }
    const body = answer.body as { Err?: unknown } | undefined;
    if (answer.status === 200 && typeof body === "object" && body !== null) {
      event.outcome ??= "ok";
      return "ok";
    }
    if (answer.status === 500 && typeof body?.Err === "string") {
      event.outcome = `failed: ${body.Err}`;
      if (/^internal error/i.test(body.Err)) {
        this.violate(
          "failure",
          event,
          `internal error: ${body.Err}; recent error log: ${this.diagnostics().slice(-3).join(" | ") || "none"}`,
        );
        return "broken";
      }
      this.stats.refusedRequests++;
      return "refused";
    }
    event.outcome = `HTTP ${answer.status} ${JSON.stringify(answer.body)}`;
    this.violate("failure", event, `unexpected answer: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    return "broken";
  }

  private unexplained(event: TraceEvent, message: string): void {
    this.violate("failure", event, `${message} (${event.outcome ?? "no outcome"})`, event.addresses, event.endpoints);
  }

  private once(key: string, report: () => void): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    report();
  }

  private violate(
    invariant: Invariant,
    event: TraceEvent | undefined,
    message: string,
    addresses: string[] = [],
    endpoints: string[] = [],
  ): void {
    const traced = this.tracedPer.get(invariant) ?? 0;
    this.tracedPer.set(invariant, traced + 1);
    this.violations.push({
      invariant,
      seq: event?.seq ?? 0,
      message,
      ...(traced < TRACED_PER_INVARIANT && { trace: this.trace(addresses, endpoints.map(short)) }),
    });
  }

  private trace(addresses: string[], endpoints: string[]): string[] {
    const touches = (e: TraceEvent) => e.addresses.some((a) => addresses.includes(a)) || e.endpoints.some((id) => endpoints.includes(id));
    return this.events
      .filter(touches)
      .slice(-TRACE_LENGTH)
      .map((e) => this.format(e));
  }

  private format(e: TraceEvent): string {
    const when = `${e.sentAt.toFixed(1)}..${e.respAt === undefined ? "(pending)" : e.respAt.toFixed(1)} ms`;
    const seq = e.seq ? `#${e.seq}` : "--";
    return `${seq} ${when} [${e.actor}] ${e.text}${e.outcome ? ` ${e.outcome}` : ""}`;
  }
}

function describe(record: AddressView | undefined): string {
  if (!record) return "(none)";
  const parts = [
    record.kind,
    record.name && `name=${record.name}`,
    record.endpointId && `endpoint=${short(record.endpointId)}`,
    record.lease !== undefined && `lease=${record.lease}`,
  ].filter(Boolean);
  return `{${parts.join(" ")}}`;
}

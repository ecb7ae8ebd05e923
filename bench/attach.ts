/**
 * Figure 2: the seed's limit. Many containers started on one VM, a fixed
 * number at a time, on the plugin's network and on Docker's bridge (ABBA over
 * rounds); on the plugin's network every address must be distinct, reachable
 * from the other VM, and back in the pool once the containers are removed.
 * The plugin's footprint with that many endpoints is read on the way.
 */
import { BRIDGE, BenchContext, IMAGE, NULLNET, VNET, VmName } from "./context";
import { sleep, timed, runPool } from "./measure";
import { heapMiB, residentMiB, split } from "./footprint";
import { PluginClient } from "./plugin-client";
import { median, rotation } from "./stats";
import { kernelLeftovers, readCheckpoint, unreachableFrom } from "./vm-checks";
import { callTimesTable, readCallTimes } from "./plugin-log";

const VM: VmName = "vm1";
const PEER: VmName = "vm2";
/** Docker finishes a removed container's network teardown shortly after `rm -f` returns. */
const RELEASE_WAIT_MS = 30_000;
/** Start-up reconciles every endpoint; far longer than an idle start, and still worth a number. */
const RESTART_TIMEOUT_MS = 300_000;

interface Batch {
  names: string[];
  startMs: number;
  failures: string[];
}

/** Starts `count` idle containers on a VM's network, attachParallel at a time. */
export async function startBatch(
  ctx: BenchContext,
  network: string,
  tag: string,
  vm: VmName = VM,
  count = ctx.opts.attachCount,
): Promise<Batch> {
  const names = Array.from({ length: count }, (_, i) => `bench-${tag}-${String(i).padStart(3, "0")}`);
  const failures: string[] = [];
  const { ms } = await timed(() =>
    runPool(names, ctx.opts.attachParallel, async (name) => {
      const r = await ctx.docker(vm, ["run", "-d", "--init", "--name", name, "--network", network, IMAGE, "sleep", "3600"]);
      if (r.code !== 0) failures.push(`${name}: ${r.stderr.trim()}`);
    }),
  );
  return { names, startMs: ms, failures };
}

export async function removeBatch(ctx: BenchContext, names: string[], vm: VmName = VM): Promise<{ ms: number; failures: string[] }> {
  const failures: string[] = [];
  const { ms } = await timed(() =>
    runPool(names, ctx.opts.attachParallel, async (name) => {
      const r = await ctx.docker(vm, ["rm", "-f", name]);
      if (r.code !== 0) failures.push(`${name}: ${r.stderr.trim()}`);
    }),
  );
  return { ms, failures };
}

async function addressesOf(ctx: BenchContext, names: string[]): Promise<Map<string, string>> {
  const r = await ctx.docker(VM, ["inspect", "-f", "{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", ...names]);
  if (r.code !== 0) throw new Error(`docker inspect failed: ${r.stderr.trim()}`);
  const out = new Map<string, string>();
  for (const line of r.stdout.split("\n").filter(Boolean)) {
    const [name, ...ips] = line.trim().split(/\s+/);
    out.set(name.replace(/^\//, ""), ips.join(" "));
  }
  return out;
}

/** The checks made while the plugin's containers are up; returns their addresses. */
async function checkRunning(ctx: BenchContext, batch: Batch, round: number): Promise<string[]> {
  const n = ctx.opts.attachCount;
  const addrs = [...(await addressesOf(ctx, batch.names)).values()];
  const ipconfigs = new Set(ctx.sim.vm(VM).nic.secondaries.map((s) => s.address));
  const distinct = new Set(addrs);
  const foreign = addrs.filter((a) => !ipconfigs.has(a));
  ctx.check(
    `round ${round}: ${n} azure-vnet addresses distinct, all ${VM} ipconfigs`,
    distinct.size === n && addrs.length === n && foreign.length === 0,
    `${distinct.size} distinct of ${addrs.length}${foreign.length ? `; not ipconfigs of ${VM}: ${foreign.slice(0, 5).join(", ")}` : ""}`,
  );
  const unreachable = await unreachableFrom(ctx, PEER, addrs);
  ctx.check(
    `round ${round}: every container reachable from ${PEER} (ping)`,
    unreachable.length === 0,
    unreachable.length ? `unreachable: ${unreachable.slice(0, 10).join(", ")}` : `${addrs.length} answered`,
  );
  return addrs;
}

/** After removal: every address back in the pool, nothing left in the kernel. */
async function checkReleased(ctx: BenchContext, addrs: string[], round: number): Promise<number> {
  const t0 = Date.now();
  let held: string[] = [];
  let endpoints = 0;
  for (;;) {
    const cp = readCheckpoint(ctx, VM);
    held = cp.endpointAddresses.filter((a) => addrs.includes(a));
    endpoints = cp.endpoints;
    if ((held.length === 0 && endpoints === 0) || Date.now() - t0 > RELEASE_WAIT_MS) break;
    await sleep(200);
  }
  const waitedMs = Date.now() - t0;
  ctx.check(
    `round ${round}: every address back in the pool after removal (checkpoint)`,
    held.length === 0 && endpoints === 0,
    held.length || endpoints
      ? `still held: ${held.slice(0, 10).join(", ")}; endpoint records: ${endpoints}`
      : `${addrs.length} released, ${waitedMs} ms after the last rm returned`,
  );
  // Each endpoint's kernel clean-up runs after DeleteEndpoint's answer, in the plugin's next lull between requests.
  const t1 = Date.now();
  let left = await kernelLeftovers(ctx, VM, addrs);
  while ((left.hostVeths > 0 || left.routes.length > 0) && Date.now() - t1 < RELEASE_WAIT_MS) {
    await sleep(200);
    left = await kernelLeftovers(ctx, VM, addrs);
  }
  ctx.check(
    `round ${round}: no veth or /32 route left after removal`,
    left.hostVeths === 0 && left.routes.length === 0,
    `${left.hostVeths} host veths, ${left.routes.length} routes` +
      (left.hostVeths || left.routes.length ? "" : `, ${Date.now() - t0} ms after the last rm returned`),
  );
  return waitedMs;
}

export async function attachAtLimit(ctx: BenchContext, idleRssMiB: number | undefined): Promise<void> {
  const n = ctx.opts.attachCount;
  const times: Record<string, { start: number[]; remove: number[] }> = {
    [VNET]: { start: [], remove: [] },
    [BRIDGE]: { start: [], remove: [] },
    [NULLNET]: { start: [], remove: [] },
  };
  let rssMiB = Number.NaN;
  let rssNote: string | undefined;
  const releaseWaits: number[] = [];
  for (let round = 0; round < ctx.opts.attachRounds; round++) {
    for (const network of rotation([VNET, BRIDGE, NULLNET], round)) {
      const tag = `${{ [VNET]: "az", [BRIDGE]: "br", [NULLNET]: "nu" }[network]}${round}`;
      ctx.log(`attach round ${round}: ${n} containers on ${network}`);
      // The plugin's own share of the first round on its network, from its request log.
      const logCalls = (what: string, fromMs: number) => {
        if (network !== VNET || round !== 0) return;
        const calls = readCallTimes(ctx.plugin(VM).logFile, fromMs, Date.now());
        ctx.tables.push({
          title: `plugin time while ${what} ${n} containers (from its request log)`,
          text: callTimesTable(calls, n, "container"),
        });
      };
      const startFrom = Date.now();
      const batch = await startBatch(ctx, network, tag);
      logCalls("starting", startFrom);
      const started = ctx.check(
        `round ${round}: ${n} containers start on ${network}, ${ctx.opts.attachParallel} at a time`,
        batch.failures.length === 0,
        batch.failures.length ? `${batch.failures.length} failed, e.g. ${batch.failures[0]}` : `${(batch.startMs / 1000).toFixed(1)} s`,
      );
      times[network].start.push(batch.startMs);
      let addrs: string[] = [];
      if (network === VNET && started) {
        addrs = await checkRunning(ctx, batch, round);
        if (round === 0) {
          const resident = residentMiB(ctx.plugin(VM).pid);
          rssMiB = resident.rss;
          rssNote = `of which ${split(resident, await heapMiB(new PluginClient(ctx.plugin(VM).socket)))}`;
        }
        if (round === ctx.opts.attachRounds - 1) await restartWithEndpoints(ctx, addrs);
      }
      const removeFrom = Date.now();
      const removed = await removeBatch(ctx, batch.names);
      ctx.check(
        `round ${round}: ${n} containers removed from ${network}`,
        removed.failures.length === 0,
        removed.failures.length ? `${removed.failures.length} failed, e.g. ${removed.failures[0]}` : `${(removed.ms / 1000).toFixed(1)} s`,
      );
      times[network].remove.push(removed.ms);
      if (network === VNET && addrs.length) releaseWaits.push(await checkReleased(ctx, addrs, round));
      logCalls("removing", removeFrom);
    }
  }
  ctx.details.attach = { ...times, releaseWaitsMs: releaseWaits };
  const s = (ms: number) => ms / 1000;
  ctx.addFigure({
    id: "attach-start",
    name: `start ${n} containers, ${ctx.opts.attachParallel} at a time`,
    unit: "s",
    value: s(median(times[VNET].start)),
    baseline: s(median(times[BRIDGE].start)),
    baselineName: "docker bridge",
    target: { on: "ratio", op: "<=", limit: 1.1 },
  });
  ctx.addFigure({
    id: "attach-start-null-driver",
    name: `start ${n} containers, ${ctx.opts.attachParallel} at a time, do-nothing remote driver`,
    unit: "s",
    value: s(median(times[NULLNET].start)),
    baseline: s(median(times[BRIDGE].start)),
    baselineName: "docker bridge",
    note: "Docker's own cost of a remote driver: the floor of any network plugin",
  });
  ctx.addFigure({
    id: "attach-start-vs-null-driver",
    name: `start ${n} containers, ${ctx.opts.attachParallel} at a time, azure-vnet vs the do-nothing remote driver`,
    unit: "s",
    value: s(median(times[VNET].start)),
    baseline: s(median(times[NULLNET].start)),
    baselineName: "null remote driver",
    target: { on: "ratio", op: "<=", limit: 1.1 },
  });
  ctx.addFigure({
    id: "attach-remove",
    name: `remove ${n} containers, ${ctx.opts.attachParallel} at a time`,
    unit: "s",
    value: s(median(times[VNET].remove)),
    baseline: s(median(times[BRIDGE].remove)),
    baselineName: "docker bridge",
  });
  ctx.addFigure({
    id: "rss-endpoints",
    name: `plugin RSS with ${n} endpoints`,
    unit: "MiB",
    value: rssMiB,
    ...(idleRssMiB !== undefined && { baseline: idleRssMiB, baselineName: "plugin idle" }),
    target: { on: "value", op: "<=", limit: 70 },
    ...(rssNote && { note: rssNote }),
  });
}

/**
 * A plugin restart while the containers run: start-up then reconciles every
 * endpoint against the kernel, the slowest start there is. Containers must
 * stay reachable across it.
 */
async function restartWithEndpoints(ctx: BenchContext, addrs: string[]): Promise<void> {
  const ms = await ctx.startPlugin(VM, { timeoutMs: RESTART_TIMEOUT_MS });
  ctx.addFigure({ id: "cold-start-endpoints", name: `plugin restart to socket ready, ${addrs.length} endpoints`, unit: "ms", value: ms });
  const unreachable = await unreachableFrom(ctx, PEER, addrs);
  ctx.check(
    "containers reachable after a plugin restart",
    unreachable.length === 0,
    unreachable.length ? `unreachable: ${unreachable.slice(0, 10).join(", ")}` : `${addrs.length} answered`,
  );
}

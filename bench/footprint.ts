/**
 * Figure 5: the plugin's footprint as users run it: the bundle
 * (dist/bundle/azure-vnet-plugin.js, what the managed plugin ships) with the
 * node flags and process tuning of the managed plugin's entrypoint
 * (plugin-config/config.json). Cold start to socket ready, and resident
 * memory idle and with many endpoints (made over the socket as Docker would
 * make them, without containers, then removed), each against a bare Node
 * server on a unix socket started the same way in the same VM: the floor for
 * any plugin written in Node. The two alternate.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { BenchContext, VmName } from "./context";
import { killAndWait } from "../sim/vm";
import { type Attached, attach, createNetwork, deleteNetwork, detach, lifecycle, PluginClient } from "./plugin-client";
import { StepTimer } from "./lifecycle";
import { sleep } from "./measure";
import { spawnServing } from "./spawn";
import { PLUGIN_BUNDLE, pluginEntrypoint } from "./entrypoint";
import { firstOfPair, median } from "./stats";

const VM: VmName = "vm1";
const IDLE_JS = resolve(__dirname, "idle-server.js");
/** Long enough for the plugin's first metadata fetch, its first reconciliation and the GC after start-up to settle. */
const SETTLE_MS = 2_000;
/**
 * When idle memory is read. V8 hands back what start-up left behind only when its memory reducer
 * runs, some seconds after the last burst of allocation (seen at 7-10 s on Node 24); a daemon that
 * has been idle for minutes is past that point, so "idle" is read here, for the plugin and for the
 * bare node server alike. The reading at SETTLE_MS is printed too.
 */
const IDLE_MS = 15_000;
/** The second reading with endpoints, this long after the first: V8's memory reducer has run by then (see IDLE_MS). */
const REDUCED_MS = 12_000;
/** Resident memory split into what only this process holds and file pages (the node binary) shared with every other node. */
export function residentMiB(pid: number): Resident {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN) / 1024;
  return { rss: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile") };
}

export type Resident = { rss: number; anon: number; file: number };
/** What the daemon says of its own memory (AzureVnet.Status), in MiB; NaN when it does not say. */
export async function heapMiB(client: PluginClient): Promise<{ heap: number; external: number }> {
  const reply = await client
    .call<{ memory?: { heapTotal: number; external: number } }>("AzureVnet.Status")
    .catch(() => ({ memory: undefined }));
  const mib = (bytes: number | undefined) => (bytes === undefined ? Number.NaN : bytes / 2 ** 20);
  return { heap: mib(reply.memory?.heapTotal), external: mib(reply.memory?.external) };
}
/** Where resident memory is: the node binary and libraries, V8's heap, and what is left (malloc, thread stacks, code space). */
export function split(r: Resident, h: { heap: number; external: number }): string {
  const other = r.rss - r.file - h.heap - h.external;
  return `node binary and libraries ${r.file.toFixed(1)} MiB, V8 heap ${h.heap.toFixed(1)} MiB, buffers ${h.external.toFixed(1)} MiB, other native memory ${other.toFixed(1)} MiB`;
}

/**
 * Returns the plugin's idle RSS in MiB. With profileDir, one more start runs
 * under the CPU profiler first (not counted), to show where start-up goes.
 * vm1's plugin is stopped meanwhile and started again as the other phases
 * expect it at the end.
 */
export async function footprint(ctx: BenchContext, firstStartMs: number, profileDir?: string): Promise<number> {
  const { socket, logFile, env: pluginEnv } = ctx.plugin(VM);
  await ctx.stopPlugin(VM);
  const entry = pluginEntrypoint();
  const env = { ...pluginEnv, ...entry.env };
  const startBundle = (nodeFlags: string[] = []) =>
    spawnServing(ctx.sim, VM, [...nodeFlags, ...entry.nodeArgs, PLUGIN_BUNDLE, "serve"], socket, logFile, env);

  if (profileDir) {
    const s = await startBundle(["--cpu-prof", "--cpu-prof-dir", join(profileDir, "cold-start")]);
    await sleep(SETTLE_MS);
    await killAndWait(s.pid, 10_000);
  }
  const starts = { plugin: [] as number[], node: [] as number[] };
  const idle = { plugin: residentNaN(), node: residentNaN() };
  const justStarted = { plugin: residentNaN(), node: residentNaN() };
  let idleHeap = { heap: Number.NaN, external: Number.NaN };
  const n = ctx.opts.presentEndpoints;
  const nothing = { heap: Number.NaN, external: Number.NaN };
  let withEndpoints = { ...residentNaN(), heap: nothing, settled: residentNaN(), settledHeap: nothing };
  const idleSocket = join(ctx.sim.dir, "bench-idle.sock");
  /** The last start stays up for the endpoints. */
  const kept: { pid?: number } = {};
  try {
    for (let i = 0; i < ctx.opts.coldStarts; i++) {
      const last = i === ctx.opts.coldStarts - 1;
      const plugin = async () => {
        const s = await startBundle();
        starts.plugin.push(s.ms);
        if (!last) return killAndWait(s.pid, 10_000);
        kept.pid = s.pid;
        await sleep(SETTLE_MS);
        justStarted.plugin = residentMiB(s.pid);
        await sleep(IDLE_MS - SETTLE_MS);
        idle.plugin = residentMiB(s.pid);
        idleHeap = await heapMiB(new PluginClient(socket));
      };
      const node = async () => {
        const s = await spawnServing(
          ctx.sim,
          VM,
          [...entry.nodeArgs, IDLE_JS, idleSocket],
          idleSocket,
          join(ctx.sim.dir, "bench-idle.log"),
          entry.env,
        );
        starts.node.push(s.ms);
        if (last) {
          await sleep(SETTLE_MS);
          justStarted.node = residentMiB(s.pid);
          await sleep(IDLE_MS - SETTLE_MS);
          idle.node = residentMiB(s.pid);
        }
        await killAndWait(s.pid, 3_000);
      };
      for (const run of firstOfPair(i) === "a" ? [plugin, node] : [node, plugin]) await run();
    }
    if (kept.pid !== undefined) withEndpoints = await residentWithEndpoints(ctx, new PluginClient(socket), kept.pid, n);
  } finally {
    if (kept.pid !== undefined) await killAndWait(kept.pid, 10_000);
  }
  await ctx.startPlugin(VM);

  ctx.details.footprint = {
    command: [...entry.nodeArgs, PLUGIN_BUNDLE, "serve"],
    env: entry.env,
    firstStartMs,
    starts,
    residentMiB: { [`${SETTLE_MS / 1000} s after start`]: justStarted, idle, [`${n} endpoints`]: withEndpoints },
  };
  const bare = { baseline: idle.node.rss, baselineName: "bare node server" };
  ctx.addFigure({
    id: "cold-start",
    name: "plugin cold start to socket ready, median",
    unit: "ms",
    value: median(starts.plugin),
    baseline: median(starts.node),
    baselineName: "bare node server",
    target: { on: "value", op: "<=", limit: 300 },
    note: `first start of the run (dist/driver/main.js): ${firstStartMs} ms`,
  });
  ctx.addFigure({
    id: "rss-idle",
    name: `plugin RSS, idle (${IDLE_MS / 1000} s after start)`,
    unit: "MiB",
    value: idle.plugin.rss,
    ...bare,
    target: { on: "value", op: "<=", limit: 60 },
    note: `of which ${split(idle.plugin, idleHeap)} (bare node server: binary and libraries ${idle.node.file.toFixed(1)} MiB)`,
  });
  ctx.addFigure({
    id: "rss-just-started",
    name: `plugin RSS, ${SETTLE_MS / 1000} s after start`,
    unit: "MiB",
    value: justStarted.plugin.rss,
    baseline: justStarted.node.rss,
    baselineName: "bare node server",
    note: "before V8's first idle-time collection",
  });
  ctx.addFigure({
    id: "rss-socket-endpoints",
    name: `plugin RSS with ${n} endpoints made over the socket, after a removal`,
    unit: "MiB",
    value: withEndpoints.rss,
    ...bare,
    target: { on: "value", op: "<=", limit: 70 },
    note: `of which ${split(withEndpoints, withEndpoints.heap)}; ${SETTLE_MS / 1000} s after the last removal`,
  });
  ctx.addFigure({
    id: "rss-socket-endpoints-settled",
    name: `plugin RSS with ${n} endpoints, ${(SETTLE_MS + REDUCED_MS) / 1000} s after the last removal`,
    unit: "MiB",
    value: withEndpoints.settled.rss,
    ...bare,
    note: `of which ${split(withEndpoints.settled, withEndpoints.settledHeap)}`,
  });
  return idle.plugin.rss;
}

function residentNaN(): Resident {
  return { rss: Number.NaN, anon: Number.NaN, file: Number.NaN };
}

/**
 * Makes a network and n endpoints over the socket, then one more lifecycle, so that what the plugin
 * sets up on its first removal (its clean-up's code and sockets) is counted as in any plugin that has
 * run a while; reads the memory once settled and again once V8 has reduced, and removes them again.
 */
async function residentWithEndpoints(
  ctx: BenchContext,
  client: PluginClient,
  pid: number,
  n: number,
): Promise<Resident & { heap: { heap: number; external: number }; settled: Resident; settledHeap: { heap: number; external: number } }> {
  ctx.log(`footprint: ${n} endpoints over the socket`);
  const net = await createNetwork(client);
  const eps: Attached[] = [];
  for (let i = 0; i < n; i++) eps.push(await attach(client, net, new StepTimer()));
  await lifecycle(client, net);
  await sleep(SETTLE_MS);
  const resident = residentMiB(pid);
  const heap = await heapMiB(client);
  // What is left once V8's memory reducer has run: the steady state of a plugin without churn.
  await sleep(REDUCED_MS);
  const settled = residentMiB(pid);
  const settledHeap = await heapMiB(client);
  ctx.check(`footprint: ${n} endpoints made over the socket, all distinct`, new Set(eps.map((e) => e.address)).size === n, `${n} asked`);
  for (const ep of eps) await detach(client, net, ep, new StepTimer());
  await deleteNetwork(client, net);
  return { ...resident, heap, settled, settledHeap };
}

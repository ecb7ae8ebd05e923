/**
 * Figure 5: the plugin's footprint. Cold start to socket ready and resident
 * memory when idle, each against a bare Node server on a unix socket started
 * the same way in the same VM (the floor for any plugin written in Node),
 * alternating the two. Memory with many endpoints is read in the attach phase.
 */
import { join, resolve } from "node:path";
import { BenchContext, VmName } from "./context";
import { killAndWait } from "../sim/vm";
import { sleep, statusMiB } from "./measure";
import { spawnServing } from "./spawn";
import { firstOfPair, median } from "./stats";

const VM: VmName = "vm1";
const IDLE_JS = resolve(__dirname, "idle-server.js");
/** Long enough for the plugin's first metadata fetch and the GC after start-up to settle. */
const SETTLE_MS = 2_000;

/**
 * Returns the plugin's idle RSS in MiB. With profileDir, one more start runs
 * under the CPU profiler first (not counted), to show where start-up goes.
 */
export async function footprint(ctx: BenchContext, firstStartMs: number, profileDir?: string): Promise<number> {
  if (profileDir) {
    await ctx.startPlugin(VM, { cpuProfDir: join(profileDir, "cold-start") });
    await sleep(SETTLE_MS);
  }
  const starts = { plugin: [] as number[], node: [] as number[] };
  const rss = { plugin: Number.NaN, node: Number.NaN };
  const socket = join(ctx.sim.dir, "bench-idle.sock");
  for (let i = 0; i < ctx.opts.coldStarts; i++) {
    const last = i === ctx.opts.coldStarts - 1;
    const plugin = async () => {
      starts.plugin.push(await ctx.startPlugin(VM));
      if (last) {
        await sleep(SETTLE_MS);
        rss.plugin = statusMiB(ctx.plugin(VM).pid, "VmRSS");
      }
    };
    const node = async () => {
      const s = await spawnServing(ctx.sim, VM, [IDLE_JS, socket], socket, join(ctx.sim.dir, "bench-idle.log"));
      starts.node.push(s.ms);
      if (last) {
        await sleep(SETTLE_MS);
        rss.node = statusMiB(s.pid, "VmRSS");
      }
      await killAndWait(s.pid, 3_000);
    };
    for (const run of firstOfPair(i) === "a" ? [plugin, node] : [node, plugin]) await run();
  }
  ctx.details.footprint = { firstStartMs, starts, rssMiB: rss };
  ctx.addFigure({
    id: "cold-start",
    name: "plugin cold start to socket ready, median",
    unit: "ms",
    value: median(starts.plugin),
    baseline: median(starts.node),
    baselineName: "bare node server",
    target: { on: "value", op: "<=", limit: 500 },
    note: `first start after boot: ${firstStartMs} ms`,
  });
  ctx.addFigure({
    id: "rss-idle",
    name: "plugin RSS, idle",
    unit: "MiB",
    value: rss.plugin,
    baseline: rss.node,
    baselineName: "bare node server",
    target: { on: "value", op: "<=", limit: 80 },
  });
  return rss.plugin;
}

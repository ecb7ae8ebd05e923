/**
 * Figure 1: the latency of `docker run --rm --init local/busybox true` on the
 * plugin's network against Docker's own bridge on the same VM, interleaved in
 * ABBA order so drifting machine load falls on both sides alike.
 */
import { BRIDGE, BenchContext, IMAGE, VNET, VmName } from "./context";
import { timed } from "./measure";
import { firstOfPair, median, quantile } from "./stats";
import { callTimesTable, readCallTimes, totalMs, totalPrograms } from "./plugin-log";
import { formatNumber } from "./report";

const VM: VmName = "vm1";
/** Not counted: the first runs pay for page-cache misses and lazy daemon set-up. */
const WARMUP = 2;

export async function dockerRunLatency(ctx: BenchContext): Promise<void> {
  const samples: Record<string, number[]> = { [VNET]: [], [BRIDGE]: [] };
  const once = async (network: string): Promise<number> => {
    const { ms, result } = await timed(() => ctx.docker(VM, ["run", "--rm", "--init", "--network", network, IMAGE, "true"]));
    if (result.code !== 0) throw new Error(`docker run on ${network} failed: ${result.stderr.trim()}`);
    return ms;
  };
  let fromMs = 0;
  try {
    for (let i = 0; i < WARMUP; i++) for (const n of [VNET, BRIDGE]) await once(n);
    fromMs = Date.now();
    for (let i = 0; i < ctx.opts.dockerRuns; i++) {
      const order = firstOfPair(i) === "a" ? [VNET, BRIDGE] : [BRIDGE, VNET];
      for (const n of order) samples[n].push(await once(n));
    }
  } catch (err) {
    ctx.check("docker run --rm succeeds on both networks", false, (err as Error).message);
    return;
  }
  ctx.check("docker run --rm succeeds on both networks", true, `${ctx.opts.dockerRuns} runs each after ${WARMUP} warm-up runs`);
  const calls = readCallTimes(ctx.plugin(VM).logFile, fromMs, Date.now());
  ctx.details.dockerRun = { samples, pluginCalls: Object.fromEntries(calls) };
  ctx.tables.push({
    title: "plugin time inside docker run --rm (from its request log)",
    text: callTimesTable(calls, ctx.opts.dockerRuns, "run"),
  });
  ctx.addFigure({
    id: "docker-run-p50",
    name: "docker run --rm, median",
    unit: "ms",
    value: median(samples[VNET]),
    baseline: median(samples[BRIDGE]),
    baselineName: "docker bridge",
    target: { on: "ratio", op: "<=", limit: 1.05 },
  });
  ctx.addFigure({
    id: "docker-run-p90",
    name: "docker run --rm, p90",
    unit: "ms",
    value: quantile(samples[VNET], 0.9),
    baseline: quantile(samples[BRIDGE], 0.9),
    baselineName: "docker bridge",
  });
  ctx.addFigure({
    id: "docker-run-plugin",
    name: "plugin answering Docker, per docker run",
    unit: "ms",
    value: totalMs(calls) / ctx.opts.dockerRuns,
    target: { on: "value", op: "<=", limit: 15 },
    note: `the median gap to the bridge is ${formatNumber(median(samples[VNET]) - median(samples[BRIDGE]))} ms`,
  });
  ctx.addFigure({
    id: "docker-run-programs",
    name: "programs the plugin starts per docker run",
    unit: "count",
    value: totalPrograms(calls) / ctx.opts.dockerRuns,
    target: { on: "value", op: "<=", limit: 0 },
  });
}

/**
 * Figure 1: the latency of `docker run --rm --init local/busybox true` on the
 * plugin's network against Docker's own bridge on the same VM, and against a
 * network of the do-nothing remote driver (what Docker's remote-driver path
 * costs by itself), interleaved in rotating order so drifting machine load
 * falls on every side alike.
 */
import { BRIDGE, BenchContext, IMAGE, NULLNET, VNET, VmName } from "./context";
import { timed } from "./measure";
import { median, quantile, rotation } from "./stats";
import { callTimesTable, readCallTimes, totalMs, totalPrograms } from "./plugin-log";
import { formatNumber } from "./report";

const VM: VmName = "vm1";
/** Not counted: the first runs pay for page-cache misses and lazy daemon set-up. */
const WARMUP = 2;

export async function dockerRunLatency(ctx: BenchContext): Promise<void> {
  const networks = [VNET, BRIDGE, NULLNET];
  const samples: Record<string, number[]> = { [VNET]: [], [BRIDGE]: [], [NULLNET]: [] };
  const once = async (network: string): Promise<number> => {
    const { ms, result } = await timed(() => ctx.docker(VM, ["run", "--rm", "--init", "--network", network, IMAGE, "true"]));
    if (result.code !== 0) throw new Error(`docker run on ${network} failed: ${result.stderr.trim()}`);
    return ms;
  };
  let fromMs = 0;
  try {
    for (let i = 0; i < WARMUP; i++) for (const n of networks) await once(n);
    fromMs = Date.now();
    for (let i = 0; i < ctx.opts.dockerRuns; i++) {
      for (const n of rotation(networks, i)) samples[n].push(await once(n));
    }
  } catch (err) {
    ctx.check("docker run --rm succeeds on every network", false, (err as Error).message);
    return;
  }
  ctx.check("docker run --rm succeeds on every network", true, `${ctx.opts.dockerRuns} runs each after ${WARMUP} warm-up runs`);
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
    id: "docker-run-null-driver",
    name: "docker run --rm on a do-nothing remote driver, median",
    unit: "ms",
    value: median(samples[NULLNET]),
    baseline: median(samples[BRIDGE]),
    baselineName: "docker bridge",
    note: "Docker's own cost of a remote driver: the floor of any network plugin",
  });
  ctx.addFigure({
    id: "docker-run-vs-null-driver",
    name: "docker run --rm, azure-vnet vs the do-nothing remote driver, median",
    unit: "ms",
    value: median(samples[VNET]),
    baseline: median(samples[NULLNET]),
    baselineName: "null remote driver",
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

/**
 * Figure 3: the plugin's control-plane cost. Endpoint lifecycles driven over
 * the socket without Docker, against the kernel floor (floor.ts) run in the
 * same VM, in alternating blocks; at concurrency 1 and 16, and again with
 * many endpoints left in place, which must not make a lifecycle much dearer.
 */
import { join, resolve } from "node:path";
import { BenchContext, VmName } from "./context";
import { FloorOutput, LifecycleSample, StepTimer, runLifecycles } from "./lifecycle";
import { cpuMs, timed } from "./measure";
import { Attached, PluginClient, SocketNetwork, attach, createNetwork, deleteNetwork, detach, lifecycle } from "./plugin-client";
import { formatNumber, renderTable } from "./report";
import { blockSizes, firstOfPair, median, quantile } from "./stats";
import { readCheckpoint } from "./vm-checks";
import { readCallTimes, totalPrograms } from "./plugin-log";

const VM: VmName = "vm1";
const FLOOR_JS = resolve(__dirname, "floor.js");

type Side = FloorOutput;

interface ConfigResult {
  plugin: Side & { cpuMs: number };
  floor: Side;
}

async function floorBlock(ctx: BenchContext, count: number, concurrency: number): Promise<Side> {
  const r = await ctx.sim.exec(VM, process.execPath, [FLOOR_JS, String(count), String(concurrency)], { timeoutMs: 600_000 });
  return JSON.parse(r.stdout) as FloorOutput;
}

async function measureConfig(
  ctx: BenchContext,
  client: PluginClient,
  net: SocketNetwork,
  count: number,
  concurrency: number,
): Promise<ConfigResult> {
  const out: ConfigResult = { plugin: { samples: [], wallMs: 0, cpuMs: 0 }, floor: { samples: [], wallMs: 0 } };
  for (const [b, size] of blockSizes(count, ctx.opts.blocks).entries()) {
    if (size === 0) continue;
    const runPlugin = async () => {
      const pid = ctx.plugin(VM).pid;
      const cpu0 = cpuMs(pid);
      const { ms, result } = await timed(() => runLifecycles(size, concurrency, () => lifecycle(client, net)));
      out.plugin.cpuMs += cpuMs(pid) - cpu0;
      out.plugin.samples.push(...result);
      out.plugin.wallMs += ms;
    };
    const runFloor = async () => {
      const side = await floorBlock(ctx, size, concurrency);
      out.floor.samples.push(...side.samples);
      out.floor.wallMs += side.wallMs;
    };
    for (const run of firstOfPair(b) === "a" ? [runPlugin, runFloor] : [runFloor, runPlugin]) await run();
  }
  return out;
}

const totals = (s: LifecycleSample[]) => s.map((x) => x.totalMs);

function stepMedians(samples: LifecycleSample[]): Record<string, number> {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.steps)))];
  return Object.fromEntries(names.map((n) => [n, median(samples.map((s) => s.steps[n] ?? 0))]));
}

/** Endpoints left attached, as running containers would leave them; also proves the addresses are free again. */
async function attachMany(ctx: BenchContext, client: PluginClient, net: SocketNetwork, n: number): Promise<Attached[]> {
  const eps: Attached[] = [];
  for (let i = 0; i < n; i++) eps.push(await attach(client, net, new StepTimer()));
  const distinct = new Set(eps.map((e) => e.address)).size;
  ctx.check(`${n} addresses requested again over the socket, all distinct`, distinct === n, `${distinct} distinct of ${n}`);
  return eps;
}

export async function controlPlane(ctx: BenchContext, profileDir: string | undefined): Promise<void> {
  if (profileDir) await ctx.startPlugin(VM, { cpuProfDir: join(profileDir, "control-plane") });
  const client = new PluginClient(ctx.plugin(VM).socket);
  const net = await createNetwork(client);
  const o = ctx.opts;
  // Warm-up (JIT, page cache, first conntrack run) for both sides; not counted.
  await runLifecycles(10, 1, () => lifecycle(client, net));
  await floorBlock(ctx, 10, 1);

  ctx.log(`control plane: ${o.lifecyclesC1} lifecycles at concurrency 1`);
  const fromMs = Date.now();
  const c1 = await measureConfig(ctx, client, net, o.lifecyclesC1, 1);
  ctx.log(`control plane: ${o.lifecyclesC16} lifecycles at concurrency 16`);
  const c16 = await measureConfig(ctx, client, net, o.lifecyclesC16, 16);
  const programs = totalPrograms(readCallTimes(ctx.plugin(VM).logFile, fromMs, Date.now()));
  ctx.log(`control plane: ${o.presentEndpoints} endpoints present, ${o.lifecyclesPresent} lifecycles at concurrency 1`);
  const present = await attachMany(ctx, client, net, o.presentEndpoints);
  const many = await measureConfig(ctx, client, net, o.lifecyclesPresent, 1);
  for (const ep of present) await detach(client, net, ep, new StepTimer());
  await deleteNetwork(client, net);
  const cp = readCheckpoint(ctx, VM);
  ctx.check(
    "socket-driven endpoints all released",
    cp.endpoints === 0 && cp.endpointAddresses.length === 0,
    `${cp.endpoints} endpoint records, ${cp.endpointAddresses.length} addresses held`,
  );
  if (profileDir) await ctx.startPlugin(VM);

  report(ctx, c1, c16, many);
  ctx.addFigure({
    id: "cp-programs",
    name: "programs the plugin starts per endpoint lifecycle",
    unit: "count",
    value: programs / (c1.plugin.samples.length + c16.plugin.samples.length),
    target: { on: "value", op: "<=", limit: 0 },
  });
}

function report(ctx: BenchContext, c1: ConfigResult, c16: ConfigResult, many: ConfigResult): void {
  const n = ctx.opts.presentEndpoints;
  const p = (r: Side, q: number) => quantile(totals(r.samples), q);
  const vsFloor = { baselineName: "kernel floor" };
  ctx.addFigure({
    id: "cp-c1-p50",
    name: "endpoint lifecycle p50, concurrency 1",
    unit: "ms",
    value: p(c1.plugin, 0.5),
    baseline: p(c1.floor, 0.5),
    ...vsFloor,
    target: { on: "ratio", op: "<=", limit: 2 },
  });
  ctx.addFigure({
    id: "cp-c1-p99",
    name: "endpoint lifecycle p99, concurrency 1",
    unit: "ms",
    value: p(c1.plugin, 0.99),
    baseline: p(c1.floor, 0.99),
    ...vsFloor,
  });
  ctx.addFigure({
    id: "cp-c16-p50",
    name: "endpoint lifecycle p50, concurrency 16",
    unit: "ms",
    value: p(c16.plugin, 0.5),
    baseline: p(c16.floor, 0.5),
    ...vsFloor,
    target: { on: "ratio", op: "<=", limit: 1.2 },
  });
  ctx.addFigure({
    id: "cp-c16-p99",
    name: "endpoint lifecycle p99, concurrency 16",
    unit: "ms",
    value: p(c16.plugin, 0.99),
    baseline: p(c16.floor, 0.99),
    ...vsFloor,
  });
  ctx.addFigure({
    id: "cp-c16-rate",
    name: "endpoint lifecycles per second, concurrency 16",
    unit: "/s",
    value: (c16.plugin.samples.length / c16.plugin.wallMs) * 1000,
    baseline: (c16.floor.samples.length / c16.floor.wallMs) * 1000,
    ...vsFloor,
  });
  ctx.addFigure({
    id: "cp-present-p50",
    name: `endpoint lifecycle p50, ${n} endpoints present`,
    unit: "ms",
    value: p(many.plugin, 0.5),
    baseline: p(c1.plugin, 0.5),
    baselineName: "no endpoints",
    target: { on: "ratio", op: "<=", limit: 1.5 },
  });
  ctx.addFigure({
    id: "cp-present-floor",
    name: `endpoint lifecycle p50, ${n} present, vs floor`,
    unit: "ms",
    value: p(many.plugin, 0.5),
    baseline: p(many.floor, 0.5),
    ...vsFloor,
  });
  ctx.addFigure({
    id: "cp-floor-present",
    name: `kernel floor p50, ${n} present`,
    unit: "ms",
    value: p(many.floor, 0.5),
    baseline: p(c1.floor, 0.5),
    baselineName: "floor, none present",
  });
  const cpuPer = (r: ConfigResult) => r.plugin.cpuMs / r.plugin.samples.length;
  ctx.addFigure({ id: "cp-cpu", name: "plugin CPU per lifecycle, concurrency 1", unit: "ms", value: cpuPer(c1) });

  const configs = { c1, c16, [`c1, ${n} present`]: many };
  const steps = Object.fromEntries(
    Object.entries(configs).map(([k, r]) => [k, { plugin: stepMedians(r.plugin.samples), floor: stepMedians(r.floor.samples) }]),
  );
  ctx.details.controlPlane = {
    steps,
    pluginCpuMsPerLifecycle: Object.fromEntries(Object.entries(configs).map(([k, r]) => [k, cpuPer(r)])),
    samples: Object.fromEntries(
      Object.entries(configs).map(([k, r]) => [k, { plugin: totals(r.plugin.samples), floor: totals(r.floor.samples) }]),
    ),
  };
  const names = Object.keys(steps.c1.plugin);
  const rows = [["step (p50 ms)", ...Object.keys(configs)]];
  for (const name of names) rows.push([`plugin ${name}`, ...Object.values(steps).map((s) => formatNumber(s.plugin[name]))]);
  for (const name of Object.keys(steps.c1.floor))
    rows.push([`floor ${name}`, ...Object.values(steps).map((s) => formatNumber(s.floor[name]))]);
  ctx.tables.push({ title: "control plane, per step", text: renderTable(rows) });
}

#!/usr/bin/env node
/**
 * npm run bench [-- --quick] [-- --profile] [-- --only PHASE,...]
 *
 * Brings up its own simulator (AZSIM_DIR / AZSIM_PREFIX as for `npm run sim`),
 * measures the plugin against baselines taken in the same run, prints a table
 * and writes bench/results/latest.json. Timings never fail the run: it exits
 * non-zero only when a correctness check fails (a container that does not
 * start, colliding or leaked addresses, an unreachable container) or when the
 * benchmark itself breaks.
 */
import { Command } from "commander";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { join, resolve } from "node:path";
import { Simulator } from "../sim/simulator";
import { buildInfo } from "../driver/version";
import { ARM_VM, BenchContext, VMS, createBenchNetwork } from "./context";
import { benchOptions } from "./options";
import { benchTopology } from "./topology";
import { footprint } from "./footprint";
import { dockerRunLatency } from "./docker-run";
import { attachAtLimit } from "./attach";
import { controlPlane } from "./control-plane";
import { dataplane } from "./dataplane";
import { secondNicDataplane } from "./dataplane-nic2";
import { ipv6Dataplane } from "./dataplane-ipv6";
import { armPool } from "./arm-pool";
import { checksTable, figuresTable } from "./report";
import { profileText, readProfile, summarizeProfile } from "./profile";

const REPO = resolve(__dirname, "../..");
const RESULTS_DIR = join(REPO, "bench/results");

async function runPhases(ctx: BenchContext, profileDir: string | undefined): Promise<void> {
  const { sim, opts } = ctx;
  await sim.down(); // whatever an interrupted run left in this AZSIM_DIR
  ctx.log(`bringing the simulator up in ${sim.dir}`);
  await sim.up(benchTopology());
  const firstStartMs = await ctx.startPlugin("vm1");
  await ctx.startPlugin("vm2");

  let idleRss: number | undefined;
  if (opts.phases.has("footprint")) {
    ctx.log("footprint: cold starts and idle memory");
    idleRss = await footprint(ctx, firstStartMs, profileDir);
  }
  for (const vm of VMS) await createBenchNetwork(ctx, vm);

  if (opts.phases.has("docker-run") || opts.phases.has("attach")) await ctx.startNullNetwork("vm1");
  if (opts.phases.has("docker-run")) {
    ctx.log(`docker run latency: ${opts.dockerRuns} runs per network`);
    await dockerRunLatency(ctx);
  }
  if (opts.phases.has("attach")) await attachAtLimit(ctx, idleRss);
  if (opts.phases.has("control-plane")) await controlPlane(ctx, profileDir);
  if (opts.phases.has("dataplane")) {
    ctx.log("dataplane: iperf3 and ping, host and container paths");
    await dataplane(ctx);
  }
  if (opts.phases.has("nic2")) await secondNicDataplane(ctx);
  if (opts.phases.has("ipv6")) await ipv6Dataplane(ctx);
  if (opts.phases.has("arm-pool")) await armPool(ctx);
}

/** Containers go first, while the plugin can still answer Docker's Leave and DeleteEndpoint. */
async function teardown(ctx: BenchContext): Promise<void> {
  if (ctx.sim.status().up) {
    for (const vm of [...VMS, ARM_VM] as const) {
      const ids = (await ctx.docker(vm, ["ps", "-aq"]).catch(() => undefined))?.stdout.split(/\s+/).filter(Boolean) ?? [];
      if (ids.length) await ctx.docker(vm, ["rm", "-f", ...ids], 300_000).catch(() => undefined);
    }
  }
  await ctx.stopPlugins();
  await ctx.sim.down();
}

/** One summary per profile, from the phase folders under dir. */
function summarizeProfiles(dir: string): string[] {
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort();
  return files.map((f) => profileText(join(dir, f), summarizeProfile(readProfile(join(dir, f)))));
}

async function main(): Promise<number> {
  const argv = new Command("bench")
    .option("--quick", "smaller counts, for CI")
    .option("--profile", "record CPU profiles of vm1's plugin: one cold start, and the control-plane phase")
    .option("--only <phases>", "comma-separated phases to run")
    .parse()
    .opts<{ quick?: boolean; profile?: boolean; only?: string }>();
  const opts = benchOptions(argv);
  const startedAt = new Date();
  const loadStart = loadavg();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const profileDir = opts.profile ? join(RESULTS_DIR, `profile-${startedAt.toISOString().replace(/[:.]/g, "-")}`) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const ctx = new BenchContext(new Simulator(), opts);
  let broke: Error | undefined;
  try {
    await runPhases(ctx, profileDir);
  } catch (err) {
    broke = err as Error;
    ctx.log(`benchmark broke: ${broke.stack ?? broke.message}`);
  } finally {
    await teardown(ctx).catch((err) => ctx.log(`teardown: ${(err as Error).message}`));
  }
  const durationS = (Date.now() - startedAt.getTime()) / 1000;
  const profiles = profileDir ? summarizeProfiles(profileDir) : [];

  const result = {
    startedAt: startedAt.toISOString(),
    durationS,
    mode: opts.quick ? "quick" : "full",
    // Which code was measured: the commit the measured build was made from ("-dirty" with changes on top).
    code: buildInfo().commit,
    phases: [...opts.phases],
    machine: { cpus: cpus().length, kernel: release(), node: process.version, loadavgStart: loadStart, loadavgEnd: loadavg() },
    note: "Shared machine: other simulators may run at the same time, so absolute timings are noisy; ratios are taken against baselines measured in the same run, interleaved.",
    figures: ctx.figures,
    checks: ctx.checks,
    tables: ctx.tables,
    details: ctx.details,
    ...(profileDir && { profileDir, profiles }),
    ...(broke && { error: broke.message }),
  };
  const out = join(RESULTS_DIR, "latest.json");
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

  const lines = [
    `azure-vnet benchmark (${result.code}), ${result.mode} mode, ${durationS.toFixed(0)} s; load average ${loadStart.map((l) => l.toFixed(2)).join(" ")} at start, ${result.machine.loadavgEnd.map((l) => l.toFixed(2)).join(" ")} at end (${result.machine.cpus} CPUs)`,
    "",
    figuresTable(ctx.figures),
    ...ctx.figures.filter((f) => f.note).map((f) => `  ${f.name}: ${f.note}`),
    ...ctx.tables.flatMap((t) => ["", `${t.title}:`, t.text]),
    "",
    checksTable(ctx.checks),
    ...profiles.flatMap((p) => ["", p]),
    "",
    `results: ${out}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  if (broke) return 2;
  return ctx.checks.every((c) => c.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);

/**
 * Figure 6: ipconfigs on demand. On vm3, whose NIC starts with its primary
 * ipconfig only, the plugin runs with `--ipconfig-management arm` and makes
 * every address it hands out through the simulated Azure Resource Manager
 * (NIC PUTs that take the simulator's provisioning delay before the fabric
 * delivers them). Two figures against vm1, whose NIC carries pre-created
 * ipconfigs, in the same run: the first container after the plugin starts,
 * and many containers started a fixed number at a time. Checks: every start
 * succeeds, the addresses are distinct ipconfigs the plugin made and
 * reachable from vm2, and once they are removed the pool shrinks back to its
 * warm target.
 */
import { armPluginArgs } from "../sim/arm-tls";
import { ARM_VM, BenchContext, IMAGE, VNET, VmName, createBenchNetwork } from "./context";
import { removeBatch, startBatch } from "./attach";
import { sleep, timed } from "./measure";
import { unreachableFrom } from "./vm-checks";

const STATIC_VM: VmName = "vm1";
const PEER: VmName = "vm2";
const WARM = 8;
const COOLDOWN_S = 5;
/** How long the pool may take to shrink once the containers are gone: the cooldown and a few passes. */
const SHRINK_WAIT_MS = (COOLDOWN_S + 90) * 1000;
const ARM_ARGS = armPluginArgs(WARM, COOLDOWN_S);

/** Addresses of the ipconfigs the plugin made on a VM's NIC, as ARM committed them. */
function ownIpconfigs(ctx: BenchContext, vm: VmName): string[] {
  return ctx.sim
    .vm(vm)
    .nic.secondaries.filter((s) => s.name?.startsWith("azvnet-"))
    .map((s) => s.address);
}

async function addresses(ctx: BenchContext, vm: VmName, names: string[]): Promise<string[]> {
  const r = await ctx.docker(vm, ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ...names]);
  return r.stdout.split("\n").filter(Boolean);
}

/** `docker run -d` of one sleeper; milliseconds until the CLI returned, or the error. */
async function firstContainer(ctx: BenchContext, vm: VmName, name: string): Promise<{ ms: number; error?: string }> {
  const { ms, result } = await timed(() =>
    ctx.docker(vm, ["run", "-d", "--init", "--name", name, "--network", VNET, IMAGE, "sleep", "3600"]),
  );
  return { ms, ...(result.code !== 0 && { error: result.stderr.trim() }) };
}

export async function armPool(ctx: BenchContext): Promise<void> {
  const n = ctx.opts.attachCount;
  ctx.sim.setKnobs({});
  ctx.log(`arm pool: the plugin on ${ARM_VM} with --ipconfig-management arm, from a NIC with its primary ipconfig only`);
  await ctx.startPlugin(ARM_VM, { args: ARM_ARGS });
  await createBenchNetwork(ctx, ARM_VM);

  // The first container, while the plugin is still finding its NIC and growing the pool.
  const first = await firstContainer(ctx, ARM_VM, "bench-arm-first");
  const firstStatic = await firstContainer(ctx, STATIC_VM, "bench-static-first");
  ctx.check(
    `the first container on ${ARM_VM}'s empty NIC starts`,
    first.error === undefined,
    first.error ?? `${first.ms.toFixed(0)} ms after the plugin's socket answered`,
  );
  await ctx.docker(ARM_VM, ["rm", "-f", "bench-arm-first"]);
  await ctx.docker(STATIC_VM, ["rm", "-f", "bench-static-first"]);
  ctx.addFigure({
    id: "arm-first-container",
    name: "first `docker run -d` after the plugin started, NIC with its primary ipconfig only (ARM)",
    unit: "ms",
    value: first.ms,
    baseline: firstStatic.ms,
    baselineName: "pre-created ipconfigs",
    note: "includes finding the NIC through IMDS and ARM and one NIC PUT, which the simulator completes in 1.5 s (Azure: seconds)",
  });

  // Many starts: the warm pool grows ahead of them; the other VM's are pre-created. The order alternates with the mode.
  const batches: Record<"arm" | "static", { startMs: number }> = { arm: { startMs: Number.NaN }, static: { startMs: Number.NaN } };
  const order: ("arm" | "static")[] = ctx.opts.quick ? ["static", "arm"] : ["arm", "static"];
  for (const kind of order) {
    const vm = kind === "arm" ? ARM_VM : STATIC_VM;
    ctx.log(`arm pool: ${n} containers on ${vm} (${kind === "arm" ? "warm pool through ARM" : "pre-created ipconfigs"})`);
    const batch = await startBatch(ctx, VNET, kind, vm, n);
    batches[kind] = batch;
    ctx.check(
      `${n} containers start on ${vm} (${kind}), ${ctx.opts.attachParallel} at a time`,
      batch.failures.length === 0,
      batch.failures.length ? `${batch.failures.length} failed, e.g. ${batch.failures[0]}` : `${(batch.startMs / 1000).toFixed(1)} s`,
    );
    if (kind === "arm") {
      const addrs = await addresses(ctx, vm, batch.names);
      const own = new Set(ownIpconfigs(ctx, vm));
      const foreign = addrs.filter((a) => !own.has(a));
      ctx.check(
        `${n} addresses on ${vm} distinct, all ipconfigs the plugin made through ARM`,
        new Set(addrs).size === n && foreign.length === 0,
        `${new Set(addrs).size} distinct of ${addrs.length}${foreign.length ? `; not the plugin's ipconfigs: ${foreign.slice(0, 5).join(", ")}` : ""}`,
      );
      const unreachable = await unreachableFrom(ctx, PEER, addrs);
      ctx.check(
        `every container on ${vm} reachable from ${PEER} (ping)`,
        unreachable.length === 0,
        unreachable.length ? `unreachable: ${unreachable.slice(0, 10).join(", ")}` : `${addrs.length} answered`,
      );
    }
    const removed = await removeBatch(ctx, batch.names, vm);
    ctx.check(
      `${n} containers removed from ${vm}`,
      removed.failures.length === 0,
      removed.failures[0] ?? `${(removed.ms / 1000).toFixed(1)} s`,
    );
  }
  ctx.addFigure({
    id: "arm-attach-start",
    name: `start ${n} containers, ${ctx.opts.attachParallel} at a time, warm pool through ARM`,
    unit: "s",
    value: batches.arm.startMs / 1000,
    baseline: batches.static.startMs / 1000,
    baselineName: "pre-created ipconfigs",
    target: { on: "ratio", op: "<=", limit: 1.15 },
  });

  // Back to the warm target once the cooldown has passed.
  const t0 = Date.now();
  while (ownIpconfigs(ctx, ARM_VM).length !== WARM && Date.now() - t0 < SHRINK_WAIT_MS) await sleep(500);
  const left = ownIpconfigs(ctx, ARM_VM).length;
  ctx.check(
    `the pool on ${ARM_VM} shrinks back to its warm target (${WARM}) after the ${COOLDOWN_S} s cooldown`,
    left === WARM,
    `${left} ipconfigs of the plugin's, ${((Date.now() - t0) / 1000).toFixed(0)} s after the last removal`,
  );
  ctx.details.armPool = { first, firstStatic, startMs: { arm: batches.arm.startMs, static: batches.static.startMs }, warm: WARM };
  await ctx.stopPlugin(ARM_VM);
}

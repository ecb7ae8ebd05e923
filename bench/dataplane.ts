/**
 * Figure 4: the dataplane. TCP throughput (iperf3) and ping RTT from a
 * container on vm1 to a container on vm2, against vm1 to vm2 host to host,
 * plus container on vm1 to vm2's host (one container end only), in both
 * network modes: the bridge network the other phases use, and a transparent
 * network on the same subnet made for this phase. The order of the paths
 * rotates round by round. The busybox image has no iperf3, so the machine's
 * iperf3 runs in each container's network namespace (nsenter
 * --net=SandboxKey inside the VM): the packets take the same path.
 */
import { BenchContext, BRIDGE, IMAGE, VMS, VNET, VmName } from "./context";
import { KernelProfile, perfAvailable, profileDuring, profileTable } from "./kernel-profile";
import { renderTable } from "./report";
import { BENCH_SUBNET } from "./topology";
import { killAndWait } from "../sim/vm";
import { waitFor } from "../sim/exec";
import { median } from "./stats";
import { removeBatch, startBatch } from "./attach";

const PORT = 5201;
const SRC: VmName = "vm1";
const DST: VmName = "vm2";
/** The transparent network this phase adds beside VNET, on the same subnet. */
const VNET_TRANSPARENT = `${VNET}-transparent`;

export interface Endpoint {
  /** Command prefix that runs a program in this place's network namespace, inside its VM. */
  prefix: string[];
  address: string;
  /** A container's IPv6 address, on a dual-stack network. */
  address6?: string;
}

export async function container(ctx: BenchContext, vm: VmName, name: string, network = VNET): Promise<Endpoint> {
  const run = await ctx.docker(vm, ["run", "-d", "--init", "--name", name, "--network", network, IMAGE, "sleep", "3600"]);
  if (run.code !== 0) throw new Error(`docker run ${name} on ${vm} failed: ${run.stderr.trim()}`);
  const r = await ctx.docker(vm, [
    "inspect",
    "-f",
    "{{.NetworkSettings.SandboxKey}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}}{{end}}",
    name,
  ]);
  const [key, address, address6] = r.stdout.trim().split(/\s+/);
  if (r.code !== 0 || !key || !address) throw new Error(`cannot inspect ${name} on ${vm}: ${r.stderr.trim() || r.stdout.trim()}`);
  return { prefix: ["nsenter", `--net=${key}`], address, ...(address6 && { address6 }) };
}

function inPlace(ctx: BenchContext, vm: VmName, at: Endpoint, cmd: string[], timeoutMs: number) {
  const full = [...at.prefix, ...cmd];
  return ctx.sim.exec(vm, full[0], full.slice(1), { allowFailure: true, timeoutMs });
}

/** Starts `iperf3 -s` in a place on a VM (DST unless given), waits until it listens; returns its pid. */
export async function iperfServer(ctx: BenchContext, at: Endpoint, label: string, vm: VmName = DST): Promise<number> {
  // `-s` without `-1` serves one test after another: each path's server answers every round.
  const cmd = [...at.prefix, "iperf3", "-s", "-p", String(PORT)];
  const pid = ctx.sim.spawnInVm(vm, cmd[0], cmd.slice(1), `${ctx.sim.dir}/iperf3-${label}.log`);
  await waitFor(
    `iperf3 server (${label})`,
    async () => {
      const r = await inPlace(ctx, vm, at, ["ss", "-Hltn", `sport = :${PORT}`], 10_000);
      return r.stdout.includes(`:${PORT}`);
    },
    10_000,
    100,
  );
  return pid;
}

async function iperf(ctx: BenchContext, from: Endpoint, to: Endpoint): Promise<{ gbps: number; bytes: number }> {
  const secs = ctx.opts.iperfSeconds;
  const r = await inPlace(ctx, SRC, from, ["iperf3", "-c", to.address, "-p", String(PORT), "-t", String(secs), "-J"], (secs + 30) * 1000);
  const doc = JSON.parse(r.stdout || "{}") as { end?: { sum_received?: { bits_per_second?: number; bytes?: number } }; error?: string };
  const bps = doc.end?.sum_received?.bits_per_second;
  const bytes = doc.end?.sum_received?.bytes;
  if (r.code !== 0 || bps === undefined || bytes === undefined)
    throw new Error(`iperf3 to ${to.address} failed: ${doc.error ?? r.stderr.trim()}`);
  return { gbps: bps / 1e9, bytes };
}

async function throughputGbps(ctx: BenchContext, from: Endpoint, to: Endpoint): Promise<number> {
  return (await iperf(ctx, from, to)).gbps;
}

/** Round-trip times of individual echo requests, in ms. */
async function rttsMs(ctx: BenchContext, from: Endpoint, to: Endpoint): Promise<number[]> {
  const n = ctx.opts.pingsPerRound;
  const r = await inPlace(ctx, SRC, from, ["busybox", "ping", "-c", String(n), "-i", "0.2", "-W", "2", to.address], (n + 30) * 1000);
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < n) throw new Error(`ping ${to.address}: ${times.length} of ${n} answered`);
  return times;
}

export interface Path {
  from: Endpoint;
  to: Endpoint;
}

/** Throughput and RTT samples of each path, over the configured rounds. */
export async function measureRounds<K extends string>(
  ctx: BenchContext,
  paths: Record<K, Path>,
): Promise<{ gbps: Record<K, number[]>; rtt: Record<K, number[]> }> {
  const kinds = Object.keys(paths) as K[];
  const gbps = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  const rtt = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < ctx.opts.dataplaneRounds; round++) {
    // Each path goes first in turn, so none always runs on a machine the others just warmed.
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
    for (const p of order) {
      gbps[p].push(await throughputGbps(ctx, paths[p].from, paths[p].to));
      rtt[p].push(...(await rttsMs(ctx, paths[p].from, paths[p].to)));
    }
  }
  return { gbps, rtt };
}

/** Stops a phase's iperf3 servers, removes its containers on each VM, then its network on both. */
export async function removePathsAndNetwork(
  ctx: BenchContext,
  servers: number[],
  names: Record<(typeof VMS)[number], string[]>,
  network: string,
): Promise<void> {
  for (const pid of servers) await killAndWait(pid, 3_000);
  for (const vm of VMS) await ctx.docker(vm, ["rm", "-f", ...names[vm]]);
  for (const vm of VMS) await ctx.docker(vm, ["network", "rm", network]);
}

/** The lines of a command's output on vm1 and vm2 that match, each after its VM's name: what a removal left. */
export async function linesOnVms(ctx: BenchContext, cmd: string[], match: (line: string) => boolean): Promise<string[]> {
  const found: string[] = [];
  for (const vm of VMS) {
    const r = await ctx.sim.exec(vm, cmd[0], cmd.slice(1), { allowFailure: true });
    found.push(
      ...r.stdout
        .split("\n")
        .filter(match)
        .map((l) => `${vm}: ${l.trim()}`),
    );
  }
  return found;
}

/** A figure pair (throughput, RTT) of one path against a baseline path measured in the same rounds. */
export interface PathRow<K extends string> {
  /** The figures' ids are dp-throughput-ID and dp-rtt-ID. */
  id: string;
  what: string;
  path: K;
  base: K;
  baseName: string;
  /** Ratio targets: throughput no lower, RTT no higher. */
  limits: { gbps: number; rtt: number };
}

/** Adds the throughput and RTT figures of each row, medians against medians, on a bridge network. */
export function addPathFigures<K extends string>(
  ctx: BenchContext,
  samples: { gbps: Record<K, number[]>; rtt: Record<K, number[]> },
  rows: readonly PathRow<K>[],
): void {
  const metrics = [
    { id: "throughput", what: "TCP throughput", unit: "Gbit/s", data: samples.gbps, op: ">=", limit: "gbps" },
    { id: "rtt", what: "ping RTT", unit: "ms", data: samples.rtt, op: "<=", limit: "rtt" },
  ] as const;
  for (const row of rows) {
    for (const m of metrics) {
      ctx.addFigure({
        id: `dp-${m.id}-${row.id}`,
        name: `${m.what} ${row.what}, bridge, median`,
        unit: m.unit,
        value: median(m.data[row.path]),
        baseline: median(m.data[row.base]),
        baselineName: row.baseName,
        target: { on: "ratio", op: m.op, limit: row.limits[m.limit] },
      });
    }
  }
}

export async function dataplane(ctx: BenchContext): Promise<void> {
  const host = (vm: VmName): Endpoint => ({ prefix: [], address: ctx.sim.vm(vm).nic.primary.address });
  const servers: number[] = [];
  const present: { vm: VmName; names: string[] }[] = [];
  const names = { [SRC]: "bench-dp-src", [DST]: "bench-dp-dst" };
  const routed = { [SRC]: "bench-dp-src-t", [DST]: "bench-dp-dst-t" };
  const natted = "bench-dp-src-b";
  try {
    for (const vm of VMS) {
      const r = await ctx.docker(vm, [
        ...["network", "create", "-d", "azure-vnet", "--ipam-driver", "azure-vnet"],
        ...["-o", "mode=transparent", "--subnet", BENCH_SUBNET, VNET_TRANSPARENT],
      ]);
      if (r.code !== 0) throw new Error(`docker network create ${VNET_TRANSPARENT} on ${vm} failed: ${r.stderr.trim()}`);
    }
    const src = await container(ctx, SRC, names[SRC]);
    const dst = await container(ctx, DST, names[DST]);
    const srcT = await container(ctx, SRC, routed[SRC], VNET_TRANSPARENT);
    const dstT = await container(ctx, DST, routed[DST], VNET_TRANSPARENT);
    // Docker's own bridge reaches vm2 only through NAT to vm1's address: the one-sided path is the one to compare.
    const srcB = await container(ctx, SRC, natted, BRIDGE);
    // The one-sided paths split a container path's extra cost between its two ends.
    const paths = {
      host: { from: host(SRC), to: host(DST) },
      container: { from: src, to: dst },
      oneSided: { from: src, to: host(DST) },
      transparent: { from: srcT, to: dstT },
      transparentOneSided: { from: srcT, to: host(DST) },
      dockerBridgeOneSided: { from: srcB, to: host(DST) },
    };
    servers.push(
      await iperfServer(ctx, paths.host.to, "host"),
      await iperfServer(ctx, dst, "container"),
      await iperfServer(ctx, dstT, "transparent"),
    );
    const { gbps, rtt } = await measureRounds(ctx, paths);
    ctx.check("iperf3 and ping between containers on vm1 and vm2", true, `${ctx.opts.dataplaneRounds} rounds each way, both modes`);
    if (!ctx.opts.quick) await kernelProfiles(ctx, paths);
    // Again with many idle endpoints on each VM: every frame passes the port guards, whose cost must not grow with them.
    const n = ctx.opts.presentEndpoints;
    ctx.log(`dataplane: again with ${n} idle containers on each VM`);
    for (const vm of VMS) {
      const batch = await startBatch(ctx, VNET, `dp-idle-${vm}`, vm, n);
      present.push({ vm, names: batch.names });
      if (batch.failures.length) throw new Error(`idle containers on ${vm}: ${batch.failures.slice(0, 3).join("; ")}`);
    }
    const crowded = await measureRounds(ctx, { host: paths.host, container: paths.container, transparent: paths.transparent });
    ctx.details.dataplane = { gbps, rttMs: rtt, withEndpoints: { count: n, gbps: crowded.gbps, rttMs: crowded.rtt } };
    const vsHost = { baseline: median(gbps.host), baselineName: "host to host" };
    const vsHostRtt = { baseline: median(rtt.host), baselineName: "host to host" };
    const vsDocker = { baseline: median(gbps.dockerBridgeOneSided), baselineName: "Docker's bridge, same path" };
    const vsDockerRtt = { baseline: median(rtt.dockerBridgeOneSided), baselineName: "Docker's bridge, same path" };
    ctx.addFigure({
      id: "dp-throughput-docker-bridge",
      name: "TCP throughput container -> vm2 host, Docker's bridge (NAT), median",
      unit: "Gbit/s",
      value: median(gbps.dockerBridgeOneSided),
      ...vsHost,
    });
    ctx.addFigure({
      id: "dp-rtt-docker-bridge",
      name: "ping RTT container -> vm2 host, Docker's bridge (NAT), median",
      unit: "ms",
      value: median(rtt.dockerBridgeOneSided),
      ...vsHostRtt,
    });
    // The same one-sided path on each mode against Docker's bridge: throughput no lower, RTT no higher.
    const metrics = [
      { id: "throughput", what: "TCP throughput", unit: "Gbit/s", data: gbps, base: vsDocker, op: ">=", limit: 0.95 },
      { id: "rtt", what: "ping RTT", unit: "ms", data: rtt, base: vsDockerRtt, op: "<=", limit: 1.05 },
    ] as const;
    for (const [mode, one] of [
      ["bridge", "oneSided"],
      ["transparent", "transparentOneSided"],
    ] as const) {
      for (const m of metrics) {
        ctx.addFigure({
          id: `dp-${m.id}-vs-docker-${mode}`,
          name: `${m.what} container -> vm2 host, ${mode} vs Docker's bridge`,
          unit: m.unit,
          value: median(m.data[one]),
          ...m.base,
          target: { on: "ratio", op: m.op, limit: m.limit },
        });
      }
    }
    for (const [mode, both, one] of [
      ["bridge", "container", "oneSided"],
      ["transparent", "transparent", "transparentOneSided"],
    ] as const) {
      // The bridge figures keep the ids they had before transparent mode existed.
      const suffix = mode === "bridge" ? "" : "-transparent";
      // A bridge hop and its guard cost more than a routed veth.
      const targets = mode === "bridge" ? { gbps: 0.9, rtt: 1.25 } : { gbps: 0.95, rtt: 1.1 };
      ctx.addFigure({
        id: `dp-throughput${suffix}`,
        name: `TCP throughput container -> container (iperf3), ${mode}, median`,
        unit: "Gbit/s",
        value: median(gbps[both]),
        ...vsHost,
        target: { on: "ratio", op: ">=", limit: targets.gbps },
      });
      ctx.addFigure({
        id: `dp-rtt${suffix}`,
        name: `ping RTT container -> container, ${mode}, median`,
        unit: "ms",
        value: median(rtt[both]),
        ...vsHostRtt,
        target: { on: "ratio", op: "<=", limit: targets.rtt },
      });
      ctx.addFigure({
        id: `dp-throughput-one-sided${suffix}`,
        name: `TCP throughput container -> vm2 host, ${mode}, median`,
        unit: "Gbit/s",
        value: median(gbps[one]),
        ...vsHost,
      });
      ctx.addFigure({
        id: `dp-rtt-one-sided${suffix}`,
        name: `ping RTT container -> vm2 host, ${mode}, median`,
        unit: "ms",
        value: median(rtt[one]),
        ...vsHostRtt,
      });
      // The two figures above again with the endpoints present, set against themselves with none: the
      // guard's cost per frame does not depend on the endpoints. Each is a ratio to host <-> host
      // measured in the same rounds, as above: 2 x 250 idle containers load the machine itself (their
      // shims, the kernel's memory), which host <-> host feels as much as any container path.
      ctx.addFigure({
        id: `dp-throughput-present${suffix}`,
        name: `TCP throughput container -> container vs host -> host, ${mode}, ${n} endpoints on each VM`,
        unit: "x host",
        value: median(crowded.gbps[both]) / median(crowded.gbps.host),
        baseline: median(gbps[both]) / median(gbps.host),
        baselineName: "none present",
        target: { on: "ratio", op: ">=", limit: 0.97 },
        note: `container -> container ${median(crowded.gbps[both]).toFixed(1)} Gbit/s (none present ${median(gbps[both]).toFixed(1)})`,
      });
      ctx.addFigure({
        id: `dp-rtt-present${suffix}`,
        name: `ping RTT container -> container vs host -> host, ${mode}, ${n} endpoints on each VM`,
        unit: "x host",
        value: median(crowded.rtt[both]) / median(crowded.rtt.host),
        baseline: median(rtt[both]) / median(rtt.host),
        baselineName: "none present",
        target: { on: "ratio", op: "<=", limit: 1.03 },
        note: `container -> container ${median(crowded.rtt[both]).toFixed(3)} ms (none present ${median(rtt[both]).toFixed(3)})`,
      });
    }
    // The machine with the idle containers, on the path no plugin touches.
    ctx.addFigure({
      id: "dp-throughput-present-host",
      name: `TCP throughput host -> host, ${n} endpoints on each VM`,
      unit: "Gbit/s",
      value: median(crowded.gbps.host),
      baseline: median(gbps.host),
      baselineName: "none present",
    });
    ctx.addFigure({
      id: "dp-rtt-present-host",
      name: `ping RTT host -> host, ${n} endpoints on each VM`,
      unit: "ms",
      value: median(crowded.rtt.host),
      baseline: median(rtt.host),
      baselineName: "none present",
    });
  } catch (err) {
    ctx.check("iperf3 and ping between containers on vm1 and vm2", false, (err as Error).message);
  } finally {
    for (const { vm, names: idle } of present) await removeBatch(ctx, idle, vm);
    for (const pid of servers) await killAndWait(pid, 3_000);
    await ctx.docker(SRC, ["rm", "-f", names[SRC], routed[SRC], natted]);
    await ctx.docker(DST, ["rm", "-f", names[DST], routed[DST]]);
    for (const vm of VMS) await ctx.docker(vm, ["network", "rm", VNET_TRANSPARENT]);
  }
}

/** One iperf3 run per path under perf: the kernel's cost per GB by part, paths side by side. */
async function kernelProfiles(ctx: BenchContext, paths: Record<string, Path>): Promise<void> {
  if (!(await perfAvailable())) {
    ctx.log("dataplane: perf not found, no kernel profile (apt-get install linux-perf)");
    return;
  }
  ctx.log("dataplane: kernel profile of each path (perf)");
  const profiles: Record<string, KernelProfile> = {};
  for (const [name, p] of Object.entries(paths)) profiles[name] = await profileDuring(async () => (await iperf(ctx, p.from, p.to)).bytes);
  ctx.details.dataplaneKernelProfile = profiles;
  ctx.tables.push({
    title: "dataplane, kernel CPU samples per GB moved by part (perf, iperf3 processes, sender and receiver)",
    text: renderTable(profileTable(profiles)),
  });
}

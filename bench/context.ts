/**
 * What every phase shares: the simulator, the running plugins, the options,
 * and where figures, checks and raw details are collected.
 */
import { Simulator } from "../sim/simulator";
import { PluginProcess } from "../sim/plugin-process";
import { RunResult } from "../sim/exec";
import { BenchOptions } from "./options";
import { BENCH_SUBNET } from "./topology";
import { Check, Figure, figure } from "./report";
import { spawnServing } from "./spawn";
import { PLUGIN_BUNDLE, pluginEntrypoint } from "./entrypoint";
import { join, resolve } from "node:path";
import { killAndWait } from "../sim/vm";

/** The VMs every phase uses; their NICs carry Azure's maximum of secondary ipconfigs. */
export const VMS = ["vm1", "vm2"] as const;
/** A VM whose NIC has its primary ipconfig only: the plugin there makes its own through ARM (arm-pool.ts). */
export const ARM_VM = "vm3";
export type VmName = (typeof VMS)[number] | typeof ARM_VM;
/** The Docker network on the plugin, on each VM. */
export const VNET = "benchvnet";
/** Docker's built-in bridge network (docker0), the baseline for Docker-driven figures. */
export const BRIDGE = "bridge";
export const IMAGE = "local/busybox";
/** A network on the do-nothing remote driver (null-driver.ts) on vm1: what Docker's remote-driver path costs by itself. */
export const NULLNET = "benchnull";
const NULL_DRIVER = "azv-null";
/** RFC 2544's benchmarking range, never a VNet address; the null driver hands out 250 of it. */
const NULL_SUBNET = "198.19.0.0/24";
const NULL_JS = resolve(__dirname, "null-driver.js");

/**
 * The plugin's production log level (PluginProcess on its own would run it at
 * debug). The control-plane phase drives networks over the socket that Docker
 * never heard of; a long grace keeps reconciliation from collecting them mid-run.
 */
const PLUGIN_ENV = { LOG_LEVEL: "info", AZURE_VNET_RECONCILE_GRACE: "3600" };

export class BenchContext {
  readonly figures: Figure[] = [];
  readonly checks: Check[] = [];
  readonly details: Record<string, unknown> = {};
  /** Secondary tables printed after the figures (per-step breakdowns). */
  readonly tables: { title: string; text: string }[] = [];
  private readonly plugins = new Map<VmName, PluginProcess>();
  private nullDriverPid: number | undefined;

  constructor(
    readonly sim: Simulator,
    readonly opts: BenchOptions,
  ) {}

  log(msg: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  }

  addFigure(f: Parameters<typeof figure>[0]): void {
    this.figures.push(figure(f));
  }

  check(name: string, ok: boolean, detail: string): boolean {
    this.checks.push({ name, ok, detail });
    if (!ok) this.log(`CHECK FAILED: ${name}: ${detail}`);
    return ok;
  }

  plugin(vm: VmName): PluginProcess {
    const p = this.plugins.get(vm);
    if (!p) throw new Error(`the plugin on ${vm} is not running`);
    return p;
  }

  /**
   * (Re)starts the plugin on a VM as PluginProcess would (same command, env
   * and polling); returns milliseconds until its socket answered. Started here
   * because `node --cpu-prof` cannot go through NODE_OPTIONS and a start with
   * many endpoints may need longer than PluginProcess waits. With cpuProfDir
   * the plugin writes a CPU profile there when stopped.
   */
  async startPlugin(vm: VmName, opts: { cpuProfDir?: string; timeoutMs?: number; args?: string[] } = {}): Promise<number> {
    await this.stopPlugin(vm);
    const p = new PluginProcess(this.sim, vm, PLUGIN_ENV);
    // What users run: the bundle, with the managed plugin's node flags and tuning.
    const image = pluginEntrypoint();
    const nodeFlags = [...image.nodeArgs, ...(opts.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", opts.cpuProfDir] : [])];
    const env = { ...PLUGIN_ENV, ...image.env };
    const started = await spawnServing(
      this.sim,
      vm,
      [...nodeFlags, PLUGIN_BUNDLE, "serve", ...(opts.args ?? [])],
      p.socket,
      p.logFile,
      env,
      opts.timeoutMs,
    );
    p.pid = started.pid;
    this.plugins.set(vm, p);
    return started.ms;
  }

  async stopPlugin(vm: VmName): Promise<void> {
    const p = this.plugins.get(vm);
    if (!p) return;
    await p.stop("SIGTERM");
    this.plugins.delete(vm);
  }

  async stopPlugins(): Promise<void> {
    for (const vm of [...VMS, ARM_VM] as const) await this.stopPlugin(vm);
    if (this.nullDriverPid !== undefined) await killAndWait(this.nullDriverPid, 5_000);
    this.nullDriverPid = undefined;
  }

  /** Starts the null driver in `vm` and makes NULLNET on it. */
  async startNullNetwork(vm: VmName): Promise<void> {
    // The VM's /run/docker/plugins, as the machine sees it, is where the bench polls.
    const socket = `${NULL_DRIVER}.sock`;
    const log = join(this.sim.dir, `${NULL_DRIVER}-${vm}.log`);
    const started = await spawnServing(
      this.sim,
      vm,
      [NULL_JS, `/run/docker/plugins/${socket}`],
      join(this.sim.paths(vm).plugins, socket),
      log,
    );
    this.nullDriverPid = started.pid;
    const r = await this.docker(vm, [
      "network",
      "create",
      "-d",
      NULL_DRIVER,
      "--ipam-driver",
      NULL_DRIVER,
      "--subnet",
      NULL_SUBNET,
      NULLNET,
    ]);
    if (r.code !== 0) throw new Error(`docker network create ${NULLNET} on ${vm} failed: ${r.stderr.trim()}`);
  }

  /** docker CLI in a VM; never rejects on a non-zero exit. */
  docker(vm: VmName, args: string[], timeoutMs = 120_000): Promise<RunResult> {
    return this.sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
  }
}

/** `docker network create` of VNET on the plugin in a VM, over the benchmark's subnet. */
export async function createBenchNetwork(ctx: BenchContext, vm: VmName): Promise<void> {
  const r = await ctx.docker(vm, ["network", "create", "-d", "azure-vnet", "--ipam-driver", "azure-vnet", "--subnet", BENCH_SUBNET, VNET]);
  if (r.code !== 0) throw new Error(`docker network create on ${vm} failed: ${r.stderr.trim()}`);
}

/**
 * The managed plugin on the simulator: built once with
 * `scripts/plugin-build.sh --offline-base` against one VM's dockerd, then
 * either created on the other VMs from the same plugin directory, or pushed
 * to the simulator's registry and installed there by name; enabled with the
 * host paths its config.json binds.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Simulator } from "../../../sim/simulator";
import { RunResult, run } from "../../../sim/exec";

/** The name plugin-build.sh gives by default, and the one examples/compose-managed uses. */
export const PLUGIN_NAME = "azure-vnet:latest";
export const BUILD_SCRIPT = resolve(__dirname, "../../../../scripts/plugin-build.sh");
const DRIVER_SOURCES = resolve(__dirname, "../../../../driver");

/**
 * Firewall and conntrack programs the driver's sources name, e.g.
 * "iptables-nft-restore" or "ebtables-save": each must be in the plugin's
 * rootfs, which has nothing the collect script did not put there.
 */
export function driverPrograms(dir = DRIVER_SOURCES): string[] {
  const found = new Set<string>();
  const literal = /"((?:iptables|ip6tables|ebtables|arptables|conntrack|ipset|nft)(?:-(?:nft|legacy|save|restore))*)"/g;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    for (const m of readFileSync(join(entry.parentPath, entry.name), "utf8").matchAll(literal)) found.add(m[1]);
  }
  return [...found].sort();
}

export interface BuildReport {
  seconds: number;
  imageMegabytes: number;
  output: string;
}

export class ManagedPlugin {
  constructor(
    readonly sim: Simulator,
    readonly name = PLUGIN_NAME,
  ) {}

  /** config.json and the exported rootfs, kept so other VMs need no build of their own; one folder per name. */
  get dir(): string {
    return join(this.sim.dir, this.name === PLUGIN_NAME ? "managed-plugin" : `managed-plugin-${this.name.replace(/[^a-z0-9.-]/g, "-")}`);
  }

  private async run(vm: string, cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
    const r = await this.sim.exec(vm, cmd, args, { allowFailure: true, timeoutMs });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} on ${vm} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r;
  }

  /**
   * Build the rootfs image in `vm`'s dockerd from a locally imported base, and
   * create the plugin there; with `push`, the name is a registry reference and
   * the plugin is pushed there (plugin-build.sh --push). The VM reaches no
   * registry: the pinned Node package is fetched into the cache from this machine first.
   */
  async build(vm: string, opts: { push?: boolean } = {}): Promise<BuildReport> {
    const t0 = Date.now();
    await run("bash", [BUILD_SCRIPT, "--fetch-node"], { timeoutMs: 300_000 });
    const naming = opts.push ? ["--push", this.name] : ["--name", this.name];
    const r = await this.run(vm, "bash", [BUILD_SCRIPT, "--offline-base", ...naming, "--out", this.dir, "--replace"], 300_000);
    const size = /\((\d+) MB\)/.exec(r.stdout);
    if (!size) throw new Error(`plugin-build.sh reported no image size:\n${r.stdout}`);
    return { seconds: (Date.now() - t0) / 1000, imageMegabytes: Number(size[1]), output: r.stdout };
  }

  /** Create the plugin on another VM from the directory build() kept. */
  async createFromDir(vm: string): Promise<number> {
    const t0 = Date.now();
    await this.run(vm, "docker", ["plugin", "create", this.name, this.dir], 120_000);
    return (Date.now() - t0) / 1000;
  }

  /**
   * Enable it, with nothing prepared on the VM: config.json binds only what
   * always exists (/var/lib, /run, Docker's socket, /proc/sys/net). With
   * `restartable`, the docker-socket mount names the socket the simulator's
   * dockerd makes outside /run, which is there whenever dockerd restarts.
   */
  async enable(vm: string, opts: { restartable?: boolean } = {}): Promise<void> {
    if (opts.restartable) await this.set(vm, [`docker-socket.source=${this.sim.paths(vm).socket}`]);
    await this.run(vm, "docker", ["plugin", "enable", this.name]);
  }

  /**
   * `docker plugin install --grant-all-permissions NAME` from the registry
   * its name points at, with nothing prepared on the VM; with `disabled`,
   * installed only (then enable(), e.g. restartable). Returns the seconds it took.
   */
  async install(vm: string, opts: { disabled?: boolean } = {}): Promise<number> {
    const t0 = Date.now();
    const disable = opts.disabled ? ["--disable"] : [];
    await this.run(vm, "docker", ["plugin", "install", "--grant-all-permissions", ...disable, this.name], 300_000);
    return (Date.now() - t0) / 1000;
  }

  /** `docker plugin set` (the plugin must be disabled). */
  async set(vm: string, settings: string[]): Promise<void> {
    await this.run(vm, "docker", ["plugin", "set", this.name, ...settings]);
  }

  async disable(vm: string): Promise<void> {
    await this.run(vm, "docker", ["plugin", "disable", "-f", this.name], 120_000);
  }

  /** The plugin's last reconciliation with Docker's API, from the report it keeps beside its state. */
  lastReconcile(vm: string): { ok: boolean; error?: string } | undefined {
    try {
      return JSON.parse(readFileSync(join(this.sim.paths(vm).pluginState, "last-reconcile.json"), "utf8")) as {
        ok: boolean;
        error?: string;
      };
    } catch {
      return undefined;
    }
  }

  /** Run a program of the plugin's rootfs in the VM's namespaces, e.g. to prove its libraries resolve. */
  inRootfs(vm: string, program: string, args: string[]): Promise<RunResult> {
    return this.sim.exec(vm, "chroot", [join(this.dir, "rootfs"), program, ...args], { allowFailure: true, timeoutMs: 30_000 });
  }
}

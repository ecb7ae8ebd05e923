/**
 * The simulated Azure network as a library: bring it up from a topology, look
 * at it, run commands in its VMs, change it at run time, tear it down.
 * `sim/cli.ts` is a thin command line over this class.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { Address4, Address6 } from "ip-address";
import { NicView, SimIp6Config, SimIpConfig, Topology, Vm, hasIpv6, nicIp6Configs, nicIpConfigs, nicsOf } from "./topology";
import { commitIpConfigs, readTopologyFile, writeTopologyFile } from "./ipconfig-commit";
import { OPERATIONS_FILE } from "./platform/arm-operations";
import { ARM_CA_IN_VM, armCertificatePaths, makeArmCertificates } from "./arm-tls";
import { RunOptions, RunResult, ip, isAlive, run, spawnDetached, waitFor } from "./exec";
import { Knobs, writeKnobs } from "./platform/knobs";
import { ARM_HOST, ARM_IP, FABRIC_NS, INET_NS, NS_PREFIX, ONPREM_NS, REGISTRY_NS, vmNs } from "./names";
import { Engine, defaultEngine, hasDebian13 } from "./engines";
import { registryHost, startRegistry } from "./registry";
import { applyFabricRules, buildFabric, dropCount, plugVm } from "./fabric";
import { allNics, dropChains } from "./fabric-rules";
import { dropChains6 } from "./fabric-rules6";
import {
  VmPaths,
  busyboxTarball,
  cgroupPids,
  dockerHost,
  importBusybox,
  killAndWait,
  newBootId,
  readComm,
  removeCgroups,
  startDockerd,
  startVmInit,
  stopDockerd,
  vmPaths,
} from "./vm";

export const DEFAULT_SIM_DIR = "/tmp/azure-vnet-sim";

/** What the simulator remembers between commands (and after a crash). */
interface SimState {
  topology: Topology;
  /** Host paths the simulator had to create, removed again by down(). */
  created: { runNetnsMount: boolean; runNetnsDir: boolean; varLibAzureVnet: boolean };
  namespaces: string[];
  dockerdPids: Record<string, number>;
  /** Each VM's init: the process holding its mount and UTS namespaces. */
  vmInitPids: Record<string, number>;
  platformPid?: number;
  /** Each VM's Docker engine (sim/engines.ts). */
  engines?: Record<string, Engine>;
  /** The registry host's docker-registry, when Debian 13's tools are there. */
  registryPid?: number;
  upSeconds?: number;
}

/** One NIC of a VM in `status`. */
export interface NicStatus {
  /** The VM's link: eth0 for the primary NIC, then eth1, eth2. */
  link: string;
  mac: string;
  subnet: string;
  primary: string;
  secondaries: string[];
  /** Public IPs (and public IPv6s) of this NIC's ipconfigs, by private address. */
  publicIps: Record<string, string>;
  /** The NIC's IPv6 ipconfigs, primary first: only the primary NIC's in a dual-stack subnet has any. */
  ipv6: string[];
}

export interface VmStatus {
  name: string;
  dockerHost: string;
  dockerdPid: number | undefined;
  running: boolean;
  engine: Engine;
  /** The primary NIC's (eth0) MAC, primary, secondaries and public IPs; `nics` has every NIC. */
  mac: string;
  primary: string;
  secondaries: string[];
  publicIps: Record<string, string>;
  /** The primary NIC's IPv6 ipconfigs, primary first (none without a dual-stack subnet); their public IPv6s are in publicIps. */
  ipv6: string[];
  nics: NicStatus[];
}

export interface SimStatus {
  up: boolean;
  dir: string;
  vms: VmStatus[];
  platformPid?: number;
  /** host:port of the registry VMs push to and pull from; absent when it is not running. */
  registry?: string;
  /** Azure Resource Manager: its name, address and CA certificate (on the machine, in a VM). */
  arm?: { host: string; address: string; caFile: string; caFileInVm: string };
  upSeconds?: number;
}

export type EdgeHost = "inet" | "onprem" | "fabric" | "registry";
const EDGE_NS: Record<EdgeHost, string> = { inet: INET_NS, onprem: ONPREM_NS, fabric: FABRIC_NS, registry: REGISTRY_NS };

export interface DropCounters {
  /** Per NIC: keyed "vm1" for a VM's primary NIC (eth0), "vm1/eth1" for its next NIC (nicKey). */
  spoofedMac: Record<string, number>;
  spoofedIp: Record<string, number>;
  undeliverable: number;
  noPublicIp: number;
  nsg: number;
  /** IPv6 drops (all zero when the topology has no IPv6): spoofed MAC and source per VM (its primary NIC, keyed as above), */
  spoofedMac6: Record<string, number>;
  spoofedIp6: Record<string, number>;
  /** neighbour advertisements claiming an address that is not the NIC's, per VM, */
  spoofedNa6: Record<string, number>;
  /** packets for VNet addresses that are no IPv6 ipconfig, and to the internet from ones without a public IPv6. */
  undeliverable6: number;
  noPublicIp6: number;
}

function isMountPoint(path: string): boolean {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[4] === path);
  } catch {
    return false;
  }
}

export class Simulator {
  readonly dir: string;
  private state: SimState | undefined;

  constructor(dir: string = process.env.AZSIM_DIR || DEFAULT_SIM_DIR) {
    this.dir = resolve(dir);
    this.state = this.readState();
  }

  private get stateFile(): string {
    return join(this.dir, "sim.json");
  }

  private readState(): SimState | undefined {
    try {
      return JSON.parse(readFileSync(this.stateFile, "utf8")) as SimState;
    } catch {
      return undefined;
    }
  }

  private writeState(): void {
    if (!this.state) return;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(this.state, null, 2));
    renameSync(`${this.stateFile}.tmp`, this.stateFile);
  }

  private requireState(): SimState {
    if (!this.state) throw new Error(`the simulator is not up (no ${this.stateFile}); run: npm run sim -- up`);
    return this.state;
  }

  /**
   * The live topology: the platform's topology.json, which ARM's NIC PUTs
   * change too; what `up` recorded when there is none yet.
   */
  get topology(): Topology {
    const st = this.requireState();
    try {
      return readTopologyFile(this.platformDir);
    } catch {
      return st.topology;
    }
  }

  vm(name: string): Vm {
    const vm = this.topology.vms.find((v) => v.name === name);
    if (!vm) throw new Error(`no VM named ${name}; the VMs are ${this.topology.vms.map((v) => v.name).join(", ")}`);
    return vm;
  }

  paths(name: string): VmPaths {
    this.vm(name);
    return vmPaths(this.dir, name);
  }

  dockerEnv(name: string): NodeJS.ProcessEnv {
    const paths = this.paths(name);
    return { ...process.env, DOCKER_HOST: dockerHost(paths), DOCKER_CONFIG: paths.dockerConfig };
  }

  get platformDir(): string {
    return join(this.dir, "platform");
  }

  /** The simulated ARM's CA certificate on the machine (made at `up`); VMs have it in /usr/local/share/ca-certificates. */
  get armCaFile(): string {
    return armCertificatePaths(join(this.platformDir, "arm")).ca;
  }

  /** host:port of the registry host, as image and plugin references name it. */
  get registry(): string {
    const st = this.requireState();
    if (st.registryPid === undefined || !isAlive(st.registryPid))
      throw new Error("the registry host is not running (Debian 13's tools are missing: run scripts/debian13-tools.sh)");
    return registryHost(st.topology);
  }

  /** The Docker engine a VM runs. */
  engine(name: string): Engine {
    this.vm(name);
    return this.requireState().engines?.[name] ?? "debian12";
  }

  /**
   * Bring the whole network up. Fails if it is already up. A VM runs the
   * engine its topology names, else `opts.engine`, else AZSIM_ENGINE, else debian12.
   */
  async up(topology: Topology, opts: { engine?: Engine } = {}): Promise<void> {
    if (this.state) throw new Error(`the simulator is already up (state in ${this.stateFile}); run: npm run sim -- down`);
    const t0 = process.hrtime.bigint();
    const created = {
      runNetnsDir: !existsSync("/run/netns"),
      runNetnsMount: !isMountPoint("/run/netns"),
      varLibAzureVnet: !existsSync("/var/lib/azure-vnet"),
    };
    const fallback = opts.engine ?? defaultEngine();
    const engines = Object.fromEntries(topology.vms.map((vm) => [vm.name, vm.engine ?? fallback]));
    this.state = { topology, created, namespaces: [], dockerdPids: {}, vmInitPids: {}, engines };
    this.writeState();
    try {
      this.state.namespaces.push(FABRIC_NS, INET_NS, ONPREM_NS, REGISTRY_NS, ...topology.vms.map((v) => vmNs(v.name)));
      this.writeState();
      await buildFabric(topology);
      for (const vm of topology.vms) await plugVm(topology, vm);
      await applyFabricRules(topology, true);
      await this.startPlatform();
      if (hasDebian13()) {
        this.wipeRegistry();
        this.state.registryPid = await startRegistry(topology, join(this.dir, "registry"));
        this.writeState();
      }
      // The mount point every VM binds its own plugin state directory over.
      mkdirSync("/var/lib/azure-vnet", { recursive: true });
      for (const vm of topology.vms) this.wipeVmDir(vm.name);
      const tarball = await busyboxTarball(this.dir);
      await Promise.all(
        topology.vms.map(async (vm) => {
          await this.startVmDocker(vm.name);
          await importBusybox(this.paths(vm.name), tarball);
        }),
      );
      this.state.upSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      this.writeState();
    } catch (err) {
      throw new Error(`sim up failed: ${(err as Error).message}\n(run \`npm run sim -- down\` to clean up)`);
    }
  }

  private async startPlatform(): Promise<void> {
    const st = this.requireState();
    mkdirSync(this.platformDir, { recursive: true });
    writeTopologyFile(this.platformDir, st.topology);
    // ARM operations of an earlier run must not be resumed on this one.
    rmSync(join(this.platformDir, OPERATIONS_FILE), { force: true });
    const tls = await makeArmCertificates(join(this.platformDir, "arm"));
    // A new simulation starts without faults, whatever knobs a run that was cut short left set.
    writeFileSync(join(this.platformDir, "knobs.json"), "{}\n");
    const ready = join(this.platformDir, "ready");
    rmSync(ready, { force: true });
    const main = resolve(__dirname, "platform", "main.js");
    const logFd = openSync(join(this.platformDir, "platform.log"), "a");
    try {
      st.platformPid = spawnDetached(
        "ip",
        [
          "netns",
          "exec",
          FABRIC_NS,
          process.execPath,
          main,
          "--state-dir",
          this.platformDir,
          "--ready-file",
          ready,
          "--arm-listen",
          `${ARM_IP}:443`,
          "--arm-cert",
          tls.cert,
          "--arm-key",
          tls.key,
          "--apply-fabric",
        ],
        logFd,
      );
    } finally {
      closeSync(logFd);
    }
    this.writeState();
    const pid = st.platformPid;
    await waitFor(
      "the platform endpoints (IMDS, wireserver, DNS, ARM)",
      () => {
        if (!isAlive(pid)) throw new Error(`the platform process exited; see ${join(this.platformDir, "platform.log")}`);
        return existsSync(ready);
      },
      15_000,
    );
  }

  /** What was pushed to the registry, gone with the simulator; its log stays. */
  private wipeRegistry(): void {
    rmSync(join(this.dir, "registry", "storage"), { recursive: true, force: true });
  }

  /** Engine data and plugin state of a VM, gone so the next `up` starts clean; logs stay for reading. */
  private wipeVmDir(name: string): void {
    const dir = vmPaths(this.dir, name).dir;
    for (const sub of ["data", "exec", "plugins", "etc-docker", "docker-config", "var-lib-azure-vnet", ".cgroup", "boot_id"])
      rmSync(join(dir, sub), { recursive: true, force: true });
  }

  /** Start (or restart after stopVmDocker) a VM's dockerd, inside the VM's namespaces. */
  async startVmDocker(name: string, extraArgs: string[] = []): Promise<void> {
    const st = this.requireState();
    st.vmInitPids ??= {};
    let init = st.vmInitPids[name];
    if (init === undefined || !isAlive(init)) {
      init = await startVmInit(name, this.paths(name), registryHost(st.topology), this.armCaFile);
      st.vmInitPids[name] = init;
      this.writeState();
    }
    st.dockerdPids[name] = await startDockerd(name, this.paths(name), init, this.engine(name), extraArgs);
    this.writeState();
  }

  /** Stop a VM's dockerd. With keepContainers, only the daemon is signalled (as systemd does on restart). */
  async stopVmDocker(name: string, opts: { keepContainers?: boolean } = {}): Promise<void> {
    const st = this.requireState();
    const pid = st.dockerdPids[name];
    if (pid === undefined) return;
    if (opts.keepContainers) await killAndWait(pid, 20_000);
    else await stopDockerd(this.paths(name), pid);
    delete st.dockerdPids[name];
    this.writeState();
  }

  /**
   * Power-cycle a VM: every process in it stops at once, its network namespace
   * (links, routes, firewall) and /run vanish, its boot id changes; its disk
   * (Docker's data root, /var/lib/azure-vnet) survives. Then it boots:
   * `beforeDocker` runs (as units ordered before docker.service do), then dockerd.
   */
  async rebootVm(name: string, opts: { dockerdArgs?: string[]; beforeDocker?: () => Promise<void> } = {}): Promise<void> {
    const st = this.requireState();
    const vm = this.vm(name);
    const paths = this.paths(name);
    delete st.dockerdPids[name];
    delete st.vmInitPids?.[name];
    this.writeState();
    for (const pid of [...cgroupPids(name), ...(await namespacePids(vmNs(name)))]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await emptyAndDeleteNamespace(vmNs(name));
    removeCgroups(name);
    rmSync(join(paths.dir, "exec"), { recursive: true, force: true });
    newBootId(paths);
    await plugVm(this.topology, vm);
    st.vmInitPids ??= {};
    st.vmInitPids[name] = await startVmInit(name, paths, registryHost(st.topology), this.armCaFile);
    this.writeState();
    // What starts before docker.service on the VM (a legacy plugin's unit).
    await opts.beforeDocker?.();
    await this.startVmDocker(name, opts.dockerdArgs);
  }

  dockerdPid(name: string): number {
    const pid = this.requireState().dockerdPids[name];
    if (pid === undefined || !isAlive(pid)) throw new Error(`dockerd of ${name} is not running`);
    return pid;
  }

  /** The VM's init, whose namespaces are the VM (dockerd may be stopped). */
  vmPid(name: string): number {
    this.vm(name);
    const pid = this.requireState().vmInitPids?.[name];
    if (pid === undefined || !isAlive(pid)) throw new Error(`${name} is not running`);
    return pid;
  }

  /** Run a program in a VM's network, mount and UTS namespace with that VM's DOCKER_HOST. */
  exec(name: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const pid = this.vmPid(name);
    return run("nsenter", ["-t", String(pid), "-n", "-m", "-u", "--", cmd, ...args], {
      ...opts,
      env: { ...this.dockerEnv(name), ...opts.env },
    });
  }

  /** Start a long-lived program in a VM (e.g. the plugin); returns its pid. The caller stops it. */
  spawnInVm(name: string, cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): number {
    const pid = this.vmPid(name);
    const fd = openSync(logFile, "a");
    try {
      return spawnDetached("nsenter", ["-t", String(pid), "-n", "-m", "-u", "--", cmd, ...args], fd, {
        env: { ...this.dockerEnv(name), ...env },
      });
    } finally {
      closeSync(fd);
    }
  }

  /** Run a program on the internet host, the on-premises host, or in the fabric. */
  execEdge(host: EdgeHost, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    this.requireState();
    return run("ip", ["netns", "exec", EDGE_NS[host], cmd, ...args], opts);
  }

  spawnEdge(host: EdgeHost, cmd: string, args: string[], logFile: string): number {
    this.requireState();
    const fd = openSync(logFile, "a");
    try {
      return spawnDetached("ip", ["netns", "exec", EDGE_NS[host], cmd, ...args], fd);
    } finally {
      closeSync(fd);
    }
  }

  /** The VM's NICs, the primary NIC (eth0) first. */
  nics(vmName: string): NicView[] {
    return nicsOf(this.vm(vmName), this.topology);
  }

  /**
   * Add a secondary ipconfig to one of a VM's NICs, as `az network nic ip-config create` does:
   * NIC `nic` (0 = eth0), else the first NIC whose subnet holds the address. An IPv6
   * address goes beside the IPv6 primary of the NIC (eth0 unless `nic` says otherwise).
   */
  async addIpConfig(vmName: string, address: string, publicIp?: string, name?: string, nic?: number): Promise<void> {
    if (address.includes(":"))
      return this.changeIpConfigs(vmName, nic ?? 0, keep, (secondaries) => [
        ...secondaries,
        { address, ...(publicIp ? { publicIp6: publicIp } : {}), ...(name ? { name } : {}) },
      ]);
    const index = nic ?? this.nicForAddress(vmName, address);
    await this.changeIpConfigs(vmName, index, (secondaries) => [
      ...secondaries,
      { address, ...(publicIp ? { publicIp } : {}), ...(name ? { name } : {}) },
    ]);
  }

  /** Remove a secondary ipconfig (IPv4 or IPv6) from the VM's NIC that has it (or from NIC `nic`). */
  async removeIpConfig(vmName: string, address: string, nic?: number): Promise<void> {
    if (address.includes(":"))
      return this.changeIpConfigs(vmName, nic ?? 0, keep, (secondaries) => {
        const kept = secondaries.filter((s) => s.address !== new Address6(address).correctForm());
        if (kept.length === secondaries.length) throw new Error(`${address} is not a secondary IPv6 ipconfig of ${vmName}`);
        return kept;
      });
    const index = nic ?? this.nics(vmName).find((n) => n.secondaries.some((s) => s.address === address))?.index ?? 0;
    await this.changeIpConfigs(vmName, index, (secondaries) => {
      const kept = secondaries.filter((s) => s.address !== address);
      if (kept.length === secondaries.length) throw new Error(`${address} is not a secondary ipconfig of ${vmName} eth${index}`);
      return kept;
    });
  }

  /** The first of the VM's NICs whose subnet holds the address. */
  private nicForAddress(vmName: string, address: string): number {
    if (!Address4.isValid(address) || address.includes("/")) throw new Error(`${address} is not an IPv4 address`);
    const nics = this.nics(vmName);
    const nic = nics.find((n) => new Address4(address).isInSubnet(new Address4(n.subnet)));
    if (!nic)
      throw new Error(`${address} is in the subnet of none of ${vmName}'s NICs (${nics.map((n) => `${n.link} ${n.subnet}`).join(", ")})`);
    return nic.index;
  }

  /** Metadata answers, routes and anti-spoofing change together, as ARM's NIC PUTs do them (sim/ipconfig-commit.ts). */
  private async changeIpConfigs(
    vmName: string,
    nic: number,
    change: (secondaries: SimIpConfig[]) => SimIpConfig[],
    change6?: (secondaries: SimIp6Config[]) => SimIp6Config[],
  ): Promise<void> {
    const st = this.requireState();
    this.vm(vmName);
    st.topology = (await commitIpConfigs(this.platformDir, vmName, change, { fabric: true, nic }, change6)).topology;
    this.writeState();
  }

  /** Fault knobs of the platform endpoints (latency, HTTP status, malformed bodies, down). */
  setKnobs(knobs: Knobs): void {
    this.requireState();
    writeKnobs(this.platformDir, knobs);
  }

  async dropCounters(): Promise<DropCounters> {
    const nics = allNics(this.topology);
    const perVm = async (chain: (tag: string) => string) =>
      Object.fromEntries(await Promise.all(nics.map(async ({ nic, tag }) => [nic.key, await dropCount("raw", chain(tag))] as const)));
    return {
      spoofedMac: await perVm(dropChains.spoofedMac),
      spoofedIp: await perVm(dropChains.spoofedIp),
      undeliverable: await dropCount("filter", dropChains.undeliverable),
      noPublicIp: await dropCount("filter", dropChains.noPublicIp),
      nsg: await dropCount("filter", dropChains.nsg),
      ...(await this.dropCounters6()),
    };
  }

  private async dropCounters6(): Promise<
    Pick<DropCounters, "spoofedMac6" | "spoofedIp6" | "spoofedNa6" | "undeliverable6" | "noPublicIp6">
  > {
    const topo = this.topology;
    const on = hasIpv6(topo);
    const count = (table: "raw" | "filter", chain: string) => (on ? dropCount(table, chain, 6) : Promise.resolve(0));
    const perVm = async (chain: (vm: string) => string) =>
      Object.fromEntries(await Promise.all(topo.vms.map(async (vm) => [vm.name, await count("raw", chain(vm.name))] as const)));
    return {
      spoofedMac6: await perVm(dropChains6.spoofedMac),
      spoofedIp6: await perVm(dropChains6.spoofedIp),
      spoofedNa6: await perVm(dropChains6.spoofedNa),
      undeliverable6: await count("filter", dropChains6.undeliverable),
      noPublicIp6: await count("filter", dropChains6.noPublicIp),
    };
  }

  status(): SimStatus {
    if (!this.state) return { up: false, dir: this.dir, vms: [] };
    const st = this.state;
    return {
      up: true,
      dir: this.dir,
      platformPid: st.platformPid,
      registry: st.registryPid !== undefined && isAlive(st.registryPid) ? registryHost(st.topology) : undefined,
      upSeconds: st.upSeconds,
      arm: { host: ARM_HOST, address: ARM_IP, caFile: this.armCaFile, caFileInVm: ARM_CA_IN_VM },
      vms: this.topology.vms.map((vm) => {
        const pid = st.dockerdPids[vm.name];
        const nics = nicsOf(vm, this.topology).map((nic) => ({
          link: nic.link,
          mac: nic.mac,
          subnet: nic.subnet,
          primary: nic.primary.address,
          secondaries: nic.secondaries.map((s) => s.address),
          publicIps: publicIpsOf(nicIpConfigs(nic), nicIp6Configs(nic)),
          ipv6: nicIp6Configs(nic).map((i) => i.address),
        }));
        return {
          name: vm.name,
          dockerHost: dockerHost(vmPaths(this.dir, vm.name)),
          dockerdPid: pid,
          running: pid !== undefined && isAlive(pid),
          engine: st.engines?.[vm.name] ?? "debian12",
          mac: nics[0].mac,
          primary: nics[0].primary,
          secondaries: nics[0].secondaries,
          publicIps: nics[0].publicIps,
          ipv6: nics[0].ipv6,
          nics,
        };
      }),
    };
  }

  /**
   * Tear everything down. Idempotent, and works after a crashed `up`: it acts
   * on what the state file recorded plus any namespace carrying the
   * simulator's prefix, and only kills processes inside those namespaces.
   */
  async down(): Promise<void> {
    const st = this.state;
    if (st) {
      await Promise.all(
        Object.entries(st.dockerdPids).map(async ([name, pid]) => {
          if (isAlive(pid) && readComm(pid) === "dockerd") await stopDockerd(vmPaths(this.dir, name), pid);
        }),
      );
    }
    const listed = (await ip("", ["netns", "list"], { allowFailure: true })).stdout
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter((n) => n.startsWith(NS_PREFIX));
    const namespaces = [...new Set([...(st?.namespaces ?? []), ...listed])];
    for (const ns of namespaces) await emptyAndDeleteNamespace(ns);
    for (const vm of st?.topology.vms ?? []) {
      // Container processes live in namespaces of their own; their cgroup names them.
      for (const pid of cgroupPids(vm.name)) await killAndWait(pid, 2_000);
      removeCgroups(vm.name);
    }
    for (const vm of st?.topology.vms ?? []) this.wipeVmDir(vm.name);
    this.wipeRegistry();
    if (st?.created.varLibAzureVnet) tryRmdir("/var/lib/azure-vnet");
    if (st?.created.runNetnsMount && isMountPoint("/run/netns") && isEmptyDir("/run/netns")) {
      await run("umount", ["/run/netns"], { allowFailure: true });
    }
    if (st?.created.runNetnsDir) tryRmdir("/run/netns");
    rmSync(this.stateFile, { force: true });
    this.state = undefined;
  }
}

/** A change that leaves a NIC's IPv4 secondaries as they are. */
const keep = (secondaries: SimIpConfig[]) => secondaries;

function publicIpsOf(ipconfigs: SimIpConfig[], ipconfigs6: SimIp6Config[]): Record<string, string> {
  return Object.fromEntries([
    ...ipconfigs.flatMap((i) => (i.publicIp ? [[i.address, i.publicIp]] : [])),
    ...ipconfigs6.flatMap((i) => (i.publicIp6 ? [[i.address, i.publicIp6]] : [])),
  ]);
}

function isEmptyDir(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

function tryRmdir(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    /* not empty or already gone */
  }
}

/** Kill whatever still runs in one of our namespaces (by pid), then delete it. */
async function emptyAndDeleteNamespace(ns: string): Promise<void> {
  if (!existsSync(`/run/netns/${ns}`)) return;
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const pids = await namespacePids(ns);
    if (!pids.length) break;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        /* gone */
      }
    }
    await waitFor(`processes in ${ns} to exit`, async () => (await namespacePids(ns)).length === 0, 5_000).catch(() => undefined);
  }
  await ip("", ["netns", "del", ns], { allowFailure: true });
}

async function namespacePids(ns: string): Promise<number[]> {
  const out = await ip("", ["netns", "pids", ns], { allowFailure: true });
  return out.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid);
}

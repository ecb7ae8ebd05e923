/**
 * A simulated VM's Docker engine: dockerd in the VM's network namespace and
 * in a private mount and UTS namespace of its own, so
 * docker0, iptables, /run/docker/plugins and /etc/docker never touch the
 * machine's own and several VMs run side by side.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { randomUUID } from "node:crypto";
import { request } from "node:http";
import { basename, join, resolve } from "node:path";
import { isAlive, run, sleep, spawnDetached, waitFor } from "./exec";
import { WIRESERVER_IP, vmNs } from "./names";
import { Engine, cliPluginsDir, enginePath, hasDebian13 } from "./engines";

/** The cgroup folder dockerd puts a VM's containers under. */
const cgroupName = (vm: string) => `docker-${vmNs(vm)}`;

export const BUSYBOX_IMAGE = "local/busybox";
/** The same image under its public name, as the examples name it (docker.io/library/busybox:latest). */
export const PUBLIC_IMAGES = ["busybox:latest"];

export interface VmPaths {
  dir: string;
  socket: string;
  pidFile: string;
  log: string;
  /** Where the VM's /run/docker/plugins lives on the machine. */
  plugins: string;
  /** Where the VM's /var/lib/azure-vnet lives on the machine. */
  pluginState: string;
  /** The VM's /proc/sys/kernel/random/boot_id. */
  bootId: string;
  /** DOCKER_CONFIG of commands run in the VM: where the docker CLI finds compose v2. */
  dockerConfig: string;
}

export function vmPaths(baseDir: string, name: string): VmPaths {
  const dir = join(baseDir, name);
  return {
    dir,
    socket: join(dir, "docker.sock"),
    pidFile: join(dir, "dockerd.pid"),
    log: join(dir, "dockerd.log"),
    plugins: join(dir, "plugins"),
    pluginState: join(dir, "var-lib-azure-vnet"),
    bootId: join(dir, "boot_id"),
    dockerConfig: join(dir, "docker-config"),
  };
}

/** A new boot of the VM, as far as anything reading its boot id can tell. */
export function newBootId(paths: VmPaths): void {
  writeFileSync(paths.bootId, `${randomUUID()}\n`);
}

export function dockerHost(paths: VmPaths): string {
  return `unix://${paths.socket}`;
}

/** GET /_ping on the VM's Docker socket. */
export function pingDocker(socket: string): Promise<boolean> {
  return new Promise((resolvePing) => {
    const req = request({ socketPath: socket, path: "/_ping", method: "GET", timeout: 1000 }, (res) => {
      res.resume();
      resolvePing(res.statusCode === 200);
    });
    req.on("error", () => resolvePing(false));
    req.on("timeout", () => {
      req.destroy();
      resolvePing(false);
    });
    req.end();
  });
}

/** The machine's CA bundle, which the VM's is made from. */
const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * Trust the simulated ARM's CA in the VM as `update-ca-certificates` would:
 * the CA in the VM's /usr/local/share/ca-certificates and appended to its
 * /etc/ssl/certs/ca-certificates.crt (vm-init.sh binds both over the machine's).
 */
function installCa(paths: VmPaths, armCa: string | undefined): void {
  const dir = join(paths.dir, "ca-certificates");
  for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
  const system = existsSync(SYSTEM_CA_BUNDLE) ? readFileSync(SYSTEM_CA_BUNDLE, "utf8") : "";
  const ca = armCa ? readFileSync(armCa, "utf8") : "";
  if (armCa) writeFileSync(join(dir, basename(armCa)), ca);
  writeFileSync(join(paths.dir, "ca-bundle.crt"), system + ca);
}

function initScript(): string {
  // dist/sim/vm.js -> sim/vm-init.sh in the source tree.
  const candidates = [resolve(__dirname, "../../sim/vm-init.sh"), resolve(__dirname, "vm-init.sh")];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`vm-init.sh not found (looked in ${candidates.join(", ")})`);
  return found;
}

/**
 * Start the VM's "init": the process holding its mount and UTS namespaces
 * (inside its network namespace), with the VM's mounts in place. Returns its pid.
 */
export async function startVmInit(name: string, paths: VmPaths, registry: string, armCa?: string): Promise<number> {
  for (const sub of ["data", "exec", "plugins", "etc-docker/plugins", "var-lib-azure-vnet", "docker-config", "ca-certificates"])
    mkdirSync(join(paths.dir, sub), { recursive: true });
  installCa(paths, armCa);
  // The VM's /etc/docker/daemon.json: the simulator's registry speaks plain HTTP.
  writeFileSync(join(paths.dir, "etc-docker", "daemon.json"), `${JSON.stringify({ "insecure-registries": [registry] }, null, 2)}\n`);
  // Compose v2 (`docker compose`) from Debian 13's CLI plugins, whatever the VM's engine.
  const cliConfig = hasDebian13() ? { cliPluginsExtraDirs: [cliPluginsDir()] } : {};
  writeFileSync(join(paths.dockerConfig, "config.json"), `${JSON.stringify(cliConfig, null, 2)}\n`);
  writeFileSync(join(paths.dir, "resolv.conf"), `nameserver ${WIRESERVER_IP}\nsearch internal.cloudapp.net\n`);
  if (!existsSync(paths.bootId)) newBootId(paths);
  const ready = join(paths.dir, "vm.ready");
  rmSync(ready, { force: true });
  const logFd = openSync(join(paths.dir, "init.log"), "a");
  let pid: number;
  try {
    pid = spawnDetached(
      "nsenter",
      [`--net=/run/netns/${vmNs(name)}`, "unshare", "--mount", "--uts", "--propagation", "slave", "--", initScript(), name, paths.dir],
      logFd,
    );
  } finally {
    closeSync(logFd);
  }
  await waitFor(
    `the namespaces of ${name}`,
    () => {
      if (!isAlive(pid)) throw new Error(`the init of ${name} exited; see ${join(paths.dir, "init.log")}`);
      return existsSync(ready);
    },
    10_000,
    20,
  );
  return pid;
}

/** Start dockerd inside a running VM; resolves once it answers /_ping. Returns its pid. */
export async function startDockerd(
  name: string,
  paths: VmPaths,
  initPid: number,
  engine: Engine,
  extraArgs: string[] = [],
): Promise<number> {
  if (existsSync(paths.pidFile)) {
    const old = Number(readFileSync(paths.pidFile, "utf8"));
    if (old && isAlive(old) && readComm(old) === "dockerd") throw new Error(`dockerd for ${name} is already running (pid ${old})`);
  }
  const args = [
    "--data-root",
    join(paths.dir, "data"),
    "--exec-root",
    join(paths.dir, "exec"),
    "--pidfile",
    paths.pidFile,
    "-H",
    `unix://${paths.socket}`,
    // Where Docker is on a real VM, for whatever in the VM looks there (the plugin's reconciliation).
    "-H",
    "unix:///run/docker.sock",
    "--storage-driver",
    "overlay2",
    "--exec-opt",
    "native.cgroupdriver=cgroupfs",
    "--cgroup-parent",
    `/${cgroupName(name)}`,
    "--iptables=true",
    "--bip",
    "172.31.0.1/24",
    ...extraArgs,
  ];
  const logFd = openSync(paths.log, "a");
  let pid: number;
  try {
    pid = spawnDetached("nsenter", ["-t", String(initPid), "-n", "-m", "-u", "--", "dockerd", ...args], logFd, {
      env: { ...process.env, PATH: enginePath(engine) },
    });
  } finally {
    closeSync(logFd);
  }
  try {
    await waitFor(
      `dockerd of ${name}`,
      async () => {
        if (!isAlive(pid)) throw new Error(`dockerd of ${name} exited; see ${paths.log}`);
        return pingDocker(paths.socket);
      },
      20_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tail(paths.log)}`);
  }
  return pid;
}

export function readComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "";
  }
}

/** Stop dockerd by pid: containers first (so shims exit cleanly), then TERM, then KILL. */
export async function stopDockerd(paths: VmPaths, pid: number): Promise<void> {
  if (!isAlive(pid)) return;
  const env = { ...process.env, DOCKER_HOST: dockerHost(paths) };
  const ids = await run("docker", ["ps", "-aq"], { env, allowFailure: true, timeoutMs: 20_000 });
  const list = ids.stdout.split(/\s+/).filter(Boolean);
  if (list.length) await run("docker", ["rm", "-f", ...list], { env, allowFailure: true, timeoutMs: 60_000 });
  const plugins = await run("docker", ["plugin", "ls", "-q"], { env, allowFailure: true, timeoutMs: 10_000 });
  for (const p of plugins.stdout.split(/\s+/).filter(Boolean)) {
    await run("docker", ["plugin", "disable", "-f", p], { env, allowFailure: true, timeoutMs: 30_000 });
  }
  await killAndWait(pid, 15_000);
}

export async function killAndWait(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    while (isAlive(pid)) await sleep(20);
  }
}

/** Remove the empty cgroup folders dockerd made under its --cgroup-parent. */
export function removeCgroups(name: string): void {
  for (const dir of cgroupDirs(name)) removeTree(dir);
}

function cgroupDirs(name: string): string[] {
  const root = "/sys/fs/cgroup";
  const candidates = [join(root, cgroupName(name))];
  for (const ctl of readdirSync(root)) candidates.push(join(root, ctl, cgroupName(name)));
  return candidates.filter((d) => existsSync(d));
}

/** Processes in the VM's container cgroups: all started by its dockerd, so ours to stop. */
export function cgroupPids(name: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    try {
      for (const l of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) if (l.trim()) pids.add(Number(l));
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    } catch {
      /* vanished meanwhile */
    }
  };
  for (const dir of cgroupDirs(name)) walk(dir);
  return [...pids];
}

function removeTree(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeTree(join(dir, entry.name));
  }
  try {
    rmdirSync(dir);
  } catch {
    /* still in use or not empty: left for the kernel to report */
  }
}

/** A busybox rootfs tarball made from the machine's busybox-static (no registry here). */
export async function busyboxTarball(baseDir: string): Promise<string> {
  const tarball = join(baseDir, "busybox.tar");
  if (existsSync(tarball)) return tarball;
  const rootfs = join(baseDir, "busybox-rootfs");
  mkdirSync(join(rootfs, "bin"), { recursive: true });
  for (const d of ["etc", "tmp", "proc", "sys", "dev", "root"]) mkdirSync(join(rootfs, d), { recursive: true });
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
  if (!busybox) throw new Error("busybox not found: apt-get install busybox-static");
  await run("cp", [busybox, join(rootfs, "bin", "busybox")]);
  const applets = (await run(busybox, ["--list"])).stdout.split("\n").filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== "busybox");
  for (const applet of applets) {
    const link = join(rootfs, "bin", applet);
    if (!existsSync(link)) symlinkSync("busybox", link);
  }
  await run("tar", ["-C", rootfs, "-cf", `${tarball}.tmp`, "."]);
  await run("mv", [`${tarball}.tmp`, tarball]);
  return tarball;
}

export async function importBusybox(paths: VmPaths, tarball: string): Promise<void> {
  const env = { ...process.env, DOCKER_HOST: dockerHost(paths) };
  await run("docker", ["import", "-c", 'CMD ["/bin/sh"]', tarball, BUSYBOX_IMAGE], { env, timeoutMs: 60_000 });
  for (const name of PUBLIC_IMAGES) await run("docker", ["tag", BUSYBOX_IMAGE, name], { env, timeoutMs: 30_000 });
}

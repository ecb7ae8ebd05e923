/**
 * A Docker swarm across simulated VMs, for the tests that ask for one: the
 * ports swarm needs checked through the fabric, `swarm init` on a manager
 * advertising its primary address, `swarm join` on the others, and leaving
 * again. Nothing here runs unless a test or `npm run sim -- swarm …` calls it.
 */
import { resolve } from "node:path";
import { type RunResult, isAlive, waitFor } from "./exec";
import type { Simulator } from "./simulator";
import { killAndWait } from "./vm";

const WHOAMI = resolve(__dirname, "tools", "whoami.js");
const UDP_ASK = resolve(__dirname, "tools", "udp-ask.js");

/** What swarm needs open between its nodes, as Docker documents it. */
export const SWARM_PORTS = [
  { proto: "tcp", port: 2377, use: "cluster management (to managers)" },
  { proto: "tcp", port: 7946, use: "node gossip" },
  { proto: "udp", port: 7946, use: "node gossip" },
  { proto: "udp", port: 4789, use: "overlay data (VXLAN)" },
] as const;

/**
 * Where swarm takes its overlay subnets (its ingress network among them). Its
 * default, 10.0.0.0/8 in /24s, would give the ingress network the VNet's own
 * 10.0.0.0/24; this range is no VNet's.
 */
export const SWARM_ADDRESS_POOL = "172.29.0.0/16";

export interface PortCheck {
  proto: "tcp" | "udp";
  port: number;
  /** The source address the far end saw; "" when nothing came through. */
  seenAs: string;
  error?: string;
}

function docker(sim: Simulator, vm: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
}

async function dockerOk(sim: Simulator, vm: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await docker(sim, vm, args, timeoutMs);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} on ${vm} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout.trim();
}

/**
 * Sends to each of swarm's ports on `to`'s primary address from `from`'s,
 * where a whoami answers with the source address it saw. Run it before the
 * swarm exists: afterwards dockerd holds these ports itself.
 */
export async function checkSwarmPorts(sim: Simulator, from: string, to: string): Promise<PortCheck[]> {
  const target = sim.vm(to).nic.primary.address;
  const checks: PortCheck[] = [];
  for (const port of [...new Set(SWARM_PORTS.map((p) => p.port))]) {
    const log = resolve(sim.dir, `swarm-port-${port}.log`);
    const pid = sim.spawnInVm(to, process.execPath, [WHOAMI, String(port), target], log);
    try {
      await waitFor(
        `whoami on ${to}:${port}`,
        async () => {
          if (!isAlive(pid)) throw new Error(`whoami on ${to} exited; see ${log}`);
          return (await curl(sim, to, target, port)).code === 0;
        },
        10_000,
        100,
      );
      for (const { proto } of SWARM_PORTS.filter((p) => p.port === port)) {
        const r = proto === "tcp" ? await curl(sim, from, target, port) : await udpAsk(sim, from, target, port);
        checks.push({ proto, port, seenAs: r.code === 0 ? r.stdout.trim() : "", ...(r.code === 0 ? {} : { error: r.stderr.trim() }) });
      }
    } finally {
      await killAndWait(pid, 3_000);
    }
  }
  return checks;
}

function curl(sim: Simulator, vm: string, address: string, port: number): Promise<RunResult> {
  return sim.exec(vm, "curl", ["-sS", "--noproxy", "*", "-m", "3", `http://${address}:${port}/`], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
}

function udpAsk(sim: Simulator, vm: string, address: string, port: number): Promise<RunResult> {
  return sim.exec(vm, process.execPath, [UDP_ASK, address, String(port), "2000"], { allowFailure: true, timeoutMs: 10_000 });
}

/**
 * `docker swarm init` on `manager`, advertising and listening on its primary
 * address, then `docker swarm join` of each worker with its own primary
 * address; resolves once the manager lists every node Ready.
 */
export async function formSwarm(sim: Simulator, manager: string, workers: string[]): Promise<void> {
  const managerAddress = sim.vm(manager).nic.primary.address;
  await dockerOk(sim, manager, [
    "swarm",
    "init",
    "--advertise-addr",
    managerAddress,
    "--listen-addr",
    `${managerAddress}:2377`,
    "--default-addr-pool",
    SWARM_ADDRESS_POOL,
    "--default-addr-pool-mask-length",
    "24",
  ]);
  const token = await dockerOk(sim, manager, ["swarm", "join-token", "-q", "worker"]);
  for (const worker of workers) {
    const address = sim.vm(worker).nic.primary.address;
    await dockerOk(sim, worker, ["swarm", "join", "--token", token, "--advertise-addr", address, `${managerAddress}:2377`], 120_000);
  }
  const expected = [manager, ...workers].sort();
  let seen = "";
  await waitFor(
    `${expected.join(", ")} Ready in the swarm`,
    async () => {
      seen = await dockerOk(sim, manager, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]);
      const ready = seen
        .split("\n")
        .filter((l) => l.endsWith(" Ready"))
        .map((l) => l.split(" ")[0])
        .sort();
      return JSON.stringify(ready) === JSON.stringify(expected);
    },
    60_000,
    500,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; docker node ls says: ${seen || "nothing"}`);
  });
}

/** Each VM leaves the swarm (workers first, the manager last); a VM in no swarm is left alone. */
export async function leaveSwarm(sim: Simulator, vms: string[]): Promise<void> {
  for (const vm of vms) {
    const state = await docker(sim, vm, ["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    if (state.code !== 0 || state.stdout.trim() === "inactive") continue;
    await dockerOk(sim, vm, ["swarm", "leave", "--force"], 120_000);
  }
}

/**
 * The one way a NIC's ipconfig set changes at run time, whoever asks
 * (`sim ipconfig add/remove` through the Simulator, or a NIC PUT through the
 * simulated Azure Resource Manager in the platform process): under a lock on
 * the platform directory, read the live topology.json, change one NIC's
 * secondaries, program the fabric (delivery routes and packet rules) and
 * write topology.json, which IMDS, the wireserver and ARM answer from.
 *
 * Order: routes for new addresses and the rules first, then the file, then
 * removed addresses lose their routes. A crash in between leaves the fabric
 * and the file apart; syncFabric (run when the platform starts) puts the
 * fabric back in line with the file.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyFabricRules, routeIpConfig, unrouteIpConfig } from "./fabric";
import { ip, isAlive, sleep } from "./exec";
import { FABRIC_NS, fabricNicPort } from "./names";
import {
  nicIp6Configs,
  nicIpConfigs,
  nicsOf,
  parseTopology,
  type NicView,
  type SimIp6Config,
  type SimIpConfig,
  type Topology,
} from "./topology";
import { TOPOLOGY_FILE } from "./platform/state";
const LOCK_DIR = "topology.lock";
const LOCK_TIMEOUT_MS = 30_000;

export function readTopologyFile(platformDir: string): Topology {
  return parseTopology(JSON.parse(readFileSync(join(platformDir, TOPOLOGY_FILE), "utf8")));
}

/** Atomic replace, so a reader never sees half a file. */
export function writeTopologyFile(platformDir: string, topo: Topology): string {
  const text = JSON.stringify(topo, null, 2);
  const file = join(platformDir, TOPOLOGY_FILE);
  writeFileSync(`${file}.${process.pid}.tmp`, text);
  renameSync(`${file}.${process.pid}.tmp`, file);
  return text;
}

/**
 * A lock shared by every process of one simulator: a directory made
 * atomically, holding the owner's pid; a lock whose owner died is broken.
 * Within a process, callers queue so only one of them polls for it.
 */
let queue: Promise<unknown> = Promise.resolve();

export function withTopologyLock<T>(platformDir: string, fn: () => Promise<T>): Promise<T> {
  const next = queue.then(() => holdLock(platformDir, fn));
  queue = next.catch(() => undefined);
  return next;
}

async function holdLock<T>(platformDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(platformDir, LOCK_DIR);
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, "pid"), "utf8"));
      } catch {
        /* being made or removed right now */
      }
      if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (held by pid ${owner})`);
      else await sleep(10);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CommitOptions {
  /** Program the fabric namespace; off for a platform on loopback (unit tests). */
  fabric: boolean;
  /** Which of the VM's NICs: 0 (the default) for the primary NIC, i for extraNics[i - 1]. */
  nic?: number;
}

/** Every address of a NIC, IPv4 and IPv6. */
function addressesOf(nic: NicView): Set<string> {
  return new Set([...nicIpConfigs(nic), ...nicIp6Configs(nic)].map((c) => c.address));
}

/**
 * Replace the secondary ipconfigs of one NIC of a VM (opts.nic) with what
 * `change` makes of the current ones (it may throw to refuse), and its IPv6
 * secondaries with what `change6` makes of them, and make it true everywhere.
 * Returns the topology written and its text.
 */
export async function commitIpConfigs(
  platformDir: string,
  vmName: string,
  change: (current: SimIpConfig[]) => SimIpConfig[],
  opts: CommitOptions,
  change6?: (current: SimIp6Config[]) => SimIp6Config[],
): Promise<{ topology: Topology; text: string }> {
  return withTopologyLock(platformDir, async () => {
    const next = structuredClone(readTopologyFile(platformDir));
    const vm = next.vms.find((v) => v.name === vmName);
    if (!vm) throw new Error(`no VM named ${vmName}`);
    const index = opts.nic ?? 0;
    const nic = nicsOf(vm, next)[index];
    if (!nic) throw new Error(`${vmName} has no NIC eth${index}`);
    const before = addressesOf(nic);
    nic.source.secondaries = change(nic.source.secondaries);
    if (change6) {
      const v6 = nic.source.ipv6;
      if (!v6) throw new Error(`${index === 0 ? vmName : `${vmName} ${nic.link}`} has no IPv6 primary ipconfig`);
      v6.secondaries = change6(v6.secondaries);
    }
    const topology = parseTopology(next);
    const changed = nicsOf(topology.vms.find((v) => v.name === vmName) ?? vm, topology)[index];
    const after = addressesOf(changed);
    if (opts.fabric) {
      for (const address of after) if (!before.has(address)) await routeIpConfig(vmName, changed, address);
      await applyFabricRules(topology, false);
    }
    const text = writeTopologyFile(platformDir, topology);
    if (opts.fabric) for (const address of before) if (!after.has(address)) await unrouteIpConfig(vmName, changed, address);
    return { topology, text };
  });
}

/** Make the fabric's delivery routes and rules exactly what the topology says (after a crash mid-commit). */
export async function syncFabric(topo: Topology): Promise<void> {
  const nics = topo.vms.flatMap((vm) => nicsOf(vm, topo).map((nic) => ({ vm, nic })));
  const have = new Map<string, Set<string>>();
  for (const { vm, nic } of nics) {
    const addresses = new Set<string>();
    for (const family of ["-4", "-6"]) {
      const routes = await ip(FABRIC_NS, [family, "route", "show", "dev", fabricNicPort(vm.name, nic.index)], { allowFailure: true });
      for (const l of routes.stdout.split("\n")) {
        const a = l.trim().split(/\s+/)[0];
        // Host routes only: IPv4 ones print without /32; IPv6 ones without /128, link-local ones excepted.
        if (/^\d+\.\d+\.\d+\.\d+$/.test(a) || (/^[0-9a-f:]+$/.test(a) && a.includes(":") && !a.startsWith("fe80:"))) addresses.add(a);
      }
    }
    have.set(nic.key, addresses);
  }
  // Stale routes go first, so an address that moved to another NIC ends up on the new one only.
  for (const { vm, nic } of nics) {
    const want = addressesOf(nic);
    for (const address of have.get(nic.key) ?? []) if (!want.has(address)) await unrouteIpConfig(vm.name, nic, address);
  }
  for (const { vm, nic } of nics) {
    const present = have.get(nic.key) ?? new Set<string>();
    for (const address of addressesOf(nic)) if (!present.has(address)) await routeIpConfig(vm.name, nic, address);
  }
  await applyFabricRules(topo, false);
}

/**
 * What a simulated VM looks like to the plugin: its links, addresses, routes,
 * firewall (both iptables backends) and the plugin's checkpoint file. Taken
 * before and after a test that must change nothing.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Simulator } from "../../../sim/simulator";

export type VmSnapshot = Record<string, string>;

/** iptables-save without the lines that change on their own (comments with dates, packet counters). */
export function stripCounters(save: string): string {
  return save
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]"))
    .join("\n");
}

export function checkpointPath(sim: Simulator, vm: string): string {
  return join(sim.paths(vm).pluginState, "state.json");
}

export function readCheckpointText(sim: Simulator, vm: string): string {
  try {
    return readFileSync(checkpointPath(sim, vm), "utf8");
  } catch (err) {
    return `(unreadable: ${(err as Error).message})`;
  }
}

/**
 * The checkpoint once the plugin's deferred saves have landed: a release is
 * written within 250 ms of its answer, so the file is read until it has
 * stayed the same for twice that (at most `limitMs`).
 */
export async function settledCheckpointText(sim: Simulator, vm: string, limitMs = 5_000): Promise<string> {
  const deadline = Date.now() + limitMs;
  let last = readCheckpointText(sim, vm);
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = readCheckpointText(sim, vm);
    if (now !== last) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= 500) break;
  }
  return last;
}

export async function snapshotVm(sim: Simulator, vm: string): Promise<VmSnapshot> {
  const out = async (cmd: string, args: string[]) => {
    const r = await sim.exec(vm, cmd, args, { allowFailure: true, timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout : `(${cmd} failed: ${r.stderr.trim()})`;
  };
  return {
    links: await out("ip", ["-o", "link", "show"]),
    addresses: await out("ip", ["-o", "addr", "show"]),
    routes: (await out("ip", ["route", "show", "table", "all"])) + (await out("ip", ["rule", "show"])),
    "iptables-nft": stripCounters(await out("iptables-nft-save", [])),
    "iptables-legacy": stripCounters(await out("iptables-legacy-save", [])),
    checkpoint: readCheckpointText(sim, vm),
  };
}

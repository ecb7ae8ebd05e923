/**
 * Observations inside a VM that the attach phase checks: which containers
 * answer pings, what the plugin's checkpoint still holds, and what is left in
 * the kernel after the containers are gone.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BenchContext, VmName } from "./context";

/** Addresses among `addrs` that do not answer one ping from `vm` within 2 s. */
export async function unreachableFrom(ctx: BenchContext, vm: VmName, addrs: string[]): Promise<string[]> {
  // One shell loop in the VM rather than a process spawn per address from here.
  const script = 'for a in "$@"; do busybox ping -c 1 -W 2 "$a" >/dev/null 2>&1 || echo "$a"; done';
  const r = await ctx.sim.exec(vm, "sh", ["-c", script, "sh", ...addrs], { allowFailure: true, timeoutMs: 30_000 + addrs.length * 3_000 });
  if (r.code !== 0) throw new Error(`ping loop on ${vm} failed: ${r.stderr.trim()}`);
  return r.stdout
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface CheckpointView {
  endpointAddresses: string[];
  endpoints: number;
}

/** What the plugin's saved state on `vm` says is in use. */
export function readCheckpoint(ctx: BenchContext, vm: VmName): CheckpointView {
  const file = join(ctx.sim.paths(vm).pluginState, "state.json");
  const doc = JSON.parse(readFileSync(file, "utf8")) as {
    data: { ipam: { addresses: Record<string, { kind: string }> }; network: { endpoints: Record<string, unknown> } };
  };
  const addresses = doc.data.ipam.addresses;
  return {
    endpointAddresses: Object.keys(addresses).filter((a) => addresses[a].kind === "endpoint"),
    endpoints: Object.keys(doc.data.network.endpoints).length,
  };
}

export interface KernelLeftovers {
  hostVeths: number;
  routes: string[];
}

/** The plugin's veths (azvh…) and the /32 routes to any of `addrs` still present in the VM. */
export async function kernelLeftovers(ctx: BenchContext, vm: VmName, addrs: string[]): Promise<KernelLeftovers> {
  const links = await ctx.sim.exec(vm, "ip", ["-o", "link", "show"]);
  const routes = await ctx.sim.exec(vm, "ip", ["-4", "route", "show"]);
  const wanted = new Set(addrs);
  return {
    hostVeths: links.stdout.split("\n").filter((l) => /^\d+: azvh/.test(l)).length,
    routes: routes.stdout.split("\n").filter((l) => wanted.has(l.split(" ")[0])),
  };
}

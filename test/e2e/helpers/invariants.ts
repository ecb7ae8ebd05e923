/**
 * What must hold on a VM whatever happened before: every running container on
 * the plugin's networks has its own address, the plugin holds exactly those
 * addresses, and the kernel has exactly the links, routes and guards they
 * need (a guard per container in bridge mode, none in transparent mode).
 */
import { guardElements } from "./guards";
import { E2E_MODE } from "./docker";
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Simulator } from "../../../sim/simulator";
import { sleep } from "../../../sim/exec";

export interface VmView {
  /** container name -> address on the network */
  containers: Map<string, string>;
  /** addresses the plugin holds for containers */
  held: string[];
  hostVeths: number;
  strayPeers: number;
  guards: number;
  /** Addresses with a /32 route through one of the plugin's links (a bridge, or a routed port). */
  routed: string[];
}

export async function viewVm(sim: Simulator, vm: string, network: string): Promise<VmView> {
  const ids = (await sim.exec(vm, "docker", ["ps", "-q", "--filter", `network=${network}`], { allowFailure: true })).stdout
    .split(/\s+/)
    .filter(Boolean);
  const containers = new Map<string, string>();
  if (ids.length) {
    const out = await sim.exec(
      vm,
      "docker",
      ["inspect", "-f", `{{.Name}} {{(index .NetworkSettings.Networks "${network}").IPAddress}}`, ...ids],
      { allowFailure: true },
    );
    for (const line of out.stdout.split("\n").filter(Boolean)) {
      const [name, ip] = line.trim().split(" ");
      if (ip) containers.set(name.replace(/^\//, ""), ip);
    }
  }
  const state = JSON.parse(readFileSync(join(sim.paths(vm).pluginState, "state.json"), "utf8"));
  const addresses = state.data.ipam.addresses as Record<string, { kind: string }>;
  const held = Object.entries(addresses)
    .filter(([, r]) => r.kind === "endpoint")
    .map(([ip]) => ip)
    .sort();
  const links = (await sim.exec(vm, "ip", ["-o", "link"])).stdout;
  const guards = await guardElements((file, args) => sim.exec(vm, file, args, { allowFailure: true }));
  const routes = (await sim.exec(vm, "ip", ["-4", "route", "show", "table", "main"])).stdout;
  const routed = [...routes.matchAll(/^(\d+\.\d+\.\d+\.\d+) dev azv[bh]\S* /gm)].map((m) => m[1]).sort();
  return {
    containers,
    held,
    hostVeths: (links.match(/^\d+: azvh/gm) ?? []).length,
    strayPeers: (links.match(/^\d+: azvc/gm) ?? []).length,
    guards: new Set(guards.map((g) => g.port)).size,
    routed,
  };
}

/** Wait (bounded) until the VM settles into a consistent state, then assert it. */
export async function assertConsistent(sim: Simulator, vm: string, network: string, timeoutMs = 45_000): Promise<VmView> {
  const deadline = Date.now() + timeoutMs;
  let view = await viewVm(sim, vm, network);
  const problems = (v: VmView) => {
    const p: string[] = [];
    const addrs = [...v.containers.values()];
    if (new Set(addrs).size !== addrs.length) p.push(`an address is held by two containers: ${JSON.stringify([...v.containers])}`);
    const running = [...addrs].sort();
    if (JSON.stringify(running) !== JSON.stringify(v.held)) p.push(`plugin holds [${v.held}] but running containers have [${running}]`);
    if (v.hostVeths !== addrs.length) p.push(`${v.hostVeths} host veths for ${addrs.length} containers`);
    if (v.strayPeers !== 0) p.push(`${v.strayPeers} container-side veths left on the VM`);
    const guarded = E2E_MODE === "bridge" ? addrs.length : 0;
    if (v.guards !== guarded) p.push(`${v.guards} port guards for ${addrs.length} containers in ${E2E_MODE} mode`);
    if (JSON.stringify(v.routed) !== JSON.stringify(running)) p.push(`routes to [${v.routed}] but running containers have [${running}]`);
    return p;
  };
  while (problems(view).length && Date.now() < deadline) {
    await sleep(1000);
    view = await viewVm(sim, vm, network);
  }
  assert.deepEqual(problems(view), [], `${vm} did not settle`);
  return view;
}

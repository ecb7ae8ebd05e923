/**
 * Releases through the simulator's registry host: the reference a version is
 * pushed under, and what the registry holds. With ManagedPlugin's
 * build(vm, { push: true }) and install(vm), a test publishes a version from
 * one VM and installs it by name on others (e.g. two versions for an upgrade).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as v from "valibot";
import type { Simulator } from "../../../sim/simulator";
import { ManagedPlugin } from "./managed-plugin";

/** The project's version, as a release is tagged. */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(resolve(__dirname, "../../../../package.json"), "utf8")) as { version: string })
  .version;

/** REGISTRY/azure-vnet:VERSION on the simulator's registry host. */
export function releaseRef(sim: Simulator, version = PACKAGE_VERSION, repository = "azure-vnet"): string {
  return `${sim.registry}/${repository}:${version}`;
}

/** A managed plugin named after a release on the simulator's registry. */
export function releasePlugin(sim: Simulator, version = PACKAGE_VERSION): ManagedPlugin {
  return new ManagedPlugin(sim, releaseRef(sim, version));
}

const TagList = v.object({ name: v.string(), tags: v.nullable(v.array(v.string())) });

/** The tags a repository holds on the registry host, read with its HTTP API from the registry's own namespace. */
export async function registryTags(sim: Simulator, repository: string): Promise<string[]> {
  const { hostAddress, port } = sim.topology.registry;
  const r = await sim.execEdge("registry", "curl", ["-sS", "-m", "5", `http://${hostAddress}:${port}/v2/${repository}/tags/list`], {
    allowFailure: true,
  });
  if (r.code !== 0) throw new Error(`the registry did not answer for ${repository}: ${r.stderr}`);
  const parsed = v.safeParse(TagList, JSON.parse(r.stdout));
  if (!parsed.success) return [];
  return parsed.output.tags ?? [];
}

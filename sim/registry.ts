/**
 * The registry host: Debian 13's docker-registry (the CNCF distribution
 * registry, 2.8) in a network namespace of its own behind the fabric, at the
 * topology's registry address and name. It speaks plain HTTP; every VM's
 * dockerd lists it under insecure-registries (sim/vm.ts writes that into the
 * VM's /etc/docker/daemon.json), as one does for a registry inside a private
 * network without a certificate.
 */
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Topology } from "./topology";
import { debian13Program } from "./engines";
import { REGISTRY_NS } from "./names";
import { inNetns, isAlive, spawnDetached, waitFor } from "./exec";

/** host:port, as image and plugin references name the registry. */
export function registryHost(topo: Topology): string {
  return `${topo.registry.name}:${topo.registry.port}`;
}

function config(storage: string, port: number): string {
  return [
    "version: 0.1",
    "log:",
    "  level: info",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 0.0.0.0:${port}`,
    "",
  ].join("\n");
}

/** Start the registry in its namespace and wait until /v2/ answers there. Returns its pid. */
export async function startRegistry(topo: Topology, dir: string): Promise<number> {
  const program = debian13Program("usr/bin/docker-registry");
  mkdirSync(join(dir, "storage"), { recursive: true });
  const file = join(dir, "config.yml");
  writeFileSync(file, config(join(dir, "storage"), topo.registry.port));
  const fd = openSync(join(dir, "registry.log"), "a");
  let pid: number;
  try {
    pid = spawnDetached("ip", ["netns", "exec", REGISTRY_NS, program, "serve", file], fd);
  } finally {
    closeSync(fd);
  }
  const url = `http://${topo.registry.hostAddress}:${topo.registry.port}/v2/`;
  await waitFor(
    `the registry at ${url}`,
    async () => {
      if (!isAlive(pid)) throw new Error(`the registry exited; see ${join(dir, "registry.log")}`);
      return (await inNetns(REGISTRY_NS, "curl", ["-sf", "-m", "1", "-o", "/dev/null", url], { allowFailure: true })).code === 0;
    },
    15_000,
    100,
  );
  return pid;
}

/**
 * Which Docker engine a simulated VM runs. `debian12` is the machine's own
 * (Debian 12's docker.io, 20.10); `debian13` is Debian 13's docker.io (26.1),
 * unpacked beside the machine's packages by scripts/debian13-tools.sh and
 * started with its folder first in dockerd's PATH, so containerd and runc stay
 * the machine's. The same folder gives the VMs compose v2 (`docker compose`)
 * and the simulator its registry host (docker-registry).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";

export const ENGINES = ["debian12", "debian13"] as const;
export const EngineSchema = v.picklist(ENGINES);
export type Engine = v.InferOutput<typeof EngineSchema>;

/** Where scripts/debian13-tools.sh unpacks Debian 13's tools (AZSIM_DEBIAN13_DIR overrides). */
export function debian13Dir(): string {
  return process.env.AZSIM_DEBIAN13_DIR || "/var/cache/azure-vnet-sim/debian13";
}

/** The engine a VM gets when its topology names none: AZSIM_ENGINE, else debian12. */
export function defaultEngine(value: string | undefined = process.env.AZSIM_ENGINE): Engine {
  if (value === undefined || value === "") return "debian12";
  const parsed = v.safeParse(EngineSchema, value);
  if (!parsed.success) throw new Error(`AZSIM_ENGINE=${JSON.stringify(value)}: use ${ENGINES.join(" or ")}`);
  return parsed.output;
}

/** A program of Debian 13's folder, or an error saying how to get it. */
export function debian13Program(relative: string): string {
  const path = join(debian13Dir(), relative);
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/debian13-tools.sh (scripts/setup.sh does)`);
  return path;
}

/** Whether Debian 13's tools are unpacked (compose v2 and the registry host are offered only then). */
export function hasDebian13(): boolean {
  return existsSync(join(debian13Dir(), ".complete"));
}

/** dockerd's PATH for an engine: Debian 13's folder first, so its dockerd, docker-proxy and docker-init win. */
export function enginePath(engine: Engine, base = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"): string {
  if (engine === "debian12") return base;
  debian13Program("usr/sbin/dockerd");
  const dir = debian13Dir();
  return `${join(dir, "usr/sbin")}:${join(dir, "usr/bin")}:${base}`;
}

/** The folder holding Debian 13's docker CLI plugins (compose v2). */
export function cliPluginsDir(): string {
  return join(debian13Dir(), "usr/libexec/docker/cli-plugins");
}

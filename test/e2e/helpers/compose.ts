/**
 * The examples/ compose files as a user runs them, with compose v1
 * (`docker-compose`, Debian 12) or v2 (`docker compose`, Debian 13's CLI
 * plugin): each example takes its subnet and addresses from a .env file, and
 * the tests write one matching the simulator's topology and pass it with
 * --env-file. Containers are found by compose's labels, since v1 and v2 name
 * them differently (demo_web_1, demo-web-1).
 */
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Simulator } from "../../../sim/simulator";
import { composeFileForMode } from "./docker";

export const COMPOSE_VERSIONS = ["v1", "v2"] as const;
export type ComposeVersion = (typeof COMPOSE_VERSIONS)[number];

export const EXAMPLES_DIR = resolve(__dirname, "../../../../examples");

/** The variables an example's shipped .env sets: each test's .env must set the same. */
export function exampleEnvKeys(example: string): string[] {
  return readFileSync(join(EXAMPLES_DIR, example, ".env"), "utf8")
    .split("\n")
    .map((l) => /^([A-Z_][A-Z0-9_]*)=/.exec(l)?.[1])
    .filter((k): k is string => k !== undefined);
}

export class ComposeExample {
  readonly file: string;
  readonly envFile: string;

  constructor(
    readonly sim: Simulator,
    readonly vm: string,
    readonly example: string,
    readonly project: string,
    readonly version: ComposeVersion,
    values: Record<string, string>,
  ) {
    const env = { VNET_SUBNET: sim.topology.vnet.subnet, VNET_GATEWAY: sim.topology.vnet.gateway, ...values };
    const missing = exampleEnvKeys(example).filter((k) => !(k in env));
    assert.deepEqual(missing, [], `examples/${example}/.env sets ${missing.join(", ")}, which the test does not`);
    this.file = composeFileForMode(join(EXAMPLES_DIR, example, "docker-compose.yml"), sim.dir);
    this.envFile = join(sim.dir, `${example}-${project}.env`);
    writeFileSync(
      this.envFile,
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(""),
    );
  }

  private command(args: string[]): [string, string[]] {
    const common = ["--env-file", this.envFile, "-p", this.project, "-f", this.file, ...args];
    return this.version === "v1" ? ["docker-compose", common] : ["docker", ["compose", ...common]];
  }

  async run(args: string[]): Promise<string> {
    const [cmd, full] = this.command(args);
    const r = await this.sim.exec(this.vm, cmd, full, { allowFailure: true, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${cmd} ${full.join(" ")} (${basename(this.file)}) failed: ${r.stderr}`);
    return r.stdout;
  }

  up(): Promise<string> {
    return this.run(["up", "-d"]);
  }

  down(): Promise<string> {
    return this.run(["down"]);
  }

  /** The id of a service's one container. */
  async container(service: string): Promise<string> {
    const labels = [`com.docker.compose.project=${this.project}`, `com.docker.compose.service=${service}`];
    const r = await this.sim.exec(this.vm, "docker", ["ps", "-q", ...labels.flatMap((l) => ["--filter", `label=${l}`])], {
      allowFailure: true,
    });
    const ids = r.stdout.split(/\s+/).filter(Boolean);
    assert.equal(ids.length, 1, `service ${service} of ${this.project} has ${ids.length} running containers: ${r.stderr}`);
    return ids[0];
  }
}

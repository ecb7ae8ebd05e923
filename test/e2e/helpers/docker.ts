/**
 * The docker CLI inside a simulated VM, as the fault and concurrency tests
 * use it: start a container on the VNet network and time it, read its
 * address, remove containers.
 */
import { strict as assert } from "node:assert";
import type { Simulator } from "../../../sim/simulator";
import type { RunResult } from "../../../sim/exec";

export const CREATE_NETWORK = ["network", "create", "-d", "azure-vnet", "--ipam-driver", "azure-vnet"];

/** `docker run -d --init` of a busybox sleeper on `network`; `extra` goes before the image (--ip, --restart, ...). */
export function sleeperArgs(name: string, network: string, extra: string[] = []): string[] {
  return ["run", "-d", "--init", "--name", name, "--network", network, ...extra, "local/busybox", "sleep", "600"];
}

/** A request to IMDS from inside a container, bounded in time: it fails while the platform block holds. */
export function imdsGetArgs(path = "instance?api-version=2021-02-01", seconds = 5): string[] {
  return ["timeout", String(seconds), "wget", "-q", "-O", "-", "--header", "Metadata: true", `http://169.254.169.254/metadata/${path}`];
}

export interface Started extends RunResult {
  name: string;
  ms: number;
}

export class DockerCli {
  constructor(
    readonly sim: Simulator,
    readonly vm: string,
  ) {}

  run(args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return this.sim.exec(this.vm, "docker", args, { allowFailure: true, timeoutMs });
  }

  async ok(args: string[], timeoutMs = 60_000): Promise<string> {
    const r = await this.run(args, timeoutMs);
    assert.equal(r.code, 0, `docker ${args.join(" ")} on ${this.vm} failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** `docker run -d --init` a sleeper on `network`; never throws, so failures can be asserted on. */
  async start(name: string, network: string, extra: string[] = []): Promise<Started> {
    const t0 = performance.now();
    const r = await this.run(
      ["run", "-d", "--init", "--name", name, "--network", network, ...extra, "local/busybox", "sleep", "3600"],
      120_000,
    );
    return { ...r, name, ms: performance.now() - t0 };
  }

  async ipOf(name: string): Promise<string> {
    return this.ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name]);
  }

  /** Remove containers whether or not they exist or run. */
  async remove(names: string[]): Promise<void> {
    if (names.length) await this.run(["rm", "-f", ...names], 180_000);
  }
}

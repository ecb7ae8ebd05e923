/**
 * The docker CLI inside a simulated VM, as the fault and concurrency tests
 * use it: start a container on the VNet network and time it, read its
 * address, remove containers. Also the network mode a run exercises: every
 * suite creates its networks with MODE_OPTIONS, and `npm run test:e2e` runs
 * the suites once with AZV_E2E_MODE=bridge and once with transparent.
 */
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import type { Simulator } from "../../../sim/simulator";
import { type RunResult, waitFor } from "../../../sim/exec";
import { NETWORK_MODES, type NetworkMode } from "../../../driver/network/options";

function e2eMode(value: string | undefined): NetworkMode {
  if (value === undefined || value === "") return "bridge";
  const mode = NETWORK_MODES.find((m) => m === value);
  if (!mode) throw new Error(`AZV_E2E_MODE=${value}: use ${NETWORK_MODES.join(" or ")}`);
  return mode;
}

/** The network mode this run exercises: AZV_E2E_MODE, bridge (the plugin's default) when unset. */
export const E2E_MODE: NetworkMode = e2eMode(process.env.AZV_E2E_MODE);

/** What `docker network create` adds for this run's mode: nothing for bridge, so the default stays covered. */
export const MODE_OPTIONS: string[] = E2E_MODE === "bridge" ? [] : ["-o", `mode=${E2E_MODE}`];

export const CREATE_NETWORK = ["network", "create", "-d", "azure-vnet", "--ipam-driver", "azure-vnet", ...MODE_OPTIONS];

/**
 * A compose file whose azure-vnet networks are created in this run's mode:
 * the file itself for bridge, else a copy in `dir` whose network-level
 * `driver: azure-vnet…` lines (indented 4, under `networks:`; the IPAM
 * driver's are deeper) are followed by `driver_opts`.
 */
export function composeFileForMode(file: string, dir: string): string {
  if (E2E_MODE === "bridge") return file;
  const opts = `    driver_opts:\n      mode: "${E2E_MODE}"`;
  const text = readFileSync(file, "utf8").replace(/^ {4}driver: (\S*azure-vnet\S*)$/gm, (line) => `${line}\n${opts}`);
  if (!text.includes(opts)) throw new Error(`${file} declares no azure-vnet network`);
  const copy = `${dir}/${file
    .split("/")
    .slice(-2)
    .join("-")
    .replace(/\.yml$/, "")}-${E2E_MODE}.yml`;
  writeFileSync(copy, text);
  return copy;
}

/** `docker run -d --init` of a busybox sleeper on `network`; `extra` goes before the image (--ip, --restart, ...). */
export function sleeperArgs(name: string, network: string, extra: string[] = []): string[] {
  return ["run", "-d", "--init", "--name", name, "--network", network, ...extra, "local/busybox", "sleep", "600"];
}

/** A container command that answers HTTP on 8080 with the caller's address (busybox httpd CGI). */
export const WHOAMI_CMD = [
  "sh",
  "-c",
  "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 8080 -h /www",
];

/** The caller's address in a WHOAMI_CMD answer: busybox httpd reports IPv4 callers as [::ffff:a.b.c.d]. */
export function httpCaller(out: string): string {
  return out
    .trim()
    .replace(/^\[?::ffff:/, "")
    .replace(/\]$/, "");
}

/** GET a URL from inside a container; busybox-static's `wget -T` crashes, so its `timeout` applet bounds the wait. */
export function fetchInContainer(sim: Simulator, vm: string, container: string, url: string): Promise<RunResult> {
  return sim.exec(vm, "docker", ["exec", container, "timeout", "5", "wget", "-q", "-O", "-", url], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
}

/** The first fetch after a container starts: its server may need a moment to listen. Returns the body. */
export async function fetchOnceUp(sim: Simulator, vm: string, container: string, url: string): Promise<string> {
  let out = "";
  await waitFor(
    `${url} from ${container}`,
    async () => {
      const r = await fetchInContainer(sim, vm, container, url);
      out = r.stdout;
      return r.code === 0;
    },
    15_000,
    250,
  );
  return out;
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

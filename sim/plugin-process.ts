/**
 * Runs the plugin the way a legacy socket plugin runs on a VM: the built
 * `azure-vnet-plugin serve` with its production defaults, inside the VM's
 * network and mount namespace, so it finds IMDS at 169.254.169.254.
 */
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { Simulator } from "./simulator";
import { isAlive, waitFor } from "./exec";
import { killAndWait } from "./vm";

export const PLUGIN_MAIN = resolve(__dirname, "../driver/main.js");

/** The VM's /run/docker/plugins/azure-vnet.sock, seen from the machine. */
export function pluginSocket(sim: Simulator, vm: string): string {
  return join(sim.paths(vm).plugins, "azure-vnet.sock");
}

/** POST a plugin method over the socket, as Docker does. */
export function callPlugin(socket: string, method: string, body: unknown = undefined): Promise<{ status: number; body: unknown }> {
  return new Promise((resolveCall, reject) => {
    const payload = body === undefined ? "" : JSON.stringify(body);
    const req = request(
      { socketPath: socket, path: `/${method}`, method: "POST", headers: { "Content-Length": Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          try {
            resolveCall({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          } catch {
            resolveCall({ status: res.statusCode ?? 0, body: text });
          }
        });
      },
    );
    req.on("error", reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} timed out`)));
    req.end(payload);
  });
}

export class PluginProcess {
  pid = 0;
  constructor(
    readonly sim: Simulator,
    readonly vm: string,
    readonly env: NodeJS.ProcessEnv = {},
  ) {}

  get socket(): string {
    return pluginSocket(this.sim, this.vm);
  }

  get logFile(): string {
    return join(this.sim.dir, `plugin-${this.vm}.log`);
  }

  /** Start and wait until the socket answers; returns milliseconds to ready. */
  async start(args: string[] = []): Promise<number> {
    const t0 = Date.now();
    this.pid = this.sim.spawnInVm(this.vm, process.execPath, [PLUGIN_MAIN, "serve", ...args], this.logFile, {
      LOG_LEVEL: "debug",
      ...this.env,
    });
    const pid = this.pid;
    await waitFor(
      `the plugin on ${this.vm}`,
      async () => {
        if (!isAlive(pid)) throw new Error(`the plugin on ${this.vm} exited; see ${this.logFile}`);
        if (!existsSync(this.socket)) return false;
        try {
          return (await callPlugin(this.socket, "Plugin.Activate")).status === 200;
        } catch {
          return false;
        }
      },
      20_000,
      20,
    );
    return Date.now() - t0;
  }

  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    if (!this.pid) return;
    if (signal === "SIGKILL" && isAlive(this.pid)) process.kill(this.pid, "SIGKILL");
    await killAndWait(this.pid, 10_000);
    this.pid = 0;
  }
}

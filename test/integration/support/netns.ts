/**
 * Named child network namespaces for tests that need more than one host, and
 * the processes started in them. Names carry this process's pid so parallel
 * runs never collide; cleanup() stops only the processes started here (by pid)
 * and deletes only the namespaces made here, and is safe to call after a
 * failure half way through setup.
 */
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { cmd, CmdResult, sh } from "./host";

/** The compiled probe script, run with this same node binary inside a namespace. */
export const PROBE = join(__dirname, "probe.js");

export class ChildNamespaces {
  private readonly names: string[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(private readonly tag: string) {}

  name(suffix: string): string {
    return `azvnet-it-${process.pid}-${this.tag}-${suffix}`;
  }

  async add(suffix: string): Promise<string> {
    const name = this.name(suffix);
    this.names.push(name);
    await sh("ip", "netns", "add", name);
    await sh("ip", "-n", name, "link", "set", "lo", "up");
    return name;
  }

  /** Runs a program inside the namespace and returns its result whatever the exit status. */
  exec(ns: string, file: string, args: string[], timeoutMs?: number): Promise<CmdResult> {
    return cmd("ip", ["netns", "exec", ns, file, ...args], { timeoutMs });
  }

  async sh(ns: string, file: string, ...args: string[]): Promise<string> {
    return sh("ip", "netns", "exec", ns, file, ...args);
  }

  /** Runs the probe script in the namespace (a Node socket acts in the namespace it was made in). */
  probe(ns: string, args: string[], timeoutMs = 10_000): Promise<CmdResult> {
    return this.exec(ns, process.execPath, [PROBE, ...args], timeoutMs);
  }

  /** Starts a long-running probe server and waits for its "ready" line. */
  async serve(ns: string, args: string[]): Promise<ChildProcess> {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, PROBE, "serve", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`probe server did not start: ${err}`)), 10_000);
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`probe server exited ${code}: ${err}`));
      });
    });
    return child;
  }

  async cleanup(): Promise<void> {
    for (const child of this.children.splice(0)) {
      // `ip netns exec` execs the program, so this pid is the probe itself.
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        process.kill(child.pid, "SIGTERM");
        await exited;
      }
    }
    const failures: string[] = [];
    for (const name of this.names.splice(0)) {
      const r = await cmd("ip", ["netns", "del", name]);
      if (r.code !== 0 && !/No such file/.test(r.stderr)) failures.push(`${name}: ${r.stderr.trim()}`);
    }
    if (failures.length) throw new Error(`could not delete namespaces: ${failures.join("; ")}`);
  }
}

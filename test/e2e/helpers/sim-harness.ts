/**
 * Shared pieces for e2e tests on the simulator: bring it up once per file,
 * start throwaway servers in its hosts, fetch from anywhere in it, and stop
 * exactly the processes the test started.
 */
import { resolve } from "node:path";
import { Simulator, EdgeHost } from "../../../sim/simulator";
import { RunResult, isAlive, waitFor } from "../../../sim/exec";
import { killAndWait } from "../../../sim/vm";

export const WHOAMI = resolve(__dirname, "../../../sim/tools/whoami.js");

export type Place = { vm: string } | { edge: EdgeHost };

export class Harness {
  private pids: number[] = [];
  constructor(readonly sim: Simulator) {}

  logFile(name: string): string {
    return resolve(this.sim.dir, `${name}.log`);
  }

  /** Run a command somewhere in the simulated network. */
  exec(place: Place, cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
    return "vm" in place
      ? this.sim.exec(place.vm, cmd, args, { allowFailure: true, timeoutMs })
      : this.sim.execEdge(place.edge, cmd, args, { allowFailure: true, timeoutMs });
  }

  /** Start a whoami server (answers with the caller's address) and wait until it listens. */
  async whoami(place: Place, port: number, bind = "0.0.0.0", label = ""): Promise<number> {
    const args = [WHOAMI, String(port), bind, label];
    const log = this.logFile(`whoami-${port}`);
    const pid =
      "vm" in place
        ? this.sim.spawnInVm(place.vm, process.execPath, args, log)
        : this.sim.spawnEdge(place.edge, process.execPath, args, log);
    this.pids.push(pid);
    const probe = bind === "0.0.0.0" ? "127.0.0.1" : bind.includes(":") ? `[${bind}]` : bind;
    await waitFor(
      `whoami on port ${port}`,
      async () => {
        if (!isAlive(pid)) throw new Error(`whoami exited; see ${log}`);
        return (await this.curl(place, `http://${probe}:${port}/`, 1)).code === 0;
      },
      10_000,
      100,
    );
    return pid;
  }

  /** curl from a place; extra args e.g. ["--interface", "10.0.0.11"]. */
  curl(place: Place, url: string, timeoutS = 3, extra: string[] = [], headers: string[] = []): Promise<RunResult> {
    const h = headers.flatMap((x) => ["-H", x]);
    return this.exec(place, "curl", ["-sS", "--noproxy", "*", "-m", String(timeoutS), ...h, ...extra, url]);
  }

  async ping(place: Place, target: string, extra: string[] = []): Promise<boolean> {
    const r = await this.exec(place, "busybox", ["ping", "-c", "1", "-W", "2", ...extra, target]);
    return r.code === 0 && /1 packets received/.test(r.stdout);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.pids.map((p) => killAndWait(p, 3_000)));
    this.pids = [];
  }
}

/**
 * Starting a Node program in a VM and timing it until it answers
 * Plugin.Activate on its socket, polled the way PluginProcess.start() polls,
 * so the plugin and the baseline server are timed alike.
 */
import { existsSync } from "node:fs";
import { Simulator } from "../sim/simulator";
import { isAlive, waitFor } from "../sim/exec";
import { callPlugin } from "../sim/plugin-process";
import { killAndWait } from "../sim/vm";

export async function spawnServing(
  sim: Simulator,
  vm: string,
  nodeArgs: string[],
  socket: string,
  logFile: string,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 20_000,
): Promise<{ pid: number; ms: number }> {
  const t0 = Date.now();
  const pid = sim.spawnInVm(vm, process.execPath, nodeArgs, logFile, env);
  try {
    await waitFor(
      `${nodeArgs.join(" ")} on ${vm}`,
      async () => {
        if (!isAlive(pid)) throw new Error(`${nodeArgs.join(" ")} on ${vm} exited; see ${logFile}`);
        if (!existsSync(socket)) return false;
        try {
          return (await callPlugin(socket, "Plugin.Activate")).status === 200;
        } catch {
          return false;
        }
      },
      timeoutMs,
      20,
    );
  } catch (err) {
    // Not left running unaccounted for: the caller only learns the pid on success.
    await killAndWait(pid, 5_000);
    throw err;
  }
  return { pid, ms: Date.now() - t0 };
}

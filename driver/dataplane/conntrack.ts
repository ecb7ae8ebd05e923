/**
 * Drops connection-tracking entries of a container address that is going away,
 * so that a later container given the same address does not inherit flows
 * (and their SNAT mappings) of the previous one.
 */
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";
import { assertIPv4 } from "./validate";

/** False when conntrack is not installed; entries then simply time out. */
export async function forgetFlows(ip: string, opts: { run?: Runner; timeoutMs?: number } = {}): Promise<boolean> {
  assertIPv4(ip, "container address");
  const run = opts.run ?? runProgram;
  for (const direction of ["--orig-src", "--orig-dst"]) {
    try {
      await run("conntrack", ["-D", direction, ip], { timeoutMs: opts.timeoutMs ?? 10_000 });
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ENOENT") return false;
      // conntrack exits 1 when there was nothing to delete.
      if (err instanceof DataplaneError && err.code === "EXIT_1" && /0 flow entries/.test(err.message)) continue;
      throw err;
    }
  }
  return true;
}

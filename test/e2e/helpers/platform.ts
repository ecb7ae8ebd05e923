/**
 * Driving the simulated metadata endpoints from a test: set fault knobs and
 * wait until the platform process has picked them up (it polls knobs.json),
 * and count the requests it answered, per endpoint, from its log.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Simulator } from "../../../sim/simulator";
import { waitFor } from "../../../sim/exec";
import { KNOBS_FILE, type Knobs, parseKnobs } from "../../../sim/platform/knobs";

export const IMDS_URL = "http://169.254.169.254/metadata/instance/network?api-version=2021-02-01";
export const WIRESERVER_URL = "http://168.63.129.16/?comp=versions";

function platformLog(sim: Simulator): string {
  return join(sim.platformDir, "platform.log");
}

/** Where the platform log ends now; later reads look only past it. */
export function logMark(sim: Simulator): number {
  try {
    return statSync(platformLog(sim)).size;
  } catch {
    return 0;
  }
}

export function logSince(sim: Simulator, mark: number): string[] {
  return readFileSync(platformLog(sim)).subarray(mark).toString("utf8").split("\n").filter(Boolean);
}

/** Requests an endpoint ("imds", "wireserver") answered since `mark`, as "<status>" strings. */
export function answeredSince(sim: Simulator, mark: number, endpoint: string): string[] {
  const re = new RegExp(`^\\S+ ${endpoint} \\S+ \\S+ \\S+ (\\d{3}) `);
  return logSince(sim, mark).flatMap((l) => {
    const m = re.exec(l);
    return m ? [m[1]] : [];
  });
}

/**
 * Replace all knobs and wait until the platform has applied them. A probe
 * from inside the VM then confirms the endpoints behave as asked, so a test
 * never races the platform's poll.
 */
export async function applyKnobs(sim: Simulator, knobs: Knobs, vm = "vm1"): Promise<void> {
  const mark = logMark(sim);
  const before = knobsText(sim);
  sim.setKnobs(knobs);
  // The platform only reloads (and logs) a file whose text changed.
  if (knobsText(sim) !== before) {
    const expected = `state: knobs now ${JSON.stringify(parseKnobs(knobs))}`;
    await waitFor("the platform to apply the knobs", () => logSince(sim, mark).some((l) => l.endsWith(expected)), 5_000, 50);
  }
  for (const [endpoint, url] of [
    ["imds", IMDS_URL],
    ["wireserver", WIRESERVER_URL],
  ] as const) {
    const k = knobs[endpoint] ?? {};
    if (k.latencyMs) continue;
    const want = k.down ? "000" : k.status ? String(k.status) : undefined;
    await waitFor(
      `${endpoint} to follow its knobs`,
      async () => {
        const code = await httpCode(sim, vm, url);
        return want === undefined ? code !== "000" : code === want;
      },
      5_000,
      100,
    );
  }
}

function knobsText(sim: Simulator): string {
  try {
    return readFileSync(join(sim.platformDir, KNOBS_FILE), "utf8");
  } catch {
    return "";
  }
}

/** The HTTP status a GET from inside the VM gets ("000": no connection). */
async function httpCode(sim: Simulator, vm: string, url: string): Promise<string> {
  const r = await sim.exec(
    vm,
    "curl",
    ["-s", "--noproxy", "*", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", "-H", "Metadata: true", url],
    { allowFailure: true },
  );
  return r.stdout.trim() || "000";
}

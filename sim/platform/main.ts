/**
 * Command-line entry of the simulated Azure platform endpoints. The simulator
 * runs it inside the fabric namespace, where 169.254.169.254 and
 * 168.63.129.16 are on lo; every address is an option so it also runs on
 * loopback with ephemeral ports.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { TlsIdentity } from "./managed-http";
import { parseArgs } from "node:util";
import { formatListenAddress, parseListenAddress } from "./listen-address";
import { startPlatform, type Platform, type PlatformAddresses } from "./platform";
import { DEFAULT_POLL_MS } from "./state";

const USAGE = `usage: node dist/sim/platform/main.js --state-dir DIR [options]

  --state-dir DIR               directory holding topology.json and knobs.json (required)
  --imds-listen ADDR            IMDS address (default 169.254.169.254:80)
  --wireserver-listen ADDR      wireserver address (default 168.63.129.16:80)
  --wireserver-alt-listen ADDR  wireserver second port (default 168.63.129.16:32526)
  --dns-listen ADDR             DNS address, UDP and TCP (default 168.63.129.16:53)
  --arm-listen ADDR             Azure Resource Manager address (default off)
  --arm-cert FILE, --arm-key FILE  ARM's TLS certificate and key (PEM); without them ARM speaks plain HTTP
  --apply-fabric                program the fabric namespace this runs in when a NIC operation succeeds
  --ready-file PATH             written (JSON with the bound addresses) once all listeners are up
  --poll-ms N                   how often the state files are re-read (default ${DEFAULT_POLL_MS})
  --identify-by-header NAME     identify callers by this header, not the source address (unit tests only)

ADDR is IPv4:port; port 0 picks a free port; "off" does not start that endpoint.`;

const options = {
  "state-dir": { type: "string" },
  "imds-listen": { type: "string", default: "169.254.169.254:80" },
  "wireserver-listen": { type: "string", default: "168.63.129.16:80" },
  "wireserver-alt-listen": { type: "string", default: "168.63.129.16:32526" },
  "dns-listen": { type: "string", default: "168.63.129.16:53" },
  "arm-listen": { type: "string", default: "off" },
  "arm-cert": { type: "string" },
  "arm-key": { type: "string" },
  "apply-fabric": { type: "boolean" },
  "ready-file": { type: "string" },
  "poll-ms": { type: "string", default: String(DEFAULT_POLL_MS) },
  "identify-by-header": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Bad command lines get the usage text; runtime failures (a taken port) do not need it. */
class UsageError extends Error {}

function logLine(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/** Written atomically so a waiting simulator never reads half of it. */
function writeReadyFile(path: string, addresses: PlatformAddresses): void {
  const bound: Record<string, string> = {};
  for (const [endpoint, address] of Object.entries(addresses)) if (address) bound[endpoint] = formatListenAddress(address);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ pid: process.pid, ...bound }) + "\n");
  renameSync(tmp, path);
}

function asUsageError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function parseCommandLine() {
  return asUsageError(() => parseArgs({ options, strict: true, allowPositionals: false })).values;
}

function armTls(cert: string | undefined, key: string | undefined): TlsIdentity | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError("--arm-cert and --arm-key go together");
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}

async function main(): Promise<void> {
  const values = parseCommandLine();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const stateDir = values["state-dir"];
  if (!stateDir) throw new UsageError("--state-dir is required");
  const pollMs = Number(values["poll-ms"]);
  if (!Number.isInteger(pollMs) || pollMs < 10) throw new UsageError("--poll-ms must be an integer >= 10");

  const listen = (option: "imds-listen" | "wireserver-listen" | "wireserver-alt-listen" | "dns-listen" | "arm-listen") =>
    asUsageError(() => parseListenAddress(values[option], `--${option}`));
  const platform: Platform = await startPlatform({
    stateDir,
    imds: listen("imds-listen"),
    wireserver: listen("wireserver-listen"),
    wireserverAlt: listen("wireserver-alt-listen"),
    dns: listen("dns-listen"),
    arm: listen("arm-listen"),
    armTls: armTls(values["arm-cert"], values["arm-key"]),
    applyFabric: values["apply-fabric"] === true,
    identifyByHeader: values["identify-by-header"],
    pollMs,
    log: logLine,
  });
  if (values["identify-by-header"]) logLine(`platform: identifying callers by header ${values["identify-by-header"]} (test mode)`);
  if (values["ready-file"]) writeReadyFile(values["ready-file"], platform.addresses());
  logLine(`platform: ready (state dir ${stateDir})`);

  const shutdown = (signal: string) => {
    logLine(`platform: ${signal}, shutting down`);
    void platform.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`platform: ${(err as Error).message}\n${err instanceof UsageError ? `${USAGE}\n` : ""}`);
  process.exit(1);
});

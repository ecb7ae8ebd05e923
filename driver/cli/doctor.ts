/**
 * `azure-vnet-plugin doctor`: the checks that explain why containers get no
 * address or no connectivity, each with a verdict and, when it fails, the
 * command that fixes it. Healthy means no FAIL.
 */
import type { Check } from "./check";
import { ipconfigChecks, metadataCheck, nicCheck } from "./checks-platform";
import { backendCheck, firewallCheck, ipForwardCheck } from "./checks-firewall";
import {
  bridgesCheck,
  checkpointCheck,
  portGuardsCheck,
  routedPortsCheck,
  routesCheck,
  socketCheck,
  staleStateCheck,
} from "./checks-state";
import type { Facts } from "./facts";
import { describeLocation } from "./locate";
import { dockerApiCheck, pluginCheck, reconcileCheck } from "./checks-docker";
import { ipv6Checks, nicRoutingCheck } from "./checks-routing";

export interface DoctorReport {
  healthy: boolean;
  /** Which plugin was looked at, and why that one (see cli/locate.ts). */
  plugin?: string;
  checks: Check[];
}

/** In the order a user would fix things: platform first, then the VM, then the plugin's own state, then the plugin as Docker runs it. */
export function runDoctor(f: Facts): DoctorReport {
  const checks = [
    metadataCheck(f),
    nicCheck(f),
    ...ipconfigChecks(f),
    ipForwardCheck(f),
    backendCheck(f),
    firewallCheck(f),
    bridgesCheck(f),
    routesCheck(f),
    portGuardsCheck(f),
    routedPortsCheck(f),
    nicRoutingCheck(f),
    ...ipv6Checks(f),
    staleStateCheck(f),
    checkpointCheck(f),
    pluginCheck(f),
    socketCheck(f),
    dockerApiCheck(f),
    reconcileCheck(f),
  ];
  return { healthy: !checks.some((c) => c.verdict === "FAIL"), ...(f.location && { plugin: describeLocation(f.location) }), checks };
}

export function renderDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.id.length));
  const lines: string[] = r.plugin ? [`plugin: ${r.plugin}`, ""] : [];
  for (const c of r.checks) {
    lines.push(`${c.verdict.padEnd(4)}  ${c.id.padEnd(width)}  ${c.finding}`);
    const indent = " ".repeat(6 + width + 2);
    for (const d of c.details ?? []) lines.push(`${indent}${d}`);
    for (const x of c.fix ?? []) lines.push(`${indent}fix: ${x}`);
  }
  const count = (v: Check["verdict"]) => r.checks.filter((c) => c.verdict === v).length;
  const fails = count("FAIL");
  const warns = count("WARN");
  lines.push("");
  lines.push(
    r.healthy
      ? `healthy: ${r.checks.length} checks, ${warns} warning${warns === 1 ? "" : "s"}`
      : `not healthy: ${fails} of ${r.checks.length} checks failed, ${warns} warning${warns === 1 ? "" : "s"}`,
  );
  return `${lines.join("\n")}\n`;
}

/** One finding of `doctor`: a verdict, one line saying what was seen, and how to fix it. */
import type { PluginLocation } from "./locate";

export type Verdict = "PASS" | "WARN" | "FAIL" | "SKIP";

export interface Check {
  /** Stable name, for --json consumers and tests. */
  id: string;
  verdict: Verdict;
  finding: string;
  /** The items behind the finding: each missing rule, each stale endpoint. */
  details?: string[];
  /** Commands or steps that fix a FAIL or WARN, in order. */
  fix?: string[];
}

/**
 * How to make the plugin rebuild bridges, routes and firewall chains from its
 * checkpoint: for the managed plugin found, by its name; for a legacy install,
 * its service; when neither is known, both.
 */
export function restartPlugin(l: PluginLocation | undefined): string {
  const rebuild = "restart the plugin, which rebuilds bridges, routes and its firewall chains from its state at start";
  const managed = (name: string) => `docker plugin disable -f ${name} && docker plugin enable ${name}`;
  if (l?.plugin?.enabled && l.how !== "legacy") return `${rebuild}: ${managed(l.plugin.name)}`;
  if (l && l.how === "legacy" && !l.dockerError && !l.plugin) return `${rebuild}: systemctl restart azure-vnet`;
  return `${rebuild} (legacy install: systemctl restart azure-vnet; managed plugin: ${managed(l?.plugin?.name ?? "azure-vnet:latest")})`;
}

export function check(id: string, verdict: Verdict, finding: string, extra: { details?: string[]; fix?: string[] } = {}): Check {
  return {
    id,
    verdict,
    finding,
    ...(extra.details?.length && { details: extra.details }),
    ...(extra.fix?.length && { fix: extra.fix }),
  };
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * How long the plugin itself took to answer Docker, read from the one line
 * per request it logs (`method=… durationMs=…`). Set against the extra
 * latency Docker shows, it tells whether the plugin's answers are the gap.
 */
import { readFileSync } from "node:fs";
import { formatNumber, renderTable } from "./report";

export type CallTimes = Map<string, { count: number; totalMs: number; programs: number }>;

/** Requests logged between fromMs and toMs (epoch ms), by method. */
export function pluginCallTimes(logText: string, fromMs: number, toMs: number): CallTimes {
  const out: CallTimes = new Map();
  for (const line of logText.split("\n")) {
    const method = /\bmethod=(\S+)/.exec(line)?.[1];
    const duration = /\bdurationMs=([\d.]+)/.exec(line)?.[1];
    const programs = Number(/\bprograms=(\d+)/.exec(line)?.[1] ?? 0);
    if (!method || !duration) continue;
    const at = Date.parse(line.slice(0, line.indexOf(" ")));
    if (!(at >= fromMs && at <= toMs)) continue;
    const entry = out.get(method) ?? { count: 0, totalMs: 0, programs: 0 };
    entry.count += 1;
    entry.totalMs += Number(duration);
    entry.programs += programs;
    out.set(method, entry);
  }
  return out;
}

export function readCallTimes(logFile: string, fromMs: number, toMs: number): CallTimes {
  try {
    return pluginCallTimes(readFileSync(logFile, "utf8"), fromMs, toMs);
  } catch {
    return new Map();
  }
}

export function totalMs(times: CallTimes): number {
  return [...times.values()].reduce((a, t) => a + t.totalMs, 0);
}

/** Programs (iptables, nft, conntrack, ...) the plugin started while answering. */
export function totalPrograms(times: CallTimes): number {
  return [...times.values()].reduce((a, t) => a + t.programs, 0);
}

/** Calls and their mean time per unit of work (per docker run, per container). */
export function callTimesTable(times: CallTimes, units: number, unitName: string): string {
  const rows = [["plugin call", `calls per ${unitName}`, "mean ms", `ms per ${unitName}`, `programs per ${unitName}`]];
  for (const [method, t] of [...times.entries()].sort((a, b) => b[1].totalMs - a[1].totalMs)) {
    rows.push([
      method,
      formatNumber(t.count / units),
      formatNumber(t.totalMs / t.count),
      formatNumber(t.totalMs / units),
      formatNumber(t.programs / units),
    ]);
  }
  return renderTable(rows);
}

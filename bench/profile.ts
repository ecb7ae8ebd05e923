/**
 * A short reading of a V8 .cpuprofile (node --cpu-prof): where the busy time
 * went, by area (a package, a driver module, Node's internals, GC) and by
 * function. Self time only, from the sample timestamps.
 */
import { readFileSync } from "node:fs";
import { formatNumber, renderTable } from "./report";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Milliseconds the process was not idle. */
  busyMs: number;
  idleMs: number;
  byArea: [string, number][];
  byFunction: [string, number][];
}

/** Which part of the program a source URL belongs to. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /dist\/(driver(?:\/[^/]+)?)\/[^/]+\.js$/.exec(url);
  if (own) return own[1].replace(/\.js$/, "");
  return url.replace(/^file:\/\//, "");
}

export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time since sample i-1; charge it to the sample it ends.
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const areas = new Map<string, number>();
  const funcs = new Map<string, number>();
  let idleMs = 0;
  for (const [id, ms] of self) {
    const f = nodes.get(id)?.callFrame;
    if (!f) continue;
    if (f.functionName === "(idle)") {
      idleMs += ms;
      continue;
    }
    const area = areaOf(f.url, f.functionName);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const where = f.url ? ` ${f.url.replace(/^.*\/(node_modules|dist)\//, "").replace(/^file:\/\//, "")}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"}${where}`;
    funcs.set(key, (funcs.get(key) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  const busyMs = [...areas.values()].reduce((a, b) => a + b, 0);
  return { busyMs, idleMs, byArea: sorted(areas).slice(0, top), byFunction: sorted(funcs).slice(0, top) };
}

export function profileText(file: string, s: ProfileSummary): string {
  const pct = (ms: number) => `${((ms / s.busyMs) * 100).toFixed(1)}%`;
  return [
    `CPU profile ${file}: ${formatNumber(s.busyMs / 1000)} s busy, ${formatNumber(s.idleMs / 1000)} s idle`,
    renderTable([["area (self time)", "ms", "share"], ...s.byArea.map(([k, v]) => [k, formatNumber(v), pct(v)])]),
    renderTable([["function (self time)", "ms", "share"], ...s.byFunction.map(([k, v]) => [k, formatNumber(v), pct(v)])]),
  ].join("\n\n");
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
}

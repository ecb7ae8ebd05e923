/**
 * What the machine's own namespace looks like: links, addresses, routes,
 * rules, firewall, sysctls, mounts and /run. Taken before `sim up` and after
 * `sim down` to prove the simulator leaves no trace.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../../sim/exec";
import { NS_PREFIX } from "../../../sim/names";

/** Sysctls that change on their own (counters, entropy, pids). */
const VOLATILE_SYSCTL = [
  /^fs\.(dentry-state|inode-nr|inode-state|file-nr|dquot|quota)/,
  /^kernel\.(random|ns_last_pid|pty\.nr|sched_domain|perf_event|tainted|cad_pid|hung_task)/,
  /^net\.netfilter\.nf_conntrack_count/,
  /^net\.(core|ipv4|ipv6)\..*(_count|stat)/,
  /^vm\./,
  /^user\./,
  /^dev\./,
];

async function out(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { allowFailure: true });
  return r.code === 0 ? r.stdout : `(${cmd} failed: ${r.stderr.trim()})`;
}

function stripCounters(iptablesSave: string): string {
  return iptablesSave
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]"))
    .join("\n");
}

function listTree(dir: string, depth = 3): string[] {
  const found: string[] = [];
  const walk = (d: string, level: number) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      found.push(p);
      if (e.isDirectory() && level < depth) walk(p, level + 1);
    }
  };
  try {
    statSync(dir);
    walk(dir, 1);
  } catch {
    /* absent */
  }
  return found.sort();
}

/**
 * Namespaces of another simulator running side by side (another AZSIM_PREFIX)
 * come and go on their own; this simulator answers only for its own.
 */
function isOtherSimulators(path: string): boolean {
  const m = /^\/run\/netns\/(.+)$/.exec(path);
  return m !== null && !m[1].startsWith(NS_PREFIX);
}

export interface HostSnapshot {
  [aspect: string]: string;
}

export async function snapshotHost(): Promise<HostSnapshot> {
  const sysctl = (await out("sysctl", ["-a"]))
    .split("\n")
    .filter((l) => !VOLATILE_SYSCTL.some((re) => re.test(l)))
    .join("\n");
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => !isOtherSimulators(l.split(" ")[4] ?? ""))
    .map((l) =>
      l
        .split(" ")
        .slice(4, 5)
        .concat(l.split(" - ")[1] ?? "")
        .join(" "),
    )
    .sort()
    .join("\n");
  return {
    links: (await out("ip", ["-o", "link", "show"])).replace(/\s+link\/\S+ \S+ brd \S+/g, ""),
    addresses: await out("ip", ["-o", "addr", "show"]),
    routes: (await out("ip", ["route", "show", "table", "all"])) + (await out("ip", ["rule", "show"])),
    "iptables-nft": stripCounters(await out("iptables-nft-save", [])),
    "iptables-legacy": stripCounters(await out("iptables-legacy-save", [])),
    sysctl,
    mounts,
    run: listTree("/run")
      .filter((p) => !/^\/run\/(user|systemd|log|dbus|postgresql)\b/.test(p) && !isOtherSimulators(p))
      .join("\n"),
  };
}

/** Where two texts with the same set of lines first part, with the lines around it. */
function firstDifference(before: string, after: string): string {
  const b = before.split("\n");
  const a = after.split("\n");
  let i = 0;
  while (i < b.length && b[i] === a[i]) i++;
  const around = (lines: string[]) => lines.slice(Math.max(0, i - 2), i + 3).join(" | ");
  return `line ${i + 1}: before [${around(b)}] after [${around(a)}]`;
}

/** The aspects that differ, with a few changed lines each. */
export function diffSnapshots(before: HostSnapshot, after: HostSnapshot): string[] {
  const problems: string[] = [];
  for (const aspect of Object.keys(before)) {
    if (before[aspect] === after[aspect]) continue;
    const b = new Set(before[aspect].split("\n"));
    const a = new Set(after[aspect].split("\n"));
    const gone = [...b].filter((l) => !a.has(l)).slice(0, 5);
    const added = [...a].filter((l) => !b.has(l)).slice(0, 5);
    if (gone.length || added.length) problems.push(`${aspect}: removed [${gone.join(" | ")}] added [${added.join(" | ")}]`);
    else problems.push(`${aspect}: the same lines in another order or number: ${firstDifference(before[aspect], after[aspect])}`);
  }
  return problems;
}

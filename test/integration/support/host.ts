/**
 * Independent views of the namespace the tests run in, through iproute2 and
 * iptables rather than the code under test, plus a small command runner.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";

export interface CmdResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a program (no shell). Resolves whatever the exit status; see `sh` for the strict form. */
export function cmd(file: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CmdResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ stdout, stderr, code });
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.input ?? "");
  });
}

/** Runs a program and fails with its stderr unless it exits 0. */
export async function sh(file: string, ...args: string[]): Promise<string> {
  const r = await cmd(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

interface IpLink {
  ifname: string;
  ifindex: number;
  address?: string;
  mtu: number;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string };
}

export async function ipLinks(): Promise<IpLink[]> {
  return JSON.parse(await sh("ip", "-d", "-j", "link", "show")) as IpLink[];
}

export async function ipLink(name: string): Promise<IpLink | undefined> {
  return (await ipLinks()).find((l) => l.ifname === name);
}

export async function linkNames(): Promise<string[]> {
  return (await ipLinks()).map((l) => l.ifname).sort();
}

/** Every IPv4 route of every table, one comparable line each. */
export async function routeLines(): Promise<string[]> {
  const out = await sh("ip", "-4", "route", "show", "table", "all");
  return (
    out
      .split("\n")
      // "linkdown" follows the bridge's carrier, which settles asynchronously.
      .map((l) => l.trim().replace(/ linkdown$/, ""))
      .filter(Boolean)
      .sort()
  );
}

export function readSysctl(path: string): string {
  return readFileSync(`/proc/sys/net/${path}`, "utf8").trim();
}

/** iptables-save output without comments and counters, so two snapshots compare equal. */
export async function iptablesSnapshot(save: string): Promise<string> {
  const out = await sh(save);
  return out
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]"))
    .join("\n");
}

export function difference<T>(after: T[], before: T[]): T[] {
  return after.filter((x) => !before.includes(x));
}

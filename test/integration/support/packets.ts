/**
 * What the packet tests ask of their namespaces: the source address a probe
 * server saw, a single ping, and the fabric's per-rule packet counters (one
 * counting INPUT rule per source of interest, named by its comment).
 */
import { cmd } from "./host";
import type { ChildNamespaces } from "./netns";

export function packetChecks(spaces: ChildNamespaces, fabric: () => string) {
  /** What the far end saw as the source of a request from `ns`, or undefined if nothing came back. */
  async function seenSource(ns: string, proto: "tcp" | "udp", host: string, port: number, from?: string): Promise<string | undefined> {
    const r = await spaces.probe(ns, ["ask", proto, host, String(port), "1500", ...(from ? [from] : [])]);
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as { from: string }).from;
  }

  /** One echo request from `ns` (the test's own namespace when undefined); true if it was answered. */
  async function ping(ns: string | undefined, target: string, from?: string): Promise<boolean> {
    const args = ["busybox", "ping", "-c", "1", "-W", "2", ...(from ? ["-I", from] : []), target];
    const r = ns ? await spaces.exec(ns, args[0], args.slice(1)) : await cmd(args[0], args.slice(1));
    return r.code === 0;
  }

  /** Packet counters of the fabric's INPUT rules, keyed by the rule's comment. */
  async function fabricCounters(): Promise<Record<string, number>> {
    const out = await spaces.sh(fabric(), "iptables-save", "-c", "-t", "filter");
    const counters: Record<string, number> = {};
    for (const m of out.matchAll(/^\[(\d+):\d+\] -A INPUT .*--comment "?([a-z0-9-]+)"?/gm)) counters[m[2]] = Number(m[1]);
    return counters;
  }

  return { seenSource, ping, fabricCounters };
}

/**
 * A Docker-like starting point for firewall tests, in one iptables backend of
 * the test's own namespace, and its removal.
 */
import { cmd, sh } from "./host";

const BASELINE: Array<[string, ...string[]]> = [
  ["filter", "-N", "DOCKER"],
  ["filter", "-N", "DOCKER-USER"],
  ["filter", "-A", "DOCKER-USER", "-j", "RETURN"],
  ["filter", "-A", "FORWARD", "-j", "DOCKER-USER"],
  ["filter", "-A", "FORWARD", "-o", "docker0", "-j", "DOCKER"],
  ["filter", "-P", "FORWARD", "DROP"],
  ["nat", "-N", "DOCKER"],
  ["nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"],
  // Someone else's use of the mangle table, which the plugin's chains share.
  ["mangle", "-N", "OPERATOR-MANGLE"],
  ["mangle", "-A", "FORWARD", "-j", "OPERATOR-MANGLE"],
  // Docker 26 and later guard their containers' addresses in raw PREROUTING, where the plugin's source check also hooks in.
  ["raw", "-A", "PREROUTING", "-d", "172.17.0.2/32", "!", "-i", "docker0", "-j", "DROP"],
];

/** What Docker leaves in a backend (its chains, a jump, a MASQUERADE rule, a raw guard and FORWARD's DROP policy), and an operator's mangle chain. */
export async function dockerLikeBaseline(iptables: string): Promise<void> {
  for (const [table, ...rule] of BASELINE) await sh(iptables, "-w", "-t", table, ...rule);
}

export async function clearBackend(iptables: string): Promise<void> {
  for (const table of ["filter", "nat", "mangle", "raw"]) {
    await cmd(iptables, ["-w", "-t", table, "-F"]);
    await cmd(iptables, ["-w", "-t", table, "-X"]);
  }
  await cmd(iptables, ["-w", "-P", "FORWARD", "ACCEPT"]);
}

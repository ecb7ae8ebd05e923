/**
 * Anti-spoofing on the bridge ports: a container may only send frames with its
 * own MAC, IPv4 packets and ARP with its own address. Containers share a
 * bridge, so the host's routing (rp_filter) cannot tell them apart; ebtables
 * sees the port a frame came in on.
 *
 * Each endpoint gets a chain of its own, added and removed with one
 * `ebtables-restore --noflush` run, so the cost of an endpoint does not grow
 * with the number of endpoints already present.
 */
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";
import { assertIPv4, assertIfName, assertMac } from "./validate";

export const PORTS_CHAIN = "AZURE-VNET-PORTS";
/** Ports the plugin creates all carry this prefix (see network/records.ts). */
const PORT_PATTERN = "azvh+";
const chainOf = (port: string) => `AZV-${port}`;

export interface PortGuard {
  port: string;
  address: string;
  mac: string;
}

export interface PortGuardOptions {
  run?: Runner;
  timeoutMs?: number;
}

async function restore(text: string, o: PortGuardOptions): Promise<void> {
  await (o.run ?? runProgram)("ebtables-restore", ["--noflush"], { input: text, timeoutMs: o.timeoutMs });
}

async function save(o: PortGuardOptions): Promise<string> {
  return (await (o.run ?? runProgram)("ebtables-save", ["-t", "nat"], { timeoutMs: o.timeoutMs })).stdout;
}

/** The entry chain and the jump to it from PREROUTING, once. */
export async function ensurePortGuards(o: PortGuardOptions = {}): Promise<void> {
  const current = await save(o);
  const lines = ["*nat"];
  if (!current.includes(`:${PORTS_CHAIN} `)) lines.push(`:${PORTS_CHAIN} RETURN`);
  if (!current.includes(`-A PREROUTING -i ${PORT_PATTERN} -j ${PORTS_CHAIN}`)) lines.push(`-A PREROUTING -i ${PORT_PATTERN} -j ${PORTS_CHAIN}`);
  if (lines.length === 1) return;
  lines.push("COMMIT", "");
  await restore(lines.join("\n"), o);
}

export async function addPortGuard(g: PortGuard, o: PortGuardOptions = {}): Promise<void> {
  const port = assertIfName(g.port, "bridge port");
  const ip = assertIPv4(g.address, "container address");
  const mac = assertMac(g.mac, "container MAC");
  const chain = chainOf(port);
  // Declaring the chain flushes it, so adding twice leaves one set of rules;
  // the jump is removed first for the same reason.
  await removeJump(port, o);
  await restore(
    [
      "*nat",
      `:${chain} RETURN`,
      `-A ${chain} -s ! ${mac} -j DROP`,
      `-A ${chain} -p IPv4 --ip-src ! ${ip} -j DROP`,
      `-A ${chain} -p IPv4 -j RETURN`,
      `-A ${chain} -p ARP --arp-ip-src ! ${ip} -j DROP`,
      `-A ${chain} -p ARP -j RETURN`,
      // IPv4 only: nothing else a container sends is expected or checked.
      `-A ${chain} -j DROP`,
      `-A ${PORTS_CHAIN} -i ${port} -j ${chain}`,
      "COMMIT",
      "",
    ].join("\n"),
    o,
  );
}

async function removeJump(port: string, o: PortGuardOptions): Promise<void> {
  const current = await save(o);
  const jump = `-A ${PORTS_CHAIN} -i ${port} -j ${chainOf(port)}`;
  const count = current.split("\n").filter((l) => l.trim() === jump).length;
  if (count === 0) return;
  await restore(["*nat", ...Array(count).fill(jump.replace("-A ", "-D ")), "COMMIT", ""].join("\n"), o);
}

/** False if there was no guard. */
export async function removePortGuard(port: string, o: PortGuardOptions = {}): Promise<boolean> {
  assertIfName(port, "bridge port");
  const current = await save(o);
  const chain = chainOf(port);
  if (!current.includes(`:${chain} `)) {
    await removeJump(port, o);
    return false;
  }
  const jump = `-A ${PORTS_CHAIN} -i ${port} -j ${chain}`;
  const lines = ["*nat"];
  for (const l of current.split("\n")) if (l.trim() === jump) lines.push(jump.replace("-A ", "-D "));
  lines.push(`-F ${chain}`, `-X ${chain}`, "COMMIT", "");
  try {
    await restore(lines.join("\n"), o);
  } catch (err) {
    // Raced with another removal: fine if the chain is gone now.
    if ((await save(o)).includes(`:${chain} `)) throw err;
  }
  return true;
}

/** Ports that have a guard chain, for reconciliation and diagnosis. */
export async function listPortGuards(o: PortGuardOptions = {}): Promise<string[]> {
  let text: string;
  try {
    text = await save(o);
  } catch (err) {
    if (err instanceof DataplaneError && err.code === "ENOENT") return [];
    throw err;
  }
  return [...text.matchAll(/^:AZV-(\S+) /gm)].map((m) => m[1]);
}

/** Every guard chain, the entry chain and its jump: for when the last network goes. */
export async function removeAllPortGuards(o: PortGuardOptions = {}): Promise<void> {
  for (const port of await listPortGuards(o)) await removePortGuard(port, o);
  const current = await save(o);
  const lines = ["*nat"];
  const entry = `-A PREROUTING -i ${PORT_PATTERN} -j ${PORTS_CHAIN}`;
  for (const l of current.split("\n")) if (l.trim() === entry) lines.push(entry.replace("-A ", "-D "));
  if (current.includes(`:${PORTS_CHAIN} `)) lines.push(`-F ${PORTS_CHAIN}`, `-X ${PORTS_CHAIN}`);
  if (lines.length === 1) return;
  lines.push("COMMIT", "");
  await restore(lines.join("\n"), o);
}

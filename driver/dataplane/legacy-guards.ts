/**
 * Port guards of earlier versions lived in ebtables (nat table): an entry
 * chain AZURE-VNET-PORTS with policy DROP, reached from PREROUTING for every
 * plugin port, and a chain per port. Once the nftables guards are in place
 * they would only drop frames from ports they do not know, so they go: at
 * start-up after an upgrade, and when the last network goes. Reading costs one
 * `ebtables-save`; nothing is written when none are left.
 */
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";

const ENTRY_CHAIN = "AZURE-VNET-PORTS";
const ENTRY_JUMP = `-A PREROUTING -i azvh+ -j ${ENTRY_CHAIN}`;

/** The lines of an `ebtables-restore --noflush` run that remove every legacy guard in `saved`; empty when none is left. */
export function legacyRemoval(saved: string): string[] {
  const lines = saved.split("\n").map((l) => l.trim());
  const chains = lines.map((l) => /^:(AZV-\S+) /.exec(l)?.[1]).filter((c): c is string => c !== undefined);
  const entry = lines.some((l) => l.startsWith(`:${ENTRY_CHAIN} `));
  const jumps = lines.filter((l) => l === ENTRY_JUMP).length;
  // The jump and the entry chain go first: then no per-port chain is referenced.
  const out: string[] = [...Array<string>(jumps).fill(ENTRY_JUMP.replace("-A ", "-D "))];
  if (entry) out.push(`-F ${ENTRY_CHAIN}`);
  for (const chain of chains) out.push(`-F ${chain}`, `-X ${chain}`);
  if (entry) out.push(`-X ${ENTRY_CHAIN}`);
  return out;
}

/** Removes the ebtables guards of earlier versions, if any; true if there were some. */
export async function removeLegacyGuards(o: { run?: Runner; timeoutMs?: number } = {}): Promise<boolean> {
  const run = o.run ?? runProgram;
  let saved: string;
  try {
    saved = (await run("ebtables-save", ["-t", "nat"], { timeoutMs: o.timeoutMs })).stdout;
  } catch (err) {
    // No ebtables on this host: no earlier guards either.
    if (err instanceof DataplaneError && err.code === "ENOENT") return false;
    throw err;
  }
  const lines = legacyRemoval(saved);
  if (lines.length === 0) return false;
  await run("ebtables-restore", ["--noflush"], { input: ["*nat", ...lines, "COMMIT", ""].join("\n"), timeoutMs: o.timeoutMs });
  return true;
}

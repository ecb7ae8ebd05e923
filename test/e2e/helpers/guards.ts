/**
 * The port guards as a VM's kernel holds them, read with the `nft` program
 * (not the plugin's code): the elements of the `ports` set in the plugin's
 * bridge table, one (port, MAC, address) each.
 */
export interface GuardElement {
  port: string;
  mac: string;
  address: string;
}

export const GUARD_TABLE = "azure-vnet";

type Run = (file: string, args: string[]) => Promise<{ stdout: string; code?: number }>;

/** Every element of the guard set; none when the table does not exist. */
export async function guardElements(run: Run): Promise<GuardElement[]> {
  const out = await run("nft", ["-j", "list", "set", "bridge", GUARD_TABLE, "ports"]);
  if (!out.stdout.trim()) return [];
  const items = (JSON.parse(out.stdout) as { nftables: { set?: { elem?: { concat?: string[] }[] } }[] }).nftables;
  const elems = items.flatMap((i) => i.set?.elem ?? []);
  return elems
    .map((e) => e.concat ?? [])
    .filter((c) => c.length === 3)
    .map(([port, mac, address]) => ({ port, mac: mac.toLowerCase(), address }));
}

/** The bridge tables of a VM, as `nft list tables` names them. */
export async function bridgeTables(run: Run): Promise<string[]> {
  const out = await run("nft", ["list", "tables", "bridge"]);
  return out.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

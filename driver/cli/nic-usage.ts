/**
 * Owns the per-NIC view of `status` and `doctor`: per NIC and subnet, the
 * secondary ipconfigs (IPv4 and IPv6) the metadata lists, which of them the checkpoint holds,
 * which are free, and which are held although the ipconfig is gone (flagged). Computed from the checkpoint and a fresh
 * metadata answer, the way the plugin's allocator would see them.
 */
import type { IpamState, NicInfo } from "../ipam";
import { defaultSubnet, primaryAddress, primaryNic, secondaryAddresses } from "../ipam/metadata";
import { compareAddresses, ipInCidr } from "../lib/address";

export interface HeldAddress {
  address: string;
  kind: "endpoint" | "aux";
  /** Container name, when Docker sent one. */
  name?: string;
  poolId: string;
  flagged: boolean;
}

export interface SubnetUsage {
  nicMac: string;
  subnet: string;
  primaryAddress?: string;
  /** Undefined when no metadata answer was available. */
  secondaries?: string[];
  free?: string[];
  held: HeldAddress[];
  flagged: string[];
  /** A network's pool uses this subnet. */
  inUse: boolean;
  /** The subnet a network created without --subnet would use. */
  isDefault: boolean;
}

export function nicUsage(ipam: IpamState | undefined, nics: readonly NicInfo[] | undefined): SubnetUsage[] {
  const state = ipam ?? { version: 1 as const, pools: {}, addresses: {} };
  const keys = new Map<string, { nicMac: string; subnet: string }>();
  const add = (nicMac: string, subnet: string) => keys.set(`${nicMac} ${subnet}`, { nicMac, subnet });
  for (const nic of nics ?? []) for (const s of nic.subnets) add(nic.mac, s.cidr);
  for (const pool of Object.values(state.pools)) add(pool.nicMac, pool.subnet);

  const first = nics && primaryNic(nics);
  const defaultKey = first && `${first.mac} ${defaultSubnet(first)?.cidr}`;
  return [...keys.entries()].map(([key, { nicMac, subnet }]) => {
    const nic = nics?.find((n) => n.mac === nicMac);
    const secondaries = nics ? secondaryAddresses(nics, nicMac, subnet) : undefined;
    const pools = Object.entries(state.pools).filter(([, p]) => p.nicMac === nicMac && p.subnet === subnet);
    const poolIds = new Set(pools.map(([id]) => id));
    const held = Object.entries(state.addresses)
      .filter(([address, r]) => poolIds.has(r.poolId) && ipInCidr(subnet, address))
      .map(([address, r]): HeldAddress => ({
        address,
        kind: r.kind,
        ...(r.name && { name: r.name }),
        poolId: r.poolId,
        // The plugin flags lazily, on its next allocation; a fresh answer shows it now.
        flagged: r.flagged === true || (secondaries !== undefined && !secondaries.includes(address)),
      }))
      .sort((a, b) => compareAddresses(a.address, b.address));
    const primary = (nic && primaryAddress(nic, subnet)) ?? pools[0]?.[1].primaryAddress;
    return {
      nicMac,
      subnet,
      ...(primary && { primaryAddress: primary }),
      ...(secondaries && { secondaries, free: secondaries.filter((a) => !state.addresses[a]) }),
      held,
      flagged: held.filter((h) => h.flagged).map((h) => h.address),
      inUse: pools.length > 0,
      isDefault: key === defaultKey,
    };
  });
}

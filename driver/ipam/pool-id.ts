/** Owns the spelling of PoolIDs: address space, subnet and --ip-range in one readable string. */
import { canonicalIpCidr, parseIpCidr } from "../lib/address";
import type { AddressSpaceName } from "./ipam-state";

export const LOCAL_ADDRESS_SPACE: AddressSpaceName = "AzureVNetLocal";
export const GLOBAL_ADDRESS_SPACE: AddressSpaceName = "AzureVNetGlobal";

export interface PoolKey {
  addressSpace: AddressSpaceName;
  subnet: string;
  subPool?: string;
}

/**
 * "AzureVNetLocal/10.0.0.0/24" or, with an --ip-range, ".../10.0.0.16/28".
 * Stable and readable in logs. An IPv6 pool's ID holds its canonical /64
 * ("AzureVNetLocal/fd00:db8:deca::/64"), so it never equals an IPv4 one.
 */
export function formatPoolId(key: PoolKey): string {
  return [key.addressSpace, key.subnet, ...(key.subPool ? [key.subPool] : [])].join("/");
}

/** The inverse of formatPoolId; undefined for anything this plugin would not have produced. */
export function parsePoolId(poolId: string): PoolKey | undefined {
  const parts = poolId.split("/");
  if (parts.length !== 3 && parts.length !== 5) return undefined;
  const addressSpace = parts[0];
  if (addressSpace !== LOCAL_ADDRESS_SPACE && addressSpace !== GLOBAL_ADDRESS_SPACE) return undefined;
  const subnet = `${parts[1]}/${parts[2]}`;
  if (canonicalIpCidr(subnet) !== subnet) return undefined;
  if (parts.length === 3) return { addressSpace, subnet };
  const subPool = `${parts[3]}/${parts[4]}`;
  if (canonicalIpCidr(subPool) !== subPool || parseIpCidr(subPool)?.family !== parseIpCidr(subnet)?.family) return undefined;
  return { addressSpace, subnet, subPool };
}

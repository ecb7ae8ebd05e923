/** Owns which pool a RequestPool gets: one of the NICs' subnets, or why none. */
import { PluginError } from "../errors";
import { cidrWithin, formatCidr, parseCidrNetwork } from "../lib/address";
import { cleanText } from "../lib/text";
import type { AddressSpaceName, IpamState } from "./ipam-state";
import * as text from "./messages";
import { allSubnets, defaultSubnet, findSubnet, type NicInfo, primaryNic } from "./metadata";
import { formatPoolId, GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, type PoolKey } from "./pool-id";

export interface PoolChoice {
  key: PoolKey;
  nic: NicInfo;
  /** Picked by the plugin because Docker sent no --subnet. */
  auto: boolean;
}

/**
 * Maps a RequestPool to one of the NICs' subnets, or explains which --subnet
 * to pass. `nics` are the NICs this plugin may use.
 */
export function choosePool(
  request: { addressSpace: AddressSpaceName; pool: string; subPool: string },
  nics: readonly NicInfo[],
  state: IpamState,
): PoolChoice {
  const subnets = allSubnets(nics);
  if (!request.pool) {
    if (request.subPool) throw new PluginError(`--ip-range needs --subnet as well; ${text.subnetChoice(subnets)}`);
    return chooseDefault(request.addressSpace, nics, state);
  }
  const cidr = parseCidrNetwork(request.pool);
  if (!cidr) throw new PluginError(`--subnet "${request.pool}" is not an IPv4 CIDR; ${text.subnetChoice(subnets)}`);
  const subnet = formatCidr(cidr);
  const nic = nics.find((n) => findSubnet(n, subnet));
  if (!nic) throw new PluginError(text.notANicSubnet(subnet, subnets));
  const key: PoolKey = { addressSpace: request.addressSpace, subnet };
  if (request.subPool) {
    const range = parseCidrNetwork(request.subPool);
    if (!range) throw new PluginError(`--ip-range "${request.subPool}" is not an IPv4 CIDR`);
    if (!cidrWithin(range, cidr)) throw new PluginError(`--ip-range ${formatCidr(range)} is not inside --subnet ${subnet}`);
    key.subPool = formatCidr(range);
  }
  return { key, nic, auto: false };
}

/** No --subnet: the primary NIC's subnet, unless Docker already turned that down. */
function chooseDefault(addressSpace: AddressSpaceName, nics: readonly NicInfo[], state: IpamState): PoolChoice {
  const nic = primaryNic(nics);
  const subnet = nic && defaultSubnet(nic);
  if (!nic || !subnet) throw new PluginError("this VM's NICs report no IPv4 subnet", "unavailable");
  const key: PoolKey = { addressSpace, subnet: subnet.cidr };
  // Asked again before the last pick was used or released: Docker rejected
  // it (a NIC subnet is always a route of the host) and would loop for ever.
  if (state.pools[formatPoolId(key)]?.unconfirmedAutoPick) throw new PluginError(text.overlapRetry(subnet.cidr));
  return { key, nic, auto: true };
}

export function checkAddressSpace(name: string): AddressSpaceName {
  // Docker sends back the names from getDefaultAddressSpaces; "" is treated as local.
  if (!name || name === LOCAL_ADDRESS_SPACE) return LOCAL_ADDRESS_SPACE;
  if (name === GLOBAL_ADDRESS_SPACE) return GLOBAL_ADDRESS_SPACE;
  throw new PluginError(
    `unknown address space "${cleanText(name)}"; this driver serves ${LOCAL_ADDRESS_SPACE} and ${GLOBAL_ADDRESS_SPACE}`,
  );
}

/** Owns which pool a RequestPool gets: one of the NICs' subnets, or why none. */
import { PluginError } from "../errors";
import { familyName, formatIpCidr, type IpFamily, ipCidrWithin, parseIpCidr } from "../lib/address";
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
 * Maps a RequestPool to one of the NICs' subnets of the pool's family, or
 * explains which --subnet to pass. `nics` are the NICs this plugin may use.
 * An IPv6 subnet is the /64 of a NIC's IPv6 ipconfigs.
 */
export function choosePool(
  request: { addressSpace: AddressSpaceName; pool: string; subPool: string; family?: IpFamily },
  nics: readonly NicInfo[],
  state: IpamState,
): PoolChoice {
  const family = request.family ?? 4;
  const subnets = allSubnets(nics, family);
  const first = primaryNic(nics);
  const choice = () => text.subnetChoice(subnets, family, first);
  if (!request.pool) {
    if (request.subPool) throw new PluginError(`--ip-range needs --subnet as well; ${choice()}`);
    return chooseDefault(request.addressSpace, family, nics, state);
  }
  const cidr = parseIpCidr(request.pool, family);
  if (!cidr) throw new PluginError(`--subnet "${request.pool}" is not an ${familyName(family)} CIDR; ${choice()}`);
  const subnet = formatIpCidr(cidr);
  const nic = nics.find((n) => findSubnet(n, subnet));
  if (!nic) throw new PluginError(text.notANicSubnet(subnet, subnets, family, first));
  const key: PoolKey = { addressSpace: request.addressSpace, subnet };
  if (request.subPool) {
    const range = parseIpCidr(request.subPool, family);
    if (!range) throw new PluginError(`--ip-range "${request.subPool}" is not an ${familyName(family)} CIDR`);
    if (!ipCidrWithin(range, cidr)) throw new PluginError(`--ip-range ${formatIpCidr(range)} is not inside --subnet ${subnet}`);
    key.subPool = formatIpCidr(range);
  }
  return { key, nic, auto: false };
}

/** No --subnet: the primary NIC's subnet of the family, unless Docker already turned that down. */
function chooseDefault(addressSpace: AddressSpaceName, family: IpFamily, nics: readonly NicInfo[], state: IpamState): PoolChoice {
  const nic = primaryNic(nics);
  const subnet = nic && defaultSubnet(nic, family);
  if (!nic || !subnet) {
    if (family === 4) throw new PluginError("this VM's NICs report no IPv4 subnet", "unavailable");
    // Another NIC may have one: it is named with --subnet.
    const others = allSubnets(nics, 6);
    const elsewhere = others.length ? `; or ${text.subnetChoice(others, 6)}` : "";
    throw new PluginError(`${text.noIpv6IpConfig(nic)}${elsewhere}`);
  }
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

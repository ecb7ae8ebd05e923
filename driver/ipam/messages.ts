/**
 * Owns the IPAM's user-facing error texts. Each says what is wrong and what to
 * run, because users of the earlier Azure plugin saw only "No address
 * returned".
 */
import {
  formatIp,
  type IpFamily,
  ipBlockSize,
  ipCidrContains,
  ipFamily,
  isAzureReserved,
  parseIpCidr,
  summariseAddresses,
} from "../lib/address";

/** The NIC an az command acts on: its MAC, and its resource group when the metadata names it. */
export interface NicRef {
  mac: string;
  resourceGroup?: string;
}

/** Azure's resource group names: letters, digits, _ . - ( ), up to 90. */
const RESOURCE_GROUP = /^[\w.()-]{1,90}$/;

/** ARM spells a MAC upper case with dashes ("00-0D-3A-12-34-56"). */
export function armMac(mac: string): string {
  return mac.toUpperCase().replace(/:/g, "-");
}

/**
 * `--resource-group ... --nic-name ...` for a NIC. IMDS names the resource group
 * but never the NIC, so the name is looked up by MAC inside the command; without
 * a resource group both stay placeholders.
 */
export function azNicArgs(nic: NicRef): string {
  const rg = nic.resourceGroup !== undefined && RESOURCE_GROUP.test(nic.resourceGroup) ? nic.resourceGroup : undefined;
  if (rg === undefined) return "--resource-group <rg> --nic-name <nic>";
  const quoted = /[()]/.test(rg) ? `'${rg}'` : rg;
  const lookup = `az network nic list --resource-group ${quoted} --query "[?macAddress=='${armMac(nic.mac)}'].name" --output tsv`;
  return `--resource-group ${quoted} --nic-name "$(${lookup})"`;
}

/** Azure's option for an IPv6 ipconfig; IPv4 is its default. */
const IPV6_VERSION = "--private-ip-address-version IPv6";

export function azAddIpConfigCommand(address: string, nic: NicRef): string {
  const version = ipFamily(address) === 6 ? ` ${IPV6_VERSION}` : "";
  return (
    `az network nic ip-config create ${azNicArgs(nic)} ` +
    `--name ipconfig-${address.replace(/[.:]/g, "-")} --private-ip-address ${address}${version}`
  );
}

/** "IP configuration" for IPv4, as the messages always said; "IPv6 IP configuration" for IPv6. */
function ipConfigWord(family: IpFamily | undefined): string {
  return family === 6 ? "IPv6 IP configuration" : "IP configuration";
}

function listSecondaries(secondaries: readonly string[], where: string): string {
  return secondaries.length
    ? `it has ${summariseAddresses(secondaries)}`
    : `it has no secondary ${ipConfigWord(ipFamily(where))}s in ${where}`;
}

export function notAnIpConfig(address: string, nic: NicRef, subnet: string, secondaries: readonly string[]): string {
  return (
    `${address} is not an ${ipConfigWord(ipFamily(address))} of this VM's NIC ${nic.mac} (${listSecondaries(secondaries, subnet)}); ` +
    `add it with: ${azAddIpConfigCommand(address, nic)}`
  );
}

/**
 * No NIC has an IPv6 ipconfig: what to run. A NIC gets IPv6 from an IPv6
 * ipconfig in a subnet that has an IPv6 range (always a /64 in Azure).
 */
export function noIpv6IpConfig(nic: NicRef | undefined): string {
  return (
    `${nic ? `NIC ${nic.mac}` : "this VM's NICs"} has no IPv6 IP configuration, so it has no IPv6 subnet to serve; ` +
    `add one with: az network nic ip-config create ${azNicArgs(nic ?? { mac: "" })} --name ipconfig-v6 ${IPV6_VERSION} ` +
    `(its subnet needs an IPv6 /64 address range), then one more per container`
  );
}

export interface ExhaustionFacts {
  nic: NicRef;
  subnet: string;
  subPool?: string;
  primaryAddress: string;
  /** Secondary ipconfigs inside the pool's range. */
  secondaries: readonly string[];
  /** How many of those are taken. */
  inUse: number;
  /** Taken addresses whose ipconfig has since been removed from the NIC. */
  flagged: number;
  /** Addresses to avoid when suggesting a new ipconfig (all ipconfigs and allocations). */
  taken: ReadonlySet<string>;
}

export function exhausted(facts: ExhaustionFacts): string {
  const where = facts.subPool ? `the --ip-range ${facts.subPool} of ${facts.subnet}` : facts.subnet;
  const suggestion = suggestNewIpConfig(facts.subPool ?? facts.subnet, facts.subnet, facts.taken);
  const kind = ipConfigWord(ipFamily(facts.subnet));
  const add = suggestion
    ? `add ${facts.secondaries.length ? "more" : "one per container"} with: ${azAddIpConfigCommand(suggestion, facts.nic)}`
    : facts.subPool
      ? `every usable address of the --ip-range is already an ipconfig; recreate the network with a wider --ip-range`
      : `every usable address of the subnet is already an ipconfig; use a larger subnet`;
  if (facts.secondaries.length === 0) {
    return (
      `no address for a container in ${where}: NIC ${facts.nic.mac} has no secondary ${kind}s there ` +
      `(its primary ${facts.primaryAddress} stays with the VM, and each container needs a secondary one); ${add}`
    );
  }
  const flagged = facts.flagged ? `, plus ${facts.flagged} still used by containers although removed from the NIC (flagged)` : "";
  return (
    `no free address in ${where}: NIC ${facts.nic.mac} has ${facts.secondaries.length} secondary ` +
    `${kind}${facts.secondaries.length === 1 ? "" : "s"} there (${summariseAddresses(facts.secondaries)}), ` +
    `${facts.inUse} in use${flagged}; ${add}`
  );
}

/** The lowest address in `range` Azure would accept as a new ipconfig, if any. */
export function suggestNewIpConfig(range: string, subnet: string, taken: ReadonlySet<string>): string | undefined {
  const rangeCidr = parseIpCidr(range);
  const subnetCidr = rangeCidr && parseIpCidr(subnet, rangeCidr.family);
  if (!rangeCidr || !subnetCidr) return undefined;
  const { family } = rangeCidr;
  const end = rangeCidr.network + ipBlockSize(family, rangeCidr.prefix);
  // Ends at the first address that is neither reserved nor taken: a few steps past `taken`'s size at most.
  for (let value = rangeCidr.network; value < end; value++) {
    const text = formatIp({ family, value });
    if (ipCidrContains(subnetCidr, { family, value }) && !isAzureReserved(subnetCidr, value) && !taken.has(text)) return text;
  }
  return undefined;
}

export function gatewayMismatch(subnet: string, gateway: string): string {
  return `the gateway of ${subnet} is ${gateway} (Azure's subnet gateway); omit --gateway or pass --gateway ${gateway}`;
}

/**
 * "pass --subnet 10.0.0.0/24", or the choice when the VM has several NIC
 * subnets of the family; for IPv6 without any, how to add one to `nic`.
 */
export function subnetChoice(subnets: readonly string[], family: IpFamily = 4, nic?: NicRef): string {
  if (subnets.length === 0) return family === 4 ? "this VM's NICs report no IPv4 subnet" : noIpv6IpConfig(nic);
  return subnets.length === 1 ? `pass --subnet ${subnets[0]}` : `pass one of ${subnets.map((s) => `--subnet ${s}`).join(", ")}`;
}

export function notANicSubnet(requested: string, subnets: readonly string[], family: IpFamily = 4, nic?: NicRef): string {
  // Azure's IPv6 subnets are exactly /64: the one holding a NIC's IPv6 ipconfigs.
  const which = family === 6 ? "the IPv6 /64 of any of this VM's NICs" : "a subnet of this VM's NICs";
  return `subnet ${requested} is not ${which}; ${subnetChoice(subnets, family, nic)}`;
}

export function overlapRetry(subnet: string): string {
  return `Docker rejected ${subnet} because it overlaps a route of this VM; ` + `create the network with --subnet ${subnet}`;
}

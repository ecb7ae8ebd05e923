/**
 * Owns the IPAM's user-facing error texts. Each says what is wrong and what to
 * run, because users of the earlier Azure plugin saw only "No address
 * returned".
 */
import { blockSize, cidrContains, formatIpv4, isAzureReserved, parseCidrNetwork, summariseAddresses } from "../lib/address";

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

export function azAddIpConfigCommand(address: string, nic: NicRef): string {
  return (
    `az network nic ip-config create ${azNicArgs(nic)} ` + `--name ipconfig-${address.replace(/\./g, "-")} --private-ip-address ${address}`
  );
}

function listSecondaries(secondaries: readonly string[], where: string): string {
  return secondaries.length ? `it has ${summariseAddresses(secondaries)}` : `it has no secondary IP configurations in ${where}`;
}

export function notAnIpConfig(address: string, nic: NicRef, subnet: string, secondaries: readonly string[]): string {
  return (
    `${address} is not an IP configuration of this VM's NIC ${nic.mac} (${listSecondaries(secondaries, subnet)}); ` +
    `add it with: ${azAddIpConfigCommand(address, nic)}`
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
  const add = suggestion
    ? `add ${facts.secondaries.length ? "more" : "one per container"} with: ${azAddIpConfigCommand(suggestion, facts.nic)}`
    : facts.subPool
      ? `every usable address of the --ip-range is already an ipconfig; recreate the network with a wider --ip-range`
      : `every usable address of the subnet is already an ipconfig; use a larger subnet`;
  if (facts.secondaries.length === 0) {
    return (
      `no address for a container in ${where}: NIC ${facts.nic.mac} has no secondary IP configurations there ` +
      `(its primary ${facts.primaryAddress} stays with the VM, and each container needs a secondary one); ${add}`
    );
  }
  const flagged = facts.flagged ? `, plus ${facts.flagged} still used by containers although removed from the NIC (flagged)` : "";
  return (
    `no free address in ${where}: NIC ${facts.nic.mac} has ${facts.secondaries.length} secondary IP ` +
    `configuration${facts.secondaries.length === 1 ? "" : "s"} there (${summariseAddresses(facts.secondaries)}), ` +
    `${facts.inUse} in use${flagged}; ${add}`
  );
}

/** The lowest address in `range` Azure would accept as a new ipconfig, if any. */
export function suggestNewIpConfig(range: string, subnet: string, taken: ReadonlySet<string>): string | undefined {
  const rangeCidr = parseCidrNetwork(range);
  const subnetCidr = parseCidrNetwork(subnet);
  if (!rangeCidr || !subnetCidr) return undefined;
  const end = rangeCidr.network + blockSize(rangeCidr.prefix);
  for (let value = rangeCidr.network; value < end; value++) {
    const text = formatIpv4(value);
    if (cidrContains(subnetCidr, value) && !isAzureReserved(subnetCidr, value) && !taken.has(text)) return text;
  }
  return undefined;
}

export function gatewayMismatch(subnet: string, gateway: string): string {
  return `the gateway of ${subnet} is ${gateway} (Azure's subnet gateway); omit --gateway or pass --gateway ${gateway}`;
}

/** "pass --subnet 10.0.0.0/24", or the choice when the VM has several NIC subnets. */
export function subnetChoice(subnets: readonly string[]): string {
  if (subnets.length === 0) return "this VM's NICs report no IPv4 subnet";
  return subnets.length === 1 ? `pass --subnet ${subnets[0]}` : `pass one of ${subnets.map((s) => `--subnet ${s}`).join(", ")}`;
}

export function notANicSubnet(requested: string, subnets: readonly string[]): string {
  return `subnet ${requested} is not a subnet of this VM's NICs; ${subnetChoice(subnets)}`;
}

export function overlapRetry(subnet: string): string {
  return `Docker rejected ${subnet} because it overlaps a route of this VM; ` + `create the network with --subnet ${subnet}`;
}

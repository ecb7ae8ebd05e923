/** Owns the queries over the normalised NIC list that pools and sources both need. */
import { type IpFamily, ipCidrContains, parseIp, parseIpCidr, sortAddresses } from "../../lib/address";
import type { NicInfo, NicSubnet } from "./types";

export function findNic(nics: readonly NicInfo[], mac: string): NicInfo | undefined {
  return nics.find((nic) => nic.mac === mac);
}

export function findSubnet(nic: NicInfo | undefined, cidr: string): NicSubnet | undefined {
  return nic?.subnets.find((subnet) => subnet.cidr === cidr);
}

/** The primary NIC: the one flagged so, else the first. */
export function primaryNic(nics: readonly NicInfo[]): NicInfo | undefined {
  return nics.find((nic) => nic.isPrimary) ?? nics[0];
}

/** The family of a NIC subnet (canonical CIDR text). */
export function subnetFamily(cidr: string): IpFamily | undefined {
  return parseIpCidr(cidr)?.family;
}

/** The NIC's subnets of one family, in order. */
export function familySubnets(nic: NicInfo, family: IpFamily): NicSubnet[] {
  return nic.subnets.filter((s) => subnetFamily(s.cidr) === family);
}

/**
 * The VM's own address on a NIC, preferring the primary ipconfig in the given
 * subnet (a NIC can carry more than one subnet), else the NIC's primary of
 * that subnet's family (IPv4 without a subnet).
 */
export function primaryAddress(nic: NicInfo, cidr?: string): string | undefined {
  const inSubnet = findSubnet(nic, cidr ?? "")?.ipConfigs.find((c) => c.isPrimary);
  const family = (cidr && subnetFamily(cidr)) || 4;
  return (
    inSubnet ??
    familySubnets(nic, family)
      .flatMap((s) => s.ipConfigs)
      .find((c) => c.isPrimary)
  )?.address;
}

/** The subnet of a family a container may get addresses from: the NIC's first one holding its primary address of that family. */
export function defaultSubnet(nic: NicInfo, family: IpFamily = 4): NicSubnet | undefined {
  const subnets = familySubnets(nic, family);
  return subnets.find((s) => s.ipConfigs.some((c) => c.isPrimary)) ?? subnets[0];
}

/** Secondary ipconfig addresses of one NIC in one subnet, ascending. */
export function secondaryAddresses(nics: readonly NicInfo[], mac: string, cidr: string): string[] {
  const subnet = findSubnet(findNic(nics, mac), cidr);
  const addresses = subnet?.ipConfigs.filter((c) => !c.isPrimary).map((c) => c.address) ?? [];
  return sortAddresses(addresses);
}

/** Every address that is some NIC's ipconfig (primary or not). */
export function allIpConfigAddresses(nics: readonly NicInfo[]): Set<string> {
  return new Set(nics.flatMap((nic) => nic.subnets.flatMap((s) => s.ipConfigs.map((c) => c.address))));
}

/** Distinct NIC subnets of one family in NIC order. */
export function allSubnets(nics: readonly NicInfo[], family: IpFamily = 4): string[] {
  return [...new Set(nics.flatMap((nic) => familySubnets(nic, family).map((s) => s.cidr)))];
}

/** The most specific subnet holding an address, in case a source lists overlapping ones. */
export function subnetContaining(subnets: readonly NicSubnet[], address: string): NicSubnet | undefined {
  const value = parseIp(address);
  if (value === undefined) return undefined;
  let best: NicSubnet | undefined;
  let bestPrefix = -1;
  for (const subnet of subnets) {
    const cidr = parseIpCidr(subnet.cidr);
    if (cidr && ipCidrContains(cidr, value) && cidr.prefix > bestPrefix) {
      best = subnet;
      bestPrefix = cidr.prefix;
    }
  }
  return best;
}

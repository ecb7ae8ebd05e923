/**
 * Owns which of the VM's NICs a network uses: the one `-o parent=` names,
 * or the one NIC holding the network's subnet. Errors name the NICs by
 * interface and MAC, with their subnets and ipconfigs, so the user can pick.
 */
import { PluginError } from "../errors";
import type { LinkInfo } from "../dataplane";
import type { NicInfo } from "../ipam/metadata/types";
import { normaliseMac } from "../lib/address";

export interface NicChoice {
  mac: string;
  /** The metadata's primary NIC. */
  primary: boolean;
  /** Its interface on this VM, if it has one. */
  ifname?: string;
}

/** How many ipconfigs an error lists per subnet. */
const SHOWN_IPCONFIGS = 4;

/** `eth1 (00:0d:3a:…, 10.0.1.0/24: 10.0.1.4 primary, 10.0.1.5)`, for errors. */
export function describeNic(nic: NicInfo, links: readonly LinkInfo[]): string {
  const name = links.find((l) => l.mac === nic.mac)?.name ?? "no interface on this VM";
  const subnets = nic.subnets.map((s) => {
    const shown = s.ipConfigs.slice(0, SHOWN_IPCONFIGS).map((c) => (c.isPrimary ? `${c.address} primary` : c.address));
    const more = s.ipConfigs.length > SHOWN_IPCONFIGS ? `, and ${s.ipConfigs.length - SHOWN_IPCONFIGS} more` : "";
    return `${s.cidr}: ${shown.join(", ") || "no ipconfigs"}${more}`;
  });
  return `${name} (${nic.mac}${nic.isPrimary ? ", primary NIC" : ""}; ${subnets.join("; ") || "no subnets"})`;
}

function describeAll(nics: readonly NicInfo[], links: readonly LinkInfo[]): string {
  return nics.map((n) => describeNic(n, links)).join(", ") || "none reported";
}

function holds(nic: NicInfo, subnet: string): boolean {
  return nic.subnets.some((s) => s.cidr === subnet);
}

/**
 * The NIC for a network on `subnet`. `nics` are the VM's NICs as the metadata
 * lists them, `links` the VM's interfaces. Refused: a parent that names no
 * interface, an interface that is not one of the NICs, a NIC without the
 * subnet; and no parent when two NICs hold the subnet.
 */
export function chooseNic(subnet: string, parent: string | undefined, nics: readonly NicInfo[], links: readonly LinkInfo[]): NicChoice {
  const holders = nics.filter((n) => holds(n, subnet));
  const choice = (nic: NicInfo): NicChoice => {
    const ifname = links.find((l) => l.mac === nic.mac)?.name;
    return { mac: nic.mac, primary: nic.isPrimary, ...(ifname ? { ifname } : {}) };
  };
  if (parent === undefined) {
    if (holders.length > 1) {
      throw new PluginError(
        `the subnet ${subnet} is on ${holders.length} of this VM's NICs: ${describeAll(holders, links)}; pass -o parent=<interface or MAC> to say which one the network uses`,
      );
    }
    if (holders.length === 0) throw new PluginError(`no NIC of this VM holds the subnet ${subnet}; its NICs: ${describeAll(nics, links)}`);
    return choice(holders[0]);
  }
  const mac = normaliseMac(parent);
  const link = links.find((l) => l.name === parent) ?? (mac ? links.find((l) => l.mac === mac) : undefined);
  if (!link) {
    throw new PluginError(`-o parent=${parent} names no interface on this VM; its NICs: ${describeAll(nics, links)}`);
  }
  const nic = nics.find((n) => n.mac === link.mac);
  if (!nic) {
    throw new PluginError(
      `-o parent=${parent}: the interface ${link.name} (${link.mac ?? "no MAC"}) is not one of this VM's NICs in the metadata; its NICs: ${describeAll(nics, links)}`,
    );
  }
  if (!holds(nic, subnet)) {
    const others = holders.length ? `; the subnet is on ${describeAll(holders, links)}` : "";
    throw new PluginError(`-o parent=${parent}: the NIC ${describeNic(nic, links)} does not hold the subnet ${subnet}${others}`);
  }
  return choice(nic);
}

/**
 * Owns the syntax checks for every value the dataplane hands to the kernel or
 * renders into firewall rules. They are strict on purpose: a value that is not
 * exactly what we expect is rejected before anything runs, never "cleaned up".
 * Addresses and MACs are read with the plugin's one codec (lib/address).
 */
import { PluginError } from "../errors";
import { formatCidr, formatIpv6, normaliseMac, parseCidrAsWritten, parseCidrNetwork, parseIpv4, parseIpv6 } from "../lib/address";

/** Linux allows any 15 bytes except '/', ':' and whitespace; we allow a safe subset. */
const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;

export function isIfName(name: unknown): name is string {
  // "." and ".." match the pattern but are not usable as device names.
  return typeof name === "string" && IFNAME.test(name) && name !== "." && name !== "..";
}

export function assertIfName(name: unknown, what = "interface name"): string {
  if (!isIfName(name)) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(name)}: use 1-15 characters from a-z A-Z 0-9 _ . -`);
  }
  return name;
}

/** An IPv6 address (no prefix length), returned in its one canonical spelling. */
export function assertIPv6(text: unknown, what = "IPv6 address"): string {
  const value = parseIpv6(text);
  if (value === undefined) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(text)}: expected an IPv6 address such as fd00:db8::4`);
  }
  return formatIpv6(value);
}

export function assertIPv4(text: unknown, what = "IPv4 address"): string {
  if (parseIpv4(text) === undefined) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(text)}: expected a dotted IPv4 address such as 10.0.0.5`);
  }
  return text as string;
}

/**
 * A CIDR whose host bits are zero. A value like 10.1.2.3/16 is refused rather
 * than silently masked: it usually means the user meant something else.
 */
export function assertCidr(text: unknown, what = "CIDR"): string {
  const written = parseCidrAsWritten(text);
  const network = parseCidrNetwork(text);
  if (!written || !network) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(text)}: expected an IPv4 CIDR such as 10.0.0.0/24`);
  }
  if (network.network !== written.address) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(text)}: host bits are set (did you mean ${formatCidr(network)}?)`);
  }
  return text as string;
}

export function assertMac(text: unknown, what = "MAC address"): string {
  const mac = normaliseMac(text);
  if (mac === undefined) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(text)}: expected six hex bytes such as 02:42:0a:00:00:05`);
  }
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) throw new PluginError(`invalid ${what} ${mac}: a multicast address cannot be assigned to a link`);
  if (mac === "00:00:00:00:00:00") throw new PluginError(`invalid ${what} ${mac}: the zero address cannot be assigned`);
  return mac;
}

export function assertMtu(mtu: unknown): number {
  // 68 is the IPv4 minimum; 65535 bounds what a bridge or veth accepts.
  if (typeof mtu !== "number" || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new PluginError(`invalid MTU ${JSON.stringify(mtu)}: expected an integer from 68 to 65535`);
  }
  return mtu;
}

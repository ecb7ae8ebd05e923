/**
 * Syntax checks for every value the dataplane hands to the kernel or renders
 * into firewall rules. They are strict on purpose: a value that is not exactly
 * what we expect is rejected before anything runs, never "cleaned up".
 */
import { PluginError } from "../errors";

/** Linux allows any 15 bytes except '/', ':' and whitespace; we allow a safe subset. */
const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;
const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const PREFIX = /^(3[0-2]|[12][0-9]|[0-9])$/;
const MAC_FORMS = [
  /^([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})$/,
  /^([0-9a-fA-F]{2})-([0-9a-fA-F]{2})-([0-9a-fA-F]{2})-([0-9a-fA-F]{2})-([0-9a-fA-F]{2})-([0-9a-fA-F]{2})$/,
  // IMDS and the wireserver report MACs with no separators.
  /^([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})$/,
];

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

/** The address as an unsigned 32-bit number, or undefined if not a dotted quad. */
export function parseIPv4(text: unknown): number | undefined {
  if (typeof text !== "string" || !IPV4.test(text)) return undefined;
  return text.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

export function assertIPv4(text: unknown, what = "IPv4 address"): string {
  if (parseIPv4(text) === undefined) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(text)}: expected a dotted IPv4 address such as 10.0.0.5`);
  }
  return text as string;
}

export interface Cidr {
  network: number;
  prefix: number;
}

export function parseCidr(text: unknown): Cidr | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const network = parseIPv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (network === undefined || !PREFIX.test(prefixText)) return undefined;
  return { network, prefix: Number(prefixText) };
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff - (2 ** (32 - prefix) - 1)) >>> 0;
}

/**
 * A CIDR whose host bits are zero. A value like 10.1.2.3/16 is refused rather
 * than silently masked: it usually means the user meant something else.
 */
export function assertCidr(text: unknown, what = "CIDR"): string {
  const cidr = parseCidr(text);
  if (!cidr) {
    throw new PluginError(`invalid ${what} ${JSON.stringify(text)}: expected an IPv4 CIDR such as 10.0.0.0/24`);
  }
  const network = (cidr.network & maskOf(cidr.prefix)) >>> 0;
  if (network !== cidr.network) {
    throw new PluginError(
      `invalid ${what} ${JSON.stringify(text)}: host bits are set (did you mean ${formatIPv4(network)}/${cidr.prefix}?)`,
    );
  }
  return text as string;
}

/** Lower case with colons ("00:0d:3a:f8:a1:b2"), or undefined if not a MAC. */
export function normalizeMac(text: unknown): string | undefined {
  if (typeof text !== "string") return undefined;
  for (const form of MAC_FORMS) {
    const m = form.exec(text);
    if (m) return m.slice(1, 7).join(":").toLowerCase();
  }
  return undefined;
}

export function assertMac(text: unknown, what = "MAC address"): string {
  const mac = normalizeMac(text);
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

/**
 * Owns the plugin's one codec for addresses: IPv4 and IPv6 addresses and
 * CIDRs and MACs, read from text and written back, plus the arithmetic on
 * them (containment, Azure's subnet gateway and reserved addresses). Every
 * layer parses and formats these through here.
 *
 * The grammar is strict and the same everywhere: four decimal octets 0-255
 * without leading zeros ("010" is 8 to some parsers and 10 to others; Docker,
 * Azure and the kernel never send them), a prefix length 0-32 without leading
 * zeros, and no whitespace. Text from outside that may be padded is trimmed
 * by whoever reads it; only `canonicalCidr` ignores surrounding whitespace.
 * The address grammar is the one ip-address's Address4 accepts (a unit test
 * holds the two together); it is a single regular expression here because
 * the allocator sorts a NIC's ipconfigs under its lock, and building an
 * Address4 per comparison costs several times as much.
 *
 * Addresses are unsigned 32-bit values in ordinary numbers (never bitwise
 * operators, which would make them signed) so they sort and compare naturally.
 */
import { Address6 } from "ip-address";

/** A network: `network` has every host bit clear ("10.0.0.0/24"). */
export interface Cidr {
  network: number;
  prefix: number;
}

/** A CIDR exactly as written: `address` may have host bits set ("10.0.0.5/24"). */
export interface CidrAsWritten {
  address: number;
  prefix: number;
}

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const PREFIX = /^(3[0-2]|[12][0-9]|[0-9])$/;

// ---- addresses --------------------------------------------------------------

/** The address as a number, or undefined if `text` is not a strict dotted quad. */
export function parseIpv4(text: unknown): number | undefined {
  const octets = typeof text === "string" ? IPV4.exec(text) : null;
  if (!octets) return undefined;
  return octets.slice(1).reduce((value, octet) => value * 256 + Number(octet), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** Orders dotted addresses numerically; anything unparsable sorts as 0.0.0.0. */
export function compareIpv4(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}

// ---- CIDRs ------------------------------------------------------------------

function splitCidr(text: unknown): CidrAsWritten | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !PREFIX.test(prefixText)) return undefined;
  return { address, prefix: Number(prefixText) };
}

/** "a.b.c.d/n" with the address as written: "10.1.2.3/16" keeps 10.1.2.3. */
export function parseCidrAsWritten(text: unknown): CidrAsWritten | undefined {
  return splitCidr(text);
}

/** "a.b.c.d/n" as the network it names: host bits cleared, so "10.0.0.5/24" is 10.0.0.0/24. */
export function parseCidrNetwork(text: unknown): Cidr | undefined {
  const cidr = splitCidr(text);
  return cidr && { network: cidr.address - (cidr.address % blockSize(cidr.prefix)), prefix: cidr.prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

/**
 * The canonical spelling of a CIDR someone else wrote (metadata documents,
 * requests): host bits cleared, whitespace around it ignored. Undefined when
 * it is not a CIDR.
 */
export function canonicalCidr(text: string): string | undefined {
  return canonicalIpCidr(text, 4);
}

/** How many addresses a prefix length spans. */
export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return address >= cidr.network && address < cidr.network + blockSize(cidr.prefix);
}

/** True when `address` is an IPv4 address inside the CIDR `cidr` (both as text). */
export function addressInCidr(cidr: string, address: string): boolean {
  const range = parseCidrNetwork(cidr);
  const value = parseIpv4(address);
  return range !== undefined && value !== undefined && cidrContains(range, value);
}

export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.network);
}

// ---- Azure's rules for a subnet -----------------------------------------------

/** Azure's subnet gateway: the network address + 1 (x.x.x.1 in a /24, <prefix>::1 in a /64). */
export function subnetGateway(cidr: Cidr | IpCidr): string {
  if ("family" in cidr) return formatIp({ family: cidr.family, value: cidr.network + 1n });
  return formatIpv4(cidr.network + 1);
}

/**
 * Azure keeps the first four addresses and the last one of every subnet, so
 * those can never become ipconfigs.
 */
export function isAzureReserved(cidr: Cidr | IpCidr, address: number | bigint): boolean {
  const family = "family" in cidr ? cidr.family : 4;
  const network = BigInt(cidr.network);
  const last = network + ipBlockSize(family, cidr.prefix) - 1n;
  const value = BigInt(address);
  return value < network + 4n || value === last;
}

/**
 * "10.0.0.10-10.0.0.17, 10.0.0.30" for messages: consecutive addresses are
 * collapsed so a NIC with 200 ipconfigs still fits on one line.
 */
export function summariseAddresses(addresses: readonly string[], maxRuns = 6): string {
  const values = sortAddresses([...new Set(addresses.map((a) => canonicalAddress(a)).filter((a): a is string => a !== undefined))]).map(
    (a) => parseIp(a) as IpAddress,
  );
  const runs: string[] = [];
  let start = 0;
  for (let i = 1; i <= values.length; i++) {
    const prev = values[i - 1];
    if (i === values.length || values[i].family !== prev.family || values[i].value !== prev.value + 1n) {
      const first = formatIp(values[start]);
      runs.push(i - 1 === start ? first : `${first}-${formatIp(prev)}`);
      start = i;
    }
  }
  if (runs.length <= maxRuns) return runs.join(", ");
  return `${runs.slice(0, maxRuns).join(", ")} and ${runs.length - maxRuns} more ranges`;
}

// ---- either family ------------------------------------------------------------

export type IpFamily = 4 | 6;

/** An address of either family: IPv4 in 32 bits, IPv6 in 128. */
export interface IpAddress {
  family: IpFamily;
  value: bigint;
}

/** A network of either family: `network` has every host bit clear. */
export interface IpCidr {
  family: IpFamily;
  network: bigint;
  prefix: number;
}

const IPV6_CHARS = /^[0-9a-fA-F:]{2,39}$/;
const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

/** "IPv4" or "IPv6", for messages. */
export function familyName(family: IpFamily): string {
  return `IPv${family}`;
}

/** The address as a 128-bit value, or undefined unless `text` is an IPv6 address as above. */
export function parseIpv6(text: unknown): bigint | undefined {
  if (typeof text !== "string" || !IPV6_CHARS.test(text) || !Address6.isValid(text)) return undefined;
  return new Address6(text).bigInt();
}

export function formatIpv6(value: bigint): string {
  return Address6.fromBigInt(value).correctForm();
}

/** An IPv4 or IPv6 address; undefined for anything else (a prefix length included). */
export function parseIp(text: unknown): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4) };
  const v6 = parseIpv6(text);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

export function formatIp(address: IpAddress): string {
  return address.family === 4 ? formatIpv4(Number(address.value)) : formatIpv6(address.value);
}

/** The one spelling of an address of either family ("FD00::0004" -> "fd00::4"); undefined when it is none. */
export function canonicalAddress(text: unknown): string | undefined {
  const address = parseIp(text);
  return address && formatIp(address);
}

/** The family of an address or CIDR as text, undefined when it is neither. */
export function ipFamily(text: string): IpFamily | undefined {
  return parseIp(text)?.family ?? parseIpCidr(text)?.family;
}

/** "a.b.c.d/n" or "x::y/n" as the network it names (host bits cleared), optionally of one family only. */
export function parseIpCidr(text: unknown, family?: IpFamily): IpCidr | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!address || (family !== undefined && address.family !== family)) return undefined;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > BITS[address.family]) return undefined;
  const prefix = Number(prefixText);
  const size = ipBlockSize(address.family, prefix);
  return { family: address.family, network: address.value - (address.value % size), prefix };
}

export function formatIpCidr(cidr: IpCidr): string {
  return `${formatIp({ family: cidr.family, value: cidr.network })}/${cidr.prefix}`;
}

/** canonicalCidr for either family (or only `family`): host bits cleared, the address canonical, whitespace around ignored. */
export function canonicalIpCidr(text: string, family?: IpFamily): string | undefined {
  const cidr = parseIpCidr(text.trim(), family);
  return cidr && formatIpCidr(cidr);
}

export function ipBlockSize(family: IpFamily, prefix: number): bigint {
  return 1n << BigInt(BITS[family] - prefix);
}

export function ipCidrContains(cidr: IpCidr, address: IpAddress): boolean {
  return (
    address.family === cidr.family && address.value >= cidr.network && address.value < cidr.network + ipBlockSize(cidr.family, cidr.prefix)
  );
}

/** True when `address` lies inside `cidr`, both as text of the same family. */
export function ipInCidr(cidr: string, address: string): boolean {
  const range = parseIpCidr(cidr);
  const value = parseIp(address);
  return range !== undefined && value !== undefined && ipCidrContains(range, value);
}

export function ipCidrWithin(inner: IpCidr, outer: IpCidr): boolean {
  return inner.prefix >= outer.prefix && ipCidrContains(outer, { family: inner.family, value: inner.network });
}

/**
 * Azure's IPv6 subnets are exactly /64, and IMDS lists IPv6 ipconfigs without
 * their subnet: the subnet of an IPv6 ipconfig is the /64 holding it.
 */
export const AZURE_IPV6_PREFIX = 64;

/** Addresses of either family in numeric order (IPv4 first); text that is neither sorts first, as given. */
export function sortAddresses(addresses: readonly string[]): string[] {
  const keyed = addresses.map((text) => ({ text, ip: parseIp(text) }));
  keyed.sort((a, b) => compareIpAddresses(a.ip, b.ip));
  return keyed.map((k) => k.text);
}

function compareIpAddresses(a: IpAddress | undefined, b: IpAddress | undefined): number {
  if (!a || !b) return (a ? 1 : 0) - (b ? 1 : 0);
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** Orders two addresses of either family numerically, as sortAddresses does. */
export function compareAddresses(a: string, b: string): number {
  return compareIpAddresses(parseIp(a), parseIp(b));
}

// ---- MACs -------------------------------------------------------------------

const BARE_MAC = /^[0-9a-fA-F]{12}$/;
// One separator, the same between every pair of bytes.
const SEPARATED_MAC = /^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$/;

/**
 * The one spelling of a MAC the plugin uses: lower case with colons
 * ("00:0d:3a:f8:a1:b2"). Accepts six hex bytes with no separators (IMDS and
 * the wireserver write "000D3AF8A1B2") or with ':' or '-' between every
 * pair; undefined for anything else.
 */
export function normaliseMac(text: unknown): string | undefined {
  if (typeof text !== "string") return undefined;
  const bare = BARE_MAC.test(text) ? text : SEPARATED_MAC.test(text) ? text.replace(/[:-]/g, "") : undefined;
  return bare?.toLowerCase().match(/../g)?.join(":");
}

/** Six bytes in the plugin's MAC spelling. */
export function macFromBytes(bytes: Iterable<number>): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * The MAC a container's interface gets when nobody chose one: a locally
 * administered unicast prefix (02:a2) and then the container's IPv4 address
 * (10.0.0.7 -> 02:a2:0a:00:00:07). One address always has one MAC, so the
 * ARP caches of the VM and of the other containers on a bridge stay right
 * when an address passes to a new container; with a random MAC they would
 * send to the old one for up to a minute (until their entries go stale and
 * are probed again).
 */
export function containerMac(address: string): string {
  const value = parseIpv4(address);
  if (value === undefined) throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`);
  return macFromBytes([
    0x02,
    0xa2,
    Math.floor(value / 2 ** 24),
    Math.floor(value / 2 ** 16) % 256,
    Math.floor(value / 2 ** 8) % 256,
    value % 256,
  ]);
}

/**
 * The link-local address (fe80::/64) a link with this MAC makes for itself by
 * EUI-64, as Linux does by default (addr_gen_mode 0): the MAC split in two,
 * ff:fe in between, the universal/local bit flipped.
 */
export function eui64LinkLocal(mac: string): string {
  const b = (normaliseMac(mac) ?? "").split(":").map((x) => parseInt(x, 16));
  if (b.length !== 6) throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  const bytes = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
  const iid = bytes.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
  return formatIpv6((0xfe80n << 112n) | iid);
}

/**
 * Owns the plugin's one codec for addresses: IPv4 addresses, IPv4 CIDRs and
 * MACs, read from text and written back, plus the arithmetic on them
 * (containment, Azure's subnet gateway and reserved addresses). Every layer
 * parses and formats these through here.
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
  const cidr = parseCidrNetwork(text.trim());
  return cidr && formatCidr(cidr);
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

/** Azure's subnet gateway: the network address + 1 (x.x.x.1 in a /24). */
export function subnetGateway(cidr: Cidr): string {
  return formatIpv4(cidr.network + 1);
}

/**
 * Azure keeps the first four addresses and the last one of every subnet, so
 * those can never become ipconfigs.
 */
export function isAzureReserved(cidr: Cidr, address: number): boolean {
  const last = cidr.network + blockSize(cidr.prefix) - 1;
  return address < cidr.network + 4 || address === last;
}

/**
 * "10.0.0.10-10.0.0.17, 10.0.0.30" for messages: consecutive addresses are
 * collapsed so a NIC with 200 ipconfigs still fits on one line.
 */
export function summariseAddresses(addresses: readonly string[], maxRuns = 6): string {
  const values = [...new Set(addresses.map((a) => parseIpv4(a)).filter((v): v is number => v !== undefined))];
  values.sort((a, b) => a - b);
  const runs: string[] = [];
  let start = 0;
  for (let i = 1; i <= values.length; i++) {
    if (i === values.length || values[i] !== values[i - 1] + 1) {
      const first = formatIpv4(values[start]);
      runs.push(i - 1 === start ? first : `${first}-${formatIpv4(values[i - 1])}`);
      start = i;
    }
  }
  if (runs.length <= maxRuns) return runs.join(", ");
  return `${runs.slice(0, maxRuns).join(", ")} and ${runs.length - maxRuns} more ranges`;
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

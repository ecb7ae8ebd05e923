/**
 * IPv4 and CIDR arithmetic on plain numbers. Addresses are kept as unsigned
 * 32-bit values in ordinary numbers (never bitwise operators, which would make
 * them signed) so they sort and compare naturally.
 */

export interface Cidr {
  network: number;
  prefix: number;
}

const OCTET = /^(0|[1-9]\d{0,2})$/;

/**
 * Strict dotted-decimal parse. Leading zeros are refused because "010" means
 * 8 to some parsers and 10 to others; Docker and Azure never send them.
 */
export function parseIpv4(text: string): number | undefined {
  const parts = text.trim().split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** Parses "a.b.c.d/n" and clears host bits, so "10.0.0.5/24" means 10.0.0.0/24. */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!match) return undefined;
  const address = parseIpv4(match[1]);
  const prefix = Number(match[2]);
  if (address === undefined || prefix > 32 || (match[2].length > 1 && match[2].startsWith("0"))) {
    return undefined;
  }
  return { network: address - (address % blockSize(prefix)), prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

/** The canonical spelling of a CIDR, or undefined when it is not one. */
export function canonicalCidr(text: string): string | undefined {
  const cidr = parseCidr(text);
  return cidr && formatCidr(cidr);
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return address >= cidr.network && address < cidr.network + blockSize(cidr.prefix);
}

/** True when `address` is an IPv4 address inside the CIDR `cidr` (both as text). */
export function addressInCidr(cidr: string, address: string): boolean {
  const range = parseCidr(cidr);
  const value = parseIpv4(address);
  return range !== undefined && value !== undefined && cidrContains(range, value);
}

export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.network);
}

/** Azure's subnet gateway: the first usable address (x.x.x.1 in a /24). */
export function subnetGateway(cidr: Cidr): number {
  return cidr.network + 1;
}

/**
 * Azure keeps the first four addresses and the last one of every subnet, so
 * those can never become ipconfigs.
 */
export function isAzureReserved(cidr: Cidr, address: number): boolean {
  const last = cidr.network + blockSize(cidr.prefix) - 1;
  return address < cidr.network + 4 || address === last;
}

export function compareIpv4(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
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

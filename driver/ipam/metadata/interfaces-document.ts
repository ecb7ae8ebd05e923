/** Owns the "Interfaces" document the wireserver and the metadata file share, and its conversion to NicInfo. */
import * as v from "valibot";
import { canonicalAddress, canonicalIpCidr, type IpCidr, ipCidrContains, normaliseMac, parseIp, parseIpCidr } from "../../lib/address";
import type { NicInfo } from "./types";
import { MetadataSourceError } from "./source-error";

/**
 * The "Interfaces" model shared by the wireserver (as XML) and the static
 * file (as JSON): interfaces, each with subnets, each with addresses.
 */
export interface InterfacesDocument {
  interfaces: {
    mac: string;
    isPrimary: boolean;
    subnets: { prefix: string; addresses: { address: string; isPrimary: boolean }[] }[];
  }[];
}

/** XML attributes are strings, JSON may hold either; both spell booleans "true"/"false". Absent is false. */
export const booleanish = v.optional(
  v.pipe(
    v.union([v.boolean(), v.picklist(["true", "false", "True", "False", "TRUE", "FALSE"])]),
    v.transform((value) => value === true || (typeof value === "string" && value.toLowerCase() === "true")),
  ),
  () => false,
);

// Values may come padded with whitespace (a hand-written file); it is ignored.
export const macText = v.pipe(
  v.string(),
  v.check((value) => normaliseMac(value.trim()) !== undefined, "not a MAC address"),
);
export const cidrText = checked(
  (value) => canonicalIpCidr(value) !== undefined,
  (family) => `not an ${family} CIDR`,
);
/** An ipconfig's address: IPv4, or IPv6 in any spelling (kept in its canonical one). */
export const addressText = checked(
  (value) => parseIp(value) !== undefined,
  (family) => `Invalid ${family} address`,
);

/** A string `valid` accepts; the complaint names the family the text looks like (IPv6 if it has a colon). */
function checked(valid: (value: string) => boolean, complaint: (family: string) => string) {
  return v.pipe(
    v.string(),
    v.check(valid, (issue) => complaint(issue.input.includes(":") ? "IPv6" : "IPv4")),
  );
}

/** The wireserver's interface list, and the metadata file that is its JSON twin, once their nesting is read. */
export interface WireserverStyleNic {
  MacAddress: string;
  IsPrimary: boolean;
  subnets: { Prefix: string; addresses: { Address: string; IsPrimary: boolean }[] }[];
}

export function wireserverStyleToNics(nics: WireserverStyleNic[], source: string): NicInfo[] {
  const interfaces = nics.map((nic) => ({
    mac: nic.MacAddress,
    isPrimary: nic.IsPrimary,
    subnets: nic.subnets.map((s) => ({
      prefix: s.Prefix,
      addresses: s.addresses.map((a) => ({ address: a.Address, isPrimary: a.IsPrimary })),
    })),
  }));
  return documentToNics({ interfaces }, source);
}

/**
 * Checks what a schema cannot (addresses inside their prefix, no duplicates)
 * and builds NicInfo. IPv6 subnets and addresses stand beside the IPv4 ones,
 * each in its canonical spelling.
 */
export function documentToNics(doc: InterfacesDocument, source: string): NicInfo[] {
  if (doc.interfaces.length === 0) throw new MetadataSourceError(source, "the VM has no network interfaces");
  const macs = new Set<string>();
  const nics = doc.interfaces.map((entry): NicInfo => {
    const mac = normaliseMac(entry.mac.trim()) as string;
    if (macs.has(mac)) throw new MetadataSourceError(source, `interface ${mac} is listed twice`);
    macs.add(mac);
    const seen = new Set<string>();
    const cidrs = new Set<string>();
    const subnets = entry.subnets.map((subnet) => {
      const text = canonicalIpCidr(subnet.prefix) as string;
      const cidr = parseIpCidr(text) as IpCidr;
      if (cidrs.has(text)) throw new MetadataSourceError(source, `interface ${mac}: subnet ${text} is listed twice`);
      cidrs.add(text);
      const ipConfigs = subnet.addresses.map((entry) => {
        const address = canonicalAddress(entry.address) as string;
        const isPrimary = entry.isPrimary;
        if (!ipCidrContains(cidr, parseIp(address) as NonNullable<ReturnType<typeof parseIp>>)) {
          throw new MetadataSourceError(source, `interface ${mac}: ${address} is outside its subnet ${text}`);
        }
        if (seen.has(address)) throw new MetadataSourceError(source, `interface ${mac}: ${address} is listed twice`);
        seen.add(address);
        return { address, isPrimary, publicIp: "" };
      });
      return { cidr: text, ipConfigs };
    });
    // Without a primary the VM's own address would be offered to containers;
    // take the first one of each family, as IMDS does by position.
    for (const family of [4, 6]) {
      const all = subnets.filter((s) => parseIpCidr(s.cidr)?.family === family).flatMap((s) => s.ipConfigs);
      if (all.length > 0 && !all.some((c) => c.isPrimary)) all[0].isPrimary = true;
    }
    return { mac, isPrimary: entry.isPrimary, subnets };
  });
  if (!nics.some((n) => n.isPrimary)) nics[0].isPrimary = true;
  return nics;
}

/** Owns the "imds" metadata source: the NICs from the Azure Instance Metadata Service. */
import * as v from "valibot";
import { describeHttpFailure, httpGet } from "./http-get";
import { AZURE_IPV6_PREFIX, canonicalAddress, canonicalCidr, canonicalIpCidr, normaliseMac, parseIpv6 } from "../../lib/address";
import type { IpConfig, MetadataSource, NicInfo, NicSubnet } from "./types";
import { subnetContaining } from "./nic-model";
// Whitespace around a MAC is tolerated, as in the other metadata documents.
import { macText as mac } from "./interfaces-document";
import { object } from "../../lib/valid";
import { MetadataSourceError, validate } from "./source-error";

export const IMDS_BASE_URL = "http://169.254.169.254";
/** The whole instance document: the network category, and the compute one for the resource group. */
const IMDS_PATH = "/metadata/instance?api-version=2021-02-01";

export interface ImdsSourceOptions {
  /** Tests point this at a loopback server; production uses the link-local IMDS address. */
  baseUrl?: string;
  timeoutMs?: number;
}

const prefix = v.pipe(
  v.union([v.pipe(v.string(), v.regex(/^\d{1,2}$/)), v.pipe(v.number(), v.safeInteger())]),
  v.transform(Number),
  v.check((value) => value >= 0 && value <= 32, "prefix must be 0-32"),
);

const ipv4 = v.pipe(v.string(), v.ipv4());
const ipv6 = v.pipe(
  v.string(),
  v.check((value) => parseIpv6(value) !== undefined, "not an IPv6 address"),
);

const imdsSchema = object({
  interface: v.pipe(
    v.array(
      object({
        macAddress: mac,
        ipv4: object({
          ipAddress: v.array(
            object({
              privateIpAddress: ipv4,
              // Basic-SKU public IPs only; Standard-SKU ones come back as "".
              publicIpAddress: v.optional(v.union([v.literal(""), ipv4])),
            }),
          ),
          subnet: v.array(object({ address: ipv4, prefix })),
        }),
        // IPv6 ipconfigs, the primary one first; IMDS lists no IPv6 subnet.
        ipv6: v.optional(
          object({
            ipAddress: v.array(
              object({
                privateIpAddress: ipv6,
                publicIpAddress: v.optional(v.union([v.literal(""), ipv6])),
              }),
            ),
          }),
        ),
      }),
    ),
    v.minLength(1, "the VM has no network interfaces"),
  ),
});

type ImdsInterface = v.InferOutput<typeof imdsSchema>["interface"][number];

const instanceSchema = object({
  // Only the resource group is read; a compute document without it is still usable.
  compute: v.fallback(v.optional(object({ resourceGroupName: v.fallback(v.optional(v.string()), undefined) })), undefined),
  network: v.nonOptional(v.unknown()),
});

/** The Azure Instance Metadata Service, the documented source of the VM's ipconfigs. */
export class ImdsSource implements MetadataSource {
  readonly name = "imds";
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(options: ImdsSourceOptions = {}) {
    this.url = (options.baseUrl ?? IMDS_BASE_URL).replace(/\/+$/, "") + IMDS_PATH;
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  async fetch(): Promise<NicInfo[]> {
    let result;
    try {
      // IMDS refuses requests without this header (and proxied ones), which
      // keeps it from being reached by a forged request through a proxy.
      result = await httpGet(this.url, { headers: { Metadata: "true" }, timeoutMs: this.timeoutMs });
    } catch (err) {
      throw new MetadataSourceError(this.name, `GET ${this.url} failed: ${(err as Error).message}`);
    }
    if (result.status !== 200) throw new MetadataSourceError(this.name, describeHttpFailure(result));
    return parseImdsInstance(result.body, this.name);
  }
}

/** Parses the body of /metadata/instance: the network's NICs, each with the VM's resource group. */
export function parseImdsInstance(body: string, source = "imds"): NicInfo[] {
  const data = validate(source, instanceSchema, parseJson(body, source));
  const nics = networkToNics(data.network, source);
  const resourceGroup = data.compute?.resourceGroupName?.trim();
  return resourceGroup ? nics.map((nic) => ({ ...nic, resourceGroup })) : nics;
}

/** Parses the body of /metadata/instance/network into the plugin's NIC model. */
export function parseImdsNetwork(body: string, source = "imds"): NicInfo[] {
  return networkToNics(parseJson(body, source), source);
}

function parseJson(body: string, source: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new MetadataSourceError(source, `response is not valid JSON: ${(err as Error).message}`);
  }
}

function networkToNics(json: unknown, source: string): NicInfo[] {
  const data = validate(source, imdsSchema, json);
  const nics = data.interface.map((nic, index) => toNicInfo(nic, index === 0, source));
  const seen = new Set<string>();
  for (const nic of nics) {
    if (seen.has(nic.mac)) throw new MetadataSourceError(source, `interface ${nic.mac} is listed twice`);
    seen.add(nic.mac);
  }
  return nics;
}

function toNicInfo(nic: ImdsInterface, isPrimary: boolean, source: string): NicInfo {
  const macText = normaliseMac(nic.macAddress.trim()) as string;
  const subnets: NicSubnet[] = [];
  for (const entry of nic.ipv4.subnet) {
    const cidr = canonicalCidr(`${entry.address}/${entry.prefix}`) as string;
    if (!subnets.some((s) => s.cidr === cidr)) subnets.push({ cidr, ipConfigs: [] });
  }
  const seen = new Set<string>();
  nic.ipv4.ipAddress.forEach((entry, index) => {
    const address = entry.privateIpAddress;
    if (seen.has(address)) throw new MetadataSourceError(source, `interface ${macText}: ${address} is listed twice`);
    seen.add(address);
    const home = subnetContaining(subnets, address);
    if (!home) {
      const listed = subnets.map((s) => s.cidr).join(", ") || "none";
      throw new MetadataSourceError(source, `interface ${macText}: ${address} is in none of its subnets (${listed})`);
    }
    // IMDS lists the primary ipconfig first.
    const ipConfig: IpConfig = { address, isPrimary: index === 0, publicIp: entry.publicIpAddress ?? "" };
    home.ipConfigs.push(ipConfig);
  });
  // Azure's IPv6 subnets are exactly /64 and IMDS does not name them: each
  // IPv6 ipconfig's subnet is the /64 that holds it.
  (nic.ipv6?.ipAddress ?? []).forEach((entry, index) => {
    const address = canonicalAddress(entry.privateIpAddress) as string;
    if (seen.has(address)) throw new MetadataSourceError(source, `interface ${macText}: ${address} is listed twice`);
    seen.add(address);
    const cidr = canonicalIpCidr(`${address}/${AZURE_IPV6_PREFIX}`) as string;
    let home = subnets.find((s) => s.cidr === cidr);
    if (!home) subnets.push((home = { cidr, ipConfigs: [] }));
    const publicIp = entry.publicIpAddress ? (canonicalAddress(entry.publicIpAddress) as string) : "";
    home.ipConfigs.push({ address, isPrimary: index === 0, publicIp });
  });
  return { mac: macText, isPrimary, subnets };
}

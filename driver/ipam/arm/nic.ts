/**
 * Owns the NIC as ARM has it: finding this VM's NIC (GET VM, then its NICs,
 * matched by MAC) and reading and changing its ipConfigurations. Documents
 * are kept as ARM wrote them, so a PUT carries back every field and every
 * ipconfig the plugin does not change exactly as it read them.
 */
import { normaliseMac } from "../../lib/address";
import { ArmError, armErrorText, nicNotFound, notAuthorized, type VmRef } from "./errors";
import { type ArmClient, type ArmResponse, COMPUTE_API_VERSION, failure, headerText, NETWORK_API_VERSION, parse } from "./client";

/** The plugin creates ipconfigs with this prefix and removes no other. */
export const OWN_PREFIX = "azvnet-";

export type Json = Record<string, unknown>;

/** One ipconfig, read from the document it stays part of. */
export interface IpConfigView {
  name: string;
  address: string | undefined;
  primary: boolean;
  subnetId: string;
  own: boolean;
  /** IPv6 ipconfigs share the subnet resource of the IPv4 ones in a dual-stack subnet; the plugin manages IPv4 ones only. */
  ipv6: boolean;
  raw: Json;
}

export interface NicDocument {
  id: string;
  etag: string | undefined;
  raw: Json;
  provisioningState: string | undefined;
  ipConfigs: IpConfigView[];
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
const props = (doc: Json): Json => (isObject(doc.properties) ? doc.properties : {});

export function readNic(body: string, etagHeader: string | undefined): NicDocument {
  const raw = parse(body);
  if (!isObject(raw) || typeof raw.id !== "string")
    throw new ArmError("ARM's network interface answer is not a NIC document", 200, undefined);
  const list = props(raw).ipConfigurations;
  const ipConfigs = (Array.isArray(list) ? list : []).filter(isObject).map((c): IpConfigView => {
    const p = props(c);
    const name = typeof c.name === "string" ? c.name : "";
    const subnet = isObject(p.subnet) && typeof p.subnet.id === "string" ? p.subnet.id : "";
    const address = typeof p.privateIPAddress === "string" && p.privateIPAddress !== "" ? p.privateIPAddress : undefined;
    const ipv6 = p.privateIPAddressVersion === "IPv6";
    return { name, address, primary: p.primary === true, subnetId: subnet, own: name.startsWith(OWN_PREFIX), ipv6, raw: c };
  });
  const etag = typeof raw.etag === "string" ? raw.etag : etagHeader;
  const state = props(raw).provisioningState;
  return { id: raw.id, etag, raw, provisioningState: typeof state === "string" ? state : undefined, ipConfigs };
}

/** The whole document with `ipConfigs` as its ipConfigurations: what a PUT sends. */
export function withIpConfigs(nic: NicDocument, ipConfigs: Json[]): Json {
  return { ...nic.raw, properties: { ...props(nic.raw), ipConfigurations: ipConfigs } };
}

/** A new secondary ipconfig: Azure picks the address (Dynamic) unless one is given (Static). */
export function newIpConfig(name: string, subnetId: string, address?: string, extra: Json = {}): Json {
  return {
    name,
    properties: {
      primary: false,
      privateIPAddressVersion: "IPv4",
      subnet: { id: subnetId },
      ...(address ? { privateIPAllocationMethod: "Static", privateIPAddress: address } : { privateIPAllocationMethod: "Dynamic" }),
      ...extra,
    },
  };
}

/** What an ipconfig of the plugin's belongs to: ARM ids of Application Security Groups and load-balancer backend pools. */
export interface Membership {
  applicationSecurityGroups: string[];
  lbBackendPools: string[];
}

export const NO_MEMBERSHIP: Membership = { applicationSecurityGroups: [], lbBackendPools: [] };

const MEMBERSHIP_FIELDS = [
  ["applicationSecurityGroups", "applicationSecurityGroups"],
  ["loadBalancerBackendAddressPools", "lbBackendPools"],
] as const;

/** The ids an ipconfig document lists under `field`. */
function idsOf(raw: Json, field: string): string[] {
  const list = props(raw)[field];
  return (Array.isArray(list) ? list : []).filter(isObject).flatMap((r) => (typeof r.id === "string" ? [r.id] : []));
}

/** The ipconfig document in `want`'s memberships, or the very same document when it is in them already (ids compared in any case). */
export function withMembership(raw: Json, want: Membership): Json {
  const same = (a: string[], b: string[]) => {
    const key = (ids: string[]) => [...new Set(ids.map((id) => id.toLowerCase()))].sort().join("\n");
    return key(a) === key(b);
  };
  if (MEMBERSHIP_FIELDS.every(([field, wanted]) => same(idsOf(raw, field), want[wanted]))) return raw;
  const next: Json = { ...props(raw) };
  for (const [field, wanted] of MEMBERSHIP_FIELDS) next[field] = want[wanted].map((id) => ({ id }));
  return { ...raw, properties: next };
}

export function nicUrl(id: string): string {
  return `${id}?api-version=${NETWORK_API_VERSION}`;
}

export async function getNic(client: ArmClient, id: string, vm: VmRef, principal: () => string | undefined): Promise<NicDocument> {
  const result = await client.call("GET", nicUrl(id));
  if (result.status !== 200) throw explain(result, `GET network interface ${id}`, vm, principal(), id);
  return readNic(result.body, headerText(result.headers.etag));
}

/** The id of the VM's NIC with `mac` (any spelling). */
export async function locateNic(client: ArmClient, vm: VmRef, mac: string, principal: () => string | undefined): Promise<string> {
  const result = await client.call("GET", `${vm.resourceId}?api-version=${COMPUTE_API_VERSION}`);
  if (result.status !== 200) throw explain(result, `GET virtual machine ${vm.resourceId}`, vm, principal(), resourceGroupId(vm));
  const doc = parse(result.body);
  const profile = isObject(doc) && isObject(props(doc).networkProfile) ? (props(doc).networkProfile as Json) : {};
  const ids = (Array.isArray(profile.networkInterfaces) ? profile.networkInterfaces : [])
    .filter(isObject)
    .map((n) => n.id)
    .filter((id): id is string => typeof id === "string");
  const wanted = normaliseMac(mac);
  const seen: string[] = [];
  for (const id of ids) {
    const nic = await client.call("GET", nicUrl(id));
    if (nic.status !== 200) throw explain(nic, `GET network interface ${id}`, vm, principal(), id);
    const raw = parse(nic.body);
    const armMac = isObject(raw) ? props(raw).macAddress : undefined;
    seen.push(`${id.split("/").pop()} ${String(armMac ?? "no MAC")}`);
    if (wanted !== undefined && normaliseMac(armMac) === wanted) return id;
  }
  throw nicNotFound(vm, mac, seen);
}

export function resourceGroupId(vm: VmRef): string {
  return `/subscriptions/${vm.subscriptionId}/resourceGroups/${vm.resourceGroupName}`;
}

/** An unexpected answer as an error that says what fixes it where the code is known. */
export function explain(result: ArmResponse, what: string, vm: VmRef, principal: string | undefined, scope: string) {
  const { code, message } = armErrorText(result.body);
  if (result.status === 403 || code === "AuthorizationFailed" || code === "LinkedAuthorizationFailed") {
    return notAuthorized(principal, scope, message);
  }
  if (result.status === 404) {
    return new ArmError(
      `${what}: not found in Azure Resource Manager (${message}); is subscription ${vm.subscriptionId} right?`,
      404,
      code,
    );
  }
  return failure(result, what);
}

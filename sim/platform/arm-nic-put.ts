/**
 * What a NIC PUT asks for, checked as Azure checks it: the whole
 * ipConfigurations array (an ipconfig left out is deleted), the primary kept,
 * every address in the subnet and used by no other ipconfig of the VNet
 * (including ones an operation still in progress is adding), at most 256
 * ipconfigs, Dynamic addresses picked from the free ones. Pure: the answer is
 * the NIC's new secondaries or the error ARM would send.
 */
import { Address4, Address6 } from "ip-address";
import * as v from "valibot";
import { issuePath } from "../../driver/lib/valid";
import {
  ipConfigName,
  ipConfigName6,
  lbPoolIdOf,
  nicIp6Configs,
  nicIpConfigs,
  nicsOf,
  type SimIpConfig,
  type Topology,
  type Vm,
} from "../topology";
import { ipConfigId, isSimAsgId, nicId, publicIpOfId, subnetId } from "./arm-ids";

/** Private IP addresses per network interface (Azure's networking limits). */
export const MAX_IPCONFIGS_PER_NIC = 256;
/** The error code for a NIC over that limit. */
export const IPCONFIG_LIMIT_CODE = "NetworkInterfaceIpConfigurationLimitReached";

export interface ArmError {
  status: number;
  code: string;
  message: string;
}

export type PutPlan = { ok: true; secondaries: SimIpConfig[] } | { ok: false; error: ArmError };

const idRef = v.looseObject({ id: v.pipe(v.string(), v.minLength(1)) });
const allocation = v.pipe(
  v.string(),
  v.transform((s) => s.toLowerCase()),
  v.picklist(["static", "dynamic"]),
);

const IpConfigBody = v.looseObject({
  name: v.pipe(v.string(), v.minLength(1)),
  properties: v.optional(
    v.looseObject({
      privateIPAddress: v.nullish(v.string()),
      privateIPAllocationMethod: v.nullish(allocation),
      privateIPAddressVersion: v.nullish(v.picklist(["IPv4", "IPv6"])),
      primary: v.nullish(v.boolean()),
      subnet: v.nullish(idRef),
      publicIPAddress: v.nullish(idRef),
      applicationSecurityGroups: v.nullish(v.array(idRef)),
      loadBalancerBackendAddressPools: v.nullish(v.array(idRef)),
    }),
    () => ({}),
  ),
});

const NicBody = v.looseObject({
  location: v.nullish(v.string()),
  properties: v.looseObject({ ipConfigurations: v.pipe(v.array(IpConfigBody), v.minLength(1)) }),
});

const bad = (code: string, message: string): PutPlan => ({ ok: false, error: { status: 400, code, message } });

/** Azure keeps the first four addresses of a subnet and its last one. */
function reservedInSubnet(subnet: Address4, address: string): boolean {
  const n = addressNumber(address);
  const first = addressNumber(subnet.startAddress().correctForm());
  const last = addressNumber(subnet.endAddress().correctForm());
  return n - first < 4 || n === last;
}

function addressNumber(address: string): number {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function numberAddress(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** Which resource holds each address in the VNet: every VM's ipconfigs, and addresses pending operations are adding. */
function holders(topo: Topology, pending: Map<string, string>): Map<string, string> {
  const held = new Map<string, string>();
  for (const vm of topo.vms)
    for (const nic of nicsOf(vm, topo))
      for (const ipc of nicIpConfigs(nic)) held.set(ipc.address, ipConfigId(vm.name, ipConfigName(nic, ipc), nic.index));
  for (const [address, holder] of pending) if (!held.has(address)) held.set(address, holder);
  return held;
}

/**
 * Plan a PUT of one of vm's NICs (index 0: the primary NIC). `pending` maps
 * addresses that operations on other NICs are adding to the ipconfig ids they will have.
 */
export function planNicPut(topo: Topology, vm: Vm, raw: unknown, pending: Map<string, string>, index = 0): PutPlan {
  const nic = nicsOf(vm, topo)[index];
  if (!nic) throw new Error(`${vm.name} has no NIC ${index}`);
  const thisNic = nicId(vm.name, index);
  const thisSubnet = subnetId(nic.subnetName);
  const parsed = v.safeParse(NicBody, raw);
  if (!parsed.success) {
    const where = parsed.issues.map((i) => `${issuePath(i).join(".") || "(body)"}: ${i.message}`).join("; ");
    return bad("InvalidRequestFormat", `Cannot parse the request. ${where}`);
  }
  const requested = parsed.output.properties.ipConfigurations;
  if (requested.length > MAX_IPCONFIGS_PER_NIC)
    return bad(
      IPCONFIG_LIMIT_CODE,
      `Network interface ${thisNic} has ${requested.length} IP configurations; a network interface can have at most ${MAX_IPCONFIGS_PER_NIC}.`,
    );
  const names = new Set<string>();
  for (const r of requested) {
    if (names.has(r.name.toLowerCase()))
      return bad("DuplicateResourceName", `Network interface ${thisNic} has two IP configurations named ${r.name}.`);
    names.add(r.name.toLowerCase());
  }

  const primaryName = ipConfigName(nic, nic.primary);
  const primary = requested.find((r) => r.name.toLowerCase() === primaryName.toLowerCase());
  const otherPrimary = requested.find((r) => r !== primary && r.properties.primary === true);
  if (!primary || otherPrimary || (primary.properties.privateIPAddress && primary.properties.privateIPAddress !== nic.primary.address))
    return bad(
      "PrimaryIpConfigurationCannotBeChanged",
      `Deletion and renaming of primary IP Configuration is not supported: ${ipConfigId(vm.name, primaryName, index)} must stay the primary with address ${nic.primary.address}.`,
    );

  // IPv6 ipconfigs are the topology's: a PUT carries them back unchanged (it may not add, change or remove one).
  const own6 = new Map(nicIp6Configs(nic).map((c) => [ipConfigName6(nic, c).toLowerCase(), c]));
  const dropped6 = [...own6.keys()].find((n) => !names.has(n));
  if (dropped6 !== undefined)
    return bad(
      "IPv6NotSupported",
      `IP configuration ${ipConfigId(vm.name, dropped6, index)}: the simulator does not remove IPv6 ipconfigs through ARM.`,
    );

  const subnet = new Address4(nic.subnet);
  const own = new Map(nic.secondaries.map((s) => [ipConfigName(nic, s).toLowerCase(), s]));
  const ownAddresses = new Set(nic.secondaries.map((s) => s.address));
  const held = holders(topo, pending);
  const taken = new Set<string>([nic.primary.address]);
  const planned: SimIpConfig[] = [];
  const dynamic: SimIpConfig[] = [];

  for (const r of requested) {
    if (r === primary) continue;
    const id = ipConfigId(vm.name, r.name, index);
    const p = r.properties;
    if (p.privateIPAddressVersion === "IPv6") {
      const kept = own6.get(r.name.toLowerCase());
      const address = p.privateIPAddress;
      if (kept && (!address || (Address6.isValid(address) && new Address6(address).correctForm() === kept.address))) continue;
      return bad(
        "IPv6NotSupported",
        kept || topo.vnet.subnet6 !== undefined
          ? `IP configuration ${id}: the simulator does not add or change IPv6 ipconfigs through ARM.`
          : `IP configuration ${id}: IPv6 is not enabled in this virtual network.`,
      );
    }
    if (!p.subnet) return bad("InvalidRequestFormat", `Cannot parse the request. IP configuration ${id} has no subnet.`);
    if (p.subnet.id.toLowerCase() !== thisSubnet.toLowerCase())
      return bad("InvalidResourceReference", `Resource ${p.subnet.id} referenced by resource ${thisNic} was not found.`);
    const existing = own.get(r.name.toLowerCase());
    const method = p.privateIPAllocationMethod ?? (p.privateIPAddress ? "static" : "dynamic");
    let publicIp: string | undefined;
    if (p.publicIPAddress) {
      publicIp = publicIpOfId(p.publicIPAddress.id);
      // Public IPs stay with the ipconfig they are on; the simulator has no others to attach.
      if (!publicIp || existing?.publicIp !== publicIp)
        return bad("InvalidResourceReference", `Resource ${p.publicIPAddress.id} referenced by resource ${thisNic} was not found.`);
    }
    const pools = new Set(topo.loadBalancers.flatMap((lb) => lbPoolIdOf(lb)?.toLowerCase() ?? []));
    const unknown =
      p.loadBalancerBackendAddressPools?.find((g) => !pools.has(g.id.toLowerCase())) ??
      p.applicationSecurityGroups?.find((g) => !isSimAsgId(g.id));
    if (unknown) return bad("InvalidResourceReference", `Resource ${unknown.id} referenced by resource ${thisNic} was not found.`);
    const ipc: SimIpConfig = {
      // A Dynamic ipconfig keeps the address it has; a new one without an address gets one picked below.
      address: p.privateIPAddress ?? (method === "dynamic" ? (existing?.address ?? "") : ""),
      name: r.name,
      allocation: method === "static" ? "Static" : "Dynamic",
      ...(publicIp ? { publicIp } : {}),
      ...(p.applicationSecurityGroups?.length ? { applicationSecurityGroups: p.applicationSecurityGroups.map((g) => g.id) } : {}),
      ...(p.loadBalancerBackendAddressPools?.length
        ? { loadBalancerBackendAddressPools: p.loadBalancerBackendAddressPools.map((g) => g.id) }
        : {}),
    };
    planned.push(ipc);
    if (ipc.address === "") {
      if (method === "static")
        return bad("InvalidRequestFormat", `Cannot parse the request. IP configuration ${id} is Static and has no privateIPAddress.`);
      dynamic.push(ipc);
      continue;
    }
    const address = ipc.address;
    if (!Address4.isValid(address) || address.includes("/"))
      return bad("InvalidRequestFormat", `Cannot parse the request. ${address} is not a valid IPv4 address.`);
    if (!new Address4(address).isInSubnet(subnet))
      return bad(
        "PrivateIPAddressNotInSubnet",
        `IP configuration ${id} is using the private IP address ${address} which is not in the range of subnet ${thisSubnet}.`,
      );
    if (reservedInSubnet(subnet, address))
      return bad(
        "PrivateIPAddressInReservedRange",
        `Private IP address ${address} is in a range reserved by Azure in subnet ${thisSubnet}.`,
      );
    if (taken.has(address) || (held.has(address) && !ownAddresses.has(address)))
      return bad(
        "PrivateIPAddressInUse",
        `IP configuration ${id} is using the private IP address ${address} which is already allocated to resource ${held.get(address) ?? thisNic}.`,
      );
    taken.add(address);
  }

  // Dynamic addresses: the lowest free ones, never one still held anywhere (this NIC's included).
  const last = addressNumber(subnet.endAddress().correctForm());
  let next = addressNumber(subnet.startAddress().correctForm());
  const free = (a: string) => !reservedInSubnet(subnet, a) && !taken.has(a) && !held.has(a);
  for (const ipc of dynamic) {
    while (next <= last && !free(numberAddress(next))) next++;
    if (next > last)
      return bad(
        "SubnetIsFull",
        `Subnet ${thisSubnet} has no free address for IP configuration ${ipConfigId(vm.name, ipc.name ?? "", index)}.`,
      );
    ipc.address = numberAddress(next);
    taken.add(ipc.address);
  }
  return { ok: true, secondaries: planned };
}

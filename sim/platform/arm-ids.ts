/**
 * Names and resource ids of the simulated Azure resources, shared by IMDS
 * (compute metadata, managed identity) and Azure Resource Manager so both
 * describe the same VMs and NICs.
 */
import { createHash } from "node:crypto";

export const SIM_LOCATION = "simregion";
export const SIM_RESOURCE_GROUP = "sim-rg";
export const SIM_SUBSCRIPTION_ID = "5e1a2b3c-0000-4000-8000-00000000a2e0";
export const SIM_VM_SIZE = "Standard_D2s_v3";

export const SIM_TENANT_ID = "5e1a2b3c-0000-4000-8000-0000000000aa";
export const VNET_NAME = "sim-vnet";
export const SUBNET_NAME = "default";

export const resourceGroupId = () => `/subscriptions/${SIM_SUBSCRIPTION_ID}/resourceGroups/${SIM_RESOURCE_GROUP}`;
export const vmResourceId = (vm: string) => `${resourceGroupId()}/providers/Microsoft.Compute/virtualMachines/${vm}`;
/** A VM's NICs: "vm1-nic" for its primary NIC (index 0), "vm1-nic1" for the next (eth1). */
export const nicName = (vm: string, index = 0) => (index === 0 ? `${vm}-nic` : `${vm}-nic${index}`);
export const nicId = (vm: string, index = 0) => `${resourceGroupId()}/providers/Microsoft.Network/networkInterfaces/${nicName(vm, index)}`;
export const ipConfigId = (vm: string, name: string, index = 0) => `${nicId(vm, index)}/ipConfigurations/${name}`;
/** A subnet of the VNet: SUBNET_NAME (vnet.subnet) unless named (NicView.subnetName). */
export const subnetId = (name = SUBNET_NAME) =>
  `${resourceGroupId()}/providers/Microsoft.Network/virtualNetworks/${VNET_NAME}/subnets/${name}`;
/** A load balancer's backend pool, as ipconfigs name it in loadBalancerBackendAddressPools. */
export const lbBackendPoolId = (lb: string, pool: string) =>
  `${resourceGroupId()}/providers/Microsoft.Network/loadBalancers/${lb}/backendAddressPools/${pool}`;

/**
 * Whether `id` names an Application Security Group in the simulator's resource
 * group: the simulator keeps no list of them, so any well-formed one exists.
 */
export function isSimAsgId(id: string): boolean {
  const prefix = `${resourceGroupId()}/providers/Microsoft.Network/applicationSecurityGroups/`.toLowerCase();
  return id.toLowerCase().startsWith(prefix) && /^[A-Za-z0-9_.()-]{1,80}$/.test(id.slice(prefix.length));
}

/** A public IP resource, named after its address. */
export const publicIpId = (address: string) =>
  `${resourceGroupId()}/providers/Microsoft.Network/publicIPAddresses/pip-${address.replace(/[.:]/g, "-")}`;

/** The address a public IP id names (publicIpId's inverse), or undefined. */
export function publicIpOfId(id: string): string | undefined {
  const prefix = `${resourceGroupId()}/providers/Microsoft.Network/publicIPAddresses/pip-`.toLowerCase();
  if (!id.toLowerCase().startsWith(prefix)) return undefined;
  const m = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$/.exec(id.slice(prefix.length));
  return m ? m.slice(1).join(".") : undefined;
}

/** The VM's system-assigned managed identity. */
export const principalId = (vm: string) => stableUuid("principal", vm);
export const identityClientId = (vm: string) => stableUuid("client", vm);

/** ARM writes MACs upper case with dashes: 00-0D-3A-00-00-01. */
export function armMac(mac: string): string {
  return mac.toUpperCase().replace(/:/g, "-");
}

/** A name-based UUID (version 5 layout) for one kind of thing; the same every run. */
export function stableUuid(kind: string, name: string): string {
  const h = createHash("sha1").update(`azure-vnet-sim/${kind}/${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50; // version 5 (name-based)
  h[8] = (h[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

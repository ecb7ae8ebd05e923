/**
 * Names and resource ids of the simulated Azure resources, shared by IMDS
 * (compute metadata, managed identity) and Azure Resource Manager so both
 * describe the same VMs and NICs.
 */
import { SIM_RESOURCE_GROUP, SIM_SUBSCRIPTION_ID, stableUuid } from "./imds-documents";

export const SIM_TENANT_ID = "5e1a2b3c-0000-4000-8000-0000000000aa";
export const VNET_NAME = "sim-vnet";
export const SUBNET_NAME = "default";

export const resourceGroupId = () => `/subscriptions/${SIM_SUBSCRIPTION_ID}/resourceGroups/${SIM_RESOURCE_GROUP}`;
export const vmResourceId = (vm: string) => `${resourceGroupId()}/providers/Microsoft.Compute/virtualMachines/${vm}`;
/** Each VM has one NIC, named as the portal names a VM's first NIC. */
export const nicName = (vm: string) => `${vm}-nic`;
export const nicId = (vm: string) => `${resourceGroupId()}/providers/Microsoft.Network/networkInterfaces/${nicName(vm)}`;
export const ipConfigId = (vm: string, name: string) => `${nicId(vm)}/ipConfigurations/${name}`;
export const subnetId = () => `${resourceGroupId()}/providers/Microsoft.Network/virtualNetworks/${VNET_NAME}/subnets/${SUBNET_NAME}`;
/** A public IP resource, named after its address. */
export const publicIpId = (address: string) =>
  `${resourceGroupId()}/providers/Microsoft.Network/publicIPAddresses/pip-${address.replace(/\./g, "-")}`;

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

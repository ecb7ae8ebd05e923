/**
 * The documents Azure Resource Manager returns for a VM and its NIC, built
 * from the topology (the fabric's truth) or, while a NIC PUT is running,
 * from the ipconfigs it asked for. Pure functions.
 */
import { createHash } from "node:crypto";
import { ipConfigName, ipConfigName6, ipConfigsOf, ipv6ConfigsOf, type SimIp6Config, type SimIpConfig, type Vm } from "../topology";
import { stableVmId } from "./imds-documents";
import {
  SIM_LOCATION,
  SIM_TENANT_ID,
  SIM_VM_SIZE,
  armMac,
  stableUuid,
  ipConfigId,
  nicId,
  nicName,
  principalId,
  publicIpId,
  subnetId,
  vmResourceId,
} from "./arm-ids";

export type ProvisioningState = "Succeeded" | "Updating" | "Failed";

export function armVmDocument(vm: Vm, hasIdentity: boolean): Record<string, unknown> {
  return {
    name: vm.name,
    id: vmResourceId(vm.name),
    type: "Microsoft.Compute/virtualMachines",
    location: SIM_LOCATION,
    ...(hasIdentity ? { identity: { type: "SystemAssigned", principalId: principalId(vm.name), tenantId: SIM_TENANT_ID } } : {}),
    properties: {
      vmId: stableVmId(vm.name),
      hardwareProfile: { vmSize: SIM_VM_SIZE },
      networkProfile: { networkInterfaces: [{ id: nicId(vm.name), properties: { primary: true } }] },
      provisioningState: "Succeeded",
    },
  };
}

function ipConfigDocument(vm: Vm, ipc: SimIpConfig, state: ProvisioningState): Record<string, unknown> {
  const name = ipConfigName(vm, ipc);
  const primary = ipc.address === vm.nic.primary.address;
  return {
    name,
    id: ipConfigId(vm.name, name),
    type: "Microsoft.Network/networkInterfaces/ipConfigurations",
    properties: {
      provisioningState: state,
      privateIPAddress: ipc.address,
      privateIPAllocationMethod: ipc.allocation ?? (primary ? "Dynamic" : "Static"),
      privateIPAddressVersion: "IPv4",
      subnet: { id: subnetId() },
      primary,
      ...(ipc.publicIp ? { publicIPAddress: { id: publicIpId(ipc.publicIp) } } : {}),
      ...(ipc.applicationSecurityGroups?.length ? { applicationSecurityGroups: ipc.applicationSecurityGroups.map((id) => ({ id })) } : {}),
      ...(ipc.loadBalancerBackendAddressPools?.length
        ? { loadBalancerBackendAddressPools: ipc.loadBalancerBackendAddressPools.map((id) => ({ id })) }
        : {}),
    },
  };
}

/** An IPv6 ipconfig: shaped as an IPv4 one, never the NIC's primary (Azure's primary ipconfig is IPv4), Static. */
function ipConfigDocument6(vm: Vm, ipc: SimIp6Config, state: ProvisioningState): Record<string, unknown> {
  const shape = { address: ipc.address, name: ipConfigName6(vm, ipc), allocation: "Static" as const };
  const doc = ipConfigDocument(vm, ipc.publicIp6 ? { ...shape, publicIp: ipc.publicIp6 } : shape, state);
  return { ...doc, properties: { ...(doc.properties as Record<string, unknown>), privateIPAddressVersion: "IPv6" } };
}

/**
 * The NIC. Its etag is derived from its content, so any change (ipconfigs or
 * provisioning state) gives a new one and an unchanged NIC keeps its own;
 * the NIC's ipconfigs carry the NIC's etag, as on Azure.
 */
export function armNicDocument(vm: Vm, state: ProvisioningState): Record<string, unknown> {
  const ipConfigurations = [
    ...ipConfigsOf(vm).map((ipc) => ipConfigDocument(vm, ipc, state)),
    ...ipv6ConfigsOf(vm).map((ipc) => ipConfigDocument6(vm, ipc, state)),
  ];
  const etag = `W/"${stableUuid("etag", createHash("sha256").update(JSON.stringify(ipConfigurations)).digest("hex"))}"`;
  for (const ipc of ipConfigurations) ipc.etag = etag;
  return {
    name: nicName(vm.name),
    id: nicId(vm.name),
    etag,
    type: "Microsoft.Network/networkInterfaces",
    location: SIM_LOCATION,
    properties: {
      provisioningState: state,
      resourceGuid: stableUuid("nic", vm.name),
      ipConfigurations,
      dnsSettings: { dnsServers: [], appliedDnsServers: [] },
      macAddress: armMac(vm.nic.mac),
      enableAcceleratedNetworking: false,
      enableIPForwarding: false,
      primary: true,
      virtualMachine: { id: vmResourceId(vm.name) },
      nicType: "Standard",
    },
  };
}

/** The NIC's current etag. */
export function nicEtag(vm: Vm, state: ProvisioningState): string {
  return armNicDocument(vm, state).etag as string;
}

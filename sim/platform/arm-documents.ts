/**
 * The documents Azure Resource Manager returns for a VM and its NIC, built
 * from the topology (the fabric's truth) or, while a NIC PUT is running,
 * from the ipconfigs it asked for. Pure functions.
 */
import { createHash } from "node:crypto";
import {
  ipConfigName,
  ipConfigName6,
  nicIp6Configs,
  nicIpConfigs,
  type NicView,
  type SimIp6Config,
  type SimIpConfig,
  type Vm,
} from "../topology";
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
      networkProfile: {
        networkInterfaces: [vm.nic, ...vm.extraNics].map((_, i) => ({ id: nicId(vm.name, i), properties: { primary: i === 0 } })),
      },
      provisioningState: "Succeeded",
    },
  };
}

/** What a NIC's ARM documents are made of. */
export type ArmNic = Pick<NicView, "index" | "mac" | "primary" | "secondaries" | "ipv6" | "subnetName">;

function ipConfigDocument(vmName: string, nic: ArmNic, ipc: SimIpConfig, state: ProvisioningState): Record<string, unknown> {
  const name = ipConfigName(nic, ipc);
  const primary = ipc.address === nic.primary.address;
  return {
    name,
    id: ipConfigId(vmName, name, nic.index),
    type: "Microsoft.Network/networkInterfaces/ipConfigurations",
    properties: {
      provisioningState: state,
      privateIPAddress: ipc.address,
      privateIPAllocationMethod: ipc.allocation ?? (primary ? "Dynamic" : "Static"),
      privateIPAddressVersion: "IPv4",
      subnet: { id: subnetId(nic.subnetName) },
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
function ipConfigDocument6(vmName: string, nic: ArmNic, ipc: SimIp6Config, state: ProvisioningState): Record<string, unknown> {
  const shape = { address: ipc.address, name: ipConfigName6(nic, ipc), allocation: "Static" as const };
  const doc = ipConfigDocument(vmName, nic, ipc.publicIp6 ? { ...shape, publicIp: ipc.publicIp6 } : shape, state);
  return { ...doc, properties: { ...(doc.properties as Record<string, unknown>), privateIPAddressVersion: "IPv6" } };
}

/**
 * The NIC. Its etag is derived from its content, so any change (ipconfigs or
 * provisioning state) gives a new one and an unchanged NIC keeps its own;
 * the NIC's ipconfigs carry the NIC's etag, as on Azure.
 */
export function armNicDocument(vmName: string, nic: ArmNic, state: ProvisioningState): Record<string, unknown> {
  const ipConfigurations = [
    ...nicIpConfigs(nic).map((ipc) => ipConfigDocument(vmName, nic, ipc, state)),
    ...nicIp6Configs(nic).map((ipc) => ipConfigDocument6(vmName, nic, ipc, state)),
  ];
  const etag = `W/"${stableUuid("etag", createHash("sha256").update(JSON.stringify(ipConfigurations)).digest("hex"))}"`;
  for (const ipc of ipConfigurations) ipc.etag = etag;
  return {
    name: nicName(vmName, nic.index),
    id: nicId(vmName, nic.index),
    etag,
    type: "Microsoft.Network/networkInterfaces",
    location: SIM_LOCATION,
    properties: {
      provisioningState: state,
      resourceGuid: stableUuid("nic", nic.index === 0 ? vmName : nicName(vmName, nic.index)),
      ipConfigurations,
      dnsSettings: { dnsServers: [], appliedDnsServers: [] },
      macAddress: armMac(nic.mac),
      enableAcceleratedNetworking: false,
      enableIPForwarding: false,
      primary: nic.index === 0,
      virtualMachine: { id: vmResourceId(vmName) },
      nicType: "Standard",
    },
  };
}

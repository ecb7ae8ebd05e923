/**
 * The JSON documents IMDS serves (its network and compute documents), built from the topology.
 * Pure functions so their shape can be checked without a server.
 */
import { nicIp6Configs, nicIpConfigs, nicsOf, type Topology, type Vm } from "../topology";
import { azureMac } from "./mac";
import { SIM_LOCATION, SIM_RESOURCE_GROUP, SIM_SUBSCRIPTION_ID, SIM_VM_SIZE, stableUuid, vmResourceId } from "./arm-ids";

export interface ImdsIpAddress {
  privateIpAddress: string;
  publicIpAddress: string;
}

export interface ImdsInterface {
  ipv4: { ipAddress: ImdsIpAddress[]; subnet: { address: string; prefix: string }[] };
  ipv6: { ipAddress: ImdsIpAddress[] };
  macAddress: string;
}

export interface ImdsNetworkDocument {
  interface: ImdsInterface[];
}

export interface ImdsComputeDocument {
  azEnvironment: string;
  location: string;
  name: string;
  osType: string;
  resourceGroupName: string;
  resourceId: string;
  subscriptionId: string;
  vmId: string;
  vmScaleSetName: string;
  vmSize: string;
  zone: string;
}

function findVm(topology: Topology, vmName: string): Vm {
  const vm = topology.vms.find((v) => v.name === vmName);
  if (!vm) throw new Error(`no VM named ${vmName} in the topology`);
  return vm;
}

/**
 * The VM's NICs, the primary NIC first, each with its primary ipconfig first and its own subnet, as IMDS lists them
 * (the primary NIC's IPv6 ipconfigs too, primary first, but no IPv6 subnet).
 */
export function imdsNetworkDocument(topology: Topology, vmName: string): ImdsNetworkDocument {
  const vm = findVm(topology, vmName);
  return {
    interface: nicsOf(vm, topology).map((nic) => {
      const [subnetAddress, prefix] = nic.subnet.split("/");
      return {
        ipv4: {
          ipAddress: nicIpConfigs(nic).map((c) => ({ privateIpAddress: c.address, publicIpAddress: c.publicIp ?? "" })),
          subnet: [{ address: subnetAddress, prefix }],
        },
        ipv6: { ipAddress: nicIp6Configs(nic).map((c) => ({ privateIpAddress: c.address, publicIpAddress: c.publicIp6 ?? "" })) },
        macAddress: azureMac(nic.mac),
      };
    }),
  };
}

/**
 * A UUID that stays the same for a VM name across runs, so anything keyed on
 * vmId (caches, state files) behaves as on a real VM that keeps its identity.
 */
export function stableVmId(vmName: string): string {
  return stableUuid("vm", vmName);
}

export function imdsComputeDocument(topology: Topology, vmName: string): ImdsComputeDocument {
  const vm = findVm(topology, vmName);
  return {
    azEnvironment: "AzurePublicCloud",
    location: SIM_LOCATION,
    name: vm.name,
    osType: "Linux",
    resourceGroupName: SIM_RESOURCE_GROUP,
    resourceId: vmResourceId(vm.name),
    subscriptionId: SIM_SUBSCRIPTION_ID,
    vmId: stableVmId(vm.name),
    vmScaleSetName: "",
    vmSize: SIM_VM_SIZE,
    zone: "",
  };
}

/** What GET /metadata/instance returns: both categories under one object. */
export function imdsInstanceDocument(topology: Topology, vmName: string): { compute: ImdsComputeDocument; network: ImdsNetworkDocument } {
  return { compute: imdsComputeDocument(topology, vmName), network: imdsNetworkDocument(topology, vmName) };
}

/**
 * The JSON documents IMDS serves (its network and compute documents), built from the topology.
 * Pure functions so their shape can be checked without a server.
 */
import { createHash } from "node:crypto";
import { ipConfigsOf, type Topology, type Vm } from "../topology";
import { azureMac } from "./mac";
import { vmResourceId } from "./arm-ids";

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

export const SIM_LOCATION = "simregion";
export const SIM_RESOURCE_GROUP = "sim-rg";
export const SIM_SUBSCRIPTION_ID = "5e1a2b3c-0000-4000-8000-00000000a2e0";
export const SIM_VM_SIZE = "Standard_D2s_v3";

function findVm(topology: Topology, vmName: string): Vm {
  const vm = topology.vms.find((v) => v.name === vmName);
  if (!vm) throw new Error(`no VM named ${vmName} in the topology`);
  return vm;
}

/** The VM's single NIC, primary ipconfig first, as IMDS lists it. */
export function imdsNetworkDocument(topology: Topology, vmName: string): ImdsNetworkDocument {
  const vm = findVm(topology, vmName);
  const [subnetAddress, prefix] = topology.vnet.subnet.split("/");
  return {
    interface: [
      {
        ipv4: {
          ipAddress: ipConfigsOf(vm).map((c) => ({ privateIpAddress: c.address, publicIpAddress: c.publicIp ?? "" })),
          subnet: [{ address: subnetAddress, prefix }],
        },
        ipv6: { ipAddress: [] },
        macAddress: azureMac(vm.nic.mac),
      },
    ],
  };
}

/**
 * A UUID that stays the same for a VM name across runs, so anything keyed on
 * vmId (caches, state files) behaves as on a real VM that keeps its identity.
 */
export function stableVmId(vmName: string): string {
  return stableUuid("vm", vmName);
}

/** A name-based UUID (version 5 layout) for one kind of thing; the same every run. */
export function stableUuid(kind: string, name: string): string {
  const h = createHash("sha1").update(`azure-vnet-sim/${kind}/${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50; // version 5 (name-based)
  h[8] = (h[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
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

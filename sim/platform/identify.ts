/**
 * Which VM is asking. Azure's platform endpoints answer for the VM whose NIC
 * the packet came from; in the simulation that is the VM owning the packet's
 * source address, and containers use secondary ipconfigs as source, so every
 * ipconfig counts, not just the primary.
 */
import { ipConfigsOf, type Topology, type Vm } from "../topology";

/** Strip the IPv4-mapped IPv6 prefix a dual-stack socket reports ("::ffff:10.0.0.4"). */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

export function vmBySourceAddress(topology: Topology, ip: string): Vm | undefined {
  const address = normalizeAddress(ip.trim());
  return topology.vms.find((vm) => ipConfigsOf(vm).some((c) => c.address === address));
}

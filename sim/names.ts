/** Names of everything the simulator creates, in one place. */
/**
 * Prefix of every namespace (and cgroup) the simulator creates. AZSIM_PREFIX
 * lets two simulators run side by side on one machine.
 */
export const NS_PREFIX = simPrefix(process.env.AZSIM_PREFIX);

export function simPrefix(value: string | undefined): string {
  if (value === undefined || value === "") return "azsim-";
  if (!/^[a-z][a-z0-9]{0,5}-$/.test(value))
    throw new Error(`AZSIM_PREFIX=${JSON.stringify(value)}: use 1-6 lower-case letters or digits and a trailing dash, e.g. "azs2-"`);
  return value;
}
export const FABRIC_NS = `${NS_PREFIX}fabric`;
export const INET_NS = `${NS_PREFIX}inet`;
export const ONPREM_NS = `${NS_PREFIX}onprem`;
export const REGISTRY_NS = `${NS_PREFIX}registry`;
export const vmNs = (vm: string) => `${NS_PREFIX}${vm}`;
/** The fabric's end of a VM's NIC link. */
export const fabricPort = (vm: string) => `f-${vm}`;
/**
 * A name part for one NIC of a VM: the VM's name for its primary NIC (eth0),
 * "vm1-e1" for eth1 (at most 13 characters, so link and chain names fit).
 */
export const nicTag = (vm: string, index: number) => (index === 0 ? vm : `${vm}-e${index}`);
/** The fabric's end of a NIC's link: fabricPort(vm) for eth0, "f-vm1-e1" for eth1 (at most 15 characters). */
export const fabricNicPort = (vm: string, index: number) => fabricPort(nicTag(vm, index));
export const FABRIC_INET_PORT = "f-inet";
export const FABRIC_ONPREM_PORT = "f-onprem";
export const FABRIC_REGISTRY_PORT = "f-registry";
/** Where traffic for VNet addresses that are no ipconfig goes to be dropped. */
export const FABRIC_SINK = "f-sink";
/** The MAC at which a VM sees the gateway and every other VNet address. */
export const FABRIC_MAC = "12:34:56:78:9a:bc";
/** The IPv6 gateway of every dual-stack subnet: a link-local address, at FABRIC_MAC. */
export const FABRIC_GATEWAY6 = "fe80::1234:5678:9abc";
export const IMDS_IP = "169.254.169.254";
export const WIRESERVER_IP = "168.63.129.16";
/**
 * Azure Resource Manager's address: a public endpoint outside the VNet, on the
 * fabric (VMs reach it through their default route), named management.azure.com by Azure DNS.
 */
export const ARM_IP = "198.18.0.10";
export const ARM_HOST = "management.azure.com";
/** The address the platform NATs a primary ipconfig without a public IP to (default outbound access). */
export const DEFAULT_OUTBOUND_IP = "203.0.113.254";
export const INET_GATEWAY = "198.51.100.1";

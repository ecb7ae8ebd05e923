/** Names of everything the simulator creates, in one place. */
export const NS_PREFIX = "azsim-";
export const FABRIC_NS = `${NS_PREFIX}fabric`;
export const INET_NS = `${NS_PREFIX}inet`;
export const ONPREM_NS = `${NS_PREFIX}onprem`;
export const vmNs = (vm: string) => `${NS_PREFIX}${vm}`;
/** The fabric's end of a VM's NIC link. */
export const fabricPort = (vm: string) => `f-${vm}`;
export const FABRIC_INET_PORT = "f-inet";
export const FABRIC_ONPREM_PORT = "f-onprem";
/** Where traffic for VNet addresses that are no ipconfig goes to be dropped. */
export const FABRIC_SINK = "f-sink";
/** The MAC at which a VM sees the gateway and every other VNet address. */
export const FABRIC_MAC = "12:34:56:78:9a:bc";
export const IMDS_IP = "169.254.169.254";
export const WIRESERVER_IP = "168.63.129.16";
/** The address the platform NATs a primary ipconfig without a public IP to (default outbound access). */
export const DEFAULT_OUTBOUND_IP = "203.0.113.254";
export const INET_GATEWAY = "198.51.100.1";

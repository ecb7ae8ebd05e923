/**
 * Owns the metadata side of the IPAM: reading the VM's NICs and their
 * ipconfigs from IMDS, the wireserver or a file, caching the answer, and the
 * NIC model the allocation side works on. Nothing here allocates.
 */
export { AutoSource } from "./auto-source";
export { FileSource, parseInterfacesJson } from "./file-source";
export { IMDS_BASE_URL, ImdsSource, type ImdsSourceOptions, parseImdsInstance, parseImdsNetwork } from "./imds-source";
export { MetadataCache, type MetadataCacheOptions, type MetadataSnapshot } from "./metadata-cache";
export {
  allIpConfigAddresses,
  allSubnets,
  defaultSubnet,
  familySubnets,
  findNic,
  findSubnet,
  primaryAddress,
  primaryNic,
  secondaryAddresses,
  subnetContaining,
  subnetFamily,
} from "./nic-model";
export { MetadataSourceError } from "./source-error";
export type { IpConfig, MetadataSource, NicInfo, NicSubnet } from "./types";
export { parseWireserverInterfaces, WIRESERVER_BASE_URL, WireserverSource, type WireserverSourceOptions } from "./wireserver-source";

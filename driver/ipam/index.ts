/** The IPAM side of the plugin: metadata sources, their cache, and the address manager. */
export { AddressManager, type AddressManagerOptions, type PoolInfo } from "./address-manager";
export { AutoSource } from "./auto-source";
export { type Clock, systemClock } from "./clock";
export { FileSource, parseInterfacesJson } from "./file-source";
export { IMDS_BASE_URL, ImdsSource, type ImdsSourceOptions, parseImdsNetwork } from "./imds-source";
export {
  type AddressRecord,
  type AddressSpaceName,
  emptyIpamState,
  type IpamState,
  parseIpamState,
  type PoolRecord,
} from "./ipam-state";
export type { IpConfig, MetadataSource, NicInfo, NicSubnet } from "./metadata";
export { MetadataCache, type MetadataCacheOptions, type MetadataSnapshot } from "./metadata-cache";
export { formatPoolId, GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, parsePoolId } from "./pool-id";
export type { IpamReport, PoolReport, UsedAddress } from "./pool-report";
export { MetadataSourceError } from "./source-error";
export {
  parseWireserverInterfaces,
  WIRESERVER_BASE_URL,
  WireserverSource,
  type WireserverSourceOptions,
} from "./wireserver-source";

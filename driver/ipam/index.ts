/**
 * Owns the IPAM's public surface: the address manager (allocation, in this
 * folder) and the metadata sources and cache it reads the NICs through
 * (./metadata).
 */
export { AddressManager, type AddressManagerOptions, type PoolInfo } from "./address-manager";
export { type Clock, systemClock } from "./clock";
export { type AddressRecord, type AddressSpaceName, emptyIpamState, type IpamState, parseIpamState, type PoolRecord } from "./ipam-state";
export {
  AutoSource,
  FileSource,
  IMDS_BASE_URL,
  ImdsSource,
  type ImdsSourceOptions,
  type IpConfig,
  MetadataCache,
  type MetadataCacheOptions,
  type MetadataSnapshot,
  type MetadataSource,
  MetadataSourceError,
  type NicInfo,
  type NicSubnet,
  parseImdsNetwork,
  parseInterfacesJson,
  parseWireserverInterfaces,
  WIRESERVER_BASE_URL,
  WireserverSource,
  type WireserverSourceOptions,
} from "./metadata";
export { formatPoolId, GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, parsePoolId } from "./pool-id";
export type { IpamReport, PoolReport, UsedAddress } from "./pool-report";

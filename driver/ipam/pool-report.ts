/** Owns the IPAM report: every pool with its free, used and flagged addresses. */
import { compareAddresses, type IpCidr, ipInCidr, parseIpCidr, subnetGateway } from "../lib/address";
import type { AddressRecord, IpamState } from "./ipam-state";
import { type MetadataSnapshot, secondaryAddresses } from "./metadata";

export interface UsedAddress {
  address: string;
  kind: AddressRecord["kind"];
  name?: string;
  flagged: boolean;
}

export interface PoolReport {
  poolId: string;
  addressSpace: string;
  subnet: string;
  subPool?: string;
  gateway: string;
  nicMac: string;
  primaryAddress: string;
  /** Networks sharing this pool. */
  refCount: number;
  /** Secondary ipconfigs in range that nobody holds. */
  free: string[];
  used: UsedAddress[];
  /** In use although the ipconfig is gone from the NIC: fix the NIC or move the container. */
  flagged: string[];
  auxAddresses: string[];
}

export interface IpamReport {
  metadata: {
    source?: string;
    /** Clock time of the data the report is based on. */
    fetchedAt?: number;
    stale: boolean;
    error?: string;
  };
  pools: PoolReport[];
}

export function buildReport(state: IpamState, snapshot: MetadataSnapshot | undefined, fetchError?: string): IpamReport {
  const nics = snapshot?.nics ?? [];
  const pools = Object.entries(state.pools)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([poolId, pool]): PoolReport => {
      const range = pool.subPool ?? pool.subnet;
      const used = Object.entries(state.addresses)
        .filter(([, record]) => record.poolId === poolId)
        .map(([address, record]) => ({
          address,
          kind: record.kind,
          ...(record.name && { name: record.name }),
          flagged: record.flagged === true,
        }))
        .sort((a, b) => compareAddresses(a.address, b.address));
      const free = secondaryAddresses(nics, pool.nicMac, pool.subnet).filter(
        (address) => ipInCidr(range, address) && !state.addresses[address],
      );
      return {
        poolId,
        addressSpace: pool.addressSpace,
        subnet: pool.subnet,
        ...(pool.subPool && { subPool: pool.subPool }),
        gateway: subnetGateway(parseIpCidr(pool.subnet) as IpCidr),
        nicMac: pool.nicMac,
        primaryAddress: pool.primaryAddress,
        refCount: pool.refCount,
        free,
        used,
        flagged: used.filter((u) => u.flagged).map((u) => u.address),
        auxAddresses: [...pool.auxAddresses],
      };
    });
  const error = fetchError ?? snapshot?.error?.message;
  return {
    metadata: {
      ...(snapshot && { source: snapshot.source, fetchedAt: snapshot.fetchedAt }),
      stale: snapshot?.stale ?? true,
      ...(error && { error }),
    },
    pools,
  };
}

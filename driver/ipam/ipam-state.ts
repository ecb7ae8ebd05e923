/** The IPAM's part of the checkpoint: pools, held addresses with their holders and leases, and its schema. */
import { z } from "zod";

/**
 * Everything the IPAM must remember across restarts (Docker replays nothing).
 * Plain JSON: the caller stores it inside its checkpoint and hands the same
 * object back to the AddressManager, which changes it in place.
 */
export interface IpamState {
  version: 1;
  /** By PoolID ("AzureVNetLocal/10.0.0.0/24[/10.0.0.16/28]", "AzureVNetLocal/fd00:db8:deca::/64"). */
  pools: Record<string, PoolRecord>;
  /**
   * Addresses handed out or reserved, by dotted IPv4 or canonical IPv6
   * ("fd00:db8:deca::5"). Kept per VM rather than per pool because pools
   * over the same subnet share the NIC's ipconfigs.
   */
  addresses: Record<string, AddressRecord>;
  /** The next grant's lease number (absent in older checkpoints: counts from 1). */
  nextLease?: number;
}

export type AddressSpaceName = "AzureVNetLocal" | "AzureVNetGlobal";

export interface PoolRecord {
  addressSpace: AddressSpaceName;
  /** Canonical NIC subnet, e.g. "10.0.0.0/24", or an IPv6 /64 ("fd00:db8:deca::/64"). */
  subnet: string;
  /** The --ip-range, canonical, when given. */
  subPool?: string;
  /** The NIC whose ipconfigs this pool hands out. */
  nicMac: string;
  /** That NIC's primary address of the pool's family (the VM's own), for the network layer. */
  primaryAddress: string;
  /** Networks using this pool: identical RequestPool calls share it. */
  refCount: number;
  options: Record<string, string>;
  /**
   * Handed out for a request without --subnet and not used since. Docker asks
   * again without releasing when it rejects a pool, which this detects.
   */
  unconfirmedAutoPick?: boolean;
  /** --aux-address values accepted for networks of this pool. */
  auxAddresses: string[];
}

export interface AddressRecord {
  poolId: string;
  kind: "endpoint" | "aux";
  /** Container name, which Docker 29+ sends with endpoint requests. */
  name?: string;
  /** The ipconfig vanished from the NIC while in use; cleared if it returns. */
  flagged?: boolean;
  /**
   * The endpoint that holds the address, from CreateEndpoint until
   * DeleteEndpoint. Absent between RequestAddress and CreateEndpoint (a
   * pending grant) and between DeleteEndpoint and ReleaseAddress.
   */
  endpointId?: string;
  /** Tells one grant of an address from a later one (the same address handed out again). */
  lease?: number;
}

export function emptyIpamState(): IpamState {
  return { version: 1, pools: {}, addresses: {} };
}

const stateSchema = z.object({
  version: z.literal(1),
  pools: z.record(
    z.string(),
    z.object({
      addressSpace: z.enum(["AzureVNetLocal", "AzureVNetGlobal"]),
      subnet: z.string(),
      subPool: z.string().optional(),
      nicMac: z.string(),
      primaryAddress: z.string(),
      refCount: z.number().int().min(0),
      options: z.record(z.string(), z.string()),
      unconfirmedAutoPick: z.boolean().optional(),
      auxAddresses: z.array(z.string()),
    }),
  ),
  addresses: z.record(
    z.string(),
    z.object({
      poolId: z.string(),
      kind: z.enum(["endpoint", "aux"]),
      name: z.string().optional(),
      flagged: z.boolean().optional(),
      endpointId: z.string().optional(),
      lease: z.number().int().min(0).optional(),
    }),
  ),
  nextLease: z.number().int().min(1).optional(),
});

/** Checks state read back from a checkpoint; throws an Error describing the first problems. */
export function parseIpamState(value: unknown): IpamState {
  const result = stateSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join(".") || "state"}: ${issue.message}`)
      .join("; ");
    throw new Error(`invalid IPAM state: ${problems}`);
  }
  return result.data;
}

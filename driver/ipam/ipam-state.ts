/** The IPAM's part of the checkpoint: pools, held addresses with their holders and leases, and its schema. */
import * as v from "valibot";
import { object, parseDocument, record } from "../lib/valid";

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

/** A whole number of at least `min`; a fraction is not also said to be too small. */
const count = (min: number) => v.config(v.pipe(v.number(), v.safeInteger(), v.minValue(min)), { abortPipeEarly: true });

const stateSchema = object({
  version: v.literal(1),
  pools: record(
    v.string(),
    object({
      addressSpace: v.picklist(["AzureVNetLocal", "AzureVNetGlobal"]),
      subnet: v.string(),
      subPool: v.optional(v.string()),
      nicMac: v.string(),
      primaryAddress: v.string(),
      refCount: count(0),
      options: record(v.string(), v.string()),
      unconfirmedAutoPick: v.optional(v.boolean()),
      auxAddresses: v.array(v.string()),
    }),
  ),
  addresses: record(
    v.string(),
    object({
      poolId: v.string(),
      kind: v.picklist(["endpoint", "aux"]),
      name: v.optional(v.string()),
      flagged: v.optional(v.boolean()),
      endpointId: v.optional(v.string()),
      lease: v.optional(count(0)),
    }),
  ),
  nextLease: v.optional(count(1)),
});

/** Checks state read back from a checkpoint; throws an Error describing the first problems. */
export function parseIpamState(value: unknown): IpamState {
  const result = parseDocument(stateSchema, value, { root: "state" });
  if (!result.ok) throw new Error(`invalid IPAM state: ${result.problems}`);
  return result.output;
}

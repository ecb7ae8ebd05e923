/**
 * Owns the contract between the address manager and whatever can add
 * ipconfigs to the NIC (driver/ipam/arm): the manager asks it when a pool is
 * empty or a --ip names an address that is not an ipconfig yet, and tells it
 * when an address changes hands. Without one (static ipconfigs), a full pool
 * is refused at once.
 */
export interface SupplyPool {
  nicMac: string;
  subnet: string;
}

export interface AddressSupply {
  /**
   * The pool has no free ipconfig: resolves true once more were added (the
   * caller reads the metadata again and retries), false when this supply
   * cannot add to that pool; throws why it could not before `deadline`.
   */
  grow(pool: SupplyPool, deadline: number, signal?: AbortSignal): Promise<boolean>;
  /** Make `address` an ipconfig of the pool's NIC: true once it is, false when this supply cannot; throws why not. */
  create(address: string, pool: SupplyPool, signal?: AbortSignal): Promise<boolean>;
  /** An address was granted or released just now. */
  touched(address: string): void;
}

/** What the address manager offers a supply that takes ipconfigs away. */
export interface SupplyHost {
  /** Whether the IPAM holds `address` (granted, in use or reserved). */
  held(address: string): boolean;
  /**
   * Takes free addresses out of allocation until the metadata no longer
   * lists them (or unwithhold); returns those that were free.
   */
  withhold(addresses: readonly string[]): Promise<string[]>;
  unwithhold(addresses: readonly string[]): void;
  /** Reads the metadata again now (at most once a second, shared). */
  refreshMetadata(): Promise<void>;
}

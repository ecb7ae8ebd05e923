/**
 * Owns --ipconfig-management arm as one unit the daemon loads only when that
 * setting is on (a dynamic import in driver/plugin.ts): the managed identity,
 * the ARM client and the warm pool over the NIC the plugin uses.
 */
import { readFile } from "../../lib/fs-async";
import type { ServeConfig } from "../../config";
import { errorMessage, PluginError } from "../../errors";
import type { Logger } from "../../log";
import { type MetadataCache, primaryNic } from "../metadata";
import type { SupplyHost } from "../supply";
import { ArmClient } from "./client";
import { ManagedIdentity } from "./identity";
import { realTiming, type Timing } from "./retry";
import { WarmPool } from "./warm-pool";

export { ArmClient } from "./client";
export { ArmError } from "./errors";
export { ManagedIdentity } from "./identity";
export { type PoolTargets, WarmPool, type WarmPoolOptions } from "./warm-pool";
export type { Timing } from "./retry";

export type ArmSettings = Pick<
  ServeConfig,
  "imdsUrl" | "armEndpoint" | "armCaFile" | "warmIpTarget" | "minIpTarget" | "maxIpTarget" | "ipCooldown"
>;

export interface ArmManagementOptions {
  config: ArmSettings;
  logger: Logger;
  host: SupplyHost;
  metadata: MetadataCache;
  timing?: Timing;
  intervalMs?: number;
}

/** Builds the warm pool and starts its first pass in the background (ARM being slow or refusing does not hold up the plugin). */
export async function startArmManagement(options: ArmManagementOptions): Promise<WarmPool> {
  const { config, logger } = options;
  const timing = options.timing ?? realTiming;
  let extraCa: string | undefined;
  if (config.armCaFile) {
    try {
      extraCa = await readFile(config.armCaFile, "utf8");
    } catch (err) {
      throw new PluginError(`cannot read --arm-ca-file ${config.armCaFile}: ${errorMessage(err)}`);
    }
  }
  const identity = new ManagedIdentity({ imdsUrl: config.imdsUrl, resource: `${config.armEndpoint}/`, timing });
  const log = logger.child({ component: "arm" });
  const client = new ArmClient({
    endpoint: config.armEndpoint,
    extraCa,
    tokens: identity,
    timing,
    onRetry: (why, delayMs) => log.warn("Azure Resource Manager asked to wait: retrying", { why, ms: delayMs }),
  });
  const nicMac = async () => {
    const nic = primaryNic((await options.metadata.get({ maxAgeMs: 60_000 })).nics);
    if (!nic) throw new PluginError("the metadata lists no NIC to manage", "unavailable");
    return nic.mac;
  };
  const pool = new WarmPool({
    client,
    identity,
    nicMac,
    host: options.host,
    targets: { warm: config.warmIpTarget, min: config.minIpTarget, max: config.maxIpTarget, cooldownMs: config.ipCooldown * 1000 },
    timing,
    logger,
    intervalMs: options.intervalMs,
  });
  void pool.start();
  return pool;
}

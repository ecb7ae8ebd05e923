/** Wires an AddressManager to the warm pool over a FakeArm, with a fake clock that sleeps move instead of waiting. */
import { AddressManager } from "../../../../driver/ipam/address-manager";
import { emptyIpamState, type IpamState } from "../../../../driver/ipam/ipam-state";
import { ImdsSource, MetadataCache } from "../../../../driver/ipam/metadata";
import { startArmManagement, type Timing, type WarmPool } from "../../../../driver/ipam/arm";
import type { Logger, LogFields } from "../../../../driver/log";
import { FakeClock, GATEWAY, LOCAL } from "../helpers";
import type { FakeArm } from "./fake-arm";

/** Sleeps advance the fake clock at once (and let other work run); every wait is recorded. */
export class TestTiming implements Timing {
  sleeps: number[] = [];
  constructor(readonly clock: FakeClock) {}
  now(): number {
    return this.clock.now();
  }
  random(): number {
    return 0.5;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.clock.advance(ms);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface LogLine {
  level: string;
  msg: string;
  fields: LogFields;
}

export function recordingLogger(lines: LogLine[], base: LogFields = {}): Logger {
  const log =
    (level: string) =>
    (msg: string, fields: LogFields = {}) =>
      void lines.push({ level, msg, fields: { ...base, ...fields } });
  return {
    error: log("error"),
    warn: log("warn"),
    info: log("info"),
    debug: log("debug"),
    log: (level, msg, fields) => log(level)(msg, fields),
    child: (fields) => recordingLogger(lines, { ...base, ...fields }),
  };
}

export interface Targets {
  warm: number;
  min: number;
  max: number;
  cooldownSeconds: number;
}

export interface Plugin {
  manager: AddressManager;
  pool: WarmPool;
  state: IpamState;
  timing: TestTiming;
  clock: FakeClock;
  log: LogLine[];
}

export interface StartOptions {
  /** The IPAM state of an instance before (its checkpoint). */
  state?: IpamState;
  timing?: TestTiming;
  /** Wait for the first pass (adopting and growing) before returning; default true. */
  settle?: boolean;
}

/** A plugin instance against `arm`. */
export async function startPlugin(
  arm: FakeArm,
  clock: FakeClock,
  targets: Partial<Targets> = {},
  opts: StartOptions = {},
): Promise<Plugin> {
  const timing = opts.timing ?? new TestTiming(clock);
  const state = opts.state ?? emptyIpamState();
  const log: LogLine[] = [];
  const metadata = new MetadataCache(new ImdsSource({ baseUrl: arm.url }), { clock, sleep: (ms) => timing.sleep(ms) });
  const manager = new AddressManager({ metadata, state, persist: async () => undefined, clock });
  const t = { warm: 4, min: 0, max: 255, cooldownSeconds: 300, ...targets };
  const pool = await startArmManagement({
    config: {
      imdsUrl: arm.url,
      armEndpoint: arm.url,
      armCaFile: undefined,
      warmIpTarget: t.warm,
      minIpTarget: t.min,
      maxIpTarget: t.max,
      ipCooldown: t.cooldownSeconds,
    },
    logger: recordingLogger(log),
    host: manager,
    metadata,
    timing,
    intervalMs: 3_600_000,
  });
  manager.setSupply(pool);
  if (opts.settle !== false) await pool.idle();
  return { manager, pool, state, timing, clock, log };
}

/** Network create as Docker does it; returns the PoolID. */
export async function createNetwork(manager: AddressManager): Promise<string> {
  const { PoolID } = await manager.requestPool({ AddressSpace: LOCAL, Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false });
  await manager.requestAddress({ PoolID, Address: "", Options: GATEWAY });
  manager.networkCreated({ AddressSpace: LOCAL, Pool: "10.0.0.0/24" });
  return PoolID;
}

/** A container's RequestAddress (Docker 29 names the endpoint); returns the bare address. */
export async function requestAddress(manager: AddressManager, poolId: string, address = ""): Promise<string> {
  const reply = await manager.requestAddress({ PoolID: poolId, Address: address, Options: { "com.docker.network.endpoint.name": "c" } });
  return reply.Address.replace(/\/\d+$/, "");
}

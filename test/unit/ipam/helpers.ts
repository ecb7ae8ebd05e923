/**
 * Shared test doubles for the IPAM tests: a controllable clock, a metadata
 * source whose answers the test sets, NIC builders, and a loopback HTTP
 * server standing in for IMDS or the wireserver.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { AddressManager } from "../../../driver/ipam/address-manager";
import { emptyIpamState, type IpamState } from "../../../driver/ipam/ipam-state";
import { MetadataCache, type MetadataSource, type NicInfo } from "../../../driver/ipam/metadata";

export class FakeClock {
  constructor(public time = 1_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** Answers with `nics` (or throws `failure`); `calls` counts fetches; `gate` can hold a fetch open. */
export class FakeSource implements MetadataSource {
  name = "fake";
  calls = 0;
  /** Clock time of each fetch, when the test gave the source its clock. */
  fetchedAt: number[] = [];
  clock: FakeClock | undefined;
  failure: Error | undefined;
  gate: Promise<void> | undefined;

  constructor(public nics: NicInfo[]) {}

  async fetch(): Promise<NicInfo[]> {
    this.calls += 1;
    if (this.clock) this.fetchedAt.push(this.clock.now());
    if (this.gate) await this.gate;
    if (this.failure) throw this.failure;
    return structuredClone(this.nics);
  }
}

/** A NIC in one subnet: the first address is primary. */
export function nic(mac: string, subnet: string, addresses: string[], isPrimary = true): NicInfo {
  return {
    mac,
    isPrimary,
    subnets: [{ cidr: subnet, ipConfigs: addresses.map((address, i) => ({ address, isPrimary: i === 0, publicIp: "" })) }],
  };
}

/** "10.0.0.", 10, 17 -> ["10.0.0.10", ..., "10.0.0.17"] */
export function range(prefix: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`${prefix}${i}`);
  return out;
}

export const MAC1 = "00:0d:3a:00:00:01";
export const MAC2 = "00:0d:3a:00:00:02";

/** The usual VM: primary 10.0.0.4, secondaries 10.0.0.10-10.0.0.17 on NIC 1; NIC 2 in 10.1.0.0/24. */
export function standardNics(): NicInfo[] {
  return [
    nic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 10, 17)]),
    nic(MAC2, "10.1.0.0/24", ["10.1.0.4", "10.1.0.5", "10.1.0.6"], false),
  ];
}

export interface Harness {
  manager: AddressManager;
  source: FakeSource;
  clock: FakeClock;
  state: IpamState;
  /** JSON of the state at each persist call. */
  persisted: string[];
}

export function harness(
  nics: NicInfo[] = standardNics(),
  extra: { nicMac?: string; liveEndpoint?: (endpointId: string) => boolean } = {},
): Harness {
  const clock = new FakeClock();
  const source = new FakeSource(nics);
  source.clock = clock;
  const state = emptyIpamState();
  const persisted: string[] = [];
  // Waiting out the cache's minimum interval moves the fake clock, not real time.
  const metadata = new MetadataCache(source, { clock, sleep: async (ms) => clock.advance(ms) });
  const manager = new AddressManager({
    metadata,
    state,
    persist: async () => {
      persisted.push(JSON.stringify(state));
    },
    clock,
    ...extra,
  });
  return { manager, source, clock, state, persisted };
}

export const LOCAL = "AzureVNetLocal";
export const GATEWAY = { RequestAddressType: "com.docker.network.gateway" };

/** Network create as Docker does it: pool, gateway, and the network layer's CreateNetwork. */
export async function createNetwork(h: Harness, pool = "10.0.0.0/24", subPool = ""): Promise<string> {
  const { PoolID } = await h.manager.requestPool({ AddressSpace: LOCAL, Pool: pool, SubPool: subPool, Options: {}, V6: false });
  await h.manager.requestAddress({ PoolID, Address: "", Options: GATEWAY });
  h.manager.networkCreated({ AddressSpace: LOCAL, Pool: pool });
  return PoolID;
}

export async function expectPluginError(promise: Promise<unknown>, pattern: RegExp, code?: string): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    const error = err as Error & { code?: string };
    if (error.name !== "PluginError") throw new Error(`expected a PluginError, got ${error.name}: ${error.message}`);
    if (!pattern.test(error.message)) throw new Error(`message ${JSON.stringify(error.message)} does not match ${pattern}`);
    if (code && error.code !== code) throw new Error(`expected code ${code}, got ${error.code}`);
    return error;
  }
  throw new Error(`expected an error matching ${pattern}`);
}

export interface FakeServer {
  baseUrl: string;
  requests: http.IncomingMessage[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 with a random port; the handler decides each answer. */
export async function fakeServer(handler: http.RequestListener): Promise<FakeServer> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Assembles the simulated platform endpoints (IMDS, wireserver on 80 and
 * 32526, DNS, Azure Resource Manager) around one polled state directory. main.ts runs it from the
 * command line; unit tests call startPlatform directly on loopback.
 */
import type { IncomingMessage } from "node:http";
import { DnsServer } from "./dns-server";
import { handleWithFaults, sourceFromHeader, sourceFromSocket, type HttpRoute, type SourceOf } from "./http-pipeline";
import { imdsError, imdsRoute } from "./imds-route";
import type { EndpointName, Knobs } from "./knobs";
import { ManagedHttpServer, type ListenAddress, type TlsIdentity } from "./managed-http";
import { armFault, armRoute } from "./arm-route";
import { NicOperations } from "./arm-operations";
import { TokenIssuer } from "./arm-token";
import { commitIpConfigs, syncFabric } from "../ipconfig-commit";
import { SlidingWindowLimiter } from "./rate-limit";
import { PlatformState } from "./state";
import { textError, wireserverAltRoute, wireserverRoute } from "./wireserver-route";

export interface PlatformOptions {
  stateDir: string;
  /** Each endpoint is started only when its address is given. */
  imds?: ListenAddress;
  wireserver?: ListenAddress;
  wireserverAlt?: ListenAddress;
  dns?: ListenAddress;
  /** Azure Resource Manager; HTTPS when armTls is given. */
  arm?: ListenAddress;
  armTls?: TlsIdentity;
  /**
   * Program the fabric namespace (this process runs in it) when a NIC
   * operation succeeds, and line it up with topology.json at start. Off on
   * loopback, where only topology.json changes.
   */
  applyFabric?: boolean;
  /** Identify callers by this header instead of the source address (unit tests on loopback only). */
  identifyByHeader?: string;
  /** Full override of caller identification; wins over identifyByHeader. */
  sourceOf?: (req: IncomingMessage) => string;
  pollMs?: number;
  log?: (line: string) => void;
}

export interface PlatformAddresses {
  imds?: ListenAddress;
  wireserver?: ListenAddress;
  wireserverAlt?: ListenAddress;
  dns?: ListenAddress;
  arm?: ListenAddress;
}

/** How long a NIC operation runs unless the provisioningDelayMs knob says otherwise. */
export const DEFAULT_PROVISIONING_DELAY_MS = 1500;

export interface Platform {
  readonly state: PlatformState;
  /** Bound addresses, with the real port when 0 was asked for. */
  addresses(): PlatformAddresses;
  /** Resolves once listeners match the latest knobs (a "down" change is asynchronous). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** Something that follows an endpoint's "down" knob. */
interface Listener {
  endpoint: EndpointName;
  setDown(down: boolean): Promise<void>;
  stop(): Promise<void>;
}

export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const log = opts.log ?? (() => undefined);
  const state = await PlatformState.open(opts.stateDir, log, opts.pollMs);
  const sourceOf: SourceOf = opts.sourceOf ?? (opts.identifyByHeader ? sourceFromHeader(opts.identifyByHeader) : sourceFromSocket);
  const knobsOf = (endpoint: EndpointName) => () => state.knobs[endpoint];
  const topology = () => state.topology;

  const vmKnobs = (vm: string) => state.knobs.vms?.[vm] ?? {};
  const tokens = TokenIssuer.forStateDir(opts.stateDir);
  const applyFabric = opts.applyFabric === true;
  if (applyFabric) await syncFabric(state.topology);
  const operations = new NicOperations(
    {
      apply: async (vmName, secondaries, nic) => {
        const { topology: written, text } = await commitIpConfigs(opts.stateDir, vmName, () => secondaries, { fabric: applyFabric, nic });
        state.adoptTopology(written, text);
      },
      delayMs: () => state.knobs.arm?.provisioningDelayMs ?? DEFAULT_PROVISIONING_DELAY_MS,
      fail: () => state.knobs.arm?.operationsFail === true,
      log,
    },
    opts.stateDir,
  );

  const http = (
    endpoint: EndpointName,
    label: string,
    at: ListenAddress,
    route: HttpRoute,
    limiter?: SlidingWindowLimiter,
    tls?: TlsIdentity,
  ) => {
    const errorAnswer = endpoint === "imds" ? imdsError : endpoint === "arm" ? armFault : textError;
    const handler = handleWithFaults({ endpoint: label, route, sourceOf, knobs: knobsOf(endpoint), errorAnswer, limiter, log });
    return new ManagedHttpServer(label, at.host, at.port, handler, log, tls);
  };
  const imds = opts.imds && http("imds", "imds", opts.imds, imdsRoute(topology, { tokens, vmKnobs }), new SlidingWindowLimiter());
  const arm =
    opts.arm &&
    http(
      "arm",
      "arm",
      opts.arm,
      armRoute({ topology, knobs: () => state.knobs.arm ?? {}, vmKnobs, tokens, operations }),
      undefined,
      opts.armTls,
    );
  const wire = opts.wireserver && http("wireserver", "wireserver", opts.wireserver, wireserverRoute(topology));
  const wireAlt = opts.wireserverAlt && http("wireserver", "wireserver-alt", opts.wireserverAlt, wireserverAltRoute);
  const dns = opts.dns && new DnsServer(state.topology, { listen: opts.dns, knobs: knobsOf("dns"), log });

  const listeners: Listener[] = [];
  if (imds) listeners.push({ endpoint: "imds", setDown: (d) => imds.setDown(d), stop: () => imds.stop() });
  if (wire) listeners.push({ endpoint: "wireserver", setDown: (d) => wire.setDown(d), stop: () => wire.stop() });
  if (wireAlt) listeners.push({ endpoint: "wireserver", setDown: (d) => wireAlt.setDown(d), stop: () => wireAlt.stop() });
  if (dns) listeners.push({ endpoint: "dns", setDown: (d) => dns.setDown(d), stop: () => dns.stop() });
  if (arm) listeners.push({ endpoint: "arm", setDown: (d) => arm.setDown(d), stop: () => arm.stop() });

  const applyDown = async (knobs: Knobs) => {
    const results = await Promise.allSettled(listeners.map((l) => l.setDown(knobs[l.endpoint]?.down === true)));
    // A failed restart (port taken meanwhile) is retried on the next knobs change; log it, keep running.
    for (const r of results) if (r.status === "rejected") log(`platform: ${(r.reason as Error).message}`);
  };

  try {
    // Every listener binds once, so startup errors surface and ephemeral ports are fixed;
    // then the knobs decide which stay up.
    await Promise.all(listeners.map((l) => l.setDown(false)));
    await applyDown(state.knobs);
  } catch (err) {
    state.close();
    operations.close();
    await Promise.allSettled(listeners.map((l) => l.stop()));
    throw err;
  }
  // A knobs change may be starting a listener when close() comes: close waits
  // for it, and no change is applied after, so no listener outlives the platform.
  let applying = Promise.resolve();
  let closed = false;
  state.on("knobs", (knobs) => {
    if (!closed) applying = applyDown(knobs);
  });
  state.on("topology", (t) => dns?.setTopology(t));

  return {
    state,
    addresses: () => ({
      imds: imds?.address,
      wireserver: wire?.address,
      wireserverAlt: wireAlt?.address,
      dns: dns?.address,
      arm: arm?.address,
    }),
    settled: () => applying,
    close: async () => {
      closed = true;
      state.close();
      await applying;
      operations.close();
      await Promise.allSettled(listeners.map((l) => l.stop()));
    },
  };
}

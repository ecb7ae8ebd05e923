/**
 * Assembles the simulated platform endpoints (IMDS, wireserver on 80 and
 * 32526, DNS) around one polled state directory. main.ts runs it from the
 * command line; unit tests call startPlatform directly on loopback.
 */
import type { IncomingMessage } from "node:http";
import { DnsServer } from "./dns-server";
import { handleWithFaults, sourceFromHeader, sourceFromSocket, type HttpRoute, type SourceOf } from "./http-pipeline";
import { imdsError, imdsRoute } from "./imds-route";
import type { EndpointName, Knobs } from "./knobs";
import { ManagedHttpServer, type ListenAddress } from "./managed-http";
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
}

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

  const http = (endpoint: EndpointName, label: string, at: ListenAddress, route: HttpRoute, limiter?: SlidingWindowLimiter) => {
    const errorAnswer = endpoint === "imds" ? imdsError : textError;
    const handler = handleWithFaults({ endpoint: label, route, sourceOf, knobs: knobsOf(endpoint), errorAnswer, limiter, log });
    return new ManagedHttpServer(label, at.host, at.port, handler, log);
  };
  const imds = opts.imds && http("imds", "imds", opts.imds, imdsRoute(topology), new SlidingWindowLimiter());
  const wire = opts.wireserver && http("wireserver", "wireserver", opts.wireserver, wireserverRoute(topology));
  const wireAlt = opts.wireserverAlt && http("wireserver", "wireserver-alt", opts.wireserverAlt, wireserverAltRoute);
  const dns = opts.dns && new DnsServer(state.topology, { listen: opts.dns, knobs: knobsOf("dns"), log });

  const listeners: Listener[] = [];
  if (imds) listeners.push({ endpoint: "imds", setDown: (d) => imds.setDown(d), stop: () => imds.stop() });
  if (wire) listeners.push({ endpoint: "wireserver", setDown: (d) => wire.setDown(d), stop: () => wire.stop() });
  if (wireAlt) listeners.push({ endpoint: "wireserver", setDown: (d) => wireAlt.setDown(d), stop: () => wireAlt.stop() });
  if (dns) listeners.push({ endpoint: "dns", setDown: (d) => dns.setDown(d), stop: () => dns.stop() });

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
    await Promise.allSettled(listeners.map((l) => l.stop()));
    throw err;
  }
  let applying = Promise.resolve();
  state.on("knobs", (knobs) => {
    applying = applyDown(knobs);
  });
  state.on("topology", (t) => dns?.setTopology(t));

  return {
    state,
    addresses: () => ({ imds: imds?.address, wireserver: wire?.address, wireserverAlt: wireAlt?.address, dns: dns?.address }),
    settled: () => applying,
    close: async () => {
      state.close();
      await Promise.allSettled(listeners.map((l) => l.stop()));
    },
  };
}

/**
 * The table of protocol methods: for each `/<Interface>.<Method>` path, the
 * schema its body must match and how to turn the validated request into a
 * driver call and a reply body.
 */
import type * as v from "valibot";
import type { CallContext, IpamDriver, NetworkDriver } from "./types";
import * as s from "./schemas";
import { decodeRequest } from "./decode";

export interface Drivers {
  network: NetworkDriver;
  ipam: IpamDriver;
  /** The daemon's own state for the operator commands (AzureVnet.Status); {} when not wired. */
  status?: () => object;
}

export interface Route {
  /** "<Interface>.<Method>", as in the path and in messages. */
  readonly method: string;
  /** Polled often by Docker, so successes are logged at debug level only. */
  readonly quiet: boolean;
  /** Validate `body` (throws PluginError) and return the driver call to make. */
  prepare(body: unknown, drivers: Drivers): (ctx: CallContext) => Promise<object>;
}

function route<S extends v.GenericSchema>(
  method: string,
  schema: S,
  call: (req: v.InferOutput<S>, drivers: Drivers, ctx: CallContext) => object | Promise<object>,
  opts: { quiet: boolean } = { quiet: false },
): Route {
  return {
    method,
    quiet: opts.quiet,
    prepare(body, drivers) {
      const req = decodeRequest(method, schema, body);
      return async (ctx) => call(req, drivers, ctx);
    },
  };
}

// Frozen so a reply object shared between requests can never be altered.
const empty = Object.freeze({});

const ROUTES: Route[] = [
  route("Plugin.Activate", s.emptyRequest, () => ({ Implements: ["NetworkDriver", "IpamDriver"] }), { quiet: true }),
  // Not part of Docker's protocol: `azure-vnet-plugin status` and `doctor` ask it over the same socket. Read-only.
  route("AzureVnet.Status", s.emptyRequest, (_, d) => d.status?.() ?? empty, { quiet: true }),

  route("NetworkDriver.GetCapabilities", s.emptyRequest, (_, d) => d.network.getCapabilities(), { quiet: true }),
  route("NetworkDriver.CreateNetwork", s.createNetworkRequest, async (req, d) => {
    await d.network.createNetwork(req);
    return empty;
  }),
  route("NetworkDriver.DeleteNetwork", s.networkRequest, async (req, d) => {
    await d.network.deleteNetwork(req);
    return empty;
  }),
  route("NetworkDriver.CreateEndpoint", s.createEndpointRequest, async (req, d, ctx) => {
    return (await d.network.createEndpoint(req, ctx)) ?? empty;
  }),
  route("NetworkDriver.DeleteEndpoint", s.endpointRequest, async (req, d) => {
    await d.network.deleteEndpoint(req);
    return empty;
  }),
  route("NetworkDriver.Join", s.joinRequest, (req, d) => d.network.join(req)),
  route("NetworkDriver.Leave", s.endpointRequest, async (req, d) => {
    await d.network.leave(req);
    return empty;
  }),
  route("NetworkDriver.EndpointOperInfo", s.endpointRequest, async (req, d) => ({ Value: (await d.network.endpointOperInfo(req)) ?? {} }), {
    quiet: true,
  }),
  // Port publishing: Docker sends the -p bindings with Program, and Revoke when they go.
  route("NetworkDriver.ProgramExternalConnectivity", s.programExternalConnectivityRequest, async (req, d) => {
    await d.network.programExternalConnectivity(req);
    return empty;
  }),
  route("NetworkDriver.RevokeExternalConnectivity", s.endpointRequest, async (req, d) => {
    await d.network.revokeExternalConnectivity(req);
    return empty;
  }),
  // Swarm-only calls; a local-scope driver answers them with empty results.
  route("NetworkDriver.AllocateNetwork", s.allocateNetworkRequest, () => ({ Options: {} })),
  route("NetworkDriver.FreeNetwork", s.networkRequest, () => empty),
  route("NetworkDriver.DiscoverNew", s.discoverRequest, () => empty),
  route("NetworkDriver.DiscoverDelete", s.discoverRequest, () => empty),

  route("IpamDriver.GetCapabilities", s.emptyRequest, (_, d) => d.ipam.getCapabilities(), { quiet: true }),
  route("IpamDriver.GetDefaultAddressSpaces", s.emptyRequest, (_, d) => d.ipam.getDefaultAddressSpaces(), { quiet: true }),
  route("IpamDriver.RequestPool", s.requestPoolRequest, (req, d, ctx) => d.ipam.requestPool(req, ctx)),
  route("IpamDriver.ReleasePool", s.releasePoolRequest, async (req, d) => {
    await d.ipam.releasePool(req);
    return empty;
  }),
  route("IpamDriver.RequestAddress", s.requestAddressRequest, (req, d, ctx) => d.ipam.requestAddress(req, ctx)),
  route("IpamDriver.ReleaseAddress", s.releaseAddressRequest, async (req, d) => {
    await d.ipam.releaseAddress(req);
    return empty;
  }),
];

/** Routes keyed by URL path ("/NetworkDriver.Join"). */
export const routesByPath: ReadonlyMap<string, Route> = new Map(ROUTES.map((r) => [`/${r.method}`, r]));

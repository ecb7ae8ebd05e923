/**
 * Driving the plugin over its socket the way Docker does (protocol doc §4),
 * without Docker: a network from RequestPool and CreateNetwork, then endpoint
 * lifecycles. IDs are random 64-hex strings, as Docker's are.
 */
import { randomBytes } from "node:crypto";
import { callPlugin } from "../sim/plugin-process";
import { BENCH_SUBNET } from "./topology";
import { LifecycleSample, StepTimer } from "./lifecycle";

export const dockerId = (): string => randomBytes(32).toString("hex");
/** Join only answers with interface names (Docker moves the link itself), so no sandbox need exist. */
const SANDBOX_KEY = "/var/run/docker/netns/bench";

export class PluginClient {
  constructor(readonly socket: string) {}

  async call<T = Record<string, unknown>>(method: string, body: unknown = {}): Promise<T> {
    const r = await callPlugin(this.socket, method, body);
    const reply = r.body as Record<string, unknown> | string;
    const err = typeof reply === "object" && reply !== null ? reply.Err : reply;
    if (r.status !== 200 || (typeof err === "string" && err !== "")) throw new Error(`${method} failed (HTTP ${r.status}): ${String(err)}`);
    return reply as T;
  }
}

export interface SocketNetwork {
  networkId: string;
  poolId: string;
  gateway: string;
}

/** The calls of `docker network create -d azure-vnet --ipam-driver azure-vnet --subnet …`. */
export async function createNetwork(c: PluginClient): Promise<SocketNetwork> {
  const spaces = await c.call<{ LocalDefaultAddressSpace: string }>("IpamDriver.GetDefaultAddressSpaces");
  const pool = await c.call<{ PoolID: string }>("IpamDriver.RequestPool", {
    AddressSpace: spaces.LocalDefaultAddressSpace,
    Pool: BENCH_SUBNET,
    SubPool: "",
    Options: {},
    V6: false,
  });
  const gw = await c.call<{ Address: string }>("IpamDriver.RequestAddress", {
    PoolID: pool.PoolID,
    Address: "",
    Options: { RequestAddressType: "com.docker.network.gateway" },
  });
  const networkId = dockerId();
  await c.call("NetworkDriver.CreateNetwork", {
    NetworkID: networkId,
    Options: { "com.docker.network.generic": {} },
    IPv4Data: [{ AddressSpace: spaces.LocalDefaultAddressSpace, Pool: BENCH_SUBNET, Gateway: gw.Address }],
    IPv6Data: [],
  });
  return { networkId, poolId: pool.PoolID, gateway: gw.Address };
}

/** The calls of `docker network rm`. */
export async function deleteNetwork(c: PluginClient, net: SocketNetwork): Promise<void> {
  await c.call("IpamDriver.ReleaseAddress", { PoolID: net.poolId, Address: net.gateway.split("/")[0] });
  await c.call("IpamDriver.ReleasePool", { PoolID: net.poolId });
  await c.call("NetworkDriver.DeleteNetwork", { NetworkID: net.networkId });
}

export interface Attached {
  endpointId: string;
  address: string;
}

/** RequestAddress, CreateEndpoint, Join: what `docker run` asks of the plugin. */
export async function attach(c: PluginClient, net: SocketNetwork, t: StepTimer): Promise<Attached> {
  const endpointId = dockerId();
  const got = await t.step("RequestAddress", () =>
    c.call<{ Address: string }>("IpamDriver.RequestAddress", { PoolID: net.poolId, Address: "", Options: {} }),
  );
  const ids = { NetworkID: net.networkId, EndpointID: endpointId };
  await t.step("CreateEndpoint", () =>
    c.call("NetworkDriver.CreateEndpoint", { ...ids, Interface: { Address: got.Address, AddressIPv6: "", MacAddress: "" }, Options: {} }),
  );
  await t.step("Join", () => c.call("NetworkDriver.Join", { ...ids, SandboxKey: SANDBOX_KEY, Options: {} }));
  return { endpointId, address: got.Address.split("/")[0] };
}

/** Leave, DeleteEndpoint, ReleaseAddress: what a container stop asks of the plugin. */
export async function detach(c: PluginClient, net: SocketNetwork, ep: Attached, t: StepTimer): Promise<void> {
  const ids = { NetworkID: net.networkId, EndpointID: ep.endpointId };
  await t.step("Leave", () => c.call("NetworkDriver.Leave", ids));
  await t.step("DeleteEndpoint", () => c.call("NetworkDriver.DeleteEndpoint", ids));
  await t.step("ReleaseAddress", () => c.call("IpamDriver.ReleaseAddress", { PoolID: net.poolId, Address: ep.address }));
}

export async function lifecycle(c: PluginClient, net: SocketNetwork): Promise<LifecycleSample> {
  const t = new StepTimer();
  const ep = await attach(c, net, t);
  await detach(c, net, ep, t);
  return t.done();
}

/**
 * The IPAM and the network layer together, as the plugin wires them: every
 * held address names its endpoint, and an address is freed only together
 * with its holder. Also the protocol layer's timeouts, which must leave
 * nothing behind, and the port guards of adopted endpoints.
 */
import { strict as assert } from "node:assert";
import { AddressManager, MetadataCache } from "../../../driver/ipam";
import { emptyIpamState } from "../../../driver/ipam/ipam-state";
import { NetworkManager } from "../../../driver/network/manager";
import { emptyNetworkState } from "../../../driver/network/records";
import { releaseDeadEndpoints } from "../../../driver/reconcile/reclaim";
import { createProtocolApp, serveUnixSocket } from "../../../driver/protocol/server";
import { makeTempDir, sendRequest } from "../protocol/harness";
import { FakeClock, FakeSource, standardNics } from "../ipam/helpers";
import { FakeDataplane } from "./fake-dataplane";
import type { IpamDriver, NetworkDriver } from "../../../driver/protocol/types";
import * as path from "node:path";
import * as fs from "node:fs/promises";

const NET = "a".repeat(64);
const ep = (n: number) => `${n}`.repeat(64).slice(0, 64);
const POOL = "AzureVNetLocal/10.0.0.0/24";

function wired() {
  const dp = new FakeDataplane();
  const checkpoint = { ipam: emptyIpamState(), network: emptyNetworkState() };
  const warnings: string[] = [];
  const logger = {
    error() {},
    warn: (m: string) => void warnings.push(m),
    info() {},
    debug() {},
    log() {},
    child() {
      return logger;
    },
  };
  let persistDelayMs = 0;
  const persist = async () => {
    if (persistDelayMs) await new Promise((r) => setTimeout(r, persistDelayMs));
  };
  const clock = new FakeClock();
  const ipam = new AddressManager({
    metadata: new MetadataCache(new FakeSource(standardNics()), { clock }),
    state: checkpoint.ipam,
    persist,
    clock,
    liveEndpoint: (id) => Object.hasOwn(checkpoint.network.endpoints, id),
    onWarning: (m) => void warnings.push(m),
  });
  const network = new NetworkManager({ dataplane: dp, pools: ipam, state: checkpoint.network, persist, logger: logger as never });
  return {
    dp,
    checkpoint,
    warnings,
    ipam,
    network,
    logger,
    slowPersist: (ms: number) => (persistDelayMs = ms),
    held: () =>
      Object.keys(checkpoint.ipam.addresses)
        .filter((a) => checkpoint.ipam.addresses[a].kind === "endpoint")
        .sort(),
    request: async (address = "") =>
      (await ipam.requestAddress({ PoolID: POOL, Address: address, Options: { "com.docker.network.endpoint.name": "c" } })).Address.split(
        "/",
      )[0],
    create: (id: string, address: string) =>
      network.createEndpoint({
        NetworkID: NET,
        EndpointID: id,
        Interface: { Address: `${address}/24`, AddressIPv6: "", MacAddress: "" },
        Options: {},
      }),
  };
}

async function withNetwork() {
  const w = wired();
  await w.ipam.requestPool({ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false });
  await w.ipam.requestAddress({ PoolID: POOL, Address: "", Options: { RequestAddressType: "com.docker.network.gateway" } });
  await w.network.createNetwork({
    NetworkID: NET,
    Options: { "com.docker.network.generic": {} },
    IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", Gateway: "10.0.0.1/24" }],
    IPv6Data: [],
  });
  return w;
}

describe("address holders", () => {
  it("refuses a late ReleaseAddress for an address a live endpoint now holds, and never hands it out again", async () => {
    const w = await withNetwork();
    const first = await w.request();
    await w.create(ep(1), first);
    // Docker's normal teardown of the first container ...
    await w.network.deleteEndpoint({ NetworkID: NET, EndpointID: ep(1) });
    await w.ipam.releaseAddress({ PoolID: POOL, Address: first });
    // ... the next container gets the same address and its endpoint ...
    assert.equal(await w.request(), first);
    await w.create(ep(2), first);
    // ... then the first container's ReleaseAddress arrives again.
    await w.ipam.releaseAddress({ PoolID: POOL, Address: first });
    assert.equal(w.checkpoint.ipam.addresses[first]?.endpointId, ep(2), "still held by the live endpoint");
    assert.match(w.warnings.join("\n"), /release refused: a live endpoint holds the address/);
    assert.notEqual(await w.request(), first, "not handed out a second time");
  });

  it("frees the address on Docker's ReleaseAddress after DeleteEndpoint, once", async () => {
    const w = await withNetwork();
    const a = await w.request();
    await w.create(ep(1), a);
    await w.network.deleteEndpoint({ NetworkID: NET, EndpointID: ep(1) });
    assert.deepEqual(w.held(), [a], "held between DeleteEndpoint and ReleaseAddress");
    await w.ipam.releaseAddress({ PoolID: POOL, Address: a });
    assert.deepEqual(w.held(), []);
  });

  it("takes back a grant that a late release freed before CreateEndpoint, and refuses one given to another container meanwhile", async () => {
    const w = await withNetwork();
    const a = await w.request();
    await w.ipam.releaseAddress({ PoolID: POOL, Address: a }); // late, meant for an earlier holder
    await w.create(ep(1), a);
    assert.equal(w.checkpoint.ipam.addresses[a]?.endpointId, ep(1), "held again, by its endpoint");
    assert.notEqual(await w.request(), a);

    const b = await w.request();
    await w.ipam.releaseAddress({ PoolID: POOL, Address: b });
    assert.equal(await w.request(b), b, "another container was given it");
    await w.create(ep(3), b);
    await assert.rejects(w.create(ep(2), b), /already (held|used) by endpoint 333333333333/);
    assert.equal(w.checkpoint.network.endpoints[ep(2)], undefined);
    assert.ok(!w.dp.links.has(`azvh${ep(2).slice(0, 11)}`), "its veth is gone");
  });

  it("releases an endpoint the plugin removes itself together with its own address only", async () => {
    const w = await withNetwork();
    const a = await w.request();
    const b = await w.request();
    await w.create(ep(1), a);
    await w.create(ep(2), b);
    assert.equal(await w.network.releaseEndpoint(ep(1)), true);
    assert.deepEqual(w.held(), [b]);
    assert.equal(await w.network.releaseEndpoint(ep(1)), false, "idempotent");
  });

  it("releases at start-up the endpoints whose veth is gone, each with its address, and nothing else", async () => {
    const w = await withNetwork();
    const a = await w.request();
    const b = await w.request();
    await w.create(ep(1), a);
    await w.create(ep(2), b);
    const pending = await w.request();
    await w.dp.removeEndpointLink(`azvh${ep(1).slice(0, 11)}`);
    const released = await releaseDeadEndpoints(w.checkpoint.network, w.dp, { network: w.network }, w.logger as never);
    assert.deepEqual(released, [a]);
    assert.deepEqual(w.held(), [b, pending].sort(), "a live endpoint's address and a pending grant stay");
  });

  it("gives an adopted endpoint whose MAC Docker does not know a guard with its container end's MAC", async () => {
    const w = await withNetwork();
    const host = `azvh${ep(4).slice(0, 11)}`;
    await w.dp.createEndpointLink({
      bridge: `azvb${NET.slice(0, 11)}`,
      hostName: host,
      peerName: `azvc${ep(4).slice(0, 11)}`,
      mtu: 1400,
      peerMac: "02:42:0a:00:00:0e",
    });
    await w.ipam.adoptAddress(POOL, "10.0.0.14", ep(4));
    assert.equal(await w.network.adoptEndpoint({ id: ep(4), networkId: NET, address: "10.0.0.14" }), true);
    assert.deepEqual(w.dp.guards.get(host), { port: host, address: "10.0.0.14", mac: "02:42:0a:00:00:0e" });
    assert.equal(w.checkpoint.ipam.addresses["10.0.0.14"].endpointId, ep(4));
    await assert.rejects(w.network.adoptEndpoint({ id: ep(5), networkId: NET, address: "10.0.0.14" }), /already held by endpoint/);
  });

  it("restores a guard removed behind its back at the next check, and writes nothing when all are in place", async () => {
    const w = await withNetwork();
    const a = await w.request();
    await w.create(ep(1), a);
    const port = `azvh${ep(1).slice(0, 11)}`;
    assert.deepEqual(await w.network.repairGuards({ removeOthers: true }), { repaired: [], removed: [] });
    w.dp.guards.delete(port);
    assert.deepEqual(await w.network.repairGuards({ removeOthers: true }), { repaired: [port], removed: [] });
    assert.equal(w.dp.guards.get(port)?.address, a);
  });
});

describe("requests Docker gave up on", () => {
  async function served(w: Awaited<ReturnType<typeof withNetwork>>) {
    const dir = await makeTempDir();
    const socket = path.join(dir, "p.sock");
    const app = createProtocolApp({
      network: w.network as NetworkDriver,
      ipam: w.ipam as IpamDriver,
      logger: w.logger as never,
      handlerTimeoutMs: 100,
    });
    const server = await serveUnixSocket(app, socket);
    return {
      call: (method: string, body: unknown) => sendRequest(socket, `/${method}`, body),
      close: async () => {
        await server.close();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  }
  const settle = () => new Promise((r) => setTimeout(r, 400));

  it("undoes a RequestAddress whose save outlived the timeout", async () => {
    const w = await withNetwork();
    const s = await served(w);
    try {
      w.slowPersist(250);
      const reply = await s.call("IpamDriver.RequestAddress", { PoolID: POOL, Address: "", Options: {} });
      assert.equal(reply.status, 500);
      assert.match(reply.text, /timed out after 100 ms/);
      await settle();
      assert.deepEqual(w.held(), [], "the late grant was taken back");
      w.slowPersist(0);
      const next = await s.call("IpamDriver.RequestAddress", { PoolID: POOL, Address: "", Options: {} });
      assert.deepEqual(JSON.parse(next.text), { Address: "10.0.0.10/24" }, "the same address is free for the next request");
    } finally {
      await s.close();
    }
  });

  it("undoes a RequestPool whose save outlived the timeout, so the pool's reference count does not leak", async () => {
    const w = await withNetwork();
    const s = await served(w);
    try {
      w.slowPersist(250);
      const reply = await s.call("IpamDriver.RequestPool", {
        AddressSpace: "AzureVNetLocal",
        Pool: "10.0.0.0/24",
        SubPool: "",
        Options: {},
        V6: false,
      });
      assert.equal(reply.status, 500);
      await settle();
      assert.equal(w.checkpoint.ipam.pools[POOL].refCount, 1);
    } finally {
      await s.close();
    }
  });

  it("undoes a CreateEndpoint whose kernel work outlived the timeout: no record, no veth, no guard", async () => {
    const w = await withNetwork();
    const s = await served(w);
    try {
      const a = await w.request();
      const slow = w.dp.createEndpointLink.bind(w.dp);
      w.dp.createEndpointLink = async (spec) => {
        await new Promise((r) => setTimeout(r, 250));
        return slow(spec);
      };
      const reply = await s.call("NetworkDriver.CreateEndpoint", {
        NetworkID: NET,
        EndpointID: ep(1),
        Interface: { Address: `${a}/24`, AddressIPv6: "", MacAddress: "" },
        Options: {},
      });
      assert.equal(reply.status, 500);
      assert.match(reply.text, /timed out after 100 ms/);
      await settle();
      assert.deepEqual(Object.keys(w.checkpoint.network.endpoints), []);
      assert.ok(![...w.dp.links.keys()].some((n) => n.startsWith("azvh") || n.startsWith("azvc")), "no veth left");
      assert.equal(w.dp.guards.size, 0);
      assert.equal(w.checkpoint.ipam.addresses[a]?.endpointId, undefined, "the address waits for Docker's ReleaseAddress, bound to no one");

      // The same when it is the save that outlives the timeout: the endpoint was already recorded.
      w.dp.createEndpointLink = slow;
      w.slowPersist(250);
      const late = await s.call("NetworkDriver.CreateEndpoint", {
        NetworkID: NET,
        EndpointID: ep(2),
        Interface: { Address: `${a}/24`, AddressIPv6: "", MacAddress: "" },
        Options: {},
      });
      assert.match(late.text, /timed out after 100 ms/);
      await settle();
      await settle();
      assert.deepEqual(Object.keys(w.checkpoint.network.endpoints), []);
      assert.equal(w.dp.guards.size, 0);
      assert.equal(w.checkpoint.ipam.addresses[a]?.endpointId, undefined);
    } finally {
      await s.close();
    }
  });
});

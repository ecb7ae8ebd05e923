/**
 * The e2e fuzzer's cases, fast and in-process: the real protocol app, the
 * real AddressManager and NetworkManager, a fake kernel. Afterwards the
 * checkpoint, the kernel calls and the JavaScript built-ins must all be as
 * they were: a hostile PoolID such as "constructor" must not reach
 * Object.prototype.
 */
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { AddressManager } from "../../../driver/ipam/address-manager";
import { emptyIpamState } from "../../../driver/ipam/ipam-state";
import { MetadataCache } from "../../../driver/ipam";
import { NetworkManager } from "../../../driver/network/manager";
import { emptyNetworkState } from "../../../driver/network/records";
import { createProtocolApp, serveUnixSocket, type SocketServer } from "../../../driver/protocol/server";
import { callPlugin } from "../../../sim/plugin-process";
import { fuzzSeed } from "../../e2e/helpers/fuzz-rng";
import { runFuzz, summarise } from "../../e2e/helpers/fuzz-run";
import type { FuzzContext } from "../../e2e/helpers/fuzz-templates";
import { FakeSource, MAC1, nic, range } from "../ipam/helpers";
import { FakeDataplane } from "../network/fake-dataplane";
import { silent } from "../support/silent-logger";

const NETWORK_ID = "5e".repeat(32);
const ENDPOINT_ID = "e9".repeat(32);

/** Own property names of the built-ins a prototype-keyed lookup could write to. */
function builtins(): string {
  return [Object, Object.prototype, Function.prototype, Array.prototype]
    .map((o) => Object.getOwnPropertyNames(o).sort().join(","))
    .join("|");
}

describe("protocol fuzzing against the real IPAM and network layers", function () {
  this.timeout(120_000);
  let dir: string;
  let server: SocketServer;
  let socket: string;
  const checkpoint = { ipam: emptyIpamState(), network: emptyNetworkState() };
  let persists = 0;
  const dp = new FakeDataplane();
  let poolId: string;
  let context: FuzzContext;

  before(async function () {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "azvnet-fuzz-"));
    socket = path.join(dir, "plugin.sock");
    const source = new FakeSource([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 10, 17)])]);
    const persist = async () => void (persists += 1);
    const ipam = new AddressManager({ metadata: new MetadataCache(source), state: checkpoint.ipam, persist });
    const network = new NetworkManager({ dataplane: dp, pools: ipam, state: checkpoint.network, persist, logger: silent });
    server = await serveUnixSocket(createProtocolApp({ network, ipam, logger: silent }), socket);
    // A network with one container, set up the way Docker does it.
    const pool = await callPlugin(socket, "IpamDriver.RequestPool", {
      AddressSpace: "AzureVNetLocal",
      Pool: "10.0.0.0/24",
      SubPool: "",
      Options: {},
      V6: false,
    });
    poolId = (pool.body as { PoolID: string }).PoolID;
    await callPlugin(socket, "IpamDriver.RequestAddress", {
      PoolID: poolId,
      Address: "",
      Options: { RequestAddressType: "com.docker.network.gateway" },
    });
    const created = await callPlugin(socket, "NetworkDriver.CreateNetwork", {
      NetworkID: NETWORK_ID,
      Options: { "com.docker.network.generic": {} },
      IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", Gateway: "10.0.0.1/24" }],
      IPv6Data: [],
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const addr = await callPlugin(socket, "IpamDriver.RequestAddress", {
      PoolID: poolId,
      Address: "",
      Options: { "com.docker.network.endpoint.name": "held" },
    });
    const held = (addr.body as { Address: string }).Address;
    assert.equal(held, "10.0.0.10/24");
    const ep = await callPlugin(socket, "NetworkDriver.CreateEndpoint", {
      NetworkID: NETWORK_ID,
      EndpointID: ENDPOINT_ID,
      Interface: { Address: held, AddressIPv6: "", MacAddress: "" },
      Options: {},
    });
    assert.equal(ep.status, 200, JSON.stringify(ep.body));
    assert.equal(
      (
        await callPlugin(socket, "NetworkDriver.Join", {
          NetworkID: NETWORK_ID,
          EndpointID: ENDPOINT_ID,
          SandboxKey: "/var/run/docker/netns/x",
          Options: {},
        })
      ).status,
      200,
    );
    // Docker moves the container end into the container after Join.
    dp.links.delete(`azvc${ENDPOINT_ID.slice(0, 11)}`);

    context = {
      networkId: NETWORK_ID,
      poolId,
      subnet: "10.0.0.0/24",
      prefix: 24,
      gateway: "10.0.0.1",
      primary: "10.0.0.4",
      endpointId: ENDPOINT_ID,
      heldAddress: "10.0.0.10",
      freeIpConfigs: range("10.0.0.", 11, 17),
      notIpConfigs: ["10.0.0.5", "10.0.0.99", "10.0.0.200"],
      foreignSubnets: ["10.9.0.0/24", "10.1.0.0/24", "192.168.100.0/24"],
    };
  });

  after(async function () {
    await server?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it("treats pool IDs and IPAM options named after Object.prototype members as unknown", async function () {
    const before = { state: JSON.stringify(checkpoint), builtins: builtins() };
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
      const request = await callPlugin(socket, "IpamDriver.RequestAddress", { PoolID: name, Address: "", Options: {} });
      assert.equal(request.status, 500);
      assert.match(String((request.body as { Err: string }).Err), new RegExp(`^unknown pool "${name}"`));
      // Releases of unknown pools are no-ops, as Docker expects.
      assert.equal((await callPlugin(socket, "IpamDriver.ReleaseAddress", { PoolID: name, Address: "10.0.0.10" })).status, 200);
      assert.equal((await callPlugin(socket, "IpamDriver.ReleasePool", { PoolID: name })).status, 200);
      const option = await callPlugin(socket, "IpamDriver.RequestPool", {
        AddressSpace: "",
        Pool: "10.0.0.0/24",
        SubPool: "",
        Options: { [name]: "1" },
        V6: false,
      });
      // Keys a decoded map could not hold as they are are refused by name; the others reach the IPAM, which knows none of them.
      const refusal = ["__proto__", "constructor"].includes(name)
        ? `^invalid IpamDriver.RequestPool request: Options.${name}: key must not be "${name}", a name JavaScript reserves`
        : `^unknown IPAM option "${name}"`;
      assert.match(String((option.body as { Err: string }).Err), new RegExp(refusal));
    }
    assert.equal(builtins(), before.builtins, "a request changed a JavaScript built-in");
    assert.equal(JSON.stringify(checkpoint), before.state);
  });

  it("answers every hostile request with an error or a no-op and changes nothing", async function () {
    const before = { state: JSON.stringify(checkpoint), persists, calls: dp.calls.length, builtins: builtins() };
    const seed = fuzzSeed();
    const report = await runFuzz({
      seed,
      count: Number(process.env.FUZZ_UNIT_COUNT ?? 3000),
      socket,
      context,
      concurrency: 8,
      timeoutMs: 2000,
    });
    console.log(summarise(report));

    assert.deepEqual(report.failures.slice(0, 10), [], `seed ${seed}: ${report.failures.length} bad answers`);
    assert.equal(report.internalErrors, 0);
    assert.equal(builtins(), before.builtins, "a request changed a JavaScript built-in");
    assert.equal(JSON.stringify(checkpoint), before.state, "the plugin's state changed");
    assert.equal(persists, before.persists, "the plugin saved its state");
    assert.deepEqual(dp.calls.slice(before.calls), [], "the fuzzer reached the kernel");
    // Most requests must get past JSON parsing, to validation or a handler.
    const deep = report.byStage.validation + report.byStage.handler + report.byStage["handler-ok"];
    assert.ok(deep >= report.sent * 0.6, `only ${deep} of ${report.sent} requests reached validation or a handler`);
    assert.ok(report.byStage.handler + report.byStage["handler-ok"] >= report.sent * 0.25, "too few requests reached a handler");

    // Still serving: the next container gets the next address.
    const next = await callPlugin(socket, "IpamDriver.RequestAddress", {
      PoolID: poolId,
      Address: "",
      Options: { "com.docker.network.endpoint.name": "after" },
    });
    assert.deepEqual(next.body, { Address: "10.0.0.11/24" });
    await callPlugin(socket, "IpamDriver.ReleaseAddress", { PoolID: poolId, Address: "10.0.0.11" });
  });

  // Docker only sends an address its IPAM handed out, so a live endpoint's
  // address in CreateEndpoint comes from a confused or hostile caller. The
  // running container must keep its veth, route and port guard.
  it("refuses a new endpoint on the address of a live endpoint and leaves that endpoint alone", async function () {
    const before = { state: JSON.stringify(checkpoint), calls: dp.calls.length };
    const other = "0f".repeat(32);
    const r = await callPlugin(socket, "NetworkDriver.CreateEndpoint", {
      NetworkID: NETWORK_ID,
      EndpointID: other,
      Interface: { Address: "10.0.0.10/24", AddressIPv6: "", MacAddress: "" },
      Options: {},
    });
    assert.equal(r.status, 500, `a second endpoint was created on 10.0.0.10: ${JSON.stringify(r.body)}`);
    assert.match(String((r.body as { Err: string }).Err), /10\.0\.0\.10 is already used by endpoint/);
    assert.deepEqual(dp.calls.slice(before.calls), [], "the kernel was touched");
    assert.equal(JSON.stringify(checkpoint), before.state);
  });
});

/**
 * Transparent mode in the network layer: the option, the kernel model (no
 * bridge, routes via each endpoint's own host veth, no port guards), what the
 * manager asks of the dataplane, the start-up repair, and networks of both
 * modes side by side.
 */
import { strict as assert } from "node:assert";
import { NetworkManager, type PoolDirectory, firewallInputFor } from "../../../driver/network/manager";
import { parseNetworkOptions } from "../../../driver/network/options";
import { type NetworkState, emptyNetworkState, portGroup } from "../../../driver/network/records";
import { desiredKernel, diffKernel, guardOf, newEndpointKernel, routedPortProblems } from "../../../driver/network/kernel-model";
import { checkNetworkFits } from "../../../driver/network/modes";
import { repairKernel } from "../../../driver/network/repair";
import { syncGuards } from "../../../driver/network/guards";
import type { CreateNetworkRequest } from "../../../driver/protocol/types";
import { FakeDataplane } from "./fake-dataplane";
import { BR, NET, endpointRecord, networkState } from "./fixtures";
import { silent } from "../support/silent-logger";
import { oneNicDirectory } from "./one-nic";

const NET_T = "c".repeat(64);
const EP = (n: number) => n.toString(16).padStart(64, "e");
const veth = (n: number) => `azvh${EP(n).slice(0, 11)}`;

/** The fixtures' state with its network in transparent mode. */
function transparentState(...endpoints: NetworkState["endpoints"][string][]): NetworkState {
  const s = networkState(...endpoints);
  s.networks[NET].options.mode = "transparent";
  return s;
}

function pools(): PoolDirectory {
  const bound = new Map<string, string>();
  return {
    bindAddress: async (_pool, address, id) => void bound.set(address, id),
    unbindAddress: async (address, id) => bound.get(address) === id && bound.delete(address),
    poolInfoBySubnet: (space, subnet) =>
      space === "AzureVNetLocal" && subnet === "10.0.0.0/24"
        ? { subnet, gateway: "10.0.0.1", primaryAddress: "10.0.0.4", nicMac: "00:0d:3a:00:00:01" }
        : undefined,
    networkCreated: () => undefined,
    ...oneNicDirectory,
  };
}

function setup() {
  const dp = new FakeDataplane();
  const state = emptyNetworkState();
  const mgr = new NetworkManager({ dataplane: dp, pools: pools(), state, persist: async () => undefined, logger: silent });
  return { dp, state, mgr };
}

function createReq(id: string, generic: Record<string, string> = {}): CreateNetworkRequest {
  return {
    NetworkID: id,
    Options: { "com.docker.network.generic": generic },
    IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", Gateway: "10.0.0.1/24" }],
    IPv6Data: [],
  };
}

const endpoint = (network: string, n: number, address: string) => ({
  NetworkID: network,
  EndpointID: EP(n),
  Interface: { Address: `${address}/24`, AddressIPv6: "", MacAddress: "" },
  Options: {},
});

describe("transparent mode", () => {
  describe("the option", () => {
    it("is bridge by default, takes transparent, and refuses anything else naming both", () => {
      assert.equal(parseNetworkOptions({}).mode, "bridge");
      assert.equal(parseNetworkOptions({ mode: "transparent" }).mode, "transparent");
      assert.equal(parseNetworkOptions({ mode: "bridge" }).mode, "bridge");
      assert.throws(() => parseNetworkOptions({ mode: "Transparent" }), /mode=Transparent is not supported: use bridge or transparent/);
    });
  });

  describe("kernel model", () => {
    const links = new Set(["eth0", "azvh11111111111", "azvh22222222222"]);

    it("wants no bridge, a route via each live endpoint's own host veth, and no guards", () => {
      const d = desiredKernel(transparentState(endpointRecord(1, "02:42:0a:00:00:0a"), endpointRecord(2), endpointRecord(3)), links);
      assert.deepEqual(d.bridges, []);
      assert.deepEqual(
        d.live.map((e) => [e.address, e.mode, e.bridge, e.routeDev, e.portGroup]),
        [
          ["10.0.0.10", "transparent", undefined, "azvh11111111111", portGroup(NET)],
          ["10.0.0.11", "transparent", undefined, "azvh22222222222", portGroup(NET)],
        ],
      );
      assert.deepEqual(
        [...d.routes].map(([dev, a]) => [dev, [...a]]),
        [
          ["azvh11111111111", ["10.0.0.10"]],
          ["azvh22222222222", ["10.0.0.11"]],
        ],
      );
      assert.deepEqual(d.guards, [], "even an endpoint with a known MAC gets no guard");
      assert.ok(!d.names.has(BR), "the reserved bridge name explains no link");
    });

    it("finds a missing route on a routed port, calls a stray bridge an orphan, and misses no guard", () => {
      const state = transparentState(endpointRecord(1), endpointRecord(2));
      const d = desiredKernel(state, links);
      const diff = diffKernel(d, {
        links: new Set([...links, BR]),
        routes: new Map([
          ["azvh11111111111", ["10.0.0.10"]],
          ["azvh22222222222", []],
        ]),
        guards: [],
      });
      assert.deepEqual(diff.missingRoutes, [{ address: "10.0.0.11", dev: "azvh22222222222", endpointId: "2".repeat(64) }]);
      assert.deepEqual(diff.missingBridges, []);
      assert.deepEqual(diff.orphanLinks, [BR]);
      assert.deepEqual(diff.missingGuards, []);
    });

    it("names a new endpoint's pieces with its network's port group and no bridge", () => {
      const net = transparentState().networks[NET];
      const k = newEndpointKernel("f".repeat(64), "10.0.0.13", net, "02:42:0a:00:00:0d");
      assert.deepEqual([k.hostVeth, k.routeDev, k.bridge, k.portGroup], ["azvhfffffffffff", "azvhfffffffffff", undefined, portGroup(NET)]);
      assert.equal(guardOf(k), undefined);
    });

    it("derives port groups from network ids: stable, distinct, with bit 28 set and never 0", () => {
      assert.equal(portGroup(NET), portGroup(NET));
      assert.notEqual(portGroup(NET), portGroup(NET_T));
      for (const id of [NET, NET_T, "x", ""]) assert.ok(portGroup(id) >= 0x10000000 && portGroup(id) <= 0x1fffffff);
    });

    it("says what is wrong with a routed port, with the command that fixes each thing", () => {
      const ep = desiredKernel(transparentState(endpointRecord(1)), links).live[0];
      const good = { group: portGroup(NET), up: true, proxyArp: true, proxyDelay: 0, rpFilter: 1, ipv6Disabled: true };
      assert.deepEqual(routedPortProblems(ep, good), []);
      assert.deepEqual(routedPortProblems(ep, { ...good, ipv6Disabled: undefined }), [], "a kernel without IPv6 is fine");
      assert.deepEqual(routedPortProblems(ep, { ...good, rpFilter: 2 }), [], "loose is strict on a port without an address");
      const bad = routedPortProblems(ep, { group: 0, up: false, proxyArp: false, proxyDelay: 80, rpFilter: 0, ipv6Disabled: false });
      assert.deepEqual(
        bad.map((p) => p.fix),
        [
          `ip link set azvh11111111111 group ${portGroup(NET)}`,
          "ip link set azvh11111111111 up",
          "sysctl -w net.ipv4.conf.azvh11111111111.proxy_arp=1",
          "sysctl -w net.ipv4.neigh.azvh11111111111.proxy_delay=0",
          "sysctl -w net.ipv4.conf.azvh11111111111.rp_filter=1",
          "sysctl -w net.ipv6.conf.azvh11111111111.disable_ipv6=1",
        ],
      );
      assert.match(routedPortProblems(ep, undefined)[0].problem, /does not exist/);
    });
  });

  describe("network manager", () => {
    it("creates a transparent network without a bridge and with forwarding on, keyed in the firewall by its port group", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET_T, { mode: "transparent" }));
      assert.equal(t.state.networks[NET_T].options.mode, "transparent");
      assert.ok(!t.dp.calls.includes("ensureBridge"));
      assert.ok(t.dp.forwarding);
      assert.equal([...t.dp.links.values()].filter((l) => l.kind === "bridge").length, 0);
      assert.deepEqual(
        t.dp.firewall?.networks.map((n) => [n.mode, n.bridge, n.portGroup]),
        [["transparent", undefined, portGroup(NET_T)]],
      );
    });

    it("makes an endpoint's host veth a routed port with its route, and no guard, before Docker joins it", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET_T, { mode: "transparent" }));
      t.dp.calls.length = 0;
      await t.mgr.createEndpoint(endpoint(NET_T, 1, "10.0.0.10"));
      assert.deepEqual(t.dp.calls, ["createEndpointLink", "ensureRoutedPort", "addPortRoute"]);
      const host = t.dp.links.get(veth(1));
      assert.equal(host?.masterName, undefined, "the host veth joins no bridge");
      assert.equal(host?.group, portGroup(NET_T));
      assert.equal(t.dp.routes.get("10.0.0.10"), veth(1));
      assert.equal(t.dp.guards.size, 0);
      assert.equal(t.state.endpoints[EP(1)].hostVeth, veth(1));
    });

    it("deleting the endpoint takes its route with its veth", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET_T, { mode: "transparent" }));
      await t.mgr.createEndpoint(endpoint(NET_T, 1, "10.0.0.10"));
      await t.mgr.deleteEndpoint({ NetworkID: NET_T, EndpointID: EP(1) });
      await t.mgr.settled();
      assert.equal(t.dp.links.has(veth(1)), false);
      assert.equal(t.dp.routes.has("10.0.0.10"), false);
      await t.mgr.deleteNetwork({ NetworkID: NET_T });
      assert.deepEqual([...t.dp.links.keys()], ["eth0"], "nothing of the plugin's is left");
      assert.equal(t.dp.firewall, undefined);
    });

    it("adopts a running container's endpoint: routed port and route back, no MAC hunt", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET_T, { mode: "transparent" }));
      await t.dp.createEndpointLink({ hostName: veth(2), peerName: `azvc${EP(2).slice(0, 11)}`, mtu: 1400 });
      t.dp.calls.length = 0;
      assert.equal(await t.mgr.adoptEndpoint({ id: EP(2), networkId: NET_T, address: "10.0.0.11" }), true);
      assert.deepEqual(t.dp.calls, ["ensureRoutedPort", "addPortRoute"]);
      assert.equal(t.dp.routes.get("10.0.0.11"), veth(2));
    });

    it("runs a bridge network and a transparent one on the same subnet side by side", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET));
      await t.mgr.createNetwork(createReq(NET_T, { mode: "transparent", "allow-imds": "true" }));
      await t.mgr.createEndpoint(endpoint(NET, 1, "10.0.0.10"));
      await t.mgr.createEndpoint(endpoint(NET_T, 2, "10.0.0.11"));
      assert.equal(t.dp.routes.get("10.0.0.10"), BR);
      assert.equal(t.dp.routes.get("10.0.0.11"), veth(2));
      assert.deepEqual([...t.dp.guards.keys()], [veth(1)], "only the bridge port is guarded");
      assert.deepEqual(
        firewallInputFor(t.state).networks.map((n) => [n.mode, n.bridge ?? n.portGroup, n.allowImds]),
        [
          ["bridge", BR, false],
          ["transparent", portGroup(NET_T), true],
        ],
      );
      const reconciled = await syncGuards(t.state, t.dp, true);
      assert.deepEqual(reconciled, { repaired: [], removed: [] }, "guard sync leaves the routed port alone");
    });

    it("refuses a transparent network whose port group another one already has, and only then", () => {
      // Two ids whose 28-bit groups collide, found by a birthday search (a few tens of thousands of hashes).
      const seen = new Map<number, string>();
      let pair: [string, string] | undefined;
      for (let i = 0; !pair; i++) {
        const id = `net${i}`;
        const other = seen.get(portGroup(id));
        if (other) pair = [other, id];
        else seen.set(portGroup(id), id);
      }
      const state = transparentState();
      const base = state.networks[NET];
      const as = (id: string, mode: "bridge" | "transparent") => ({ ...base, id, bridge: `azvb${id}`, options: { ...base.options, mode } });
      state.networks = { [pair[0]]: as(pair[0], "transparent") };
      assert.throws(() => checkNetworkFits(state, as(pair[1], "transparent")), /would share the port group 0x[0-9a-f]+ of network/);
      assert.doesNotThrow(() => checkNetworkFits(state, as(pair[1], "bridge")), "a bridge network has no port group");
      assert.doesNotThrow(() => checkNetworkFits(state, state.networks[pair[0]]), "a network fits with itself");
    });
  });

  describe("reconciliation", () => {
    it("puts back a routed port whose group or route someone changed, and reads only when all is in place", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET_T, { mode: "transparent" }));
      await t.mgr.createEndpoint(endpoint(NET_T, 1, "10.0.0.10"));
      await t.mgr.createEndpoint(endpoint(NET_T, 2, "10.0.0.11"));
      t.dp.calls.length = 0;
      assert.deepEqual(await t.mgr.repairGuards({ removeOthers: true }), { repaired: [], removed: [] });
      assert.ok(!t.dp.calls.includes("ensureRoutedPort") && !t.dp.calls.includes("addPortRoute"), "nothing written");
      t.dp.links.get(veth(1))!.group = 0;
      t.dp.routes.delete("10.0.0.11");
      assert.deepEqual(await t.mgr.repairGuards({ removeOthers: true }), { repaired: [veth(1), veth(2)], removed: [] });
      assert.equal(t.dp.links.get(veth(1))?.group, portGroup(NET_T));
      assert.equal(t.dp.routes.get("10.0.0.11"), veth(2));
    });
  });

  describe("start-up repair", () => {
    it("rebuilds routed ports and routes, builds no bridge, and removes what no record explains", async () => {
      const dp = new FakeDataplane();
      const state = transparentState(endpointRecord(1, "02:42:0a:00:00:0a"), endpointRecord(2));
      // Endpoint 1's container runs: its host veth is there, its route and settings are not (lost).
      await dp.createEndpointLink({ hostName: "azvh11111111111", peerName: "azvc11111111111", mtu: 1400 });
      dp.links.delete("azvc11111111111");
      // Leftovers: a bridge under the network's reserved name, and an unrecorded veth pair.
      await dp.ensureBridge(BR, 1400);
      await dp.createEndpointLink({ hostName: "azvh99999999999", peerName: "azvc99999999999", mtu: 1400 });
      const report = await repairKernel(state, dp, { removeOrphans: true, applyFirewall: async () => undefined }, silent);
      assert.deepEqual(report.errors, []);
      assert.equal(report.bridgesEnsured, 0);
      assert.equal(report.routesEnsured, 1);
      assert.ok(dp.forwarding);
      assert.equal(dp.routes.get("10.0.0.10"), "azvh11111111111");
      assert.equal(dp.ports.get("azvh11111111111"), portGroup(NET));
      assert.deepEqual(report.endpointsWithoutLink, ["222222222222"]);
      assert.deepEqual(report.orphanLinksRemoved.sort(), [BR, "azvh99999999999"]);
      assert.equal(dp.guards.size, 0);
      assert.ok(!dp.calls.includes("addPortGuard"));
    });
  });
});

import { strict as assert } from "node:assert";
import { NetworkManager, type PoolDirectory, type PoolFacts } from "../../../driver/network/manager";
import { emptyNetworkState, type NetworkState } from "../../../driver/network/records";
import { repairKernel } from "../../../driver/network/repair";
import type { CreateNetworkRequest } from "../../../driver/protocol/types";
import { FakeDataplane } from "./fake-dataplane";
import { silent } from "../support/silent-logger";
import { oneNicDirectory } from "./one-nic";

const NET = "a".repeat(64);
const EP = "e".repeat(64);
const SUBNET6 = "fd00:db8:deca:1::/64";
const NIC = "00:0d:3a:00:00:01";

function setup(v6Nic = NIC) {
  const dp = new FakeDataplane();
  const state: NetworkState = emptyNetworkState();
  const facts: Record<string, PoolFacts> = {
    "10.0.0.0/24": { subnet: "10.0.0.0/24", gateway: "10.0.0.1", primaryAddress: "10.0.0.4", nicMac: NIC },
    [SUBNET6]: { subnet: SUBNET6, gateway: "fd00:db8:deca:1::1", primaryAddress: "fd00:db8:deca:1::4", nicMac: v6Nic },
  };
  const created: string[] = [];
  const pools: PoolDirectory = {
    poolInfoBySubnet: (space, subnet) => (space === "AzureVNetLocal" ? facts[subnet] : undefined),
    networkCreated: (d) => void created.push(d.Pool),
    bindAddress: async () => undefined,
    unbindAddress: async () => true,
    ...oneNicDirectory,
  };
  const mgr = new NetworkManager({ dataplane: dp, pools, state, persist: async () => undefined, logger: silent });
  return { dp, state, mgr, created };
}

function createReq(generic: Record<string, string> = {}, v6 = [SUBNET6]): CreateNetworkRequest {
  return {
    NetworkID: NET,
    Options: { "com.docker.network.generic": generic, "com.docker.network.enable_ipv6": v6.length > 0 },
    IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", Gateway: "10.0.0.1/24" }],
    IPv6Data: v6.map((Pool) => ({ AddressSpace: "AzureVNetLocal", Pool, Gateway: "fd00:db8:deca:1::1/64" })),
  };
}

const endpoint = (address6: string) => ({
  NetworkID: NET,
  EndpointID: EP,
  Interface: { Address: "10.0.0.10/24", AddressIPv6: address6, MacAddress: "" },
  Options: {},
});

describe("NetworkManager, dual-stack networks", () => {
  it("records the IPv6 /64 and the NIC's primary IPv6, turns IPv6 on for the bridge, and puts IPv6 in the firewall", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq({ "non-masquerade-cidrs": "10.0.0.0/8,fd00:1234::/48" }));
    const net = t.state.networks[NET];
    assert.equal(net.subnet6, SUBNET6);
    assert.equal(net.primaryAddress6, "fd00:db8:deca:1::4");
    assert.deepEqual(t.created, ["10.0.0.0/24", SUBNET6]);
    assert.deepEqual(t.dp.bridges6.get(net.bridge), { gateway6: "fe80::1", nic: "eth0" });
    const fw = t.dp.firewall?.networks[0];
    assert.deepEqual(
      [fw?.subnet6, fw?.primaryAddress6, fw?.nonMasqueradeCidrs, fw?.nonMasqueradeCidrs6],
      [SUBNET6, "fd00:db8:deca:1::4", ["10.0.0.0/8"], ["fd00:1234::/48"]],
    );
  });

  it("leaves IPv6 out of an IPv4-only network entirely", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq({}, []));
    assert.equal(t.state.networks[NET].subnet6, undefined);
    assert.equal(t.dp.bridges6.size, 0);
    assert.equal(t.dp.calls.includes("ensureBridgeIpv6"), false);
    assert.equal(t.dp.firewall?.networks[0].subnet6, undefined);
    await assert.rejects(t.mgr.createEndpoint(endpoint("fd00:db8:deca:1::10/128")), /has no IPv6 subnet \(it was created without --ipv6\)/);
  });

  it("refuses two IPv6 pools, and an IPv6 /64 of another NIC, naming both NICs", async () => {
    await assert.rejects(setup().mgr.createNetwork(createReq({}, [SUBNET6, SUBNET6])), /exactly one IPv6 subnet/);
    const other = setup("00:0d:3a:00:00:99");
    await assert.rejects(
      other.mgr.createNetwork(createReq()),
      /belongs to the NIC 00:0d:3a:00:00:99, the IPv4 subnet 10\.0\.0\.0\/24 to the NIC 00:0d:3a:00:00:01/,
    );
    assert.equal(other.dp.links.size, 1, "no bridge was made");
  });

  it("routes the endpoint's IPv6 /128 to the bridge, guards it, and Join gives the link-local gateway with a route to it", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq());
    await t.mgr.createEndpoint(endpoint("FD00:DB8:DECA:1:0:0:0:10/128"));
    const ep = t.state.endpoints[EP];
    assert.equal(ep.address6, "fd00:db8:deca:1::10");
    const bridge = t.state.networks[NET].bridge;
    assert.equal(t.dp.routes6.get("fd00:db8:deca:1::10"), bridge);
    assert.deepEqual(t.dp.guards.get(ep.hostVeth), {
      port: ep.hostVeth,
      address: "10.0.0.10",
      mac: ep.mac,
      address6: "fd00:db8:deca:1::10",
    });
    const join = await t.mgr.join({ NetworkID: NET, EndpointID: EP, SandboxKey: "", Options: {} });
    assert.equal(join.GatewayIPv6, "fe80::1");
    assert.deepEqual(join.StaticRoutes, [{ Destination: "fe80::1/128", RouteType: 1 }]);
    assert.deepEqual(await t.mgr.endpointOperInfo({ NetworkID: NET, EndpointID: EP }), {
      address: "10.0.0.10",
      address6: "fd00:db8:deca:1::10",
      hostVeth: ep.hostVeth,
    });
  });

  it("refuses an IPv6 address outside the network's /64", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq());
    await assert.rejects(
      t.mgr.createEndpoint(endpoint("fd00:db8:beef::10/128")),
      /not inside the network's IPv6 subnet fd00:db8:deca:1::\/64/,
    );
  });

  it("removes the /128 with the endpoint, and Join of an IPv4-only endpoint has no IPv6 gateway", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq());
    await t.mgr.createEndpoint(endpoint("fd00:db8:deca:1::10"));
    await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    await t.mgr.settled();
    assert.equal(t.dp.routes6.size, 0);
    await t.mgr.createEndpoint(endpoint(""));
    const join = await t.mgr.join({ NetworkID: NET, EndpointID: EP, SandboxKey: "", Options: {} });
    assert.equal(join.GatewayIPv6, undefined);
    assert.equal(join.StaticRoutes, undefined);
  });

  it("adopts a running container's endpoint with its IPv6 address (state rebuilt from Docker): route and guard back", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq());
    await t.mgr.createEndpoint(endpoint("fd00:db8:deca:1::10"));
    const { hostVeth, mac } = t.state.endpoints[EP];
    delete t.state.endpoints[EP];
    t.dp.routes6.clear();
    t.dp.guards.clear();
    assert.equal(await t.mgr.adoptEndpoint({ id: EP, networkId: NET, address: "10.0.0.10", mac, address6: "FD00:DB8:DECA:1::10" }), true);
    assert.equal(t.state.endpoints[EP].address6, "fd00:db8:deca:1::10");
    assert.equal(t.dp.routes6.get("fd00:db8:deca:1::10"), t.state.networks[NET].bridge);
    assert.equal(t.dp.guards.get(hostVeth)?.address6, "fd00:db8:deca:1::10");
  });

  it("transparent: IPv6 forwarding for the network, each routed port with IPv6 on and the gateway, the /128 through it", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq({ mode: "transparent" }));
    assert.equal(t.dp.forwarding6, true);
    assert.equal(t.dp.bridges6.size, 0);
    await t.mgr.createEndpoint(endpoint("fd00:db8:deca:1::10"));
    const { hostVeth } = t.state.endpoints[EP];
    assert.equal(t.dp.ports6.get(hostVeth), "fe80::1");
    assert.equal(t.dp.routes6.get("fd00:db8:deca:1::10"), hostVeth);
    assert.equal(t.dp.firewall?.networks[0].mode, "transparent");
    assert.equal(t.dp.firewall?.networks[0].subnet6, SUBNET6);
    const join = await t.mgr.join({ NetworkID: NET, EndpointID: EP, SandboxKey: "", Options: {} });
    assert.equal(join.GatewayIPv6, "fe80::1");
    // Its port is as the plugin set it up: reconciliation finds nothing to repair.
    assert.deepEqual((await t.mgr.repairGuards({ removeOthers: true })).repaired, []);
    await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    await t.mgr.settled();
    assert.equal(t.dp.routes6.size, 0);
  });

  it("puts the bridge's IPv6 and the endpoints' /128 routes back at start-up", async () => {
    const t = setup();
    await t.mgr.createNetwork(createReq());
    await t.mgr.createEndpoint(endpoint("fd00:db8:deca:1::10"));
    t.dp.bridges6.clear();
    t.dp.routes6.clear();
    t.dp.forwarding6 = false;
    await repairKernel(t.state, t.dp, { removeOrphans: true, applyFirewall: async () => undefined }, silent);
    assert.equal(t.dp.bridges6.get(t.state.networks[NET].bridge)?.gateway6, "fe80::1");
    assert.equal(t.dp.forwarding6, true);
    assert.equal(t.dp.routes6.get("fd00:db8:deca:1::10"), t.state.networks[NET].bridge);
  });
});

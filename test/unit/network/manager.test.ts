import { strict as assert } from "node:assert";
import { type MembershipSupply, NetworkManager, PoolDirectory } from "../../../driver/network/manager";
import { emptyNetworkState, NetworkState } from "../../../driver/network/records";
import { DEFAULT_NON_MASQUERADE } from "../../../driver/network/options";
import { PluginError } from "../../../driver/errors";
import type { CreateNetworkRequest } from "../../../driver/protocol/types";
import { FakeDataplane } from "./fake-dataplane";
import { IdleGate } from "../../../driver/lib/idle-gate";
import { silent } from "../support/silent-logger";
import { oneNicDirectory } from "./one-nic";

const NET = "a".repeat(64);
const NET2 = "b".repeat(64);
const ep = (n: number) => n.toString(16).padStart(64, "e");

function pools(): PoolDirectory & { created: string[]; bound: Map<string, string>; released: string[] } {
  const created: string[] = [];
  const bound = new Map<string, string>(); // address -> endpoint id
  const released: string[] = [];
  return {
    created,
    bound,
    released,
    bindAddress: async (_pool, address, id) => {
      const holder = bound.get(address);
      if (holder && holder !== id) throw new PluginError(`${address} is already held by endpoint ${holder.slice(0, 12)}`, "conflict");
      bound.set(address, id);
    },
    unbindAddress: async (address, id, release) => {
      if (bound.get(address) !== id) return false;
      bound.delete(address);
      if (release) released.push(address);
      return true;
    },
    poolInfoBySubnet: (space, subnet) =>
      space === "AzureVNetLocal" && subnet === "10.0.0.0/24"
        ? { subnet: "10.0.0.0/24", gateway: "10.0.0.1", primaryAddress: "10.0.0.4", nicMac: "00:0d:3a:00:00:01" }
        : undefined,
    networkCreated: (d) => void created.push(d.Pool),
    ...oneNicDirectory,
  };
}

function createReq(id = NET, generic: Record<string, string> = {}): CreateNetworkRequest {
  return {
    NetworkID: id,
    Options: { "com.docker.network.generic": generic, "com.docker.network.enable_ipv6": false },
    IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", Gateway: "10.0.0.1/24" }],
    IPv6Data: [],
  };
}

function setup(defaultNonMasqueradeCidrs?: string[], memberships?: MembershipSupply, idle?: IdleGate) {
  const dp = new FakeDataplane();
  dp.idle = idle;
  const state: NetworkState = emptyNetworkState();
  const saved: string[] = [];
  let failPersist = false;
  // Like the real store: the data is taken when the save is asked for, and is on disk when it resolves.
  const persist = async () => {
    const data = JSON.stringify(state);
    await new Promise((r) => setImmediate(r));
    if (failPersist) throw new PluginError("disk full", "unavailable");
    saved.push(data);
  };
  const p = pools();
  const mgr = new NetworkManager({ dataplane: dp, pools: p, state, persist, logger: silent, defaultNonMasqueradeCidrs, memberships, idle });
  return {
    dp,
    state,
    saved,
    mgr,
    pools: p,
    failPersist: (v: boolean) => (failPersist = v),
  };
}

const endpoint = (id: string, address: string, mac = "") => ({
  NetworkID: NET,
  EndpointID: id,
  Interface: { Address: address, AddressIPv6: "", MacAddress: mac },
  Options: {},
});

describe("NetworkManager", () => {
  describe("CreateNetwork", () => {
    it("builds a bridge with the NIC's MTU, applies the network's firewall rules and persists", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq());
      const net = t.state.networks[NET];
      assert.equal(net.bridge, "azvbaaaaaaaaaaa");
      assert.equal(net.mtu, 1400);
      assert.equal(net.gateway, "10.0.0.1");
      assert.equal(t.dp.links.get("azvbaaaaaaaaaaa")?.mtu, 1400);
      assert.deepEqual(t.dp.firewall?.networks, [
        {
          id: NET.slice(0, 12),
          mode: "bridge",
          bridge: "azvbaaaaaaaaaaa",
          subnet: "10.0.0.0/24",
          primaryAddress: "10.0.0.4",
          snat: true,
          nonMasqueradeCidrs: DEFAULT_NON_MASQUERADE,
          allowImds: false,
        },
      ]);
      assert.equal(t.saved.length, 1);
      assert.deepEqual(t.pools.created, ["10.0.0.0/24"]);
      await t.mgr.createNetwork(createReq());
      assert.equal(t.saved.length, 1, "a repeated CreateNetwork changed nothing");
    });

    it("takes the documented options", async () => {
      const t = setup();
      await t.mgr.createNetwork(
        createReq(NET, { snat: "false", "allow-imds": "true", "non-masquerade-cidrs": "10.1.0.0/16, 192.168.5.0/24" }),
      );
      const fw = t.dp.firewall?.networks[0];
      assert.equal(fw?.snat, false);
      assert.equal(fw?.allowImds, true);
      assert.deepEqual(fw?.nonMasqueradeCidrs, ["10.1.0.0/16", "192.168.5.0/24"]);
    });

    it("records the plugin's non-masquerade default in a network created without the option, and the option wins", async () => {
      const t = setup(["10.200.0.0/16"]);
      await t.mgr.createNetwork(createReq());
      assert.deepEqual(t.dp.firewall?.networks[0]?.nonMasqueradeCidrs, ["10.200.0.0/16"]);
      assert.deepEqual(Object.values(t.state.networks)[0].options.nonMasqueradeCidrs, ["10.200.0.0/16"]);
      const u = setup(["10.200.0.0/16"]);
      await u.mgr.createNetwork(createReq(NET, { "non-masquerade-cidrs": "10.1.0.0/16" }));
      assert.deepEqual(u.dp.firewall?.networks[0]?.nonMasqueradeCidrs, ["10.1.0.0/16"]);
    });

    it("refuses unknown and malformed options, naming them", async () => {
      const t = setup();
      await assert.rejects(
        t.mgr.createNetwork(createReq(NET, { colour: "blue" })),
        /unknown network option colour; azure-vnet knows: mode, snat, non-masquerade-cidrs, allow-imds/,
      );
      await assert.rejects(t.mgr.createNetwork(createReq(NET, { snat: "yes" })), /snat=yes is invalid: use true or false/);
      await assert.rejects(t.mgr.createNetwork(createReq(NET, { "non-masquerade-cidrs": "10.0.0.0/8;rm -rf /" })), /not an IPv4 CIDR/);
      await assert.rejects(
        t.mgr.createNetwork(createReq(NET, { mode: "routed" })),
        /mode=routed is not supported: use bridge or transparent/,
      );
      assert.equal(t.dp.calls.length, 0, "nothing reached the kernel");
    });

    it("refuses a foreign IPv6 pool, several subnets, and pools not allocated by its own IPAM", async () => {
      const t = setup();
      const v6 = createReq();
      v6.IPv6Data = [{ AddressSpace: "AzureVNetLocal", Pool: "fd00::/64" }];
      await assert.rejects(t.mgr.createNetwork(v6), /IPv6 subnet fd00::\/64 was not allocated by the azure-vnet IPAM driver/);
      const two = createReq();
      two.IPv4Data.push({ AddressSpace: "AzureVNetLocal", Pool: "10.0.1.0/24" });
      await assert.rejects(t.mgr.createNetwork(two), /exactly one IPv4 subnet/);
      const foreign = createReq();
      foreign.IPv4Data = [{ AddressSpace: "LocalDefault", Pool: "172.18.0.0/16" }];
      await assert.rejects(
        t.mgr.createNetwork(foreign),
        /172\.18\.0\.0\/16 was not allocated by the azure-vnet IPAM driver; create the network with --ipam-driver azure-vnet/,
      );
    });

    it("rolls the bridge and the firewall back when the checkpoint cannot be written", async () => {
      const t = setup();
      t.failPersist(true);
      await assert.rejects(t.mgr.createNetwork(createReq()), /disk full/);
      assert.equal(t.state.networks[NET], undefined);
      assert.equal(t.dp.links.has("azvbaaaaaaaaaaa"), false);
      assert.equal(t.dp.firewall, undefined);
    });
  });

  describe("endpoints", () => {
    it("creates a veth pair on the bridge and a /32 route, and Join hands Docker the peer and the gateway", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq());
      const res = await t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24", "02:42:0a:00:00:0a"));
      assert.deepEqual(res, {});
      const rec = t.state.endpoints[ep(1)];
      assert.equal(rec.hostVeth, "azvheeeeeeeeeee");
      assert.equal(rec.peerVeth, "azvceeeeeeeeeee");
      assert.equal(t.dp.links.get("azvheeeeeeeeeee")?.masterName, "azvbaaaaaaaaaaa");
      assert.equal(t.dp.links.get("azvceeeeeeeeeee")?.mac, "02:42:0a:00:00:0a");
      assert.equal(t.dp.routes.get("10.0.0.10"), "azvbaaaaaaaaaaa");
      assert.deepEqual(t.dp.guards.get("azvheeeeeeeeeee"), { port: "azvheeeeeeeeeee", address: "10.0.0.10", mac: "02:42:0a:00:00:0a" });
      assert.ok(t.dp.calls.indexOf("addPortGuard") < t.dp.calls.indexOf("addContainerRoute"), "guarded before it can route");
      const join = await t.mgr.join({ NetworkID: NET, EndpointID: ep(1), SandboxKey: "/var/run/docker/netns/x", Options: {} });
      assert.deepEqual(join, { InterfaceName: { SrcName: "azvceeeeeeeeeee", DstPrefix: "eth" }, Gateway: "10.0.0.1" });
      assert.equal(t.state.endpoints[ep(1)].joined, true);
    });

    it("gives a container without a chosen MAC the one its address always gets, so ARP caches stay right when the address passes on", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq());
      await t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24"));
      assert.equal(t.dp.links.get("azvceeeeeeeeeee")?.mac, "02:a2:0a:00:00:0a");
      assert.equal(t.state.endpoints[ep(1)].mac, "02:a2:0a:00:00:0a");
      assert.deepEqual(t.dp.guards.get("azvheeeeeeeeeee"), { port: "azvheeeeeeeeeee", address: "10.0.0.10", mac: "02:a2:0a:00:00:0a" });
      await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(1) });
      // The next holder of the address gets the same MAC; a MAC the user chose is kept.
      await t.mgr.createEndpoint(endpoint(ep(2), "10.0.0.10/24"));
      assert.equal(t.state.endpoints[ep(2)].mac, "02:a2:0a:00:00:0a");
      await t.mgr.createEndpoint(endpoint(ep(3), "10.0.0.11/24", "02:42:0a:00:00:63"));
      assert.equal(t.state.endpoints[ep(3)].mac, "02:42:0a:00:00:63");
    });

    it("never touches the firewall per endpoint", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq());
      const before = t.dp.firewallApplies;
      for (let i = 0; i < 10; i++) await t.mgr.createEndpoint(endpoint(ep(i + 1), `10.0.0.${10 + i}/24`));
      for (let i = 0; i < 10; i++) await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(i + 1) });
      assert.equal(t.dp.firewallApplies, before);
    });

    it("refuses an unknown network, an address outside the subnet and user driver options; replaces a stale holder", async () => {
      const t = setup();
      await assert.rejects(
        t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24")),
        /network aaaaaaaaaaaa is not known to azure-vnet on this VM; .*docker network rm/,
      );
      await t.mgr.createNetwork(createReq());
      await assert.rejects(
        t.mgr.createEndpoint(endpoint(ep(1), "10.0.9.10/24")),
        /10\.0\.9\.10 is not inside the network's subnet 10\.0\.0\.0\/24/,
      );
      await t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24"));
      // Between CreateEndpoint and Join the holder is live too.
      await assert.rejects(t.mgr.createEndpoint(endpoint(ep(2), "10.0.0.10/24")), /10\.0\.0\.10 is already used by endpoint/);
      t.dp.links.delete(t.state.endpoints[ep(1)].peerVeth); // Docker moved it into the container
      await assert.rejects(t.mgr.createEndpoint(endpoint(ep(2), "10.0.0.10/24")), /10\.0\.0\.10 is already used by endpoint/);
      // Once its container is gone (the veth with it), the old record is stale and gives way.
      t.dp.links.delete(t.state.endpoints[ep(1)].hostVeth);
      await t.mgr.createEndpoint(endpoint(ep(2), "10.0.0.10/24"));
      assert.deepEqual(Object.keys(t.state.endpoints), [ep(2)]);
      assert.equal(t.dp.routes.get("10.0.0.10"), "azvbaaaaaaaaaaa");
      assert.deepEqual([...t.dp.guards.keys()], [t.state.endpoints[ep(2)].hostVeth]);
      const withOpt = { ...endpoint(ep(3), "10.0.0.11/24"), Options: { "com.docker.network.portmap": [], role: "web" } };
      await assert.rejects(t.mgr.createEndpoint(withOpt), /unknown endpoint option role/);
      await assert.rejects(
        t.mgr.createEndpoint({ ...endpoint(ep(4), ""), Interface: { Address: "", AddressIPv6: "", MacAddress: "" } }),
        /--ipam-driver azure-vnet/,
      );
    });

    it("undoes the kernel work when a step fails, leaving no record", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq());
      t.dp.failOn.add("addContainerRoute");
      await assert.rejects(t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24")), /injected failure/);
      assert.equal(t.state.endpoints[ep(1)], undefined);
      assert.equal(t.dp.links.has("azvheeeeeeeeeee"), false);
    });

    it("is idempotent and tolerant of unknown IDs in Leave, DeleteEndpoint and DeleteNetwork", async () => {
      const t = setup();
      await t.mgr.leave({ NetworkID: NET, EndpointID: ep(9) });
      await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(9) });
      await t.mgr.deleteNetwork({ NetworkID: NET });
      await t.mgr.createNetwork(createReq());
      await t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24"));
      await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(1) });
      await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(1) });
      await t.mgr.settled();
      assert.equal(t.dp.routes.size, 0);
      assert.equal(t.dp.guards.size, 0);
      assert.equal(t.dp.links.has("azvheeeeeeeeeee"), false);
      assert.ok(t.dp.calls.includes("forgetFlows"));
    });

    it("parallel calls: every endpoint recorded, each on disk before its reply", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq());
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          await t.mgr.createEndpoint(endpoint(ep(i + 1), `10.0.0.${10 + i}/24`));
          assert.ok(
            t.saved.some((s) => s.includes(ep(i + 1))),
            `endpoint ${i + 1} was saved before CreateEndpoint answered`,
          );
        }),
      );
      assert.equal(Object.keys(t.state.endpoints).length, 50);
      assert.equal(t.dp.routes.size, 50);
    });
  });

  describe("clean-up deferred to a lull between requests", () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    /** A network with endpoint 1 at 10.0.0.10, removed by a DeleteEndpoint while Docker's next request is in flight. */
    async function removedWhileBusy(check: (t: ReturnType<typeof setup>, gate: IdleGate) => Promise<void>): Promise<void> {
      const gate = new IdleGate({ quietMs: 20, maxWaitMs: 60_000 });
      const t = setup(undefined, undefined, gate);
      try {
        await t.mgr.createNetwork(createReq());
        await t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24"));
        gate.enter();
        await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(1) });
        await check(t, gate);
      } finally {
        gate.close();
      }
    }

    it("runs while a CreateEndpoint for the address waits for it, not after that request", () =>
      removedWhileBusy(async (t, gate) => {
        assert.equal(t.mgr.cleaningUp("10.0.0.10"), true);
        const created = t.mgr.createEndpoint(endpoint(ep(2), "10.0.0.10/24"));
        const outcome = await Promise.race([created.then(() => "created"), sleep(2_000).then(() => "still waiting")]);
        assert.equal(outcome, "created");
        assert.equal(t.mgr.cleaningUp("10.0.0.10"), false);
        assert.deepEqual(t.dp.flowsForgotten, ["10.0.0.10"]);
        assert.equal(t.dp.routes.get("10.0.0.10"), t.state.networks[NET].bridge, "the new endpoint's route");
        gate.leave();
      }));

    it("waits for the lull after DeleteEndpoint's reply while requests keep coming", () =>
      removedWhileBusy(async (t, gate) => {
        await sleep(100);
        assert.equal(t.dp.links.has("azvheeeeeeeeeee"), true, "nothing removed while a request is in flight");
        gate.leave();
        await t.mgr.settled();
        assert.equal(t.dp.links.has("azvheeeeeeeeeee"), false);
      }));
  });

  describe("DeleteNetwork", () => {
    it("removes the bridge, and the firewall chains with the last network", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET));
      await t.mgr.createNetwork(createReq(NET2));
      await t.mgr.deleteNetwork({ NetworkID: NET });
      assert.equal(t.dp.links.has("azvbaaaaaaaaaaa"), false);
      assert.deepEqual(
        t.dp.firewall?.networks.map((n) => n.bridge),
        ["azvbbbbbbbbbbbb"],
      );
      await t.mgr.deleteNetwork({ NetworkID: NET2 });
      assert.equal(t.dp.firewall, undefined);
      assert.ok(t.dp.calls.includes("removeFirewall"));
      assert.deepEqual(t.state, emptyNetworkState());
    });
  });

  describe("swarm-scoped networks", () => {
    /** Swarm's managers name a network with 25 lower-case letters and digits. */
    const SWARM = "yt93zcd6htzvzcmmstigpqsym";
    /** A swarm id whose first characters are all hex digits, as a local id's are. */
    const SWARM_HEXLIKE = "aaaaaaaaaaaaaaaaaaaaaaaaa";

    it("tells Docker its addresses are the node's own and its containers reach across VMs", () => {
      assert.deepEqual(setup().mgr.getCapabilities(), { Scope: "local", ConnectivityScope: "global" });
    });

    it("builds a bridge named for the swarm id, plugs tasks into it, and takes it all away again", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(SWARM));
      assert.equal(t.state.networks[SWARM].bridge, "azvbsyt93zcd6ht");
      assert.equal(t.dp.links.get("azvbsyt93zcd6ht")?.kind, "bridge");
      assert.deepEqual(
        t.dp.firewall?.networks.map((n) => [n.id, n.bridge]),
        [["yt93zcd6htzv", "azvbsyt93zcd6ht"]],
      );
      await t.mgr.createEndpoint({ ...endpoint(ep(1), "10.0.0.10/24"), NetworkID: SWARM });
      assert.equal(t.dp.links.get("azvheeeeeeeeeee")?.masterName, "azvbsyt93zcd6ht");
      assert.equal(t.dp.routes.get("10.0.0.10"), "azvbsyt93zcd6ht");
      const join = await t.mgr.join({ NetworkID: SWARM, EndpointID: ep(1), SandboxKey: "/var/run/docker/netns/x", Options: {} });
      assert.deepEqual(join, { InterfaceName: { SrcName: "azvceeeeeeeeeee", DstPrefix: "eth" }, Gateway: "10.0.0.1" });
      await t.mgr.leave({ NetworkID: SWARM, EndpointID: ep(1) });
      await t.mgr.deleteEndpoint({ NetworkID: SWARM, EndpointID: ep(1) });
      await t.mgr.deleteNetwork({ NetworkID: SWARM });
      assert.equal(t.dp.links.has("azvbsyt93zcd6ht"), false);
      assert.equal(t.dp.routes.size, 0);
      assert.equal(t.pools.bound.size, 0, "no address is left bound");
      assert.deepEqual(t.state, emptyNetworkState());
    });

    it("never gives a swarm network and a local one the same bridge, even when their ids begin alike", async () => {
      const t = setup();
      await t.mgr.createNetwork(createReq(NET));
      await t.mgr.createNetwork(createReq(SWARM_HEXLIKE));
      assert.equal(t.state.networks[NET].bridge, "azvbaaaaaaaaaaa");
      assert.equal(t.state.networks[SWARM_HEXLIKE].bridge, "azvbsaaaaaaaaaa");
      assert.ok(t.dp.links.has("azvbaaaaaaaaaaa") && t.dp.links.has("azvbsaaaaaaaaaa"));
      for (const name of t.dp.links.keys()) assert.ok(name.length <= 15, `${name} is longer than a link name may be`);
    });

    it("refuses a network whose bridge name another network already has, and leaves that one as it was", async () => {
      const t = setup();
      const twin = "a".repeat(11) + "b".repeat(53);
      await t.mgr.createNetwork(createReq(NET));
      const before = t.dp.calls.length;
      await assert.rejects(
        t.mgr.createNetwork(createReq(twin)),
        (err: PluginError) =>
          err.code === "conflict" &&
          /would have the bridge name azvbaaaaaaaaaaa of network aaaaaaaaaaaa, whose id begins the same/.test(err.message),
      );
      assert.deepEqual(t.dp.calls.slice(before), [], "nothing reached the kernel");
      assert.deepEqual(Object.keys(t.state.networks), [NET]);
      assert.ok(t.dp.links.has("azvbaaaaaaaaaaa"));
    });

    it("refuses to name a bridge for an id of neither form, saying what an id looks like", async () => {
      const t = setup();
      for (const bad of ["YT93ZCD6HTZVZCMMSTIGPQSYM", "yt93zcd6htzvzcmmstigpqsy", "a".repeat(63), "yt93zcd6-tzvzcmmstigpqsym"]) {
        await assert.rejects(
          t.mgr.createNetwork(createReq(bad)),
          /cannot name a bridge for network id .*: it must be a Docker network id: 64 lower-case hex characters, or 25 lower-case letters and digits \(swarm\)/,
        );
      }
      assert.deepEqual(t.state, emptyNetworkState());
      assert.deepEqual(t.pools.created, [], "no pool was marked as used");
      assert.equal(t.dp.links.size, 1, "only the NIC");
    });
  });

  describe("security groups and backend pools (--ipconfig-management arm)", () => {
    const ASG =
      "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.Network/applicationSecurityGroups/web";
    const POOL =
      "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.Network/loadBalancers/lb1/backendAddressPools/be";

    function fakeSupply(refuse?: string) {
      const joined: string[] = [];
      const touched: string[] = [];
      const supply: MembershipSupply = {
        join: async (address) => {
          if (refuse) throw new PluginError(refuse, "unavailable");
          joined.push(address);
        },
        touched: (address) => void touched.push(address),
      };
      return { supply, joined, touched };
    }

    it("are refused at CreateNetwork when the plugin does not manage ipconfigs through ARM", async () => {
      const t = setup();
      await assert.rejects(
        t.mgr.createNetwork(createReq(NET, { "lb-backend-pools": POOL })),
        /application-security-groups and lb-backend-pools need the plugin to manage ipconfigs through Azure Resource Manager \(--ipconfig-management arm\)/,
      );
      assert.deepEqual(t.state.networks, {});
      await t.mgr.createNetwork(createReq(NET2));
    });

    it("CreateEndpoint answers once the ipconfig joined; the network's memberships follow the address; DeleteEndpoint lets go", async () => {
      const f = fakeSupply();
      const t = setup(undefined, f.supply);
      await t.mgr.createNetwork(createReq(NET, { "application-security-groups": ASG, "lb-backend-pools": POOL }));
      await t.mgr.createNetwork(createReq(NET2));
      await t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24"));
      await t.mgr.createEndpoint({ ...endpoint(ep(2), "10.0.0.11/24"), NetworkID: NET2 });
      assert.deepEqual(f.joined, ["10.0.0.10"], "only the endpoint of the network with memberships waits");
      assert.deepEqual(t.mgr.membershipOf("10.0.0.10"), { applicationSecurityGroups: [ASG], lbBackendPools: [POOL] });
      assert.equal(t.mgr.membershipOf("10.0.0.11"), undefined);
      assert.equal(t.mgr.membershipOf("10.0.0.12"), undefined);
      await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(1) });
      assert.equal(t.mgr.membershipOf("10.0.0.10"), undefined);
      assert.ok(f.touched.includes("10.0.0.10"));
    });

    it("CreateEndpoint is undone when the ipconfig cannot join", async () => {
      const f = fakeSupply("ARM refused");
      const t = setup(undefined, f.supply);
      await t.mgr.createNetwork(createReq(NET, { "application-security-groups": ASG }));
      await assert.rejects(t.mgr.createEndpoint(endpoint(ep(1), "10.0.0.10/24")), /ARM refused/);
      assert.deepEqual(t.state.endpoints, {});
      assert.equal(t.pools.bound.size, 0, "the address is let go");
      assert.equal(t.mgr.membershipOf("10.0.0.10"), undefined);
    });
  });
});

import { strict as assert } from "node:assert";
import { DockerReconciler, DockerContainerInfo, DockerNetworkInfo, DRIVER_NAME } from "../../../driver/reconcile/docker";
import { emptyNetworkState, NetworkState } from "../../../driver/network/records";
import { DockerUnreachableError } from "../../../driver/reconcile/docker-engine";
import { silent } from "../support/silent-logger";

const NET = "a".repeat(64);
const EP = (n: number) => String(n).repeat(64).slice(0, 64);

function network(): DockerNetworkInfo {
  return {
    Id: NET,
    Name: "vnet",
    Driver: "azure-vnet",
    IPAM: { Driver: "azure-vnet", Config: [{ Subnet: "10.0.0.0/24", Gateway: "10.0.0.1" }] },
    Options: { snat: "false" },
  };
}
function container(ep: string, ip: string, state = "running"): DockerContainerInfo {
  return {
    Id: `c${ep}`,
    Names: [`/app-${ip}`],
    State: state,
    NetworkSettings: { Networks: { vnet: { NetworkID: NET, EndpointID: ep, IPAddress: ip, MacAddress: "02:42:0a:00:00:0a" } } },
  };
}

/** held: ip -> poolId, each a grant of its own lease, bound to the endpoint record with that address if any. */
/** resume and at: a daemon started at that time (ms) with its previous run's clocks. */
function setup(
  state: NetworkState,
  held: Record<string, string> = {},
  { resume, at = 0 }: { resume?: Record<string, string>; at?: number } = {},
) {
  const calls: string[] = [];
  let lease = 0;
  const grants = new Map<string, { poolId: string; lease: number }>();
  const addresses: Record<string, string> = {};
  const grant = (a: string, poolId: string) => {
    grants.set(a, { poolId, lease: ++lease });
    addresses[a] = poolId;
  };
  const release = (a: string) => {
    grants.delete(a);
    delete addresses[a];
  };
  for (const [a, p] of Object.entries(held)) grant(a, p);
  const holderOf = (a: string) => Object.values(state.endpoints).find((e) => e.address === a);
  const linked = new Set<string>();
  /** The IPAM's pools: id -> count of networks. */
  const pools = new Map<string, number>();
  let clock = at;
  let networks: DockerNetworkInfo[] = [network()];
  let containers: DockerContainerInfo[] = [];
  const r = new DockerReconciler({
    docker: { listNetworks: async () => networks, listContainers: async () => containers },
    state,
    logger: silent,
    graceMs: 30_000,
    now: () => clock,
    resume,
    network: {
      createNetwork: async (req) => {
        calls.push(
          `createNetwork ${req.NetworkID.slice(0, 4)} ${req.IPv4Data[0].Pool} ${req.IPv4Data[0].Gateway} ${JSON.stringify(req.Options["com.docker.network.generic"])}`,
        );
        state.networks[req.NetworkID] = { id: req.NetworkID } as NetworkState["networks"][string];
      },
      deleteNetwork: async (req, opts) => {
        calls.push(`deleteNetwork ${req.NetworkID.slice(0, 4)} release=${opts.releaseAddresses}`);
        for (const ep of Object.values(state.endpoints).filter((e) => e.networkId === req.NetworkID)) {
          delete state.endpoints[ep.id];
          if (opts.releaseAddresses) release(ep.address);
        }
        delete state.networks[req.NetworkID];
      },
      releaseEndpoint: async (id) => {
        const ep = state.endpoints[id];
        if (!ep) return false;
        calls.push(`releaseEndpoint ${id.slice(0, 4)} ${ep.address}`);
        delete state.endpoints[id];
        release(ep.address);
        return true;
      },
      adoptEndpoint: async (ep) => {
        calls.push(`adoptEndpoint ${ep.id.slice(0, 4)} ${ep.address}`);
        state.endpoints[ep.id] = { id: ep.id, networkId: ep.networkId, address: ep.address } as NetworkState["endpoints"][string];
        return true;
      },
      endpointsWithLinks: async (networkId) =>
        Object.values(state.endpoints).filter((e) => e.networkId === networkId && linked.has(e.id)).length,
    },
    ipam: {
      adoptPool: async (p) => void calls.push(`adoptPool ${p}`),
      adoptAddress: async (p, a, _id, name) => {
        calls.push(`adoptAddress ${p} ${a} ${name}`);
        if (!grants.has(a)) grant(a, p);
        return "adopted";
      },
      pendingGrants: () => [...grants].filter(([a]) => !holderOf(a)).map(([address, g]) => ({ address, ...g })),
      releaseGrant: async (a, l) => {
        if (grants.get(a)?.lease !== l || holderOf(a)) return false;
        calls.push(`releaseGrant ${a}`);
        release(a);
        return true;
      },
      poolCounts: () =>
        [...pools].map(([poolId, refCount]) => {
          const [addressSpace, net, len, rangeNet, rangeLen] = poolId.split("/");
          return { poolId, addressSpace, subnet: `${net}/${len}`, ...(rangeNet && { subPool: `${rangeNet}/${rangeLen}` }), refCount };
        }),
      settlePoolCount: async (poolId, seen, users) => {
        if (pools.get(poolId) !== seen) return false;
        calls.push(`settlePoolCount ${poolId} ${seen}->${users}`);
        if (users === 0) pools.delete(poolId);
        else pools.set(poolId, users);
        return true;
      },
    },
  });
  return {
    r,
    calls,
    addresses,
    linked,
    pools,
    tick: (ms: number) => (clock += ms),
    setContainers: (c: DockerContainerInfo[]) => (containers = c),
    setNetworks: (n: DockerNetworkInfo[]) => (networks = n),
    /** Docker's own ReleaseAddress followed by a RequestAddress that gets the same address. */
    regrant: (a: string) => {
      release(a);
      grant(a, "AzureVNetLocal/10.0.0.0/24");
    },
  };
}

function stateWith(endpoints: Array<[string, string]>): NetworkState {
  const st = emptyNetworkState();
  st.networks[NET] = { id: NET } as NetworkState["networks"][string];
  for (const [id, address] of endpoints) st.endpoints[id] = { id, networkId: NET, address } as NetworkState["endpoints"][string];
  return st;
}

describe("reconciliation with Docker", () => {
  it("recognises the plugin's driver names, legacy and managed", () => {
    for (const n of [
      "azure-vnet",
      "azure-vnet:latest",
      "owner/azure-vnet:0.1.0",
      "localhost:5000/azure-vnet:latest",
      "reg.io/team/azure-vnet",
    ])
      assert.ok(DRIVER_NAME.test(n), n);
    for (const n of ["bridge", "azure-vnet-other", "macvlan", "evil/azure-vnet:x y"]) assert.ok(!DRIVER_NAME.test(n), n);
  });

  it("releases an endpoint and its address only after it was missing for the grace period", async () => {
    const t = setup(
      stateWith([
        [EP(1), "10.0.0.10"],
        [EP(2), "10.0.0.11"],
      ]),
      { "10.0.0.10": "P", "10.0.0.11": "P" },
    );
    t.setContainers([container(EP(1), "10.0.0.10")]);
    let report = await t.r.runOnce();
    assert.equal(report.ok, true);
    assert.deepEqual(report.endpointsReleased, [], "first sighting only starts the clock");
    t.tick(10_000);
    report = await t.r.runOnce();
    assert.deepEqual(report.endpointsReleased, []);
    t.tick(25_000);
    report = await t.r.runOnce();
    assert.deepEqual(report.endpointsReleased, [EP(2).slice(0, 12)]);
    assert.deepEqual(Object.keys(t.addresses), ["10.0.0.10"]);
    assert.deepEqual(t.calls, [`releaseEndpoint ${EP(2).slice(0, 4)} 10.0.0.11`], "the endpoint and its address go together");
  });

  it("forgets a suspicion when the container shows up, and keeps paused containers' endpoints", async () => {
    const t = setup(stateWith([[EP(1), "10.0.0.10"]]), { "10.0.0.10": "P" });
    await t.r.runOnce();
    t.tick(20_000);
    t.setContainers([container(EP(1), "10.0.0.10", "paused")]);
    await t.r.runOnce();
    t.tick(20_000);
    t.setContainers([]);
    const report = await t.r.runOnce();
    assert.deepEqual(report.endpointsReleased, [], "the clock restarted when the endpoint was seen again");
  });

  it("releases an address handed out for an endpoint that never came", async () => {
    const t = setup(stateWith([]), { "10.0.0.12": "AzureVNetLocal/10.0.0.0/24" });
    await t.r.runOnce();
    t.tick(31_000);
    const report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, ["10.0.0.12"]);
  });

  it("rebuilds networks and endpoints Docker has but the plugin lost", async () => {
    const t = setup(emptyNetworkState());
    t.setContainers([container(EP(3), "10.0.0.13")]);
    const report = await t.r.runOnce();
    assert.equal(report.networksAdopted, 1);
    assert.equal(report.endpointsAdopted, 1);
    assert.deepEqual(t.calls, [
      "adoptPool AzureVNetLocal/10.0.0.0/24",
      `createNetwork aaaa 10.0.0.0/24 10.0.0.1/24 {"snat":"false"}`,
      "adoptAddress AzureVNetLocal/10.0.0.0/24 10.0.0.13 app-10.0.0.13",
      `adoptEndpoint ${EP(3).slice(0, 4)} 10.0.0.13`,
    ]);
  });

  it("adopts nothing while its own state is trusted (a missing record was deleted, not lost)", async () => {
    const t = setup(stateWith([]));
    (t.r as unknown as { o: { adopt: () => boolean } }).o.adopt = () => false;
    t.setNetworks([network(), { ...network(), Id: "f".repeat(64) }]);
    t.setContainers([container(EP(3), "10.0.0.13")]);
    const report = await t.r.runOnce();
    assert.equal(report.networksAdopted, 0);
    assert.equal(report.endpointsAdopted, 0);
    assert.deepEqual(t.calls, []);
  });

  it("removes a network Docker no longer has, after the grace period", async () => {
    const t = setup(stateWith([]));
    t.setNetworks([]);
    await t.r.runOnce();
    t.tick(30_000);
    const report = await t.r.runOnce();
    assert.deepEqual(report.networksRemoved, [NET.slice(0, 12)]);
    assert.deepEqual(t.calls, [`deleteNetwork ${NET.slice(0, 4)} release=true`]);
  });

  it("never takes a network it has a record of for removed because Docker calls its driver by another name", async () => {
    const t = setup(stateWith([[EP(1), "10.0.0.10"]]), { "10.0.0.10": "P" });
    t.setNetworks([{ ...network(), Driver: "myregistry.example:5000/team/vnet-plugin:1.2" }]);
    t.setContainers([container(EP(1), "10.0.0.10")]);
    await t.r.runOnce();
    t.tick(60_000);
    const report = await t.r.runOnce();
    assert.deepEqual(report.networksRemoved, []);
    assert.deepEqual(report.endpointsReleased, []);
    assert.deepEqual(Object.keys(t.addresses), ["10.0.0.10"]);
  });

  it("carries on past an item that fails and reports it", async () => {
    const t = setup(emptyNetworkState());
    t.setContainers([container(EP(3), "10.0.0.13"), container(EP(4), "10.0.0.14")]);
    const inner = (t.r as unknown as { o: { ipam: { adoptAddress: (p: string, a: string) => Promise<string> } } }).o.ipam;
    const adopt = inner.adoptAddress;
    inner.adoptAddress = async (p, a) => {
      if (a === "10.0.0.13") throw new Error("10.0.0.13 is not an IP configuration of this VM's NIC");
      return adopt(p, a);
    };
    const report = await t.r.runOnce();
    assert.equal(report.ok, true);
    assert.equal(report.endpointsAdopted, 1);
    assert.match(report.itemErrors.join(), /adopt endpoint 333333333333: 10\.0\.0\.13 is not an IP configuration/);
  });

  it("reports Docker being unreachable without changing anything", async () => {
    const t = setup(stateWith([[EP(1), "10.0.0.10"]]), { "10.0.0.10": "P" });
    const broken = new DockerReconciler({
      ...(t.r as unknown as { o: ConstructorParameters<typeof DockerReconciler>[0] }).o,
      docker: {
        listNetworks: async () => {
          throw new DockerUnreachableError(
            "unix:///var/run/docker.sock",
            "unix:///var/run/docker.sock: connect ENOENT /var/run/docker.sock",
          );
        },
        listContainers: async () => [],
      },
    });
    const report = await broken.runOnce();
    assert.equal(report.ok, false);
    assert.match(report.error ?? "", /ENOENT/);
    assert.equal(report.unreachable, "unix:///var/run/docker.sock", "says where Docker could not be reached");
    assert.equal(t.calls.length, 0);
  });

  it("does not call Docker unreachable when it answered with an error", async () => {
    const t = setup(stateWith([]));
    const failing = new DockerReconciler({
      ...(t.r as unknown as { o: ConstructorParameters<typeof DockerReconciler>[0] }).o,
      docker: {
        listNetworks: async () => {
          throw new Error("Docker answered GET /networks with HTTP 500: boom");
        },
        listContainers: async () => [],
      },
    });
    const report = await failing.runOnce();
    assert.equal(report.ok, false);
    assert.equal(report.unreachable, undefined);
  });

  it("leaves alone every endpoint of a network Docker does not show, however long", async () => {
    const t = setup(stateWith([[EP(1), "10.0.0.10"]]), {
      "10.0.0.10": "AzureVNetLocal/10.0.0.0/24",
      "10.0.0.11": "AzureVNetLocal/10.0.0.0/24",
    });
    t.linked.add(EP(1));
    t.setNetworks([]);
    for (let i = 0; i < 4; i++) {
      const report = await t.r.runOnce();
      assert.deepEqual([report.endpointsReleased, report.addressesReleased, report.networksRemoved], [[], [], []], `run ${i}`);
      t.tick(31_000);
    }
    assert.deepEqual(Object.keys(t.addresses).sort(), ["10.0.0.10", "10.0.0.11"]);
  });

  it("gives a grant of an address handed out again its own grace period", async () => {
    const t = setup(stateWith([]), { "10.0.0.12": "AzureVNetLocal/10.0.0.0/24" });
    await t.r.runOnce();
    t.tick(31_000);
    // Between runs Docker released the address and the next container got it.
    t.regrant("10.0.0.12");
    let report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, [], "a new grant is not judged by its predecessor's clock");
    t.tick(31_000);
    report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, ["10.0.0.12"]);
  });

  it("resumes the release clocks of the daemon's previous run after a restart", async () => {
    const held = {
      "10.0.0.10": "AzureVNetLocal/10.0.0.0/24",
      "10.0.0.11": "AzureVNetLocal/10.0.0.0/24",
      "10.0.0.12": "AzureVNetLocal/10.0.0.0/24",
    };
    const endpoints: Array<[string, string]> = [
      [EP(1), "10.0.0.10"],
      [EP(2), "10.0.0.11"],
    ];
    const before = setup(stateWith(endpoints), held);
    before.tick(5_000);
    const first = await before.r.runOnce();
    assert.deepEqual(
      first.missingSince,
      {
        [`endpoint:${EP(1)}`]: "1970-01-01T00:00:05.000Z",
        [`endpoint:${EP(2)}`]: "1970-01-01T00:00:05.000Z",
        "grant:10.0.0.12:3": "1970-01-01T00:00:05.000Z",
      },
      "the report carries every clock",
    );
    // The daemon is killed and started again 31 s later; EP(1)'s container has come back meanwhile.
    const after = setup(stateWith(endpoints), held, { resume: first.missingSince, at: 36_000 });
    after.setContainers([container(EP(1), "10.0.0.10")]);
    const report = await after.r.runOnce();
    assert.deepEqual(report.endpointsReleased, [EP(2).slice(0, 12)], "missing before and after the restart: released at once");
    assert.deepEqual(report.addressesReleased, ["10.0.0.12"]);
    assert.deepEqual(Object.keys(after.addresses), ["10.0.0.10"], "a key seen live again lost its clock and kept its address");
    assert.deepEqual(report.missingSince, {});
  });

  it("starts a resumed clock again when it is not a time in the past", async () => {
    const held = { "10.0.0.12": "AzureVNetLocal/10.0.0.0/24" };
    const t = setup(stateWith([]), held, { resume: { "grant:10.0.0.12:1": "2100-01-01T00:00:00.000Z" }, at: 40_000 });
    let report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, []);
    assert.deepEqual(report.missingSince, { "grant:10.0.0.12:1": "1970-01-01T00:00:40.000Z" });
    t.tick(30_000);
    report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, ["10.0.0.12"]);
  });

  it("forgets a grant's clock in a run that did not find it pending", async () => {
    const st = stateWith([]);
    const t = setup(st, { "10.0.0.12": "AzureVNetLocal/10.0.0.0/24" });
    await t.r.runOnce();
    t.tick(31_000);
    // CreateEndpoint came: the grant has a holder during this run.
    st.endpoints[EP(5)] = { id: EP(5), networkId: NET, address: "10.0.0.12" } as NetworkState["endpoints"][string];
    t.setContainers([container(EP(5), "10.0.0.12")]);
    await t.r.runOnce();
    // Docker deleted the endpoint; its ReleaseAddress is still to come.
    delete st.endpoints[EP(5)];
    t.setContainers([]);
    t.tick(31_000);
    const report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, [], "the clock started again at this run");
  });

  it("judges nothing on a network while Docker lists a running container on it without its endpoint", async () => {
    const t = setup(stateWith([[EP(1), "10.0.0.10"]]), {
      "10.0.0.10": "AzureVNetLocal/10.0.0.0/24",
      "10.0.0.12": "AzureVNetLocal/10.0.0.0/24",
    });
    const starting = container(EP(9), "");
    for (let i = 0; i < 3; i++) {
      t.setContainers([starting]);
      const report = await t.r.runOnce();
      assert.deepEqual([report.endpointsReleased, report.addressesReleased], [[], []], `run ${i}`);
      t.tick(31_000);
    }
  });

  it("keeps a network Docker does not have while any of its endpoints still has its link", async () => {
    const t = setup(stateWith([[EP(1), "10.0.0.10"]]), { "10.0.0.10": "P" });
    t.linked.add(EP(1));
    t.setNetworks([]);
    await t.r.runOnce();
    t.tick(31_000);
    assert.deepEqual((await t.r.runOnce()).networksRemoved, []);
    t.linked.clear();
    await t.r.runOnce();
    t.tick(31_000);
    assert.deepEqual((await t.r.runOnce()).networksRemoved, [NET.slice(0, 12)]);
    assert.deepEqual(Object.keys(t.addresses), [], "its endpoints' addresses went with it");
  });

  it("adopts over a stale holder of the address, never over a live one", async () => {
    const st = stateWith([[EP(1), "10.0.0.13"]]);
    const t = setup(st, { "10.0.0.13": "AzureVNetLocal/10.0.0.0/24" });
    t.setContainers([container(EP(3), "10.0.0.13")]);
    let report = await t.r.runOnce();
    assert.equal(report.endpointsAdopted, 1);
    assert.deepEqual(Object.keys(st.endpoints), [EP(3)]);
    assert.ok(
      t.calls.indexOf(`releaseEndpoint ${EP(1).slice(0, 4)} 10.0.0.13`) < t.calls.indexOf(`adoptEndpoint ${EP(3).slice(0, 4)} 10.0.0.13`),
    );

    const both = setup(stateWith([[EP(1), "10.0.0.13"]]), { "10.0.0.13": "AzureVNetLocal/10.0.0.0/24" });
    both.setContainers([container(EP(1), "10.0.0.13"), { ...container(EP(3), "10.0.0.13"), Id: "other" }]);
    report = await both.r.runOnce();
    assert.equal(report.endpointsAdopted, 0);
    assert.match(report.itemErrors.join(), /both with 10\.0\.0\.13; neither is adopted/);
  });

  it("gives an endpoint made again under an id it released its own grace period", async () => {
    const st = stateWith([[EP(1), "10.0.0.10"]]);
    const t = setup(st, { "10.0.0.10": "AzureVNetLocal/10.0.0.0/24" });
    await t.r.runOnce();
    t.tick(31_000);
    assert.deepEqual((await t.r.runOnce()).endpointsReleased, [EP(1).slice(0, 12)]);
    // A retried CreateEndpoint brings it back.
    st.endpoints[EP(1)] = { id: EP(1), networkId: NET, address: "10.0.0.10" } as NetworkState["endpoints"][string];
    t.tick(1_000);
    assert.deepEqual((await t.r.runOnce()).endpointsReleased, [], "a first sighting again");
  });

  describe("swarm networks", () => {
    const SWARM = "1y9aqdade2ni7age0she52i6z";
    /** As a manager lists them: the swarm network with no IPAM of its own, and the node's config-only network. */
    const managerList = (name = "vnet", driver = "azure-vnet:latest", ipamDriver = "azure-vnet:latest"): DockerNetworkInfo[] => [
      {
        Id: SWARM,
        Name: name,
        Driver: driver,
        Scope: "swarm",
        ConfigFrom: { Network: `${name}-config` },
        IPAM: { Driver: "", Config: [] },
      },
      {
        Id: "c".repeat(64),
        Name: `${name}-config`,
        Driver: "null",
        Scope: "local",
        ConfigOnly: true,
        IPAM: { Driver: ipamDriver, Config: [{ Subnet: "10.0.0.0/24" }] },
      },
    ];
    const task = (ep: string, ip: string): DockerContainerInfo => ({
      ...container(ep, ip),
      NetworkSettings: { Networks: { vnet: { NetworkID: SWARM, EndpointID: ep, IPAddress: ip } } },
    });

    it("keeps a running task's endpoint on a swarm network and releases it once the task is gone", async () => {
      const st = emptyNetworkState();
      st.networks[SWARM] = { id: SWARM } as NetworkState["networks"][string];
      st.endpoints[EP(1)] = { id: EP(1), networkId: SWARM, address: "10.0.0.10" } as NetworkState["endpoints"][string];
      const t = setup(st, { "10.0.0.10": "AzureVNetLocal/10.0.0.0/24" });
      t.setNetworks(managerList());
      t.setContainers([task(EP(1), "10.0.0.10")]);
      await t.r.runOnce();
      t.tick(60_000);
      assert.deepEqual((await t.r.runOnce()).endpointsReleased, [], "the task runs");
      t.setContainers([]);
      await t.r.runOnce();
      t.tick(31_000);
      assert.deepEqual((await t.r.runOnce()).endpointsReleased, [EP(1).slice(0, 12)]);
      assert.deepEqual(t.addresses, {});
      assert.ok(st.networks[SWARM], "the network stays: the swarm still has it");
    });

    const POOL = "AzureVNetLocal/10.0.0.0/24";
    const instance = () => ({ id: SWARM, addressSpace: "AzureVNetLocal", subnet: "10.0.0.0/24" }) as NetworkState["networks"][string];

    it("sets a pool's count back to the one network using it after Docker asked for it again, once the grace has passed", async () => {
      // A node's dockerd restarted and made its instance of the swarm network again: RequestPool twice, one network.
      const st = emptyNetworkState();
      st.networks[SWARM] = instance();
      const t = setup(st);
      t.pools.set(POOL, 2);
      t.setNetworks(managerList());
      assert.deepEqual((await t.r.runOnce()).poolsSettled, [], "a first sighting");
      t.tick(31_000);
      const report = await t.r.runOnce();
      assert.deepEqual(report.poolsSettled, [`${POOL} 2->1`]);
      assert.deepEqual([...t.pools], [[POOL, 1]]);
      t.tick(31_000);
      assert.deepEqual((await t.r.runOnce()).poolsSettled, [], "settled");
      // The same on a worker, which lists its instance with the config-only network's settings.
      t.pools.set(POOL, 2);
      t.setNetworks([{ ...managerList()[0], IPAM: managerList()[1].IPAM }, managerList()[1]]);
      await t.r.runOnce();
      t.tick(31_000);
      assert.deepEqual((await t.r.runOnce()).poolsSettled, [`${POOL} 2->1`]);
    });

    it("drops a pool whose last network is gone, and leaves alone a count a network being made explains soon", async () => {
      const st = emptyNetworkState();
      const t = setup(st);
      t.pools.set(POOL, 1);
      // The swarm network exists, this node has no instance of it: no record, so the pool is no network's.
      t.setNetworks(managerList());
      await t.r.runOnce();
      t.tick(20_000);
      // Meanwhile Docker makes the node's instance: the count now matches.
      st.networks[SWARM] = instance();
      await t.r.runOnce();
      t.tick(20_000);
      assert.deepEqual((await t.r.runOnce()).poolsSettled, []);
      assert.deepEqual([...t.pools], [[POOL, 1]]);
      // The instance goes without its ReleasePool reaching the plugin.
      delete st.networks[SWARM];
      await t.r.runOnce();
      t.tick(15_000);
      assert.deepEqual((await t.r.runOnce()).poolsSettled, [], "not yet missing for the grace");
      t.tick(16_000);
      assert.deepEqual((await t.r.runOnce()).poolsSettled, [`${POOL} 1->0`]);
      assert.deepEqual([...t.pools], []);
    });

    it("counts a local network by its pool, tells pools of one subnet apart by --ip-range, and leaves unknowable pools alone", async () => {
      const st = emptyNetworkState();
      const RANGED = "AzureVNetLocal/10.0.0.0/24/10.0.0.16/28";
      st.networks[NET] = { id: NET, addressSpace: "AzureVNetLocal", subnet: "10.0.0.0/24" } as NetworkState["networks"][string];
      const t = setup(st);
      t.pools.set(POOL, 3);
      t.pools.set(RANGED, 3);
      const other = {
        ...network(),
        Id: "b".repeat(64),
        Driver: "macvlan",
        // As an older engine lists a --subnet given with host bits.
        IPAM: { Driver: "azure-vnet", Config: [{ Subnet: "10.0.0.9/24" }] },
      };
      t.setNetworks([
        { ...network(), IPAM: { Driver: "azure-vnet", Config: [{ Subnet: "10.0.0.0/24", IPRange: "10.0.0.16/28" }] } },
        other,
      ]);
      await t.r.runOnce();
      t.tick(31_000);
      assert.deepEqual((await t.r.runOnce()).poolsSettled?.sort(), [`${POOL} 3->1`, `${RANGED} 3->1`]);
      // A swarm network of another driver that takes this IPAM through --config-from: whether this node has an instance, its list does not say.
      t.pools.set(POOL, 3);
      t.setNetworks(managerList("mv", "macvlan", "azure-vnet"));
      await t.r.runOnce();
      t.tick(31_000);
      assert.deepEqual((await t.r.runOnce()).poolsSettled, [`${RANGED} 1->0`]);
      assert.equal(t.pools.get(POOL), 3);
    });

    it("adopts nothing from a manager's list: the swarm network has no subnet there, the config-only one is no driver's", async () => {
      const t = setup(emptyNetworkState());
      t.setNetworks(managerList());
      const report = await t.r.runOnce();
      assert.equal(report.ok, true);
      assert.equal(report.networksAdopted, 0);
      assert.deepEqual(t.calls, []);
    });

    it("adopts a node's own instance of a swarm network under its swarm id, with the config-only network's subnet", async () => {
      const t = setup(emptyNetworkState());
      t.setNetworks([
        {
          Id: SWARM,
          Name: "vnet",
          Driver: "azure-vnet:latest",
          IPAM: { Driver: "azure-vnet:latest", Config: [{ Subnet: "10.0.0.0/24" }] },
        },
      ]);
      t.setContainers([task(EP(1), "10.0.0.10")]);
      const report = await t.r.runOnce();
      assert.equal(report.networksAdopted, 1);
      assert.deepEqual(t.calls.slice(0, 2), [
        "adoptPool AzureVNetLocal/10.0.0.0/24",
        `createNetwork ${SWARM.slice(0, 4)} 10.0.0.0/24 undefined {}`,
      ]);
      assert.ok(t.calls.includes(`adoptEndpoint ${EP(1).slice(0, 4)} 10.0.0.10`), t.calls.join("; "));
    });
  });
});

describe("reconciliation with Docker, IPv6 pools", () => {
  const POOL6 = "AzureVNetLocal/fd00:db8:deca::/64";
  /** A network with an IPv6 pool beside its IPv4 one, the IPv6 subnet spelled as an older engine may list it. */
  function dualStack(order: "v4-first" | "v6-first" = "v4-first"): DockerNetworkInfo {
    const v4 = { Subnet: "10.0.0.0/24", Gateway: "10.0.0.1" };
    const v6 = { Subnet: "FD00:DB8:DECA:0::/64", Gateway: "fd00:db8:deca::1" };
    return { ...network(), IPAM: { Driver: "azure-vnet", Config: order === "v4-first" ? [v4, v6] : [v6, v4] } };
  }
  function dualState(endpoints: Array<[string, string]>): NetworkState {
    const st = stateWith(endpoints);
    st.networks[NET] = { id: NET, addressSpace: "AzureVNetLocal", subnet: "10.0.0.0/24" } as NetworkState["networks"][string];
    return st;
  }
  function withIpv6(c: DockerContainerInfo, address6: string): DockerContainerInfo {
    const nets = c.NetworkSettings?.Networks ?? {};
    return { ...c, NetworkSettings: { Networks: { vnet: { ...nets.vnet, GlobalIPv6Address: address6 } } } };
  }

  it("keeps a running container's IPv6 grant and frees it once the container is gone for the grace period", async () => {
    const t = setup(dualState([[EP(1), "10.0.0.10"]]), { "10.0.0.10": "AzureVNetLocal/10.0.0.0/24", "fd00:db8:deca::10": POOL6 });
    t.setNetworks([dualStack()]);
    t.setContainers([withIpv6(container(EP(1), "10.0.0.10"), "FD00:DB8:DECA::0010")]);
    await t.r.runOnce();
    t.tick(31_000);
    let report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, [], "the running container holds its IPv6 address");
    assert.ok(t.addresses["fd00:db8:deca::10"]);
    t.setContainers([]);
    await t.r.runOnce();
    t.tick(31_000);
    report = await t.r.runOnce();
    assert.deepEqual(report.addressesReleased, ["fd00:db8:deca::10"], "the IPv6 pool is found under its canonical id");
    assert.deepEqual(report.endpointsReleased, [EP(1).slice(0, 12)]);
  });

  it("counts a network's IPv6 pool among its users, so the pool is not settled away", async () => {
    const t = setup(dualState([]));
    t.setNetworks([dualStack()]);
    t.pools.set("AzureVNetLocal/10.0.0.0/24", 1);
    t.pools.set(POOL6, 1);
    await t.r.runOnce();
    t.tick(31_000);
    const report = await t.r.runOnce();
    assert.deepEqual(report.poolsSettled ?? [], []);
    assert.deepEqual([...t.pools.keys()].sort(), ["AzureVNetLocal/10.0.0.0/24", POOL6]);
    // Once Docker no longer lists the IPv6 pool, its count goes to zero like an IPv4 one's.
    t.setNetworks([network()]);
    await t.r.runOnce();
    t.tick(31_000);
    assert.deepEqual((await t.r.runOnce()).poolsSettled, [`${POOL6} 1->0`]);
  });

  it("adopts a lost dual-stack network and endpoint with both pools whatever order Docker lists the pools in", async () => {
    for (const order of ["v6-first", "v4-first"] as const) {
      const t = setup(emptyNetworkState());
      t.setNetworks([dualStack(order)]);
      t.setContainers([withIpv6(container(EP(3), "10.0.0.13"), "fd00:db8:deca::13")]);
      const report = await t.r.runOnce();
      assert.equal(report.networksAdopted, 1);
      assert.deepEqual(t.calls, [
        "adoptPool AzureVNetLocal/10.0.0.0/24",
        "adoptPool AzureVNetLocal/fd00:db8:deca::/64",
        `createNetwork aaaa 10.0.0.0/24 10.0.0.1/24 {"snat":"false"}`,
        "adoptAddress AzureVNetLocal/10.0.0.0/24 10.0.0.13 app-10.0.0.13",
        "adoptAddress AzureVNetLocal/fd00:db8:deca::/64 fd00:db8:deca::13 app-10.0.0.13",
        `adoptEndpoint ${EP(3).slice(0, 4)} 10.0.0.13`,
      ]);
    }
  });
});

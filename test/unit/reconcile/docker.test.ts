import { strict as assert } from "node:assert";
import { DockerReconciler, DockerContainerInfo, DockerNetworkInfo, DRIVER_NAME } from "../../../driver/reconcile/docker";
import { emptyNetworkState, NetworkState } from "../../../driver/network/records";

const NET = "a".repeat(64);
const EP = (n: number) => String(n).repeat(64).slice(0, 64);
const silent = { error() {}, warn() {}, info() {}, debug() {}, log() {}, child() { return silent; } };

function network(): DockerNetworkInfo {
  return { Id: NET, Name: "vnet", Driver: "azure-vnet", IPAM: { Driver: "azure-vnet", Config: [{ Subnet: "10.0.0.0/24", Gateway: "10.0.0.1" }] }, Options: { snat: "false" } };
}
function container(ep: string, ip: string, state = "running"): DockerContainerInfo {
  return { Id: `c${ep}`, Names: [`/app-${ip}`], State: state, NetworkSettings: { Networks: { vnet: { NetworkID: NET, EndpointID: ep, IPAddress: ip, MacAddress: "02:42:0a:00:00:0a" } } } };
}

function setup(state: NetworkState, held: Record<string, string> = {}) {
  const calls: string[] = [];
  const addresses = { ...held }; // ip -> poolId
  let clock = 0;
  let networks: DockerNetworkInfo[] = [network()];
  let containers: DockerContainerInfo[] = [];
  const r = new DockerReconciler({
    docker: { listNetworks: async () => networks, listContainers: async () => containers },
    state,
    logger: silent,
    graceMs: 30_000,
    now: () => clock,
    network: {
      createNetwork: async (req) => {
        calls.push(`createNetwork ${req.NetworkID.slice(0, 4)} ${req.IPv4Data[0].Pool} ${req.IPv4Data[0].Gateway} ${JSON.stringify(req.Options["com.docker.network.generic"])}`);
        state.networks[req.NetworkID] = { id: req.NetworkID } as NetworkState["networks"][string];
      },
      deleteNetwork: async (req) => {
        calls.push(`deleteNetwork ${req.NetworkID.slice(0, 4)}`);
        delete state.networks[req.NetworkID];
      },
      deleteEndpoint: async (req) => {
        calls.push(`deleteEndpoint ${req.EndpointID.slice(0, 4)}`);
        delete state.endpoints[req.EndpointID];
      },
      adoptEndpoint: async (ep) => {
        calls.push(`adoptEndpoint ${ep.id.slice(0, 4)} ${ep.address}`);
        state.endpoints[ep.id] = { id: ep.id, networkId: ep.networkId, address: ep.address } as NetworkState["endpoints"][string];
        return true;
      },
    },
    ipam: {
      adoptPool: async (p) => void calls.push(`adoptPool ${p}`),
      adoptAddress: async (p, a, name) => {
        calls.push(`adoptAddress ${p} ${a} ${name}`);
        addresses[a] = p;
        return "adopted";
      },
      endpointPoolOf: (a) => addresses[a],
      endpointAddresses: () => Object.keys(addresses),
      releaseAddress: async (req) => {
        calls.push(`releaseAddress ${req.Address}`);
        delete addresses[req.Address];
      },
    },
  });
  return {
    r, calls, addresses,
    tick: (ms: number) => (clock += ms),
    setContainers: (c: DockerContainerInfo[]) => (containers = c),
    setNetworks: (n: DockerNetworkInfo[]) => (networks = n),
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
    for (const n of ["azure-vnet", "azure-vnet:latest", "owner/azure-vnet:0.1.0", "localhost:5000/azure-vnet:latest", "reg.io/team/azure-vnet"]) assert.ok(DRIVER_NAME.test(n), n);
    for (const n of ["bridge", "azure-vnet-other", "macvlan", "evil/azure-vnet:x y"]) assert.ok(!DRIVER_NAME.test(n), n);
  });

  it("releases an endpoint and its address only after it was missing for the grace period", async () => {
    const t = setup(stateWith([[EP(1), "10.0.0.10"], [EP(2), "10.0.0.11"]]), { "10.0.0.10": "P", "10.0.0.11": "P" });
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
    assert.ok(t.calls.includes(`deleteEndpoint ${EP(2).slice(0, 4)}`));
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
    const t = setup(stateWith([]), { "10.0.0.12": "P" });
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
    const broken = new DockerReconciler({ ...(t.r as unknown as { o: ConstructorParameters<typeof DockerReconciler>[0] }).o, docker: { listNetworks: async () => { throw new Error("connect ENOENT /var/run/docker.sock"); }, listContainers: async () => [] } });
    const report = await broken.runOnce();
    assert.equal(report.ok, false);
    assert.match(report.error ?? "", /ENOENT/);
    assert.equal(t.calls.length, 0);
  });
});

import { strict as assert } from "node:assert";
import { PluginError } from "../../../driver/errors";
import { NetworkManager } from "../../../driver/network/manager";
import { emptyNetworkState, NetworkState } from "../../../driver/network/records";
import { PORTMAP_OPTION, parsePortBindings } from "../../../driver/network/ports";
import { FakeDataplane } from "./fake-dataplane";
import { silent } from "../support/silent-logger";
import { oneNicDirectory } from "./one-nic";

const NET = "a".repeat(64);
const ep = (n: number) => n.toString(16).padStart(64, "e");

/** One Go types.PortBinding as Docker 20.10 sends it. */
const binding = (hostPort: number, port = 80, over: Record<string, unknown> = {}) => ({
  Proto: 6,
  IP: "",
  Port: port,
  HostIP: "",
  HostPort: hostPort,
  HostPortEnd: hostPort,
  ...over,
});
const opts = (...bindings: unknown[]) => ({ [PORTMAP_OPTION]: bindings });

describe("port bindings from Docker", () => {
  it("reads -p 8080:80, -p 10.0.0.4:53:53/udp, and skips Docker's IPv6 wildcard beside 0.0.0.0", () => {
    const parsed = parsePortBindings(
      opts(
        binding(8080),
        binding(8080, 80, { HostIP: "::" }),
        binding(53, 53, { Proto: 17, HostIP: "10.0.0.4" }),
        binding(9000, 90, { HostIP: "0.0.0.0", HostPortEnd: 0 }),
      ),
    );
    assert.deepEqual(parsed, [
      { proto: "tcp", hostPort: 8080, containerPort: 80 },
      { proto: "udp", hostIp: "10.0.0.4", hostPort: 53, containerPort: 53 },
      { proto: "tcp", hostPort: 9000, containerPort: 90 },
    ]);
  });

  it("has nothing to publish without the option, or with exposed ports only", () => {
    assert.deepEqual(parsePortBindings({}), []);
    assert.deepEqual(parsePortBindings({ "com.docker.network.endpoint.exposedports": [{ Proto: 6, Port: 80 }] }), []);
    assert.deepEqual(parsePortBindings({ [PORTMAP_OPTION]: null }), []);
  });

  it("refuses what it cannot publish as asked, saying why", () => {
    const cases: [unknown, RegExp][] = [
      [binding(0), /on a port Docker would pick \(-p 80 or -P\).*e\.g\. -p 8080:80/],
      [binding(8000, 80, { HostPortEnd: 8010 }), /host port range 8000-8010.*e\.g\. -p 8000:80/],
      [binding(8080, 80, { HostIP: "127.0.0.1" }), /cannot publish 127\.0\.0\.1:8080:80\/tcp on a loopback address/],
      [binding(8080, 80, { HostIP: "fe80::1" }), /IPv4 addresses only/],
      [binding(8080, 80, { HostIP: "localhost" }), /"localhost" is not an IPv4 address/],
      [binding(8080, 80, { Proto: 132 }), /tcp and udp ports only/],
      [binding(8080, 0), /container port is missing/],
      [{ Proto: "tcp" }, /not in the expected form/],
    ];
    for (const [b, message] of cases) assert.throws(() => parsePortBindings(opts(b)), message, JSON.stringify(b));
    assert.throws(() => parsePortBindings({ [PORTMAP_OPTION]: "8080:80" }), /not in the expected form/);
    assert.throws(() => parsePortBindings(opts(binding(8080), binding(8080, 81))), /cannot publish 8080\/tcp twice in one container/);
    // The same binding twice (Docker repeats one for each address family) is one port.
    assert.equal(parsePortBindings(opts(binding(8080), binding(8080))).length, 1);
  });
});

describe("publishing ports through the network manager", () => {
  function setup() {
    const dp = new FakeDataplane();
    const state: NetworkState = emptyNetworkState();
    const saved: NetworkState[] = [];
    let failPersist = false;
    const persist = async () => {
      if (failPersist) throw new PluginError("disk full", "unavailable");
      saved.push(structuredClone(state));
    };
    const mgr = new NetworkManager({
      dataplane: dp,
      pools: {
        bindAddress: async () => undefined,
        unbindAddress: async () => true,
        poolInfoBySubnet: () => ({ subnet: "10.0.0.0/24", gateway: "10.0.0.1", primaryAddress: "10.0.0.4", nicMac: "00:0d:3a:00:00:01" }),
        networkCreated: () => undefined,
        ...oneNicDirectory,
      },
      state,
      persist,
      logger: silent,
    });
    return { dp, state, saved, mgr, failPersist: (v: boolean) => (failPersist = v) };
  }

  async function withEndpoints(n: number) {
    const t = setup();
    await t.mgr.createNetwork({
      NetworkID: NET,
      Options: { "com.docker.network.generic": {} },
      IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", Gateway: "10.0.0.1/24" }],
      IPv6Data: [],
    });
    for (let i = 1; i <= n; i++) {
      await t.mgr.createEndpoint({
        NetworkID: NET,
        EndpointID: ep(i),
        Interface: { Address: `10.0.0.${9 + i}/24`, AddressIPv6: "", MacAddress: "" },
        Options: {},
      });
    }
    return t;
  }
  /** What the fake firewall holds now (read through a call, so no earlier assertion narrows it). */
  const published = (dp: FakeDataplane) => dp.firewall?.published ?? [];
  const program = (id: string, ...bindings: unknown[]) => ({ NetworkID: NET, EndpointID: id, Options: opts(...bindings) });

  it("applies the bindings to the firewall and saves them with the endpoint before answering", async () => {
    const t = await withEndpoints(1);
    await t.mgr.programExternalConnectivity(program(ep(1), binding(8080)));
    assert.deepEqual(t.dp.firewall?.published, [
      {
        networkId: NET.slice(0, 12),
        endpointId: ep(1).slice(0, 12),
        address: "10.0.0.10",
        proto: "tcp",
        hostPort: 8080,
        containerPort: 80,
      },
    ]);
    assert.deepEqual(t.saved.at(-1)?.endpoints[ep(1)].published, [{ proto: "tcp", hostPort: 8080, containerPort: 80 }]);
  });

  it("refuses a port another endpoint holds, naming the port and the holder, and changes nothing", async () => {
    const t = await withEndpoints(2);
    await t.mgr.programExternalConnectivity(program(ep(1), binding(8080)));
    const applies = t.dp.firewallApplies;
    await assert.rejects(
      t.mgr.programExternalConnectivity(program(ep(2), binding(8080, 81, { HostIP: "10.0.0.4" }))),
      (err: unknown) =>
        err instanceof PluginError &&
        err.code === "conflict" &&
        err.message ===
          `port 10.0.0.4:8080/tcp is already published by azure-vnet endpoint ${ep(1).slice(0, 12)} (container address 10.0.0.10, as 8080/tcp); remove that container or publish another host port`,
    );
    assert.equal(t.dp.firewallApplies, applies);
    assert.equal(t.state.endpoints[ep(2)].published, undefined);
    // Another protocol on the same port is free.
    await t.mgr.programExternalConnectivity(program(ep(2), binding(8080, 80, { Proto: 17 })));
    assert.equal(t.dp.firewall?.published?.length, 2);
  });

  it("takes the ports of an endpoint whose veth is gone (a missed DeleteEndpoint) rather than refusing", async () => {
    const t = await withEndpoints(2);
    await t.mgr.programExternalConnectivity(program(ep(1), binding(8080)));
    assert.ok(t.dp.links.delete(t.state.endpoints[ep(1)].hostVeth));
    await t.mgr.programExternalConnectivity(program(ep(2), binding(8080)));
    assert.equal(t.state.endpoints[ep(1)].published, undefined);
    assert.deepEqual(
      published(t.dp).map((p) => p.endpointId),
      [ep(2).slice(0, 12)],
    );
  });

  it("closes the ports on Revoke and on DeleteEndpoint, and frees them for another endpoint", async () => {
    const t = await withEndpoints(2);
    await t.mgr.programExternalConnectivity(program(ep(1), binding(8080)));
    await t.mgr.revokeExternalConnectivity({ NetworkID: NET, EndpointID: ep(1) });
    assert.deepEqual(t.dp.firewall?.published, []);
    assert.equal(t.state.endpoints[ep(1)].published, undefined);
    await t.mgr.programExternalConnectivity(program(ep(2), binding(8080)));
    await t.mgr.deleteEndpoint({ NetworkID: NET, EndpointID: ep(2) });
    assert.deepEqual(t.dp.firewall?.published, []);
    await t.mgr.programExternalConnectivity(program(ep(1), binding(8080)));
    assert.equal(published(t.dp)[0].endpointId, ep(1).slice(0, 12));
  });

  it("takes the ports back when the save fails", async () => {
    const t = await withEndpoints(1);
    t.failPersist(true);
    await assert.rejects(t.mgr.programExternalConnectivity(program(ep(1), binding(8080))), /disk full/);
    assert.equal(t.state.endpoints[ep(1)].published, undefined);
    assert.deepEqual(t.dp.firewall?.published, []);
  });

  it("answers Program and Revoke that change nothing without waiting for the lock another call holds", async () => {
    const t = await withEndpoints(2);
    await t.mgr.programExternalConnectivity(program(ep(2), binding(8080)));
    // A CreateEndpoint holds the manager's lock while its veth is made.
    let finishLink!: () => void;
    let lockHeld!: () => void;
    const locked = new Promise<void>((resolve) => (lockHeld = resolve));
    const making = t.dp.createEndpointLink.bind(t.dp);
    t.dp.createEndpointLink = async (spec) => {
      lockHeld();
      await new Promise<void>((resolve) => (finishLink = resolve));
      return making(spec);
    };
    const creating = t.mgr.createEndpoint({
      NetworkID: NET,
      EndpointID: ep(3),
      Interface: { Address: "10.0.0.20/24", AddressIPv6: "", MacAddress: "" },
      Options: {},
    });
    await locked;
    const answered: string[] = [];
    const noPorts = t.mgr.programExternalConnectivity(program(ep(1))).then(() => answered.push("program, no ports"));
    const revokeNone = t.mgr.revokeExternalConnectivity({ NetworkID: NET, EndpointID: ep(1) }).then(() => answered.push("revoke, none"));
    const revokeSome = t.mgr.revokeExternalConnectivity({ NetworkID: NET, EndpointID: ep(2) }).then(() => answered.push("revoke 8080"));
    await Promise.all([noPorts, revokeNone]);
    assert.deepEqual(answered, ["program, no ports", "revoke, none"], "answered while the lock was held");
    finishLink();
    await Promise.all([creating, revokeSome]);
    assert.deepEqual(answered.at(-1), "revoke 8080", "a revoke with ports to close waits its turn");
    assert.deepEqual(published(t.dp), []);
    // A wrong network still gets the lock's answer: refused.
    await assert.rejects(t.mgr.programExternalConnectivity({ NetworkID: "b".repeat(64), EndpointID: ep(1), Options: {} }), /not known/);
  });

  it("refuses an endpoint it does not know, and ignores a Revoke for one", async () => {
    const t = await withEndpoints(0);
    await assert.rejects(t.mgr.programExternalConnectivity(program(ep(9), binding(8080))), /endpoint eeeeeeeeeeee is not known/);
    await t.mgr.revokeExternalConnectivity({ NetworkID: NET, EndpointID: ep(9) });
  });

  it("gives a port two records claim (a hand-edited checkpoint) to the older endpoint, and keeps the rest of the firewall", async () => {
    const t = await withEndpoints(2);
    t.state.endpoints[ep(1)].published = [{ proto: "tcp", hostPort: 8080, containerPort: 80 }];
    t.state.endpoints[ep(2)].published = [{ proto: "tcp", hostPort: 8080, containerPort: 80 }];
    t.state.endpoints[ep(2)].createdAt = "2000-01-01T00:00:00.000Z";
    await t.mgr.applyFirewall();
    assert.deepEqual(
      t.dp.firewall?.published?.map((p) => p.endpointId),
      [ep(2).slice(0, 12)],
    );
  });
});

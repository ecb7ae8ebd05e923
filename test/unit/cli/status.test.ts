import assert from "node:assert/strict";
import { buildStatus, renderStatus } from "../../../driver/cli/status";
import { BRIDGE, EP_ID, HOST_VETH, MAC, NET_ID, POOL, SWARM_BRIDGE, SWARM_NET_ID, healthy, links, onSwarmNetwork } from "./fixtures";

describe("status", () => {
  it("reports networks, pools, addresses per NIC and endpoints", () => {
    const r = buildStatus(healthy());
    assert.deepEqual(
      r.networks.map((n) => [n.id, n.bridge, n.subnet, n.gateway, n.bridgeState, n.endpoints]),
      [[NET_ID, BRIDGE, "10.0.0.0/24", "10.0.0.1", "up", 1]],
    );
    assert.deepEqual(r.networks[0].options, {
      mode: "bridge",
      snat: true,
      allowImds: false,
      nonMasqueradeCidrs: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    });
    assert.deepEqual(r.pools, [
      {
        poolId: POOL,
        subnet: "10.0.0.0/24",
        nicMac: MAC,
        networks: 1,
        free: ["10.0.0.11", "10.0.0.12", "10.0.0.13"],
        used: ["10.0.0.10"],
        flagged: [],
        auxAddresses: [],
      },
    ]);
    assert.equal(r.nics.length, 1);
    assert.deepEqual(
      { ...r.nics[0], used: r.nics[0].used.map((u) => u.address) },
      {
        nicMac: MAC,
        link: "eth0",
        subnet: "10.0.0.0/24",
        primaryAddress: "10.0.0.4",
        secondaries: ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"],
        free: ["10.0.0.11", "10.0.0.12", "10.0.0.13"],
        used: ["10.0.0.10"],
        flagged: [],
      },
    );
    assert.deepEqual(r.endpoints, [
      {
        id: EP_ID,
        networkId: NET_ID,
        address: "10.0.0.10",
        container: "web",
        hostVeth: HOST_VETH,
        joined: true,
        hostVethExists: true,
        peerInContainer: true,
        routed: true,
        createdAt: "2026-01-01T00:00:01.000Z",
      },
    ]);
    assert.equal(r.plugin.answering, true);
    assert.deepEqual(r.unavailable, []);
  });

  it("reports a swarm network under its 25-character id, with its bridge up and its endpoint on it", () => {
    const r = buildStatus(onSwarmNetwork(healthy()));
    assert.deepEqual(
      r.networks.map((n) => [n.id, n.bridge, n.bridgeState, n.endpoints]),
      [[SWARM_NET_ID, SWARM_BRIDGE, "up", 1]],
    );
    assert.deepEqual(
      r.endpoints.map((e) => [e.networkId, e.hostVethExists, e.routed]),
      [[SWARM_NET_ID, true, true]],
    );
    const text = renderStatus(r);
    assert.match(text, new RegExp(`^yt93zcd6htzv +${SWARM_BRIDGE} +up +10\\.0\\.0\\.0/24`, "m"));
    assert.match(text, new RegExp(`^aaaaaaaaaaaa +yt93zcd6htzv +10\\.0\\.0\\.10 +web`, "m"));
  });

  it("says what it could not see instead of guessing", () => {
    const f = healthy();
    f.metadata = undefined;
    f.kernel.links = { ok: false, error: "netlink: EPERM" };
    const r = buildStatus(f);
    assert.equal(r.networks[0].bridgeState, "unknown");
    assert.equal(r.endpoints[0].hostVethExists, null);
    assert.equal(r.pools[0].free, null);
    assert.equal(r.nics[0].free, null);
    assert.deepEqual(r.unavailable, ["links: netlink: EPERM"]);
    const text = renderStatus(r);
    assert.match(text, /metadata: not asked/);
    assert.match(text, /could not read: links: netlink: EPERM/);
  });

  it("marks an endpoint whose veth is gone and a missing bridge", () => {
    const f = healthy();
    f.kernel.links = { ok: true, value: links().filter((l) => l.name !== HOST_VETH && l.name !== BRIDGE) };
    const r = buildStatus(f);
    assert.equal(r.networks[0].bridgeState, "missing");
    assert.equal(r.endpoints[0].hostVethExists, false);
  });

  it("prints one table per kind, with the free addresses collapsed", () => {
    const text = renderStatus(buildStatus(healthy()));
    assert.match(text, /^checkpoint: \/var\/lib\/azure-vnet\/state\.json \(from primary, written 2026-01-01T00:00:02\.000Z\)$/m);
    assert.match(text, /^metadata \(auto\): imds answered in 5 ms; wireserver answered in 7 ms$/m);
    assert.match(text, /^NETWORKS\nNETWORK +BRIDGE +STATE/m);
    assert.match(
      text,
      new RegExp(
        `^111111111111 +${BRIDGE} +up +10\\.0\\.0\\.0/24 +10\\.0\\.0\\.1 +eth0 ${MAC} +1 +mode=bridge snat=true allow-imds=false`,
        "m",
      ),
    );
    assert.match(text, /^00:0d:3a:00:00:01 +eth0 +10\.0\.0\.0\/24 +10\.0\.0\.4 +4 +3 +1 +0 +10\.0\.0\.11-10\.0\.0\.13$/m);
    assert.match(text, new RegExp(`^aaaaaaaaaaaa +111111111111 +10\\.0\\.0\\.10 +web +${HOST_VETH} +yes +yes +yes$`, "m"));
  });

  it("shows what the last reconciliation with Docker released", () => {
    const f = healthy();
    delete f.lastReconcile;
    assert.equal(buildStatus(f).lastReconcile, null);
    f.lastReconcile = {
      at: "2026-01-01T00:01:00.000Z",
      ok: true,
      networksAdopted: 0,
      endpointsAdopted: 0,
      endpointsReleased: ["abcdefabcdef"],
      addressesReleased: ["10.0.0.12"],
      networksRemoved: [],
      itemErrors: [],
    };
    const r = buildStatus(f);
    assert.deepEqual(r.lastReconcile?.addressesReleased, ["10.0.0.12"]);
    assert.match(
      renderStatus(r),
      /^last reconciliation with Docker: 2026-01-01T00:01:00\.000Z, released endpoint abcdefabcdef, 10\.0\.0\.12$/m,
    );
    f.lastReconcile = { ...f.lastReconcile, poolsSettled: ["AzureVNetLocal/10.0.0.0/24 2->1"] };
    assert.match(renderStatus(buildStatus(f)), /, 10\.0\.0\.12, set the count of pool AzureVNetLocal\/10\.0\.0\.0\/24 2->1$/m);
    f.lastReconcile = { ...f.lastReconcile, ok: false, error: "Docker is not answering" };
    assert.match(renderStatus(buildStatus(f)), /failed: Docker is not answering/);
  });

  it("prints empty sections as such on a fresh VM", () => {
    const f = healthy();
    f.checkpoint = {
      ok: true,
      value: {
        path: "/s/state.json",
        data: undefined,
        source: "none",
        problems: [],
        writtenAt: undefined,
        rebooted: false,
        quarantined: [],
        leftoverTemps: [],
      },
    };
    const text = renderStatus(buildStatus(f));
    assert.match(text, /\(none yet\)/);
    assert.match(text, /NETWORKS\n {2}\(no networks\)/);
    assert.match(text, /ENDPOINTS\n {2}\(no endpoints\)/);
  });
});

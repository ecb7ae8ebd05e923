import assert from "node:assert/strict";
import type { RequestPoolRequest } from "../../../driver/protocol/types";
import { createNetwork, expectPluginError, GATEWAY, harness, LOCAL, MAC1, MAC2, nic, standardNics } from "./helpers";

function pool(Pool: string, more: Partial<RequestPoolRequest> = {}): RequestPoolRequest {
  return { AddressSpace: LOCAL, Pool, SubPool: "", Options: {}, V6: false, ...more };
}

describe("AddressManager pools", () => {
  it("advertises its capabilities and address spaces", () => {
    const { manager } = harness();
    assert.deepEqual(manager.getCapabilities(), { RequiresMACAddress: false, RequiresRequestReplay: false });
    assert.deepEqual(manager.getDefaultAddressSpaces(), {
      LocalDefaultAddressSpace: "AzureVNetLocal",
      GlobalDefaultAddressSpace: "AzureVNetGlobal",
    });
  });

  it("gives the NIC subnet a stable PoolID, refcounts identical requests and persists each change", async () => {
    const h = harness();
    const first = await h.manager.requestPool(pool("10.0.0.0/24"));
    assert.deepEqual(first, { PoolID: "AzureVNetLocal/10.0.0.0/24", Pool: "10.0.0.0/24" });
    // Host bits set: the same subnet once canonicalised.
    const second = await h.manager.requestPool(pool("10.0.0.77/24"));
    assert.deepEqual(second, first);
    assert.equal(h.state.pools[first.PoolID].refCount, 2);
    assert.equal(h.state.pools[first.PoolID].nicMac, MAC1);
    assert.equal(h.state.pools[first.PoolID].primaryAddress, "10.0.0.4");
    assert.equal(h.persisted.length, 2);
    await h.manager.releasePool({ PoolID: first.PoolID });
    assert.equal(h.state.pools[first.PoolID].refCount, 1);
    await h.manager.releasePool({ PoolID: first.PoolID });
    assert.equal(h.state.pools[first.PoolID], undefined);
    assert.equal(h.persisted.length, 4);
    await h.manager.releasePool({ PoolID: first.PoolID });
    await h.manager.releasePool({ PoolID: "nonsense" });
    assert.equal(h.persisted.length, 4, "releasing an unknown pool changes nothing");
  });

  it("sets a pool's count of networks to Docker's only while it is what was seen, and drops the pool at zero", async () => {
    const h = harness();
    // Docker asked twice for one network (made again after a dockerd restart) and will release once.
    const PoolID = await createNetwork(h);
    await createNetwork(h);
    const { Address } = await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
    assert.equal(h.state.pools[PoolID].refCount, 2);
    assert.equal(await h.manager.settlePoolCount(PoolID, 3, 1), false, "the count changed since it was seen");
    assert.equal(await h.manager.settlePoolCount("AzureVNetLocal/10.9.0.0/24", 2, 1), false, "no such pool");
    assert.equal(h.state.pools[PoolID].refCount, 2);
    assert.equal(await h.manager.settlePoolCount(PoolID, 2, 1), true);
    assert.deepEqual(
      h.manager.poolCounts().map((p) => [p.poolId, p.refCount]),
      [[PoolID, 1]],
    );
    assert.equal(JSON.parse(h.persisted.at(-1) as string).pools[PoolID].refCount, 1, "saved");
    // The network's removal: its one ReleasePool now drops the pool with its addresses.
    await h.manager.releasePool({ PoolID });
    assert.deepEqual(h.state.pools, {});
    assert.equal(h.state.addresses[Address.split("/")[0]], undefined);
  });

  it("drops a pool no network uses, unless a live endpoint holds one of its addresses", async () => {
    const live = new Set<string>();
    const h = harness(standardNics(), { liveEndpoint: (id) => live.has(id) });
    const PoolID = await createNetwork(h);
    const { Address } = await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
    const address = Address.split("/")[0];
    await h.manager.bindAddress({ addressSpace: LOCAL, subnet: "10.0.0.0/24" }, address, "e".repeat(64));
    live.add("e".repeat(64));
    assert.equal(await h.manager.settlePoolCount(PoolID, 1, 0), false, "a live endpoint holds an address");
    assert.equal(h.state.pools[PoolID].refCount, 1);
    live.clear();
    assert.equal(await h.manager.settlePoolCount(PoolID, 1, 0), true);
    assert.deepEqual([h.state.pools, h.state.addresses], [{}, {}]);
  });

  it("serves a second NIC's subnet from that NIC", async () => {
    const h = harness();
    const { PoolID } = await h.manager.requestPool(pool("10.1.0.0/24"));
    assert.equal(PoolID, "AzureVNetLocal/10.1.0.0/24");
    assert.deepEqual(h.manager.poolInfo(PoolID), {
      subnet: "10.1.0.0/24",
      gateway: "10.1.0.1",
      prefixLength: 24,
      primaryAddress: "10.1.0.4",
      nicMac: MAC2,
    });
    assert.deepEqual(h.manager.poolInfoBySubnet(LOCAL, "10.1.0.0/24"), h.manager.poolInfo(PoolID));
    assert.equal(h.manager.poolInfo("AzureVNetLocal/10.9.0.0/24"), undefined);
  });

  it("rejects a subnet that is not a NIC subnet and names the ones to pass", async () => {
    const single = harness([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10"])]);
    await expectPluginError(
      single.manager.requestPool(pool("10.9.0.0/24")),
      /^subnet 10\.9\.0\.0\/24 is not a subnet of this VM's NICs; pass --subnet 10\.0\.0\.0\/24$/,
      "invalid",
    );
    await expectPluginError(
      single.manager.requestPool(pool("10.0.0.0/16")),
      /^subnet 10\.0\.0\.0\/16 is not a subnet of this VM's NICs; pass --subnet 10\.0\.0\.0\/24$/,
    );
    const two = harness();
    await expectPluginError(
      two.manager.requestPool(pool("10.9.0.0/24")),
      /^subnet 10\.9\.0\.0\/24 is not a subnet of this VM's NICs; pass one of --subnet 10\.0\.0\.0\/24, --subnet 10\.1\.0\.0\/24$/,
    );
    await expectPluginError(two.manager.requestPool(pool("10.0.0/24")), /^--subnet "10\.0\.0\/24" is not an IPv4 CIDR; pass one of/);
    assert.equal(two.persisted.length, 0);
  });

  it("only offers the configured NIC when nicMac is set", async () => {
    const h = harness(standardNics(), { nicMac: "000D3A000002" });
    await expectPluginError(
      h.manager.requestPool(pool("10.0.0.0/24")),
      /^subnet 10\.0\.0\.0\/24 is not a subnet of this VM's NICs; pass --subnet 10\.1\.0\.0\/24$/,
    );
    assert.equal((await h.manager.requestPool(pool(""))).Pool, "10.1.0.0/24");
    const missing = harness(standardNics(), { nicMac: "00:0d:3a:00:00:09" });
    await expectPluginError(
      missing.manager.requestPool(pool("10.0.0.0/24")),
      /^NIC 00:0d:3a:00:00:09, which this plugin is configured to use, is not among this VM's NICs \(00:0d:3a:00:00:01, 00:0d:3a:00:00:02\)$/,
      "unavailable",
    );
  });

  it("refuses IPv6 on a VM without IPv6 ipconfigs and unknown address spaces; serves the global space", async () => {
    const h = harness();
    await expectPluginError(h.manager.requestPool(pool("", { V6: true })), /^NIC 00:0d:3a:00:00:01 has no IPv6 IP configuration/);
    await expectPluginError(
      h.manager.requestPool(pool("10.0.0.0/24", { AddressSpace: "LocalDefault" })),
      /^unknown address space "LocalDefault"; this driver serves AzureVNetLocal and AzureVNetGlobal$/,
    );
    const global = await h.manager.requestPool(pool("10.0.0.0/24", { AddressSpace: "AzureVNetGlobal" }));
    assert.equal(global.PoolID, "AzureVNetGlobal/10.0.0.0/24");
  });

  it("puts --ip-range into the PoolID and requires it inside the subnet", async () => {
    const h = harness();
    const sub = await h.manager.requestPool(pool("10.0.0.0/24", { SubPool: "10.0.0.16/28" }));
    assert.deepEqual(sub, { PoolID: "AzureVNetLocal/10.0.0.0/24/10.0.0.16/28", Pool: "10.0.0.0/24" });
    assert.equal(h.manager.poolInfo(sub.PoolID)?.subPool, "10.0.0.16/28");
    await expectPluginError(
      h.manager.requestPool(pool("10.0.0.0/24", { SubPool: "10.0.1.0/28" })),
      /^--ip-range 10\.0\.1\.0\/28 is not inside --subnet 10\.0\.0\.0\/24$/,
    );
    await expectPluginError(
      h.manager.requestPool(pool("10.0.0.0/24", { SubPool: "10.0.0.0/23" })),
      /^--ip-range 10\.0\.0\.0\/23 is not inside --subnet 10\.0\.0\.0\/24$/,
    );
    await expectPluginError(
      h.manager.requestPool(pool("", { SubPool: "10.0.0.16/28" })),
      /^--ip-range needs --subnet as well; pass one of --subnet 10\.0\.0\.0\/24, --subnet 10\.1\.0\.0\/24$/,
    );
  });

  it("answers an empty Pool with the primary NIC's subnet once, then breaks Docker's overlap retry loop", async () => {
    const h = harness();
    const first = await h.manager.requestPool(pool(""));
    assert.deepEqual(first, { PoolID: "AzureVNetLocal/10.0.0.0/24", Pool: "10.0.0.0/24" });
    // Docker found it overlapping a host route and asks again without releasing.
    await expectPluginError(
      h.manager.requestPool(pool("")),
      /^Docker rejected 10\.0\.0\.0\/24 because it overlaps a route of this VM; create the network with --subnet 10\.0\.0\.0\/24$/,
    );
    // Docker then releases the rejected pool; a new attempt starts over.
    await h.manager.releasePool({ PoolID: first.PoolID });
    assert.deepEqual(await h.manager.requestPool(pool("")), first);
  });

  it("treats an empty-Pool pick that Docker kept (gateway requested) as confirmed", async () => {
    const h = harness();
    const first = await h.manager.requestPool(pool(""));
    await h.manager.requestAddress({ PoolID: first.PoolID, Address: "", Options: GATEWAY });
    // A second network without --subnet shares the pool.
    assert.deepEqual(await h.manager.requestPool(pool("")), first);
    assert.equal(h.state.pools[first.PoolID].refCount, 2);
  });

  it("validates --ipam-opt against the (empty) registry, ignoring Docker's own keys", async () => {
    const h = harness();
    await expectPluginError(
      h.manager.requestPool(pool("10.0.0.0/24", { Options: { foo: "bar" } })),
      /^unknown IPAM option "foo"; this driver takes no --ipam-opt options$/,
    );
    const ok = await h.manager.requestPool(pool("10.0.0.0/24", { Options: { "com.docker.network.ipam.serial": "true" } }));
    assert.deepEqual(h.state.pools[ok.PoolID].options, {});
    const nullOptions = { ...pool("10.0.0.0/24"), Options: null } as unknown as RequestPoolRequest;
    assert.equal((await h.manager.requestPool(nullOptions)).PoolID, ok.PoolID);
  });

  it("fails with unavailable when metadata cannot be read", async () => {
    const h = harness();
    h.source.failure = new Error("no route to host");
    await expectPluginError(
      h.manager.requestPool(pool("10.0.0.0/24")),
      /^cannot read this VM's NIC configuration from fake: no route to host \(next attempt in 1 s\)$/,
      "unavailable",
    );
  });
});

import assert from "node:assert/strict";
import { createNetwork, expectPluginError, harness, MAC1, nic, range } from "./helpers";

describe("AddressManager refresh and report", () => {
  it("reads metadata again only when it is older than refreshMs", async () => {
    const h = harness();
    const PoolID = await createNetwork(h);
    assert.equal(h.source.calls, 1);
    h.clock.advance(5_000);
    await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
    assert.equal(h.source.calls, 1);
    h.clock.advance(5_001);
    await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
    assert.equal(h.source.calls, 2);
  });

  it("offers a new ipconfig after the refresh and stops offering a free one that is gone", async () => {
    const h = harness([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10", "10.0.0.11"])]);
    const PoolID = await createNetwork(h);
    h.source.nics = [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.11", "10.0.0.12"])];
    // Still cached: the old list applies.
    assert.equal((await h.manager.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.0.0.10/24");
    await h.manager.releaseAddress({ PoolID, Address: "10.0.0.10" });
    h.clock.advance(10_001);
    const got = [];
    for (let i = 0; i < 2; i++) got.push((await h.manager.requestAddress({ PoolID, Address: "", Options: {} })).Address);
    assert.deepEqual(got, ["10.0.0.11/24", "10.0.0.12/24"]);
  });

  it("flags an address whose ipconfig vanished while in use, never hands it out, and clears the flag if it returns", async () => {
    const h = harness([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 10, 12)])]);
    const PoolID = await createNetwork(h);
    await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
    await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
    h.source.nics = [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10", "10.0.0.12"])];
    h.clock.advance(10_001);
    const report = await h.manager.report();
    assert.deepEqual(report.pools[0].flagged, ["10.0.0.11"]);
    assert.deepEqual(h.state.addresses["10.0.0.11"], { poolId: PoolID, kind: "endpoint", flagged: true, lease: 2 });
    assert.equal((await h.manager.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.0.0.12/24");
    await expectPluginError(
      h.manager.requestAddress({ PoolID, Address: "10.0.0.11", Options: {} }),
      /^10\.0\.0\.11 is not an IP configuration/,
    );
    // Released while gone: simply no longer offered.
    await h.manager.releaseAddress({ PoolID, Address: "10.0.0.11" });
    await h.manager.releaseAddress({ PoolID, Address: "10.0.0.12" });
    assert.equal((await h.manager.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.0.0.12/24");
    // A flagged address that comes back loses its flag.
    h.source.nics = [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10"])];
    h.clock.advance(10_001);
    await h.manager.report();
    assert.equal(h.state.addresses["10.0.0.12"].flagged, true);
    h.source.nics = [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10", "10.0.0.12"])];
    h.clock.advance(10_001);
    await h.manager.report();
    assert.deepEqual(h.state.addresses["10.0.0.12"], { poolId: PoolID, kind: "endpoint", lease: 4 });
  });

  it("keeps allocating from the last good metadata when the source fails, and reports it as stale", async () => {
    const h = harness();
    const PoolID = await createNetwork(h);
    h.source.failure = new Error("HTTP 503");
    h.clock.advance(10_001);
    assert.equal((await h.manager.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.0.0.10/24");
    const report = await h.manager.report();
    assert.equal(report.metadata.stale, true);
    assert.equal(report.metadata.error, "HTTP 503");
    assert.equal(report.metadata.source, "fake");
  });

  it("reports each pool's gateway, free, used (with kind and name) and flagged addresses", async () => {
    const h = harness();
    const PoolID = await createNetwork(h, "10.0.0.0/24", "10.0.0.12/30");
    await h.manager.requestAddress({ PoolID, Address: "", Options: { "com.docker.network.endpoint.name": "web" } });
    const report = await h.manager.report();
    assert.deepEqual(report, {
      metadata: { source: "fake", fetchedAt: 1_000_000, stale: false },
      pools: [
        {
          poolId: "AzureVNetLocal/10.0.0.0/24/10.0.0.12/30",
          addressSpace: "AzureVNetLocal",
          subnet: "10.0.0.0/24",
          subPool: "10.0.0.12/30",
          gateway: "10.0.0.1",
          nicMac: MAC1,
          primaryAddress: "10.0.0.4",
          refCount: 1,
          free: ["10.0.0.13", "10.0.0.14", "10.0.0.15"],
          used: [{ address: "10.0.0.12", kind: "endpoint", name: "web", flagged: false }],
          flagged: [],
          auxAddresses: [],
        },
      ],
    });
  });

  it("lists every NIC subnet as the VNet prefixes", async () => {
    const h = harness();
    assert.deepEqual(await h.manager.vnetPrefixes(), ["10.0.0.0/24", "10.1.0.0/24"]);
  });
});

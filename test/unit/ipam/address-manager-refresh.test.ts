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

describe("AddressManager: an --ip added to the NIC since the last metadata answer", () => {
  const withAddress = (...extra: string[]) => [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10", ...extra])];

  it("is granted on the first request: the cache is asked once more before refusing", async () => {
    const h = harness(withAddress());
    const PoolID = await createNetwork(h);
    h.clock.advance(2_000);
    h.source.nics = withAddress("10.0.0.20");
    const calls = h.source.calls;
    const got = await h.manager.requestAddress({ PoolID, Address: "10.0.0.20", Options: { "com.docker.network.endpoint.name": "web" } });
    assert.equal(got.Address, "10.0.0.20/24");
    assert.equal(h.source.calls, calls + 1);
    // A known address does not make the plugin ask again.
    await h.manager.requestAddress({ PoolID, Address: "10.0.0.10", Options: {} });
    assert.equal(h.source.calls, calls + 1);
  });

  it("waits out the minimum interval when the last answer is under a second old", async () => {
    const h = harness(withAddress());
    const PoolID = await createNetwork(h);
    h.clock.advance(300);
    h.source.nics = withAddress("10.0.0.21");
    const before = h.clock.now();
    assert.equal((await h.manager.requestAddress({ PoolID, Address: "10.0.0.21", Options: {} })).Address, "10.0.0.21/24");
    assert.equal(h.clock.now() - before, 700, "waited for the rest of the interval, not longer");
  });

  it("under a burst, concurrent requests share one fetch and fetches stay a second apart", async () => {
    const h = harness(withAddress());
    const PoolID = await createNetwork(h);
    h.clock.advance(5_000);
    const calls = h.source.calls;
    const burst = Array.from({ length: 50 }, (_, i) =>
      h.manager.requestAddress({ PoolID, Address: `10.0.0.${100 + i}`, Options: {} }).then(
        () => "granted",
        (err: Error) => err.message,
      ),
    );
    const outcomes = await Promise.all(burst);
    assert.equal(h.source.calls, calls + 1, "one shared fetch for the whole burst");
    assert.ok(outcomes.every((o) => /is not an IP configuration/.test(o)));
    for (let i = 0; i < 5; i++) {
      h.clock.advance(1);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: `10.0.0.${200 + i}`, Options: {} }),
        /is not an IP configuration/,
      );
    }
    const times = h.source.fetchedAt.slice(-6);
    assert.equal(h.source.calls, calls + 6);
    for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 1_000, `fetches ${times.join(", ")} closer than 1 s`);
  });

  it("does not ask again for an --aux-address during network create", async () => {
    const h = harness(withAddress());
    const { PoolID } = await h.manager.requestPool({
      AddressSpace: "AzureVNetLocal",
      Pool: "10.0.0.0/24",
      SubPool: "",
      Options: {},
      V6: false,
    });
    const calls = h.source.calls;
    await h.manager.requestAddress({ PoolID, Address: "10.0.0.99", Options: {} });
    assert.equal(h.source.calls, calls);
  });

  it("names the resource group the metadata gives, and looks the NIC's name up by its MAC", async () => {
    const nics = withAddress().map((n) => ({ ...n, resourceGroup: "prod-rg" }));
    const h = harness(nics);
    const PoolID = await createNetwork(h);
    const err = await expectPluginError(
      h.manager.requestAddress({ PoolID, Address: "10.0.0.30", Options: {} }),
      /is not an IP configuration/,
    );
    assert.ok(
      err.message.endsWith(
        `add it with: az network nic ip-config create --resource-group prod-rg ` +
          `--nic-name "$(az network nic list --resource-group prod-rg --query "[?macAddress=='00-0D-3A-00-00-01'].name" --output tsv)" ` +
          `--name ipconfig-10-0-0-30 --private-ip-address 10.0.0.30`,
      ),
      err.message,
    );
    assert.ok(!err.message.includes("<rg>") && !err.message.includes("<nic>"));
  });
});

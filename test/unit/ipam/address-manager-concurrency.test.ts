/** Tests of the AddressManager under concurrent calls and failing persists. */
import assert from "node:assert/strict";
import { AddressManager } from "../../../driver/ipam/address-manager";
import { emptyIpamState } from "../../../driver/ipam/ipam-state";
import { MetadataCache } from "../../../driver/ipam/metadata";
import { createNetwork, expectPluginError, FakeClock, FakeSource, harness, MAC1, nic, range } from "./helpers";

/** Resolves after a random number of macrotask turns, so operations interleave. */
function randomYield(): Promise<void> {
  const turns = Math.floor(Math.random() * 4);
  let p = Promise.resolve();
  for (let i = 0; i < turns; i++) p = p.then(() => new Promise((resolve) => setImmediate(resolve)));
  return p;
}

describe("AddressManager concurrency", () => {
  it("500 parallel requests and releases: no duplicates, no leaks, state as expected", async function () {
    this.timeout(20_000);
    const clock = new FakeClock();
    // 250 secondaries: 10.0.0.5-10.0.0.254.
    const source = new FakeSource([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 5, 254)])]);
    const state = emptyIpamState();
    // Like the real store: the data is taken when the save is asked for and
    // written in call order; "soon" saves return at once and land later.
    let asked = 0;
    let newest = { seq: 0, json: "" };
    const pending: Promise<void>[] = [];
    /** address#lease of every grant some finished save holds. */
    const durable = new Set<string>();
    const write = async (seq: number, json: string) => {
      await randomYield();
      if (seq > newest.seq) newest = { seq, json };
      for (const [a, r] of Object.entries((JSON.parse(json) as typeof state).addresses)) durable.add(`${a}#${r.lease}`);
    };
    const manager = new AddressManager({
      metadata: new MetadataCache(source, { clock }),
      state,
      clock,
      persist: (when) => {
        const done = write(++asked, JSON.stringify(state));
        pending.push(done);
        return when === "soon" ? Promise.resolve() : done;
      },
    });
    const h = { manager, source, clock, state, persisted: [] };
    const PoolID = await createNetwork(h);
    // 100 containers already running.
    const running: string[] = [];
    for (let i = 0; i < 100; i++) {
      running.push((await manager.requestAddress({ PoolID, Address: "", Options: {} })).Address.split("/")[0]);
    }

    // Addresses held right now, as the test sees it: an address is dropped
    // from here before its release is sent, so finding it here on a new
    // allocation proves a double hand-out.
    const live = new Set(running);
    let calls = 0;
    const take = async (): Promise<string> => {
      await randomYield();
      calls += 1;
      const address = (await manager.requestAddress({ PoolID, Address: "", Options: {} })).Address.split("/")[0];
      assert.ok(!live.has(address), `${address} handed out twice`);
      assert.ok(durable.has(`${address}#${state.addresses[address].lease}`), `${address} was on disk before its reply`);
      live.add(address);
      return address;
    };
    const give = async (address: string): Promise<void> => {
      await randomYield();
      live.delete(address);
      calls += 1;
      await manager.releaseAddress({ PoolID, Address: address });
    };

    const ops: Promise<unknown>[] = [];
    const kept: Promise<string>[] = [];
    for (let i = 0; i < 100; i++) kept.push(take()); // 100 new containers that stay
    for (const address of running) ops.push(give(address)); // 100 containers stop
    for (let i = 0; i < 50; i++) ops.push(take().then((a) => give(a))); // 50 start and stop (100 ops)
    for (let i = 0; i < 100; i++) {
      // Releases Docker may send after a crash: unknown pools and addresses.
      calls += 1;
      ops.push(manager.releaseAddress({ PoolID: i % 2 ? "AzureVNetLocal/10.9.0.0/24" : PoolID, Address: `10.0.1.${i}` }));
    }
    for (let i = 0; i < 100; i++) {
      calls += 1;
      ops.push(manager.requestAddress({ PoolID, Address: "", Options: { RequestAddressType: "com.docker.network.gateway" } }));
    }
    const keptAddresses = await Promise.all(kept);
    await Promise.all(ops);
    assert.equal(calls, 500);

    assert.equal(new Set(keptAddresses).size, 100, "no duplicates among the kept containers");
    assert.deepEqual(Object.keys(state.addresses).sort(), [...keptAddresses].sort(), "exactly the kept containers hold addresses");
    assert.ok(Object.values(state.addresses).every((r) => r.poolId === PoolID && r.kind === "endpoint"));
    await Promise.all(pending);
    assert.equal(newest.json, JSON.stringify(state), "the last save holds the final state");
  });

  it("parallel requests for the same address: exactly one wins", async () => {
    const h = harness();
    const PoolID = await createNetwork(h);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => h.manager.requestAddress({ PoolID, Address: "10.0.0.13", Options: {} })),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.match((r.reason as Error).message, /^10\.0\.0\.13 is already in use by another container$/);
    }
  });

  it("a failed persist rolls the change back and hands nothing out", async () => {
    const clock = new FakeClock();
    const state = emptyIpamState();
    let fail = false;
    const manager = new AddressManager({
      metadata: new MetadataCache(new FakeSource([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10", "10.0.0.11"])]), { clock }),
      state,
      clock,
      persist: async () => {
        if (fail) throw new Error("ENOSPC: no space left on device");
      },
    });
    const h = { manager, source: new FakeSource([]), clock, state, persisted: [] };
    const PoolID = await createNetwork(h);
    await manager.requestAddress({ PoolID, Address: "", Options: {} });
    const before = structuredClone(state);

    fail = true;
    await expectPluginError(
      manager.requestAddress({ PoolID, Address: "", Options: {} }),
      /^could not save the plugin state, so nothing was changed: ENOSPC: no space left on device$/,
      "unavailable",
    );
    // The grant is taken back; lease numbers only move forward, so a later grant never looks like this one.
    assert.ok((state.nextLease ?? 0) > (before.nextLease ?? 0));
    assert.deepEqual({ ...state, nextLease: before.nextLease }, before);
    await expectPluginError(manager.releasePool({ PoolID }), /could not save/);
    await expectPluginError(
      manager.requestPool({ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false }),
      /could not save/,
    );
    assert.deepEqual({ ...state, nextLease: before.nextLease }, before);

    // A release does not wait for the disk (reconciliation finds a lost one again): it is made in memory.
    await manager.releaseAddress({ PoolID, Address: "10.0.0.10" });
    assert.equal(state.addresses["10.0.0.10"], undefined);

    fail = false;
    // The address that failed to save is still free, and so is the released one.
    assert.deepEqual(await manager.requestAddress({ PoolID, Address: "", Options: {} }), { Address: "10.0.0.10/24" });
    assert.deepEqual(await manager.requestAddress({ PoolID, Address: "", Options: {} }), { Address: "10.0.0.11/24" });
  });
});

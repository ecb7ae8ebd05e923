/** Tests of lib/idle-gate and lib/deferred-batch: kernel clean-up waits for a lull between requests, in batches. */
import assert from "node:assert/strict";
import sinon from "sinon";
import { DeferredBatch } from "../../../driver/lib/deferred-batch";
import { IdleGate } from "../../../driver/lib/idle-gate";

/** Whether the promise has settled by now (after the pending microtasks). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
}

describe("IdleGate", () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => (clock = sinon.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })));
  afterEach(() => clock.restore());

  it("lets work through at once when no request has been seen", async () => {
    const gate = new IdleGate({ quietMs: 25 });
    assert.equal(await settled(gate.whenIdle()), true);
  });

  it("waits while a request is in flight, then for the quiet time after it ends", async () => {
    const gate = new IdleGate({ quietMs: 25, maxWaitMs: 1000 });
    gate.enter();
    const idle = gate.whenIdle();
    await clock.tickAsync(500);
    assert.equal(await settled(idle), false, "not while a request is answered");
    gate.leave();
    await clock.tickAsync(20);
    assert.equal(await settled(idle), false, "not right after it");
    await clock.tickAsync(10);
    assert.equal(await settled(idle), true, "once quiet for 25 ms");
  });

  it("starts the quiet time again with each request that ends", async () => {
    const gate = new IdleGate({ quietMs: 25, maxWaitMs: 1000 });
    gate.enter();
    const idle = gate.whenIdle();
    for (let i = 0; i < 5; i++) {
      if (i > 0) gate.enter();
      await clock.tickAsync(5);
      gate.leave();
      await clock.tickAsync(15);
    }
    assert.equal(await settled(idle), false);
    await clock.tickAsync(15);
    assert.equal(await settled(idle), true);
  });

  it("lets work through after maxWaitMs however busy the daemon is", async () => {
    const gate = new IdleGate({ quietMs: 25, maxWaitMs: 300 });
    gate.enter();
    const idle = gate.whenIdle();
    await clock.tickAsync(299);
    assert.equal(await settled(idle), false);
    await clock.tickAsync(2);
    assert.equal(await settled(idle), true);
  });

  it("opens while a request hurries the deferred work it waits for", async () => {
    const gate = new IdleGate({ quietMs: 25, maxWaitMs: 1000 });
    gate.enter();
    const idle = gate.whenIdle();
    const hurried = gate.hurry(idle);
    assert.equal(await settled(hurried), true, "the request's own wait does not wait for its end");
    // Once the hurry is over, work waits for a lull again.
    const later = gate.whenIdle();
    await clock.tickAsync(100);
    assert.equal(await settled(later), false);
    gate.leave();
  });

  it("lets every waiter go when closed", async () => {
    const gate = new IdleGate({ quietMs: 25 });
    gate.enter();
    const idle = gate.whenIdle();
    gate.close();
    assert.equal(await settled(idle), true);
  });
});

describe("DeferredBatch", () => {
  it("runs what arrives while a batch runs as the next batch, each caller getting its own outcome", async () => {
    const batches: string[][] = [];
    let release: () => void = () => undefined;
    const batch = new DeferredBatch<string, string>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      return items.map((i) =>
        i === "bad" ? { status: "rejected", reason: new Error(`no ${i}`) } : { status: "fulfilled", value: i.toUpperCase() },
      );
    });
    const first = batch.add("a");
    await Promise.resolve();
    const rest = ["b", "c", "bad", "b"].map((i) => batch.add(i));
    assert.equal(batch.queued, 3, "b twice is one item");
    release();
    assert.equal(await first, "A");
    const outcomes = await Promise.allSettled(rest);
    assert.deepEqual(batches, [["a"], ["b", "c", "bad"]]);
    assert.deepEqual(
      outcomes.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message)),
      ["B", "C", "no bad", "B"],
    );
  });

  it("fails every item of a batch whose run throws, and goes on with the next", async () => {
    let calls = 0;
    const batch = new DeferredBatch<number, number>(async (items) => {
      if (calls++ === 0) throw new Error("kernel said no");
      return items.map((n) => ({ status: "fulfilled", value: n * 2 }));
    });
    const failed = [batch.add(1), batch.add(2)];
    await assert.rejects(failed[0], /kernel said no/);
    await assert.rejects(failed[1], /kernel said no/);
    assert.equal(await batch.add(3), 6);
  });

  it("starts a batch only when its gate says, with everything added until then", async () => {
    let open: () => void = () => undefined;
    const gate = { whenIdle: () => new Promise<void>((r) => (open = r)) };
    const seen: number[][] = [];
    const batch = new DeferredBatch<number, number>(async (items) => {
      seen.push(items);
      return items.map((n) => ({ status: "fulfilled", value: n }));
    }, gate);
    const all = [1, 2, 3].map((n) => batch.add(n));
    await Promise.resolve();
    assert.deepEqual(seen, [], "nothing before the gate opens");
    open();
    await Promise.all(all);
    assert.deepEqual(seen, [[1, 2, 3]]);
  });
});

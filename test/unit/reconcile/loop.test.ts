/** When reconciliation runs: soon after start, every interval, sooner while Docker does not answer, one run at a time. */
import { strict as assert } from "node:assert";
import * as sinon from "sinon";
import { ReconcileLoop } from "../../../driver/reconcile/loop";

describe("reconciliation loop", () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => (clock = sinon.useFakeTimers()));
  afterEach(() => clock.restore());

  it("runs a second after start, then every interval", async () => {
    const runs: number[] = [];
    const loop = new ReconcileLoop({ run: async () => (runs.push(Date.now()), true), intervalMs: 60_000 });
    loop.start();
    await clock.tickAsync(121_000);
    assert.deepEqual(runs, [1000, 61_000, 121_000]);
    await loop.close();
    await clock.tickAsync(120_000);
    assert.equal(runs.length, 3, "nothing after close");
  });

  it("retries sooner while runs fail, doubling up to the interval, and goes back to the interval after a success", async () => {
    const runs: number[] = [];
    let ok = false;
    const loop = new ReconcileLoop({ run: async () => (runs.push(Date.now()), ok), intervalMs: 10_000 });
    loop.start();
    await clock.tickAsync(1000 + 2000 + 4000 + 8000);
    assert.deepEqual(runs, [1000, 3000, 7000, 15_000]);
    await clock.tickAsync(10_000);
    assert.equal(runs.at(-1), 25_000, "capped at the interval");
    ok = true;
    await clock.tickAsync(10_000 + 10_000);
    assert.deepEqual(runs.slice(-2), [35_000, 45_000]);
    await loop.close();
  });

  it("never runs two at once: runNow waits for the run in progress, then runs", async () => {
    let active = 0;
    let most = 0;
    let count = 0;
    const loop = new ReconcileLoop({
      run: async () => {
        most = Math.max(most, ++active);
        await new Promise((r) => setTimeout(r, 500));
        active--;
        count++;
        return true;
      },
      intervalMs: 60_000,
    });
    loop.start();
    await clock.tickAsync(1200);
    const now = loop.runNow();
    await clock.tickAsync(2000);
    assert.equal(await now, true);
    assert.deepEqual([most, count], [1, 2]);
    await loop.close();
  });

  it("counts a run that throws as failed", async () => {
    const loop = new ReconcileLoop({ run: () => Promise.reject(new Error("boom")), intervalMs: 60_000 });
    const result = loop.runNow();
    assert.equal(await result, false);
    await loop.close();
  });
});

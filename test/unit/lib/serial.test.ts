/** Tests of lib/serial: AsyncMutex and SerialQueue. */
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { AsyncMutex, SerialQueue } from "../../../driver/lib/serial";

describe("AsyncMutex", () => {
  it("runs sections one at a time, in call order", async () => {
    const mutex = new AsyncMutex();
    const log: string[] = [];
    let inside = 0;
    const section = (name: string, ms: number) =>
      mutex.runExclusive(async () => {
        assert.equal(inside++, 0);
        log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`end ${name}`);
        inside--;
        return name;
      });
    const results = await Promise.all([section("a", 10), section("b", 1), section("c", 5)]);
    assert.deepEqual(results, ["a", "b", "c"]);
    assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  });

  it("passes a failure to its caller and keeps going", async () => {
    const mutex = new AsyncMutex();
    const failed = mutex.runExclusive(() => {
      throw new Error("boom");
    });
    const next = mutex.runExclusive(() => 42);
    await assert.rejects(failed, /boom/);
    assert.equal(await next, 42);
  });
});

describe("SerialQueue", () => {
  it("idle() waits for everything queued so far, failures included", async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    const failed = queue.run(async () => {
      await new Promise((r) => setTimeout(r, 5));
      log.push("first");
      throw new Error("boom");
    });
    void queue.run(async () => {
      await new Promise((r) => setTimeout(r, 1));
      log.push("second");
    });
    await queue.idle();
    assert.deepEqual(log, ["first", "second"]);
    await assert.rejects(failed, /boom/);
  });

  it("idle() on an empty queue resolves at once", async () => {
    await new SerialQueue().idle();
  });
});

describe("SerialQueue memory", () => {
  /** A full collection, from a test that was not started with --expose-gc. */
  const collect = (): void => {
    setFlagsFromString("--expose-gc");
    (runInNewContext("gc") as () => void)();
  };

  for (const outcome of ["result", "error"] as const) {
    it(`keeps no reference to the last step's ${outcome} once it has settled`, async () => {
      const queue = new SerialQueue();
      let ref: WeakRef<object> | undefined;
      // The caller is done with what the step gave it: nothing here keeps the promise.
      await queue
        .run(() => {
          const big = { payload: new Array(1000).fill("link") };
          ref = new WeakRef(big);
          if (outcome === "error") throw Object.assign(new Error("dump failed"), { big });
          return big;
        })
        .then(
          () => undefined,
          () => undefined,
        );
      await queue.idle();
      await new Promise((r) => setImmediate(r));
      collect();
      assert.equal(ref?.deref(), undefined, `the idle queue still holds the last ${outcome}`);
    });
  }
});

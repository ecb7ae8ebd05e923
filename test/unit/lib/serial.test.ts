/** Tests of lib/serial: AsyncMutex and SerialQueue. */
import assert from "node:assert/strict";
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

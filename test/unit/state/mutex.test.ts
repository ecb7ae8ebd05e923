import assert from "node:assert/strict";
import { AsyncMutex } from "../../../driver/state/mutex";

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

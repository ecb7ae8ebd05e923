/** Tests of the metadata cache: shared fetches, rate limit, backoff and stale answers. */
import assert from "node:assert/strict";
import { PluginError } from "../../../../driver/errors";
import { MetadataCache } from "../../../../driver/ipam/metadata/metadata-cache";
import { MetadataSourceError } from "../../../../driver/ipam/metadata/source-error";
import { FakeClock, FakeSource, MAC1, nic } from "../helpers";

function setup() {
  const clock = new FakeClock();
  const source = new FakeSource([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.5"])]);
  const cache = new MetadataCache(source, { clock });
  return { clock, source, cache };
}

/** A promise the test resolves when it wants the fetch to finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe("MetadataCache", () => {
  it("fetches once and serves cached data while it is fresh enough", async () => {
    const { clock, source, cache } = setup();
    const first = await cache.get({ maxAgeMs: 10_000 });
    assert.equal(first.stale, false);
    assert.equal(first.source, "fake");
    assert.equal(first.fetchedAt, clock.now());
    clock.advance(9_000);
    await cache.get({ maxAgeMs: 10_000 });
    assert.equal(source.calls, 1);
    clock.advance(2_000);
    const second = await cache.get({ maxAgeMs: 10_000 });
    assert.equal(source.calls, 2);
    assert.equal(second.fetchedAt, clock.now());
  });

  it("shares one in-flight fetch between concurrent callers", async () => {
    const { source, cache } = setup();
    const g = gate();
    source.gate = g.promise;
    const calls = Array.from({ length: 20 }, () => cache.get({ maxAgeMs: 0 }));
    g.open();
    const results = await Promise.all(calls);
    assert.equal(source.calls, 1);
    assert.ok(results.every((r) => r.nics === results[0].nics));
  });

  it("asks the source at most once per minIntervalMs, serving the cached data meanwhile", async () => {
    const { clock, source, cache } = setup();
    await cache.get({ maxAgeMs: 0 });
    clock.advance(400);
    const cached = await cache.get({ maxAgeMs: 0 });
    assert.equal(source.calls, 1);
    assert.equal(cached.stale, false, "rate limiting alone does not make data stale");
    clock.advance(600);
    await cache.get({ maxAgeMs: 0 });
    assert.equal(source.calls, 2);
  });

  it("backs off 1 s doubling to 30 s after failures, serving the last good data as stale", async () => {
    const { clock, source, cache } = setup();
    const good = await cache.get({ maxAgeMs: 0 });
    source.failure = new MetadataSourceError("fake", "HTTP 500");
    const gaps: number[] = [];
    let last = clock.now();
    let calls = source.calls;
    // Poll every 100 ms and record when the source is actually asked.
    for (let i = 0; i < 1200 && gaps.length < 8; i++) {
      clock.advance(100);
      const snap = await cache.get({ maxAgeMs: 0 });
      if (source.calls !== calls) {
        calls = source.calls;
        gaps.push(clock.now() - last);
        last = clock.now();
        assert.equal(snap.stale, true);
        assert.equal(snap.error?.message, "fake: HTTP 500");
        assert.equal(snap.nics, good.nics);
        assert.equal(snap.fetchedAt, good.fetchedAt);
      }
    }
    // The first failure happens 1 s after the good fetch (rate limit), then 1, 2, 4, ... capped at 30 s.
    assert.deepEqual(gaps, [1000, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    source.failure = undefined;
    clock.advance(30_000);
    const recovered = await cache.get({ maxAgeMs: 0 });
    assert.equal(recovered.stale, false);
    assert.equal(recovered.error, undefined);
    clock.advance(1_000);
    await cache.get({ maxAgeMs: 0 });
    assert.equal(source.calls, calls + 2, "backoff is reset by a success");
  });

  it("throws PluginError unavailable naming the source and reason when there never was good data", async () => {
    const { clock, source, cache } = setup();
    source.failure = new MetadataSourceError("imds", "no answer within 3000 ms");
    await assert.rejects(cache.get({ maxAgeMs: 0 }), (err: PluginError) => {
      assert.equal(err.name, "PluginError");
      assert.equal(err.code, "unavailable");
      assert.equal(err.message, "cannot read this VM's NIC configuration from imds: no answer within 3000 ms (next attempt in 1 s)");
      return true;
    });
    // During the backoff the source is left alone but callers still get the reason.
    clock.advance(500);
    await assert.rejects(cache.get({ maxAgeMs: 0 }), /from imds: no answer within 3000 ms/);
    assert.equal(source.calls, 1);
    source.failure = undefined;
    clock.advance(500);
    assert.equal((await cache.get({ maxAgeMs: 0 })).stale, false);
  });

  it("names the source for errors that do not carry it", async () => {
    const { source, cache } = setup();
    source.failure = new Error("socket hang up");
    await assert.rejects(cache.get({ maxAgeMs: 0 }), /from fake: socket hang up/);
  });

  it("peek returns the last good data without fetching", async () => {
    const { source, cache } = setup();
    assert.equal(cache.peek(), undefined);
    await cache.get({ maxAgeMs: 0 });
    assert.equal(cache.peek()?.nics.length, 1);
    assert.equal(source.calls, 1);
  });
});

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PluginError } from "../../../driver/errors";
import { canonicalJson, decodeEnvelope } from "../../../driver/state/envelope";
import { nodeStateFs } from "../../../driver/state/fs";
import { type Doc, type TempDir, doc, errnoError, fsWith, makeStore, tempDir } from "./helpers";

describe("CheckpointStore.save", () => {
  let t: TempDir;
  let dir: string;
  let primary: string;
  beforeEach(() => {
    t = tempDir();
    dir = join(t.path, "state");
    primary = join(dir, "state.json");
  });
  afterEach(() => t.cleanup());

  function read(path: string): Doc {
    const decoded = decodeEnvelope(readFileSync(path));
    assert.ok(decoded.ok, `${path} is a valid envelope`);
    return decoded.envelope.data as Doc;
  }

  it("refuses options that would misplace files", () => {
    assert.throws(() => makeStore(t, { file: "../escape.json" }), /plain name/);
    assert.throws(() => makeStore(t, { schemaVersion: 0 }), /schemaVersion/);
    assert.throws(() => makeStore(t, { generations: -1 }), /generations/);
  });

  it("creates the directory and writes the documented envelope", async () => {
    await makeStore(t).save(doc(1));
    const envelope = JSON.parse(readFileSync(primary, "utf8"));
    assert.deepEqual(Object.keys(envelope), ["schema", "writtenAt", "bootId", "checksum", "data"]);
    assert.equal(envelope.schema, 2);
    assert.equal(envelope.writtenAt, "2026-01-01T00:00:01.000Z");
    assert.equal(envelope.bootId, "11111111-2222-3333-4444-555555555555");
    assert.equal(
      envelope.checksum,
      createHash("sha256")
        .update(canonicalJson(doc(1)))
        .digest("hex"),
    );
    assert.deepEqual(envelope.data, doc(1));
  });

  it("writes the fields one per line and the data as it was checksummed, on the last line before the closing brace", async () => {
    const data: Doc = { version: 7, items: ["b", 'a "quoted"\nline', "é"] };
    await makeStore(t).save(data);
    const lines = readFileSync(primary, "utf8").split("\n");
    assert.deepEqual(lines.slice(0, 2), ["{", '  "schema": 2,']);
    assert.equal(lines.at(-3), `  "data": ${canonicalJson(data)}`);
    assert.deepEqual(lines.slice(-2), ["}", ""]);
    assert.deepEqual(JSON.parse(readFileSync(primary, "utf8")).data, data);
  });

  it("computes the checksum independently of key order", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 1 }], c: 2 } }), '{"a":{"c":2,"d":[1,{"y":1,"z":0}]},"b":1}');
  });

  it("keeps the configured number of previous generations, newest first", async () => {
    const store = makeStore(t);
    for (let v = 1; v <= 5; v++) await store.save(doc(v));
    assert.deepEqual(read(primary), doc(5));
    assert.deepEqual(read(`${primary}.1`), doc(4));
    assert.deepEqual(read(`${primary}.2`), doc(3));
    assert.deepEqual(read(`${primary}.3`), doc(2));
    assert.equal(existsSync(`${primary}.4`), false);
  });

  it("keeps only the primary with generations: 0, and one with generations: 1", async () => {
    const none = makeStore(t, { file: "a.json", generations: 0 });
    const one = makeStore(t, { file: "b.json", generations: 1 });
    for (let v = 1; v <= 3; v++) {
      await none.save(doc(v));
      await one.save(doc(v));
    }
    assert.deepEqual(readdirSync(dir).sort(), ["a.json", "b.json", "b.json.1"]);
    assert.deepEqual(read(join(dir, "b.json.1")), doc(2));
  });

  it("writes the data as it was when save() was called", async () => {
    const store = makeStore(t);
    const d = doc(1);
    const saved = store.save(d);
    d.items.push("added later");
    await saved;
    assert.deepEqual(read(primary), doc(1));
  });

  it("leaves the old file valid when the process dies between temp write and rename", async () => {
    await makeStore(t).save(doc(1));
    const crashing = makeStore(t, {
      fs: fsWith({
        // A rename that never completes is what a crash looks like from here.
        rename: (from, to) => (to === primary ? new Promise(() => undefined) : nodeStateFs.rename(from, to)),
      }),
    });
    void crashing.save(doc(2));
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      readdirSync(dir).some((n) => n.startsWith("state.json.tmp-")),
      "the temp file was written",
    );
    assert.deepEqual(read(`${primary}.1`), doc(1), "rotation ran before the crash");

    const result = await makeStore(t).load(); // the restarted daemon
    assert.deepEqual(result.data, doc(1));
    assert.equal(result.source, "primary");
    assert.match(result.problems.join("\n"), /removed .*state\.json\.tmp-.* interrupted/);
    assert.ok(!readdirSync(dir).some((n) => n.includes(".tmp-")));
  });

  for (const code of ["ENOSPC", "EROFS"]) {
    it(`throws PluginError(unavailable) naming the path and ${code}, leaving the old files intact`, async () => {
      const store = makeStore(t);
      await store.save(doc(1));
      await store.save(doc(2));
      const before = readdirSync(dir).sort();
      const failing = makeStore(t, {
        fs: fsWith({ writeFileDurable: (path) => Promise.reject(errnoError(code, "write", path)) }),
      });
      await assert.rejects(failing.save(doc(3)), (err: unknown) => {
        assert.ok(err instanceof PluginError);
        assert.equal(err.code, "unavailable");
        assert.ok(err.message.includes(primary), err.message);
        assert.ok(err.message.includes(code), err.message);
        assert.match(err.message, /previous state file is unchanged/);
        return true;
      });
      assert.deepEqual(readdirSync(dir).sort(), before, "no temp left and no generation rotated");
      assert.deepEqual(read(primary), doc(2));
      assert.deepEqual(read(`${primary}.1`), doc(1));
    });
  }

  it("reports a real error when the state directory cannot exist (its parent is a file)", async () => {
    writeFileSync(join(t.path, "afile"), "");
    const store = makeStore(t, { dir: join(t.path, "afile", "state") });
    await assert.rejects(store.save(doc(1)), (err: unknown) => {
      assert.ok(err instanceof PluginError);
      assert.equal(err.code, "unavailable");
      assert.ok(err.message.includes(join(t.path, "afile", "state", "state.json")), err.message);
      assert.match(err.message, /ENOTDIR|EEXIST/);
      return true;
    });
  });

  it("keeps a save whose directory fsync fails after the rename, so the caller's memory and the file agree, and warns", async () => {
    const warnings: string[] = [];
    let fsyncs = 0;
    const store = makeStore(t, {
      fs: fsWith({ fsyncDir: (d) => (fsyncs++, Promise.reject(errnoError("EIO", "fsync", d))) }),
      onDurabilityWarning: (m) => warnings.push(m),
    });
    // A rejection here would make the caller undo in memory what the file already holds.
    await store.save(doc(1));
    assert.deepEqual(read(primary), doc(1));
    assert.equal(fsyncs, 2, "the directory fsync is tried once more");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /EIO.*may not survive a power loss/);
  });

  it("says nothing when a directory fsync fails once and then succeeds", async () => {
    const warnings: string[] = [];
    let fsyncs = 0;
    const store = makeStore(t, {
      fs: fsWith({ fsyncDir: (d) => (fsyncs++ === 0 ? Promise.reject(errnoError("EIO", "fsync", d)) : nodeStateFs.fsyncDir(d)) }),
      onDurabilityWarning: (m) => warnings.push(m),
    });
    await store.save(doc(1));
    assert.deepEqual([fsyncs, warnings], [2, []]);
  });

  it("makes the new file durable before it replaces the old one, then syncs the directory", async () => {
    await makeStore(t).save(doc(1));
    const calls: string[] = [];
    const name = (p: string) => p.slice(dir.length + 1).replace(/tmp-.*/, "tmp");
    const recording = fsWith({
      writeFileDurable: (p, d) => (calls.push(`write+fsync ${name(p)}`), nodeStateFs.writeFileDurable(p, d)),
      link: (a, b) => (calls.push(`link ${name(a)} ${name(b)}`), nodeStateFs.link(a, b)),
      rename: (a, b) => (calls.push(`rename ${name(a)} ${name(b)}`), nodeStateFs.rename(a, b)),
      fsyncDir: (d) => (calls.push("fsync dir"), nodeStateFs.fsyncDir(d)),
    });
    await makeStore(t, { fs: recording }).save(doc(2));
    assert.deepEqual(calls, [
      "write+fsync state.json.tmp",
      "link state.json state.json.1",
      "rename state.json.tmp state.json",
      "fsync dir",
    ]);
  });

  it("keeps working after a failed save", async () => {
    let fail = true;
    const store = makeStore(t, {
      fs: fsWith({
        writeFileDurable: (path, data) =>
          fail ? Promise.reject(errnoError("ENOSPC", "write", path)) : nodeStateFs.writeFileDurable(path, data),
      }),
    });
    await assert.rejects(store.save(doc(1)));
    fail = false;
    await store.save(doc(2));
    assert.deepEqual(read(primary), doc(2));
  });

  it("rejects data that is not JSON-serialisable without disturbing later saves", async () => {
    const store = makeStore(t);
    const circular: Record<string, unknown> = { version: 1, items: [] };
    circular.self = circular;
    await assert.rejects(store.save(circular as unknown as Doc), TypeError);
    await store.save(doc(2));
    assert.deepEqual(read(primary), doc(2));
  });

  it("serialises 100 parallel saves: every call resolves, the last one wins, readers never see a bad file", async () => {
    const store = makeStore(t);
    await store.save(doc(0));
    let done = false;
    let reads = 0;
    const reader = (async () => {
      while (!done) {
        const decoded = decodeEnvelope(readFileSync(primary));
        assert.ok(decoded.ok, "primary is always a valid envelope");
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const saves = Array.from({ length: 100 }, (_, i) => store.save(doc(i + 1)));
    await Promise.all(saves);
    done = true;
    await reader;
    assert.ok(reads > 0);
    assert.deepEqual(read(primary), doc(100));
    assert.deepEqual((await makeStore(t).load()).data, doc(100));
    assert.ok(!readdirSync(dir).some((n) => n.includes(".tmp-")));
  });

  it("never lets two writes overlap", async () => {
    let active = 0;
    let maxActive = 0;
    let writes = 0;
    const store = makeStore(t, {
      fs: fsWith({
        async writeFileDurable(path, data) {
          active++;
          writes++;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 2));
          await nodeStateFs.writeFileDurable(path, data);
          active--;
        },
      }),
    });
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.save(doc(i))));
    assert.equal(maxActive, 1);
    // Saves queued behind a running write are merged into one write.
    assert.ok(writes < 100, `${writes} writes for 100 saves`);
    assert.deepEqual(read(primary), doc(99));
  });

  /** A store that defers by `deferMs` and counts its file writes. */
  function countingStore(deferMs: number) {
    let writes = 0;
    const store = makeStore(t, {
      deferMs,
      fs: fsWith({
        async writeFileDurable(path, data) {
          writes++;
          await nodeStateFs.writeFileDurable(path, data);
        },
      }),
    });
    return { store, writes: () => writes };
  }

  it("writes a deferred save within its delay, and only the newest data", async () => {
    const { store, writes } = countingStore(30);
    store.saveSoon(doc(1));
    store.saveSoon(doc(2));
    assert.equal(existsSync(primary), false, "nothing is written at once");
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(writes(), 1);
    assert.deepEqual(read(primary), doc(2));
  });

  it("lets the next save carry a deferred change: one write, and the timer is gone", async () => {
    const { store, writes } = countingStore(30);
    store.saveSoon(doc(1));
    await store.save(doc(2));
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(writes(), 1, "the deferred change rode on the save");
    assert.deepEqual(read(primary), doc(2));
  });

  it("flush() writes a deferred change now, and reports a failure instead of throwing", async () => {
    const failures: unknown[] = [];
    const store = makeStore(t, { deferMs: 60_000, onDeferredFailure: (err) => failures.push(err) });
    store.saveSoon(doc(3));
    await store.flush();
    assert.deepEqual(read(primary), doc(3));

    const broken = makeStore(t, {
      deferMs: 60_000,
      onDeferredFailure: (err) => failures.push(err),
      fs: fsWith({
        async writeFileDurable() {
          throw errnoError("ENOSPC", "write", "state.json.tmp");
        },
      }),
    });
    broken.saveSoon(doc(4));
    await broken.flush();
    assert.equal(failures.length, 1);
    assert.match(String(failures[0]), /ENOSPC/);
    assert.deepEqual(read(primary), doc(3), "the file on disk is the last good one");
  });

  it("with serializeAtWrite, writes a live object as it is when its write starts, once per merged write", async () => {
    let writes = 0;
    const store = makeStore(t, {
      serializeAtWrite: true,
      fs: fsWith({
        async writeFileDurable(path, data) {
          writes++;
          await new Promise((r) => setTimeout(r, 5));
          await nodeStateFs.writeFileDurable(path, data);
        },
      }),
    });
    const live = doc(0);
    const saves: Promise<void>[] = [];
    for (let v = 1; v <= 50; v++) {
      live.version = v;
      saves.push(store.save(live));
    }
    const first = saves[0];
    live.version = 51;
    await first;
    await Promise.all(saves);
    assert.ok(writes <= 2, `${writes} writes for 50 saves of one object`);
    assert.deepEqual(read(primary), { ...doc(0), version: 51 }, "the write carries every change made before it started");
  });

  it("settles queued saves in call order even when loads are mixed in", async () => {
    const store = makeStore(t);
    const order: string[] = [];
    const a = store.save(doc(1)).then(() => order.push("save1"));
    const l = store.load().then((r) => order.push(`load:${r.data?.version}`));
    const b = store.save(doc(2)).then(() => order.push("save2"));
    await Promise.all([a, l, b]);
    assert.deepEqual(read(primary), doc(2));
    assert.ok(order.indexOf("save1") < order.indexOf("save2"));
  });
});

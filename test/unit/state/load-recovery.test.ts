import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PluginError } from "../../../driver/errors";
import { canonicalJson, encodeEnvelope } from "../../../driver/state/envelope";
import { MAX_QUARANTINED } from "../../../driver/state/files";
import { NewerCheckpointError } from "../../../driver/state/store";
import { type TempDir, doc, errnoError, fsWith, makeStore, tempDir } from "./helpers";

/** Writes a well-formed envelope with any schema and data, as another version would. */
function writeEnvelope(path: string, schema: number, data: unknown): void {
  writeFileSync(path, encodeEnvelope(schema, "boot", new Date("2025-06-01T00:00:00Z"), canonicalJson(data)));
}

describe("CheckpointStore.load recovery", () => {
  let t: TempDir;
  let primary: string;
  beforeEach(() => {
    t = tempDir();
    primary = join(t.path, "state", "state.json");
  });
  afterEach(() => t.cleanup());

  /** Leaves doc(2) in the primary and doc(1) in generation 1. */
  async function twoVersions(): Promise<void> {
    const store = makeStore(t);
    await store.save(doc(1));
    await store.save(doc(2));
  }

  function quarantined(): string[] {
    return readdirSync(join(t.path, "state")).filter((n) => n.startsWith("state.json.corrupt-"));
  }

  async function expectRecovered(problemWords: RegExp): Promise<void> {
    const result = await makeStore(t).load();
    assert.deepEqual(result.data, doc(1));
    assert.equal(result.source, "generation-1");
    const text = result.problems.join("\n");
    assert.match(text, problemWords);
    assert.ok(text.includes(primary), `problems name the primary: ${text}`);
    assert.match(text, /recovered from .*state\.json\.1/);
    assert.match(text, /moved .* aside/);
    assert.equal(quarantined().length, 1);
    assert.equal(existsSync(primary), false);
  }

  it("returns the primary when it is good, with no problems", async () => {
    await twoVersions();
    const result = await makeStore(t).load();
    assert.deepEqual(result.data, doc(2));
    assert.equal(result.source, "primary");
    assert.deepEqual(result.problems, []);
    assert.equal(result.writtenAt !== undefined, true);
  });

  it("reports none without problems on first start", async () => {
    const result = await makeStore(t).load();
    assert.equal(result.data, undefined);
    assert.equal(result.source, "none");
    assert.deepEqual(result.problems, []);
    assert.equal(result.rebooted, false);
  });

  it("recovers from an empty primary", async () => {
    await twoVersions();
    writeFileSync(primary, "");
    await expectRecovered(/is empty/);
  });

  const cuts: [string, (length: number) => number][] = [
    ["after 1 byte", () => 1],
    ["after 10 bytes", () => 10],
    ["half way", (n) => Math.floor(n / 2)],
    ["2 bytes before the end", (n) => n - 2],
  ];
  for (const [label, at] of cuts) {
    it(`recovers from a primary truncated ${label}`, async () => {
      await twoVersions();
      truncateSync(primary, at(readFileSync(primary).length));
      await expectRecovered(/truncated/);
    });
  }

  it("recovers from a zero-filled primary", async () => {
    await twoVersions();
    writeFileSync(primary, Buffer.alloc(readFileSync(primary).length));
    await expectRecovered(/zero-filled/);
  });

  it("recovers from a primary of garbage", async () => {
    await twoVersions();
    writeFileSync(primary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00, 0x41]));
    await expectRecovered(/is not JSON/);
  });

  it("recovers from JSON that is not an envelope", async () => {
    await twoVersions();
    writeFileSync(primary, "[1,2,3]");
    await expectRecovered(/not a JSON object/);
  });

  it("recovers from a checksum mismatch (edited data)", async () => {
    await twoVersions();
    const envelope = JSON.parse(readFileSync(primary, "utf8"));
    envelope.data.items.push("hand-added");
    writeFileSync(primary, JSON.stringify(envelope));
    await expectRecovered(/fails its checksum/);
  });

  it("recovers from data that fails validation", async () => {
    await twoVersions();
    writeEnvelope(primary, 2, { version: "two" });
    await expectRecovered(/failed validation: not a Doc/);
  });

  it("refuses a newer schema it does not understand rather than fall back, leaving every file as it was", async () => {
    await twoVersions();
    writeEnvelope(primary, 3, doc(9));
    const before = readdirSync(join(t.path, "state")).sort();
    const bytes = readFileSync(primary);
    await assert.rejects(
      makeStore(t).load(),
      (err: unknown) => err instanceof NewerCheckpointError && /checkpoint schema 3; /.test(err.message),
    );
    assert.deepEqual(readdirSync(join(t.path, "state")).sort(), before);
    assert.deepEqual(readFileSync(primary), bytes);
  });

  it("calls a newer schema newer even when its checksum does not match", async () => {
    await twoVersions();
    writeFileSync(primary, JSON.stringify({ schema: 7, checksum: "blake3:abc", data: {} }));
    await assert.rejects(makeStore(t).load(), /written by a newer azure-vnet with checkpoint schema 7; /);
  });

  it("treats an older schema without a migration as unusable", async () => {
    await twoVersions();
    writeEnvelope(primary, 1, doc(9));
    await expectRecovered(/schema 1, older than 2, and there is no migration/);
  });

  it("migrates an older schema and validates the result", async () => {
    mkdirSync(join(t.path, "state"));
    writeEnvelope(primary, 1, { version: 7, names: ["a", "b"] });
    const seen: number[] = [];
    const store = makeStore(t, {
      migrate: (old, from) => {
        seen.push(from);
        const o = old as { version: number; names: string[] };
        return { version: o.version, items: o.names };
      },
    });
    const result = await store.load();
    assert.deepEqual(result.data, { version: 7, items: ["a", "b"] });
    assert.equal(result.source, "primary");
    assert.equal(result.migratedFrom, 1);
    assert.deepEqual(seen, [1]);
    assert.deepEqual(result.problems, []);
  });

  it("falls back when a migration throws", async () => {
    await twoVersions();
    writeEnvelope(primary, 1, doc(9));
    const store = makeStore(t, {
      migrate: () => {
        throw new Error("field gone");
      },
    });
    const result = await store.load();
    assert.equal(result.source, "generation-1");
    assert.match(result.problems.join("\n"), /could not be migrated to 2: field gone/);
  });

  it("walks down the generations until one is usable", async () => {
    const store = makeStore(t);
    for (let v = 1; v <= 4; v++) await store.save(doc(v));
    writeFileSync(primary, "");
    writeFileSync(`${primary}.1`, '{"schema":2');
    writeFileSync(`${primary}.2`, Buffer.alloc(50));
    const result = await makeStore(t).load();
    assert.deepEqual(result.data, doc(1));
    assert.equal(result.source, "generation-3");
    const text = result.problems.join("\n");
    assert.match(text, /state\.json is empty/);
    assert.match(text, /state\.json\.1 is truncated/);
    assert.match(text, /state\.json\.2 is zero-filled/);
  });

  it("reports none, with every problem, when nothing is usable", async () => {
    await twoVersions();
    writeFileSync(primary, "");
    writeFileSync(`${primary}.1`, "garbage");
    const result = await makeStore(t).load();
    assert.equal(result.data, undefined);
    assert.equal(result.source, "none");
    const text = result.problems.join("\n");
    assert.match(text, /state\.json is empty/);
    assert.match(text, /state\.json\.1 is not JSON/);
    assert.match(text, /no usable saved state/);
    assert.equal(quarantined().length, 1);
  });

  it("uses generation 1 when the primary is missing and says so", async () => {
    await twoVersions();
    writeFileSync(primary, "");
    await makeStore(t).load(); // quarantines the primary
    const result = await makeStore(t).load();
    assert.equal(result.source, "generation-1");
    assert.match(result.problems.join("\n"), /state\.json does not exist/);
  });

  it("keeps the quarantined file's bytes for inspection", async () => {
    await twoVersions();
    writeFileSync(primary, "half a docu");
    await makeStore(t).load();
    const [name] = quarantined();
    assert.equal(readFileSync(join(t.path, "state", name), "utf8"), "half a docu");
  });

  it(`keeps at most ${MAX_QUARANTINED} quarantined files, dropping the oldest`, async () => {
    const store = makeStore(t); // its clock ticks, so every quarantine gets a later name
    await store.save(doc(1));
    for (let i = 0; i < MAX_QUARANTINED + 3; i++) {
      await store.save(doc(2));
      writeFileSync(primary, `bad ${i}`);
      await store.load();
    }
    const names = quarantined().sort();
    assert.equal(names.length, MAX_QUARANTINED);
    assert.equal(readFileSync(join(t.path, "state", names[0]), "utf8"), "bad 3");
    assert.equal(readFileSync(join(t.path, "state", names[names.length - 1]), "utf8"), `bad ${MAX_QUARANTINED + 2}`);
  });

  it("gives quarantined files distinct names within the same millisecond", async () => {
    const fixed = new Date("2026-03-01T00:00:00Z");
    const store = makeStore(t, { now: () => fixed });
    await store.save(doc(1));
    for (let i = 0; i < 3; i++) {
      await store.save(doc(2));
      writeFileSync(primary, "");
      await store.load();
    }
    assert.equal(quarantined().length, 3);
  });

  it("still returns recovered data when the primary cannot be moved aside", async () => {
    await twoVersions();
    writeFileSync(primary, "");
    const store = makeStore(t, {
      fs: fsWith({ rename: (_from, to) => Promise.reject(errnoError("EROFS", "rename", to)) }),
    });
    const result = await store.load();
    assert.deepEqual(result.data, doc(1));
    assert.match(result.problems.join("\n"), /could not move .*state\.json aside: EROFS/);
  });

  it("throws PluginError(unavailable) for I/O errors other than ENOENT", async () => {
    mkdirSync(primary, { recursive: true }); // reading a directory fails with EISDIR
    await assert.rejects(makeStore(t).load(), (err: unknown) => {
      assert.ok(err instanceof PluginError);
      assert.equal(err.code, "unavailable");
      assert.match(err.message, /EISDIR/);
      assert.ok(err.message.includes(primary));
      return true;
    });
  });
});

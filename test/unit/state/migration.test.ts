/**
 * The checkpoint's schema migrations: a file written by the previous schema
 * (the fixture, written by the plugin before schema 2) loads, migrates and is
 * saved in the current schema; a file of a newer schema stops the start and is
 * never touched; a crash while the migrated state is being saved leaves a
 * file that loads.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CHECKPOINT_SCHEMA, emptyCheckpoint, migrateCheckpoint, openCheckpointStore } from "../../../driver/checkpoint";
import { canonicalJson, encodeEnvelope } from "../../../driver/state/envelope";
import { NewerCheckpointError } from "../../../driver/state/store";
import { buildInfo } from "../../../driver/version";
import { EP_ID } from "../cli/fixtures";
import { type TempDir, errnoError, fsWith, tempDir } from "./helpers";

const FIXTURE = resolve(__dirname, "../../../../test/unit/state/fixtures/checkpoint-schema-1.json");
const SECOND_EP = "e".repeat(64);

describe("checkpoint schema migration", () => {
  let t: TempDir;
  let dir: string;
  let primary: string;
  beforeEach(() => {
    t = tempDir();
    dir = join(t.path, "state");
    primary = join(dir, "state.json");
    mkdirSync(dir);
  });
  afterEach(() => t.cleanup());

  const listing = () => readdirSync(dir).sort();

  it("is at schema 3, two steps past the fixture's", () => {
    assert.equal(CHECKPOINT_SCHEMA, 3);
    assert.equal((JSON.parse(readFileSync(FIXTURE, "utf8")) as { schema: number }).schema, 1);
  });

  it("loads a schema 1 checkpoint, binding each endpoint's address to its endpoint", async () => {
    copyFileSync(FIXTURE, primary);
    const loaded = await openCheckpointStore(dir, t.bootIdFile).load();
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.source, "primary");
    assert.equal(loaded.migratedFrom, 1);
    const cp = loaded.data;
    assert.ok(cp);
    assert.equal(cp.ipam.addresses["10.0.0.10"].endpointId, EP_ID, "the unbound address was not bound to its endpoint");
    assert.equal(cp.ipam.addresses["10.0.0.11"].endpointId, SECOND_EP);
    assert.deepEqual(Object.keys(cp.network.endpoints).sort(), [EP_ID, SECOND_EP].sort());
    assert.equal(cp.network.endpoints[EP_ID].address, "10.0.0.10");
  });

  it("saves the migrated state in the current schema, naming its writer, and keeps the old file as the previous version", async () => {
    copyFileSync(FIXTURE, primary);
    const store = openCheckpointStore(dir, t.bootIdFile);
    const loaded = await store.load();
    assert.ok(loaded.data);
    await store.save(loaded.data);
    const saved = JSON.parse(readFileSync(primary, "utf8")) as { schema: number; writer: unknown };
    assert.equal(saved.schema, CHECKPOINT_SCHEMA);
    assert.deepEqual(saved.writer, buildInfo());
    assert.equal(readFileSync(`${primary}.1`, "utf8"), readFileSync(FIXTURE, "utf8"));
    const again = await openCheckpointStore(dir, t.bootIdFile).load();
    assert.equal(again.migratedFrom, undefined);
    assert.deepEqual(again.data, loaded.data);
  });

  it("applies the steps in order and says which one is missing", () => {
    const doc = JSON.parse(readFileSync(FIXTURE, "utf8")) as { data: unknown };
    const before = JSON.stringify(doc.data);
    migrateCheckpoint(doc.data, 1);
    assert.equal(JSON.stringify(doc.data), before, "the migration changed its input");
    assert.throws(() => migrateCheckpoint(doc.data, 0), /no migration from schema 0 to 1/);
    assert.throws(() => migrateCheckpoint([], 1), /not a JSON object/);
  });

  describe("a checkpoint of a newer schema", () => {
    const newer = (writer?: { version: string; commit: string }) =>
      encodeEnvelope(CHECKPOINT_SCHEMA + 1, "boot", new Date("2027-01-01T00:00:00Z"), canonicalJson({ future: true }), writer);

    it("is refused with who wrote it, who reads it and what to do, and is left as it was", async () => {
      const bytes = newer({ version: "9.1.0", commit: "0123456789ab" });
      writeFileSync(primary, bytes);
      const before = listing();
      const store = openCheckpointStore(dir, t.bootIdFile);
      await assert.rejects(store.load(), (err: unknown) => {
        assert.ok(err instanceof NewerCheckpointError);
        const me = buildInfo();
        assert.equal(
          err.message,
          `${primary} was written by azure-vnet 9.1.0 (commit 0123456789ab) with checkpoint schema ${CHECKPOINT_SCHEMA + 1}; ` +
            `this is azure-vnet ${me.version} (commit ${me.commit}) with schema ${CHECKPOINT_SCHEMA}, which cannot read it. ` +
            `Upgrade the plugin to 9.1.0 or later, or restore a checkpoint this version wrote ` +
            `(move ${primary} aside and put a state.json from a backup in its place); the file was left as it is.`,
        );
        return true;
      });
      assert.equal(readFileSync(primary, "utf8"), bytes);
      assert.deepEqual(listing(), before, "a file was added, moved or removed");
    });

    it("is refused even when an older version is there to fall back to", async () => {
      const store = openCheckpointStore(dir, t.bootIdFile);
      await store.save(emptyCheckpoint());
      await store.save(emptyCheckpoint());
      writeFileSync(primary, newer());
      await assert.rejects(
        openCheckpointStore(dir, t.bootIdFile).load(),
        new RegExp(`written by a newer azure-vnet with checkpoint schema ${CHECKPOINT_SCHEMA + 1}`),
      );
    });
  });

  describe("a crash while the migrated state is saved", () => {
    const crashAt = async (op: "writeFileDurable" | "rename" | "fsyncDir") => {
      copyFileSync(FIXTURE, primary);
      const crash = () => Promise.reject(errnoError("EIO", op, dir));
      const store = openCheckpointStore(dir, t.bootIdFile, fsWith({ [op]: crash }));
      const loaded = await store.load();
      assert.ok(loaded.data);
      await store.save(loaded.data).catch(() => undefined);
      // What the next start finds.
      return openCheckpointStore(dir, t.bootIdFile).load();
    };

    for (const op of ["writeFileDurable", "rename"] as const) {
      it(`at ${op} leaves the schema 1 file, which loads and migrates again`, async () => {
        const next = await crashAt(op);
        assert.equal(next.source, "primary");
        assert.equal(next.migratedFrom, 1);
        assert.equal(next.data?.ipam.addresses["10.0.0.10"].endpointId, EP_ID);
        assert.equal(readFileSync(primary, "utf8"), readFileSync(FIXTURE, "utf8"));
      });
    }

    it("after the rename leaves the migrated file, which loads as it is", async () => {
      const next = await crashAt("fsyncDir");
      assert.equal(next.source, "primary");
      assert.equal(next.migratedFrom, undefined);
      assert.equal(next.data?.ipam.addresses["10.0.0.10"].endpointId, EP_ID);
    });
  });
});

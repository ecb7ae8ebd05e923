import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCheckpointStore } from "../../../driver/checkpoint";
import { readCheckpoint } from "../../../driver/cli/checkpoint-view";
import { checkpoint } from "./fixtures";

describe("readCheckpoint", () => {
  let dir: string;
  let bootIdPath: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "azure-vnet-cli-"));
    bootIdPath = join(dir, "boot_id");
    writeFileSync(bootIdPath, "boot-1\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const stateDir = () => join(dir, "state");
  const listing = () => readdirSync(stateDir()).sort();

  it("reads what the plugin saved", async () => {
    await openCheckpointStore(stateDir(), bootIdPath).save(checkpoint());
    const v = await readCheckpoint(stateDir(), { bootIdPath });
    assert.equal(v.source, "primary");
    assert.deepEqual(v.data, checkpoint());
    assert.equal(v.rebooted, false);
    assert.deepEqual(v.problems, []);
  });

  it("says a reboot happened since the save", async () => {
    await openCheckpointStore(stateDir(), bootIdPath).save(checkpoint());
    writeFileSync(bootIdPath, "boot-2\n");
    assert.equal((await readCheckpoint(stateDir(), { bootIdPath })).rebooted, true);
  });

  it("judges a damaged primary like the plugin would, but moves and deletes nothing", async () => {
    const store = openCheckpointStore(stateDir(), bootIdPath);
    await store.save(checkpoint());
    await store.save(checkpoint());
    writeFileSync(join(stateDir(), "state.json"), "");
    writeFileSync(join(stateDir(), "state.json.tmp-99-1"), "{");
    const before = listing();
    const v = await readCheckpoint(stateDir(), { bootIdPath });
    assert.equal(v.source, "generation-1");
    assert.deepEqual(v.data, checkpoint());
    assert.ok(
      v.problems.some((p) => /state\.json is empty \(0 bytes\)/.test(p)),
      v.problems.join("\n"),
    );
    assert.ok(!v.problems.some((p) => /read-only/.test(p)), "the refused move is not reported as a problem of the file");
    assert.deepEqual(v.leftoverTemps, ["state.json.tmp-99-1"]);
    assert.deepEqual(listing(), before);
    assert.equal(readFileSync(join(stateDir(), "state.json"), "utf8"), "");
  });

  it("lists copies the plugin set aside at an earlier start", async () => {
    await openCheckpointStore(stateDir(), bootIdPath).save(checkpoint());
    writeFileSync(join(stateDir(), "state.json.corrupt-2026-01-01T00-00-00-000Z"), "x");
    assert.deepEqual((await readCheckpoint(stateDir(), { bootIdPath })).quarantined, ["state.json.corrupt-2026-01-01T00-00-00-000Z"]);
  });

  it("reports no state for a directory that does not exist, without creating it", async () => {
    const v = await readCheckpoint(join(dir, "nowhere"), { bootIdPath });
    assert.equal(v.source, "none");
    assert.equal(v.data, undefined);
    assert.deepEqual(readdirSync(dir).sort(), ["boot_id"]);
  });
});

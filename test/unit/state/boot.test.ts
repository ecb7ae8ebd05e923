import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TempDir, doc, makeStore, tempDir } from "./helpers";

describe("CheckpointStore reboot detection", () => {
  let t: TempDir;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it("reports no reboot when the boot id is unchanged", async () => {
    await makeStore(t).save(doc(1));
    const result = await makeStore(t).load();
    assert.equal(result.bootId, "11111111-2222-3333-4444-555555555555");
    assert.equal(result.rebooted, false);
  });

  it("reports a reboot when the boot id changed since the save", async () => {
    await makeStore(t).save(doc(1));
    writeFileSync(t.bootIdFile, "99999999-8888-7777-6666-555555555555\n");
    const result = await makeStore(t).load();
    assert.equal(result.rebooted, true);
    assert.equal(result.bootId, "99999999-8888-7777-6666-555555555555");
    assert.deepEqual(result.data, doc(1), "the data is still returned; the caller decides what a reboot invalidates");
  });

  it("stamps new saves with the current boot id, so the next load is not a reboot", async () => {
    await makeStore(t).save(doc(1));
    writeFileSync(t.bootIdFile, "new-boot\n");
    const store = makeStore(t);
    assert.equal((await store.load()).rebooted, true);
    await store.save(doc(2));
    assert.equal((await makeStore(t).load()).rebooted, false);
  });

  it("does not claim a reboot when the boot id cannot be read", async () => {
    await makeStore(t).save(doc(1));
    rmSync(t.bootIdFile);
    const result = await makeStore(t, { bootIdPath: join(t.path, "missing") }).load();
    assert.equal(result.bootId, "");
    assert.equal(result.rebooted, false);
  });

  it("reads the boot id of the real kernel by default", async () => {
    const result = await makeStore(t, { bootIdPath: undefined }).load();
    if (process.platform === "linux") assert.match(result.bootId, /^[0-9a-f-]{36}$/);
  });
});

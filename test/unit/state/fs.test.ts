import assert from "node:assert/strict";
import fs, { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sinon from "sinon";
import { nodeStateFs } from "../../../driver/state/fs";
import { type TempDir, tempDir } from "./helpers";

describe("nodeStateFs", () => {
  let t: TempDir;
  beforeEach(() => (t = tempDir()));
  afterEach(() => {
    sinon.restore();
    t.cleanup();
  });

  it("hard-links a generation so it shares the primary's inode", async () => {
    const a = join(t.path, "a");
    writeFileSync(a, "one");
    await nodeStateFs.link(a, join(t.path, "b"));
    assert.equal(statSync(a).ino, statSync(join(t.path, "b")).ino);
  });

  it("copies instead when the file system refuses hard links", async () => {
    const a = join(t.path, "a");
    writeFileSync(a, "one");
    sinon.stub(fs, "linkSync").throws(Object.assign(new Error("EPERM: operation not permitted"), { code: "EPERM" }));
    await nodeStateFs.link(a, join(t.path, "b"));
    assert.equal(readFileSync(join(t.path, "b"), "utf8"), "one");
    assert.notEqual(statSync(a).ino, statSync(join(t.path, "b")).ino);
  });

  it("writes files readable only by their owner", async () => {
    const p = join(t.path, "secret");
    await nodeStateFs.writeFileDurable(p, "x");
    assert.equal(statSync(p).mode & 0o777, 0o600);
  });
});

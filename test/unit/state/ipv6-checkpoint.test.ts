/**
 * The checkpoint with IPv6 pools (schema 3): saved and read back as it was; a
 * schema 2 file (IPv4 only) still loads; and a plugin that knows only schema 2
 * refuses a schema 3 file rather than misread its IPv6 pools.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Checkpoint, CHECKPOINT_SCHEMA, emptyCheckpoint, openCheckpointStore, validateCheckpoint } from "../../../driver/checkpoint";
import { canonicalJson, encodeEnvelope } from "../../../driver/state/envelope";
import { CheckpointStore, NewerCheckpointError } from "../../../driver/state/store";
import { type TempDir, tempDir } from "./helpers";

const POOL4 = "AzureVNetLocal/10.0.0.0/24";
const POOL6 = "AzureVNetLocal/fd00:db8:deca::/64";

function pool(subnet: string, primaryAddress: string) {
  return {
    addressSpace: "AzureVNetLocal" as const,
    subnet,
    nicMac: "00:0d:3a:00:00:01",
    primaryAddress,
    refCount: 1,
    options: {},
    auxAddresses: [],
  };
}

function ipv4Only(): Checkpoint {
  const cp = emptyCheckpoint();
  cp.ipam.pools[POOL4] = pool("10.0.0.0/24", "10.0.0.4");
  cp.ipam.addresses["10.0.0.10"] = { poolId: POOL4, kind: "endpoint", lease: 1 };
  cp.ipam.nextLease = 2;
  return cp;
}

function dualStack(): Checkpoint {
  const cp = ipv4Only();
  cp.ipam.pools[POOL6] = {
    ...pool("fd00:db8:deca::/64", "fd00:db8:deca::4"),
    subPool: "fd00:db8:deca::8/125",
    auxAddresses: ["fd00:db8:deca::9"],
  };
  cp.ipam.addresses["fd00:db8:deca::a"] = { poolId: POOL6, kind: "endpoint", lease: 2, name: "web", flagged: true };
  cp.ipam.addresses["fd00:db8:deca::9"] = { poolId: POOL6, kind: "aux" };
  cp.ipam.nextLease = 3;
  return cp;
}

describe("checkpoint with IPv6 pools", () => {
  let t: TempDir;
  let dir: string;
  beforeEach(() => {
    t = tempDir();
    dir = join(t.path, "state");
    mkdirSync(dir);
  });
  afterEach(() => t.cleanup());

  it("saves IPv6 pools and addresses and reads them back unchanged", async () => {
    const saved = dualStack();
    await openCheckpointStore(dir, t.bootIdFile).save(saved);
    const loaded = await openCheckpointStore(dir, t.bootIdFile).load();
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.migratedFrom, undefined);
    assert.deepEqual(loaded.data, saved);
    assert.deepEqual(validateCheckpoint(JSON.parse(JSON.stringify(saved))), saved);
  });

  it("loads a schema 2 checkpoint, written before IPv6 pools, as it was", async () => {
    const old = ipv4Only();
    writeFileSync(join(dir, "state.json"), encodeEnvelope(2, "11111111-2222-3333-4444-555555555555", new Date(), canonicalJson(old)));
    const loaded = await openCheckpointStore(dir, t.bootIdFile).load();
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.migratedFrom, 2);
    assert.deepEqual(loaded.data, old);
  });

  it("is refused by a plugin that reads schema 2 only", async () => {
    assert.equal(CHECKPOINT_SCHEMA, 3);
    await openCheckpointStore(dir, t.bootIdFile).save(dualStack());
    const older = new CheckpointStore<Checkpoint>({ dir, schemaVersion: 2, validate: validateCheckpoint, bootIdPath: t.bootIdFile });
    await assert.rejects(older.load(), (err: unknown) => err instanceof NewerCheckpointError && err.schema === 3);
  });
});

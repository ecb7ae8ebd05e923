/** One reconciliation run: Docker first, then the kernel; the first run after damage confirms the state. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { emptyCheckpoint } from "../../../driver/checkpoint";
import { reconcileCycle } from "../../../driver/reconcile/cycle";
import { type DockerReconcileReport, type DockerReconciler, emptyReconcileReport } from "../../../driver/reconcile/docker";
import { emptyRepairReport } from "../../../driver/network/repair";
import { StateTrust } from "../../../driver/reconcile/trust";

const logger = { error() {}, warn() {}, info() {}, debug() {}, log() {}, child: () => logger } as never;

function report(ok: boolean): DockerReconcileReport {
  return { ...emptyReconcileReport(new Date("2026-01-01T00:00:00.000Z")), ok };
}

async function setup(damaged: boolean, ok: boolean) {
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), "azvnet-cycle-"));
  const calls: string[] = [];
  const cp = emptyCheckpoint();
  const trust = new StateTrust(cp, { problems: damaged ? ["damaged"] : [], source: damaged ? "generation-1" : "primary" }, logger);
  const run = reconcileCycle({
    docker: { runOnce: async () => report(ok) } as unknown as DockerReconciler,
    trust,
    network: {
      repairKernel: async (o) => (calls.push(`repairKernel removeOrphans=${o.removeOrphans}`), emptyRepairReport()),
      repairGuards: async () => (calls.push("repairGuards"), { repaired: [], removed: [] }),
      reapplyFirewall: async () => (calls.push("reapplyFirewall"), false),
      repairNicRouting: async () => (calls.push("repairNicRouting"), { added: [], removed: [], problems: [] }),
    },
    persist: async () => void calls.push("persist"),
    stateDir,
    logger,
    onFailure: () => calls.push("failure"),
  });
  return { run, calls, trust, cp, stateDir };
}

describe("reconciliation run", () => {
  it("confirms a damaged state on the first run that reaches Docker, repairing the kernel in full", async () => {
    const t = await setup(true, true);
    assert.equal(await t.run(), true);
    assert.deepEqual(t.calls, ["repairKernel removeOrphans=true", "persist"]);
    assert.equal(t.trust.verified, true);
    assert.equal(t.cp.trusted, undefined);
    assert.equal(JSON.parse(await fs.readFile(path.join(t.stateDir, "last-reconcile.json"), "utf8")).ok, true);
    await fs.rm(t.stateDir, { recursive: true });
  });

  it("keeps a damaged state held back while Docker does not answer", async () => {
    const t = await setup(true, false);
    assert.equal(await t.run(), false);
    assert.deepEqual(t.calls, ["failure"]);
    assert.equal(t.trust.verified, false);
    await fs.rm(t.stateDir, { recursive: true });
  });

  it("checks guards and firewall on every run of a trusted state, even while Docker does not answer", async () => {
    for (const ok of [true, false]) {
      const t = await setup(false, ok);
      await t.run();
      assert.deepEqual(
        t.calls.filter((c) => c !== "failure"),
        ["repairGuards", "repairNicRouting", "reapplyFirewall"],
      );
      await fs.rm(t.stateDir, { recursive: true });
    }
  });
});

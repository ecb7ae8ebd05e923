/** Trusting the checkpoint: a damaged one holds back new addresses until Docker confirms, across restarts. */
import { strict as assert } from "node:assert";
import { emptyCheckpoint } from "../../../driver/checkpoint";
import { HELD_BACK, StateTrust } from "../../../driver/reconcile/trust";

const warnings: string[] = [];
const logger = { error() {}, warn: (m: string) => void warnings.push(m), info() {}, debug() {}, log() {}, child: () => logger } as never;

describe("state trust", () => {
  it("trusts a primary checkpoint without problems", () => {
    const t = new StateTrust(emptyCheckpoint(), { problems: [], source: "primary" }, logger);
    assert.equal(t.verified, true);
    assert.equal(t.admission(), undefined);
  });

  it("holds back new addresses after recovering from an older generation, and says so in the checkpoint", () => {
    const cp = emptyCheckpoint();
    const t = new StateTrust(cp, { problems: ["state.json failed validation"], source: "generation-1" }, logger);
    assert.equal(t.verified, false);
    assert.equal(t.admission(), HELD_BACK);
    assert.equal(cp.trusted, false, "saved, so a restart stays careful");
    assert.match(warnings.join("\n"), /new addresses are held back/);
    t.confirm();
    assert.deepEqual([t.verified, t.admission(), "trusted" in cp], [true, undefined, false]);
  });

  it("stays careful after a restart until Docker has confirmed", () => {
    const cp = { ...emptyCheckpoint(), trusted: false as const };
    assert.equal(new StateTrust(cp, { problems: [], source: "primary" }, logger).verified, false);
  });

  it("trusts a primary that had only a leftover temp file removed", () => {
    assert.equal(new StateTrust(emptyCheckpoint(), { problems: ["removed state.json.tmp-1"], source: "primary" }, logger).verified, true);
  });
});

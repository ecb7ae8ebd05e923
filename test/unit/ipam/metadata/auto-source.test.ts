/** Tests of the auto metadata source: IMDS first, the wireserver when IMDS fails. */
import assert from "node:assert/strict";
import { AutoSource } from "../../../../driver/ipam/metadata/auto-source";
import { FakeSource, MAC1, nic } from "../helpers";

describe("AutoSource", () => {
  const imdsNics = [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.5"])];
  const wireNics = [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.6"])];

  function sources() {
    const imds = new FakeSource(imdsNics);
    imds.name = "imds";
    const wire = new FakeSource(wireNics);
    wire.name = "wireserver";
    return { imds, wire, auto: new AutoSource(imds, wire) };
  }

  it("uses IMDS when it answers and says so", async () => {
    const { imds, wire, auto } = sources();
    assert.equal(auto.name, "auto");
    assert.deepEqual(await auto.fetch(), imdsNics);
    assert.equal(auto.name, "auto(imds)");
    assert.equal(imds.calls, 1);
    assert.equal(wire.calls, 0);
  });

  it("falls back to the wireserver when IMDS fails, and back again when IMDS recovers", async () => {
    const { imds, auto } = sources();
    imds.failure = new Error("imds: HTTP 500");
    assert.deepEqual(await auto.fetch(), wireNics);
    assert.equal(auto.name, "auto(wireserver)");
    imds.failure = undefined;
    await auto.fetch();
    assert.equal(auto.name, "auto(imds)");
  });

  it("reports both errors when both fail", async () => {
    const { imds, wire, auto } = sources();
    imds.failure = new Error("imds: no answer within 3000 ms");
    wire.failure = new Error("wireserver: HTTP 503");
    await assert.rejects(auto.fetch(), /imds and wireserver: both failed: imds: no answer within 3000 ms; wireserver: HTTP 503/);
  });
});

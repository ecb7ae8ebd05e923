import { strict as assert } from "node:assert";
import { repairKernel } from "../../../driver/network/repair";
import type { NetworkState } from "../../../driver/network/records";
import { endpointRecord, networkState } from "./fixtures";
import { FakeDataplane } from "./fake-dataplane";
import { silent } from "../support/silent-logger";

function checkpointWithTwoEndpoints(): NetworkState {
  return networkState(endpointRecord(1, "02:42:0a:00:00:0a"), endpointRecord(2));
}

describe("kernel repair", () => {
  it("rebuilds what the checkpoint needs and removes what it does not explain", async () => {
    const dp = new FakeDataplane();
    const state = checkpointWithTwoEndpoints();
    // Endpoint 1's container is still running: its host veth is there, its route is not (lost).
    await dp.createEndpointLink({ bridge: "azvbaaaaaaaaaaa", hostName: "azvh11111111111", peerName: "azvc11111111111", mtu: 1400 });
    dp.links.delete("azvc11111111111"); // the peer lives in the container
    // Leftovers of a crash: a bridge and a veth pair of networks/endpoints never recorded, and a stray route.
    await dp.ensureBridge("azvbfffffffffff", 1400);
    await dp.createEndpointLink({ bridge: "azvbfffffffffff", hostName: "azvh99999999999", peerName: "azvc99999999999", mtu: 1400 });
    dp.routes.set("10.0.0.50", "azvbaaaaaaaaaaa");
    dp.guards.set("azvh99999999999", { port: "azvh99999999999", address: "10.0.0.50", mac: "02:00:00:00:00:50" });
    let firewallApplied = 0;
    const report = await repairKernel(state, dp, { removeOrphans: true, applyFirewall: async () => void firewallApplied++ }, silent);

    assert.equal(dp.links.get("azvbaaaaaaaaaaa")?.mtu, 1400, "the network's bridge was rebuilt");
    assert.equal(dp.routes.get("10.0.0.10"), "azvbaaaaaaaaaaa", "the live endpoint's route was restored");
    assert.equal(dp.routes.has("10.0.0.11"), false, "no route for an endpoint whose veth is gone");
    assert.equal(dp.routes.has("10.0.0.50"), false, "the stray route was removed");
    assert.deepEqual(report.endpointsWithoutLink, ["222222222222"]);
    assert.deepEqual(report.orphanLinksRemoved.sort(), ["azvbfffffffffff", "azvh99999999999"]);
    assert.equal(dp.links.has("azvc99999999999"), false);
    assert.ok(dp.links.has("eth0"), "links that are not the plugin's stay");
    assert.deepEqual([...dp.guards.keys()], ["azvh11111111111"], "the live endpoint is guarded, the orphan's guard is gone");
    assert.deepEqual(report.orphanGuardsRemoved, ["azvh99999999999"]);
    assert.equal(firewallApplied, 1);
    assert.deepEqual(report.errors, []);
    assert.ok(dp.flowsForgotten.includes("10.0.0.50"), "the flows of the stray route's address were dropped");
  });

  it("drops the flows of an orphan routed port's address before it removes the port (a transparent clean-up cut short)", async () => {
    const dp = new FakeDataplane();
    const state = checkpointWithTwoEndpoints();
    await dp.createEndpointLink({ hostName: "azvh88888888888", peerName: "azvc88888888888", mtu: 1400 });
    dp.routes.set("10.0.0.60", "azvh88888888888");
    await repairKernel(state, dp, { removeOrphans: true, applyFirewall: async () => undefined }, silent);
    assert.equal(dp.links.has("azvh88888888888"), false, "the orphan port is gone");
    assert.deepEqual(dp.flowsForgotten, ["10.0.0.60"]);
    assert.ok(dp.calls.indexOf("forgetFlows") < dp.calls.lastIndexOf("removeEndpointLink"), "flows before the port");
  });

  it("carries on past a failing step and reports it", async () => {
    const dp = new FakeDataplane();
    dp.failOn.add("ensureBridge");
    const report = await repairKernel(
      checkpointWithTwoEndpoints(),
      dp,
      { removeOrphans: true, applyFirewall: async () => undefined },
      silent,
    );
    assert.match(report.errors.join("\n"), /bridge azvbaaaaaaaaaaa: injected failure in ensureBridge/);
  });
});

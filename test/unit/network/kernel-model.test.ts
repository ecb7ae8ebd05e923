/**
 * The kernel model: what the records want, and the difference from what the
 * kernel holds, as endpoint creation, start-up repair and `doctor` read it.
 */
import { strict as assert } from "node:assert";
import { desiredKernel, diffKernel, guardOf, newEndpointKernel } from "../../../driver/network/kernel-model";
import type { NetworkState } from "../../../driver/network/records";
import { BR, NET, endpointRecord, networkState } from "./fixtures";

function state(): NetworkState {
  return networkState(endpointRecord(1, "02:42:0a:00:00:0a"), endpointRecord(2), endpointRecord(3, "02:42:0a:00:00:0c"));
}

describe("kernel model", () => {
  it("wants a bridge per network, and a route and a guard for each endpoint whose veth is there", () => {
    const links = new Set(["eth0", BR, "azvh11111111111", "azvh22222222222"]);
    const d = desiredKernel(state(), links);
    assert.deepEqual(d.bridges, [{ name: BR, mtu: 1400, networkId: NET }]);
    assert.deepEqual(
      d.live.map((e) => e.address),
      ["10.0.0.10", "10.0.0.11"],
    );
    assert.deepEqual(
      d.withoutLink.map((e) => e.address),
      ["10.0.0.12"],
    );
    assert.deepEqual([...(d.routes.get(BR) ?? [])], ["10.0.0.10", "10.0.0.11"]);
    assert.deepEqual(
      d.guards,
      [{ port: "azvh11111111111", address: "10.0.0.10", mac: "02:42:0a:00:00:0a" }],
      "no guard without a known MAC",
    );
  });

  it("tells missing and leftover routes, orphan links and guards apart from what is in place", () => {
    const links = new Set(["eth0", "azvh11111111111", "azvh22222222222", "azvbfffffffffff", "azvc99999999999"]);
    const d = desiredKernel(state(), links);
    const diff = diffKernel(d, {
      links,
      routes: new Map([[BR, ["10.0.0.10", "10.0.0.50"]]]),
      guards: ["azvh11111111111", "azvh99999999999", "azvh33333333333"],
    });
    assert.deepEqual(diff.missingBridges, [BR]);
    assert.deepEqual(diff.orphanLinks, ["azvbfffffffffff", "azvc99999999999"]);
    assert.deepEqual(diff.missingRoutes, [{ address: "10.0.0.11", dev: BR, endpointId: "2".repeat(64) }]);
    assert.deepEqual(diff.leftoverRoutes, [{ address: "10.0.0.50", dev: BR }]);
    assert.deepEqual(
      diff.missingGuards.map((e) => e.hostVeth),
      ["azvh22222222222"],
    );
    assert.deepEqual(diff.orphanGuards, ["azvh99999999999"], "a recorded endpoint's guard is no orphan, even with its veth gone");
  });

  it("judges only what was read", () => {
    const links = new Set([BR]);
    const diff = diffKernel(desiredKernel(state(), links), { links });
    assert.deepEqual([diff.missingRoutes, diff.leftoverRoutes, diff.missingGuards, diff.orphanGuards], [[], [], [], []]);
  });

  it("names a new endpoint's pieces from its id", () => {
    const net = state().networks[NET];
    const k = newEndpointKernel("f".repeat(64), "10.0.0.13", net, "02:42:0a:00:00:0d");
    assert.deepEqual([k.hostVeth, k.peerVeth, k.bridge], ["azvhfffffffffff", "azvcfffffffffff", BR]);
    assert.deepEqual(guardOf(k), { port: "azvhfffffffffff", address: "10.0.0.13", mac: "02:42:0a:00:00:0d" });
  });
});

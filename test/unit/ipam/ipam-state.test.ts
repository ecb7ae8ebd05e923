import assert from "node:assert/strict";
import { emptyIpamState, parseIpamState } from "../../../driver/ipam/ipam-state";
import { createNetwork, harness } from "./helpers";

describe("IpamState", () => {
  it("round-trips through JSON and validates what a checkpoint hands back", async () => {
    const h = harness();
    const PoolID = await createNetwork(h, "10.0.0.0/24", "10.0.0.8/29");
    await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
    assert.deepEqual(parseIpamState(JSON.parse(JSON.stringify(h.state))), h.state);
    assert.deepEqual(parseIpamState(emptyIpamState()), { version: 1, pools: {}, addresses: {} });
    assert.throws(() => parseIpamState({ version: 2, pools: {}, addresses: {} }), /^Error: invalid IPAM state: version: /);
    assert.throws(
      () => parseIpamState({ version: 1, pools: {}, addresses: { "10.0.0.10": { kind: "endpoint" } } }),
      /invalid IPAM state: addresses\.10\.0\.0\.10\.poolId: /,
    );
  });
});

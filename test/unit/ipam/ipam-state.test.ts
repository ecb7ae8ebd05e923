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

  it("refuses an array where the state, a map or a record belongs, even an empty one", () => {
    assert.throws(() => parseIpamState([]), /^Error: invalid IPAM state: state: must be an object \(got an array\)/);
    assert.throws(() => parseIpamState({ version: 1, pools: [], addresses: {} }), /invalid IPAM state: pools: must be an object/);
    const pool = {
      addressSpace: "AzureVNetLocal",
      subnet: "10.0.0.0/24",
      nicMac: "m",
      primaryAddress: "10.0.0.4",
      refCount: 1,
      auxAddresses: [],
    };
    assert.throws(
      () => parseIpamState({ version: 1, pools: { "AzureVNetLocal/10.0.0.0/24": { ...pool, options: [] } }, addresses: {} }),
      /pools\.AzureVNetLocal\/10\.0\.0\.0\/24\.options: must be an object/,
    );
  });

  it("names what a missing field should hold, and a fraction only as not whole", () => {
    assert.throws(
      () => parseIpamState({ version: 1, pools: {}, addresses: { "10.0.0.10": { kind: "endpoint" } } }),
      /addresses\.10\.0\.0\.10\.poolId: Invalid input: expected string, received undefined$/,
    );
    assert.throws(
      () => parseIpamState({ version: 1, pools: {}, addresses: {}, nextLease: 0.5 }),
      /nextLease: Invalid input: expected int, received number$/,
    );
  });
});

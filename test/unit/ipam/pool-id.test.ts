/** Tests of the PoolID spelling. */
import assert from "node:assert/strict";
import { formatPoolId, parsePoolId } from "../../../driver/ipam/pool-id";

describe("pool IDs", () => {
  it("formats and parses pool IDs", () => {
    const key = { addressSpace: "AzureVNetLocal" as const, subnet: "10.0.0.0/24", subPool: "10.0.0.16/28" };
    assert.equal(formatPoolId(key), "AzureVNetLocal/10.0.0.0/24/10.0.0.16/28");
    assert.deepEqual(parsePoolId(formatPoolId(key)), key);
    assert.deepEqual(parsePoolId("AzureVNetGlobal/10.0.0.0/24"), { addressSpace: "AzureVNetGlobal", subnet: "10.0.0.0/24" });
    for (const bad of ["local|10.0.0.0/24", "AzureVNetLocal/10.0.0.5/24", "Other/10.0.0.0/24", "AzureVNetLocal/10.0.0.0/24/x"]) {
      assert.equal(parsePoolId(bad), undefined, bad);
    }
  });
});

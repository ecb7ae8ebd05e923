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

  it("formats and parses IPv6 pool IDs, which never equal an IPv4 one, in the canonical spelling only", () => {
    const key = { addressSpace: "AzureVNetLocal" as const, subnet: "fd00:db8:deca::/64", subPool: "fd00:db8:deca::8/125" };
    assert.equal(formatPoolId(key), "AzureVNetLocal/fd00:db8:deca::/64/fd00:db8:deca::8/125");
    assert.deepEqual(parsePoolId(formatPoolId(key)), key);
    assert.deepEqual(parsePoolId("AzureVNetLocal/fd00:db8:deca::/64"), { addressSpace: "AzureVNetLocal", subnet: "fd00:db8:deca::/64" });
    for (const bad of [
      "AzureVNetLocal/FD00:DB8:DECA::/64",
      "AzureVNetLocal/fd00:db8:deca::5/64",
      "AzureVNetLocal/fd00:db8:deca::/64/10.0.0.0/24",
      "AzureVNetLocal/10.0.0.0/24/fd00:db8:deca::/64",
      "AzureVNetLocal/fd00:db8:deca::/129",
    ]) {
      assert.equal(parsePoolId(bad), undefined, bad);
    }
  });
});

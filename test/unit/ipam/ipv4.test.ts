import assert from "node:assert/strict";
import {
  canonicalCidr,
  cidrWithin,
  formatIpv4,
  isAzureReserved,
  parseCidr,
  parseIpv4,
  summariseAddresses,
} from "../../../driver/ipam/ipv4";
import { normaliseMac } from "../../../driver/ipam/mac";
import { formatPoolId, parsePoolId } from "../../../driver/ipam/pool-id";

describe("ipv4 helpers", () => {
  it("parses strictly and round-trips, including the top of the range", () => {
    assert.equal(parseIpv4("10.0.0.4"), 167772164);
    assert.equal(formatIpv4(parseIpv4("255.255.255.255") as number), "255.255.255.255");
    for (const bad of ["10.0.0", "10.0.0.256", "10.0.0.04", "a.b.c.d", "10.0.0.4.5", ""]) {
      assert.equal(parseIpv4(bad), undefined, bad);
    }
  });

  it("canonicalises CIDRs and checks containment", () => {
    assert.equal(canonicalCidr("10.0.0.77/24"), "10.0.0.0/24");
    assert.equal(canonicalCidr(" 192.168.1.130/25 "), "192.168.1.128/25");
    assert.equal(canonicalCidr("0.0.0.0/0"), "0.0.0.0/0");
    assert.equal(canonicalCidr("10.0.0.0/33"), undefined);
    assert.equal(canonicalCidr("10.0.0.0/024"), undefined);
    assert.equal(canonicalCidr("10.0.0.0"), undefined);
    assert.ok(cidrWithin(parseCidr("10.0.0.16/28")!, parseCidr("10.0.0.0/24")!));
    assert.ok(!cidrWithin(parseCidr("10.0.0.0/23")!, parseCidr("10.0.0.0/24")!));
  });

  it("knows Azure's reserved addresses", () => {
    const subnet = parseCidr("10.0.0.0/24")!;
    assert.deepEqual(
      ["10.0.0.0", "10.0.0.3", "10.0.0.4", "10.0.0.254", "10.0.0.255"].map((a) => isAzureReserved(subnet, parseIpv4(a)!)),
      [true, true, false, false, true],
    );
  });

  it("summarises address lists as ranges", () => {
    assert.equal(summariseAddresses(["10.0.0.12", "10.0.0.10", "10.0.0.11", "10.0.0.30"]), "10.0.0.10-10.0.0.12, 10.0.0.30");
    assert.equal(summariseAddresses([]), "");
    assert.equal(
      summariseAddresses(["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.7"], 2),
      "10.0.0.1, 10.0.0.3 and 2 more ranges",
    );
  });

  it("normalises MACs from metadata spellings", () => {
    assert.equal(normaliseMac("000D3AF8A1B2"), "00:0d:3a:f8:a1:b2");
    assert.equal(normaliseMac("00-0D-3A-F8-A1-B2"), "00:0d:3a:f8:a1:b2");
    assert.equal(normaliseMac("00:0d:3a:f8:a1:b2"), "00:0d:3a:f8:a1:b2");
    assert.equal(normaliseMac("00:0d-3a:f8:a1:b2"), undefined);
    assert.equal(normaliseMac("000D3AF8A1"), undefined);
  });

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

/** Tests of lib/address for IPv6 and the functions that take either family. */
import assert from "node:assert/strict";
import {
  canonicalAddress,
  canonicalCidr,
  canonicalIpCidr,
  compareAddresses,
  formatIpv6,
  ipFamily,
  ipInCidr,
  isAzureReserved,
  type IpCidr,
  parseIp,
  parseIpCidr,
  parseIpv6,
  sortAddresses,
  subnetGateway,
  summariseAddresses,
} from "../../../driver/lib/address";

describe("lib/address, IPv6 and either family", () => {
  it("reads IPv6 in any spelling and writes it in the canonical one", () => {
    const cases: Array<[string, string]> = [
      ["fd00:db8:deca::4", "fd00:db8:deca::4"],
      ["FD00:0DB8:DECA:0000:0000:0000:0000:0004", "fd00:db8:deca::4"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["::", "::"],
      ["::1", "::1"],
    ];
    for (const [text, canonical] of cases) {
      assert.equal(canonicalAddress(text), canonical, text);
      assert.equal(formatIpv6(parseIpv6(text) as bigint), canonical, text);
    }
    assert.equal(parseIpv6("fd00:db8:deca::4"), 0xfd000db8deca00000000000000000004n);
    assert.equal(canonicalAddress("10.0.0.4"), "10.0.0.4", "IPv4 stays as it is");
  });

  it("refuses zones, embedded dotted quads, brackets, prefixes, padding and IPv4 as IPv6", () => {
    for (const bad of [
      "fe80::1%eth0",
      "::ffff:10.0.0.1",
      "[fd00::1]",
      "fd00::1/64",
      " fd00::1",
      "fd00::1::2",
      "fd00::g",
      "10.0.0.1",
      "",
      ":",
    ]) {
      assert.equal(parseIpv6(bad), undefined, bad);
    }
    assert.equal(parseIp("fd00::1/64"), undefined);
    assert.deepEqual(parseIp("10.0.0.4"), { family: 4, value: 167772164n });
  });

  it("reads CIDRs of either family as networks, and of one family when asked", () => {
    assert.deepEqual(parseIpCidr("fd00:db8:deca::77/64"), { family: 6, network: 0xfd000db8deca0000n << 64n, prefix: 64 });
    assert.equal(canonicalIpCidr(" FD00:DB8:DECA:0::77/64 "), "fd00:db8:deca::/64");
    assert.equal(canonicalIpCidr("10.0.0.77/24"), "10.0.0.0/24");
    assert.equal(canonicalIpCidr("fd00::/64", 4), undefined);
    assert.equal(canonicalIpCidr("10.0.0.0/24", 6), undefined);
    for (const bad of ["fd00::/129", "fd00::/064", "fd00::", "fd00::/", "10.0.0.0/33"]) assert.equal(parseIpCidr(bad), undefined, bad);
    assert.equal(canonicalCidr("fd00::/64"), undefined, "the IPv4 functions stay IPv4-only");
    assert.equal(ipFamily("fd00::/64"), 6);
    assert.equal(ipFamily("10.0.0.1"), 4);
    assert.equal(ipFamily("nope"), undefined);
  });

  it("says whether an address is in a CIDR, never across families", () => {
    assert.equal(ipInCidr("fd00:db8:deca::/64", "fd00:db8:deca::ffff:ffff:ffff:ffff"), true);
    assert.equal(ipInCidr("fd00:db8:deca::/64", "fd00:db8:deca:1::"), false);
    assert.equal(ipInCidr("fd00:db8:deca::/64", "FD00:DB8:DECA::5"), true);
    assert.equal(ipInCidr("::/0", "10.0.0.1"), false);
    assert.equal(ipInCidr("0.0.0.0/0", "::1"), false);
    assert.equal(ipInCidr("10.0.0.0/24", "10.0.0.255"), true);
  });

  it("puts an IPv6 subnet's gateway at <prefix>::1 and reserves its first four addresses", () => {
    const cidr = parseIpCidr("fd00:db8:deca::/64") as IpCidr;
    assert.equal(subnetGateway(cidr), "fd00:db8:deca::1");
    assert.equal(isAzureReserved(cidr, parseIpv6("fd00:db8:deca::3") as bigint), true);
    assert.equal(isAzureReserved(cidr, parseIpv6("fd00:db8:deca::4") as bigint), false);
    assert.equal(subnetGateway(parseIpCidr("10.0.0.0/24") as IpCidr), "10.0.0.1");
  });

  it("sorts and summarises numerically within each family, IPv4 first", () => {
    const list = ["fd00::10", "fd00::a", "10.0.0.10", "fd00::9", "10.0.0.9"];
    assert.deepEqual(sortAddresses(list), ["10.0.0.9", "10.0.0.10", "fd00::9", "fd00::a", "fd00::10"]);
    assert.ok(compareAddresses("fd00::a", "fd00::10") < 0);
    assert.ok(compareAddresses("10.0.0.200", "fd00::1") < 0);
    assert.equal(summariseAddresses(["fd00::b", "FD00::A", "fd00::9", "fd00::10"]), "fd00::9-fd00::b, fd00::10");
    assert.equal(summariseAddresses(["10.0.0.11", "fd00::1", "10.0.0.10"]), "10.0.0.10-10.0.0.11, fd00::1");
  });
});

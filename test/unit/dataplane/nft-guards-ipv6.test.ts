import { strict as assert } from "node:assert";
import { elementKey, elementOfKey, guardElements, parseTableJson, shapeText } from "../../../driver/dataplane/nft-guards";
import { eui64LinkLocal } from "../../../driver/lib/address";

const V6 = { port: "azvh1234", address: "10.0.0.10", mac: "02:a2:0a:00:00:0a", address6: "fd00:db8:deca:1::10" };

describe("port guards, IPv6 (elements and rules)", () => {
  it("derives the EUI-64 link-local address Linux gives a link with the MAC", () => {
    assert.equal(eui64LinkLocal("02:a2:0a:00:00:0a"), "fe80::a2:aff:fe00:a");
    assert.equal(eui64LinkLocal("00:0D:3A:00:00:01"), "fe80::20d:3aff:fe00:1");
  });

  it("gives an IPv4-only port one element and a dual-stack port its IPv6 sources and advertisement targets", () => {
    assert.deepEqual(guardElements({ ...V6, address6: undefined }), [{ set: "ports", port: V6.port, mac: V6.mac, address: V6.address }]);
    const elems = guardElements(V6);
    const of = (set: string) => elems.filter((e) => e.set === set).map((e) => e.address);
    assert.deepEqual(of("ports"), [V6.address]);
    assert.deepEqual(of("ports6"), [V6.address6, "fe80::a2:aff:fe00:a", "::"]);
    assert.deepEqual(of("targets6"), [V6.address6, "fe80::a2:aff:fe00:a"], "no advertisement for the unspecified address");
    assert.ok(elems.every((e) => e.port === V6.port && e.mac === V6.mac));
  });

  it("encodes IPv6 keys as the kernel stores them and reads them back", () => {
    for (const e of guardElements(V6)) {
      const key = elementKey(e);
      assert.equal(key.length, e.set === "ports" ? 28 : 40);
      assert.deepEqual(elementOfKey(e.set, key), e);
    }
    const target = elementKey({ set: "targets6", port: V6.port, mac: V6.mac, address: V6.address6 });
    assert.equal(target.subarray(24).toString("hex"), "fd000db8deca00010000000000000010");
  });

  it("checks every IPv6 frame of a plugin port with hashed lookups, in the order that keeps the drops first", () => {
    const rules = shapeText()
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("ether type ip6"));
    assert.deepEqual(rules, [
      "ether type ip6 iifname . ether saddr . ip6 saddr != @ports6 drop",
      "ether type ip6 icmpv6 type nd-neighbor-advert iifname . ether saddr . @th,64,128 @targets6 accept",
      "ether type ip6 icmpv6 type { nd-neighbor-advert, nd-router-advert, nd-redirect } drop",
      "ether type ip6 udp sport 547 drop",
      "ether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type { nd-router-solicit, nd-neighbor-solicit } accept",
      "ether type ip6 ip6 saddr { ::, fe80::/10 } drop",
      "ether type ip6 accept",
    ]);
    assert.match(shapeText(), /ether type ip6 accept\n\s+drop\n/, "everything else from a plugin port is dropped");
  });

  it("reads the three sets back from nft -j, targets printed as 128-bit integers", () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: "1.0.6" } },
        { table: { family: "bridge", name: "azure-vnet", handle: 1 } },
        {
          set: {
            family: "bridge",
            name: "ports",
            table: "azure-vnet",
            type: ["ifname", "ether_addr", "ipv4_addr"],
            handle: 2,
            elem: [{ concat: [V6.port, "02:A2:0A:00:00:0A", V6.address] }],
          },
        },
        {
          set: {
            family: "bridge",
            name: "ports6",
            table: "azure-vnet",
            type: ["ifname", "ether_addr", "ipv6_addr"],
            handle: 3,
            elem: [{ concat: [V6.port, V6.mac, "FD00:DB8:DECA:1:0:0:0:10"] }],
          },
        },
        {
          set: {
            family: "bridge",
            name: "targets6",
            table: "azure-vnet",
            type: ["ifname", "ether_addr", "integer"],
            handle: 4,
            elem: [{ concat: [V6.port, V6.mac, "0xfe8000000000000000a20afffe00000a"] }, { concat: [V6.port, V6.mac, "0xzz"] }],
          },
        },
      ],
    });
    const view = parseTableJson(json);
    assert.deepEqual(view.elements, [
      { set: "ports", port: V6.port, mac: V6.mac, address: V6.address },
      { set: "ports6", port: V6.port, mac: V6.mac, address: V6.address6 },
      { set: "targets6", port: V6.port, mac: V6.mac, address: "fe80::a2:aff:fe00:a" },
    ]);
    assert.doesNotMatch(view.shape, /elem|handle/);
  });
});

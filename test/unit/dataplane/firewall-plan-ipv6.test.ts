import { strict as assert } from "node:assert";
import { planFirewall, FirewallNetwork } from "../../../driver/dataplane/firewall-plan";
import { ip6Backend } from "../../../driver/dataplane/firewall";

const net = (over: Partial<FirewallNetwork> = {}): FirewallNetwork => ({
  id: "abc123",
  mode: "bridge",
  bridge: "azvbabc123",
  subnet: "10.0.0.0/24",
  primaryAddress: "10.0.0.4",
  snat: true,
  nonMasqueradeCidrs: ["10.0.0.0/8"],
  allowImds: false,
  ...over,
});
const dual = (over: Partial<FirewallNetwork> = {}) =>
  net({ subnet6: "fd00:db8:deca:1::/64", primaryAddress6: "fd00:db8:deca:1::4", nonMasqueradeCidrs6: [], ...over });

describe("firewall plan, dual-stack networks (ip6tables)", () => {
  it("plans no IPv6 at all while no network has an IPv6 subnet", () => {
    const plan = planFirewall({ networks: [net()] });
    assert.equal(plan.restoreText6, undefined);
    assert.deepEqual([plan.filterRules6, plan.natRules6], [[], []]);
    assert.doesNotMatch(plan.restoreText, /fd00/);
  });

  it("accepts a dual-stack bridge both ways and SNATs IPv6 leaving the VNet to the NIC's primary IPv6", () => {
    const plan = planFirewall({ networks: [dual({ nonMasqueradeCidrs6: ["fd00:1234::/48"] })] });
    assert.deepEqual(plan.filterRules6, [
      '-A AZURE-VNET-FORWARD -i azvbabc123 -m comment --comment "azure-vnet abc123: from containers" -j ACCEPT',
      '-A AZURE-VNET-FORWARD -o azvbabc123 -m comment --comment "azure-vnet abc123: to containers" -j ACCEPT',
    ]);
    assert.deepEqual(plan.natRules6, [
      '-A AZURE-VNET-POSTROUTING -s fd00:db8:deca:1::/64 -d fd00:db8:deca:1::/64 -m comment --comment "azure-vnet abc123: no SNAT" -j RETURN',
      '-A AZURE-VNET-POSTROUTING -s fd00:db8:deca:1::/64 -d fd00:1234::/48 -m comment --comment "azure-vnet abc123: no SNAT" -j RETURN',
      '-A AZURE-VNET-POSTROUTING -s fd00:db8:deca:1::/64 -m addrtype ! --src-type LOCAL -m comment --comment "azure-vnet abc123: SNAT" -j SNAT --to-source fd00:db8:deca:1::4',
    ]);
    const text = plan.restoreText6 ?? "";
    assert.match(text, /^\*filter\n:AZURE-VNET-FORWARD - \[0:0\]\n/);
    assert.match(text, /\*nat\n:AZURE-VNET-POSTROUTING - \[0:0\]\n/);
    // IPv6 stays out of the IPv4 rules, and the platform blocks (IPv4 addresses) out of the IPv6 ones.
    assert.doesNotMatch(plan.restoreText, /fd00/);
    assert.doesNotMatch(text, /168\.63\.129\.16|169\.254\.169\.254/);
  });

  it("keeps every dual-stack network's /64 un-NATed for all of them, and leaves IPv6 of a snat=false network alone", () => {
    const other = dual({ id: "def456", bridge: "azvbdef456", subnet6: "fd00:db8:deca:2::/64", primaryAddress6: "fd00:db8:deca:2::4" });
    const plan = planFirewall({ networks: [dual(), other, net({ id: "v4only", bridge: "azvbv4only" })] });
    assert.equal(plan.natRules6?.filter((r) => r.includes("-d fd00:db8:deca:2::/64")).length, 2);
    assert.equal(plan.filterRules6?.length, 4, "the IPv4-only network has no ip6tables rules");
    const off = planFirewall({ networks: [dual({ snat: false })] });
    assert.deepEqual(off.natRules6, []);
    assert.equal(off.filterRules6?.length, 2);
  });

  it("checks IPv6 sources of routed (transparent) ports in raw, as rp_filter cannot", () => {
    const bridgeOnly = planFirewall({ networks: [dual()] });
    assert.deepEqual(bridgeOnly.rawRules6, []);
    const routed = planFirewall({ networks: [dual({ mode: "transparent", bridge: undefined, portGroup: 0x10000001 })] });
    assert.equal(routed.rawRules6?.length, 1);
    assert.match(routed.rawRules6?.[0] ?? "", /^-A AZURE-VNET-SOURCE -i azvh\+ -m rpfilter --invert .* -j DROP$/);
    assert.match(routed.restoreText6 ?? "", /\*raw\n:AZURE-VNET-SOURCE - \[0:0\]\n-A AZURE-VNET-SOURCE/);
    assert.match(routed.filterRules6?.[0] ?? "", /-i azvh\+ -m devgroup --src-group 0x10000001/);
  });

  it("refuses an IPv6 subnet, primary or non-masquerade entry that is not exactly an IPv6 value", () => {
    for (const bad of [
      { subnet6: "fd00:db8:deca:1::5/64" },
      { subnet6: "10.0.0.0/24" },
      { primaryAddress6: "fd00::1 -j ACCEPT" },
      { nonMasqueradeCidrs6: ["fd00::/8\n-A FORWARD"] },
      { nonMasqueradeCidrs6: ["10.0.0.0/8"] },
    ]) {
      assert.throws(() => planFirewall({ networks: [dual(bad)] }), /network #1/, JSON.stringify(bad));
    }
  });

  it("drives the ip6tables programs of the ruleset it drives iptables with", () => {
    const nft = {
      mode: "nft" as const,
      iptables: "iptables-nft",
      restore: "iptables-nft-restore",
      save: "iptables-nft-save",
      dockerChains: true,
    };
    assert.deepEqual(ip6Backend(nft), { ...nft, iptables: "ip6tables-nft", restore: "ip6tables-nft-restore", save: "ip6tables-nft-save" });
    const plain = {
      mode: "legacy" as const,
      iptables: "iptables",
      restore: "iptables-restore",
      save: "/usr/sbin/iptables-save",
      dockerChains: false,
    };
    assert.equal(ip6Backend(plain).save, "/usr/sbin/ip6tables-save");
  });
});

/** The simulator's dual-stack subnet: schema, IPv6 fabric rules and the metadata documents. */
import { strict as assert } from "node:assert";
import { XMLParser } from "fast-xml-parser";
import { defaultTopology, hasIpv6, ipConfigName6, ipv6ConfigsOf, nicsOf, parseTopology, type Topology } from "../../../sim/topology";
import { fullRuleset } from "../../../sim/fabric-rules";
import { fullRuleset6, updateRuleset6 } from "../../../sim/fabric-rules6";
import { imdsNetworkDocument } from "../../../sim/platform/imds-documents";
import { wireserverXml } from "../../../sim/platform/wireserver-xml";
import { armNicDocument } from "../../../sim/platform/arm-documents";
import { planNicPut } from "../../../sim/platform/arm-nic-put";
import { commitIpConfigs, readTopologyFile } from "../../../sim/ipconfig-commit";
import { makeStateDir, removeStateDir } from "./platform-helpers";
import { twoNicTopology } from "../../e2e/helpers/topologies";

/** The wireserver's XML, its lists always arrays. */
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  isArray: (n) => ["Interface", "IPSubnet", "IPAddress"].includes(n),
});

type Raw = ReturnType<typeof defaultTopology> & Record<string, unknown>;

/** The built-in topology with a dual-stack subnet: vm1 with three IPv6 ipconfigs (two with public IPv6s), vm2 with one. */
function dualStack(mut: (t: Raw) => void = () => undefined): Topology {
  const t = structuredClone(defaultTopology()) as Raw;
  t.vnet.addressSpace6 = "FD00:0DB8:DECA::/48";
  t.vnet.subnet6 = "fd00:db8:deca:1::/64";
  t.vms[0].nic.ipv6 = {
    primary: { address: "fd00:db8:deca:1:0:0:0:4", publicIp6: "2001:db8:200::4" },
    secondaries: [{ address: "fd00:db8:deca:1::10" }, { address: "fd00:db8:deca:1::11", publicIp6: "2001:db8:200::11", name: "web6" }],
  };
  t.vms[1].nic.ipv6 = { primary: { address: "fd00:db8:deca:1::5" }, secondaries: [] };
  t.internet.hostAddress6 = "2001:db8:100::10";
  t.onPrem.cidr6 = "fd00:1234:5678::/64";
  t.onPrem.hostAddress6 = "fd00:1234:5678::10";
  mut(t);
  return parseTopology(t);
}

describe("simulator IPv6 (dual-stack subnet)", () => {
  describe("topology", () => {
    it("keeps IPv6 off for a topology without subnet6, and keeps addresses in canonical text", () => {
      assert.equal(hasIpv6(defaultTopology()), false);
      assert.deepEqual(ipv6ConfigsOf(defaultTopology().vms[0]), []);
      const t = dualStack();
      assert.equal(hasIpv6(t), true);
      assert.equal(t.vnet.addressSpace6, "fd00:db8:deca::/48");
      assert.deepEqual(
        ipv6ConfigsOf(t.vms[0]).map((c) => [c.address, ipConfigName6(t.vms[0].nic, c)]),
        [
          ["fd00:db8:deca:1::4", "ipconfig-v6"],
          ["fd00:db8:deca:1::10", "ipconfig-v6-fd00-db8-deca-1--10"],
          ["fd00:db8:deca:1::11", "web6"],
        ],
      );
      // Parsing what was written gives the same topology (topology.json round trip).
      assert.deepEqual(parseTopology(JSON.parse(JSON.stringify(t))), t);
    });

    it("refuses IPv6 ipconfigs outside the /64, reserved, used twice, or without a dual-stack subnet", () => {
      const bad = (mut: (t: Raw) => void, message: RegExp) => assert.throws(() => dualStack(mut), message);
      bad((t) => (t.vnet.subnet6 = "fd00:db8:deca:1::/80"), /vnet\.subnet6 fd00:db8:deca:1::\/80 must be a \/64/);
      bad((t) => (t.vnet.subnet6 = "fd00:db8:beef::/64"), /is not inside vnet\.addressSpace6/);
      bad((t) => (t.vnet.subnet6 = "fd00:db8:deca:1::1/64"), /vnet\.subnet6: must be a network address/);
      bad((t) => delete t.vnet.addressSpace6, /vnet\.subnet6 needs vnet\.addressSpace6/);
      bad(
        (t) => (t.vms[1].nic.ipv6!.primary.address = "fd00:db8:deca:2::5"),
        /vm2 ipconfig fd00:db8:deca:2::5 is not inside fd00:db8:deca:1::\/64/,
      );
      for (const reserved of ["fd00:db8:deca:1::", "fd00:db8:deca:1::3"])
        bad((t) => (t.vms[1].nic.ipv6!.primary.address = reserved), /one of the four addresses Azure reserves/);
      bad((t) => (t.vms[1].nic.ipv6!.primary.address = "FD00:DB8:DECA:1::10"), /ipconfig fd00:db8:deca:1::10 is on both vm1 and vm2/);
      bad((t) => (t.vms[1].nic.ipv6!.primary.address = "10.0.0.99"), /vms\.1\.nic\.ipv6\.primary\.address: must be an IPv6 address/);
      bad((t) => (t.vms[0].nic.ipv6!.secondaries[1].name = "ipconfig1"), /vm1 has two ipconfigs named ipconfig1/);
      bad((t) => (t.vms[0].nic.ipv6!.primary.publicIp6 = "fd00:db8:deca:9::1"), /publicIp6 fd00:db8:deca:9::1 is inside the VNet/);
      bad((t) => (t.onPrem.hostAddress6 = "fd00:1234:9999::10"), /onPrem\.hostAddress6 .* is not inside onPrem\.cidr6/);
      bad((t) => {
        t.onPrem.cidr6 = "fd00:db8::/32";
        t.onPrem.hostAddress6 = "fd00:db8:ffff::10";
      }, /overlaps vnet\.addressSpace6/);
      bad((t) => delete t.vnet.subnet6, /vms\[\]\.nic\.ipv6 needs a dual-stack subnet/);
    });
  });

  describe("run-time changes", () => {
    it("adds and removes IPv6 secondaries through the one commit, and refuses one on a NIC without an IPv6 primary", async () => {
      const topo = dualStack();
      delete topo.vms[1].nic.ipv6;
      const dir = makeStateDir(topo);
      try {
        await commitIpConfigs(
          dir,
          "vm1",
          (s) => s,
          { fabric: false },
          (s) => [...s, { address: "fd00:db8:deca:1:0::20" }],
        );
        assert.deepEqual(
          ipv6ConfigsOf(readTopologyFile(dir).vms[0]).map((c) => c.address),
          ["fd00:db8:deca:1::4", "fd00:db8:deca:1::10", "fd00:db8:deca:1::11", "fd00:db8:deca:1::20"],
        );
        await assert.rejects(
          commitIpConfigs(
            dir,
            "vm1",
            (s) => s,
            { fabric: false },
            (s) => [...s, { address: "fd00:db8:deca:1::2" }],
          ),
          /one of the four addresses Azure reserves/,
        );
        await assert.rejects(
          commitIpConfigs(
            dir,
            "vm2",
            (s) => s,
            { fabric: false },
            (s) => [...s, { address: "fd00:db8:deca:1::30" }],
          ),
          /vm2 has no IPv6 primary ipconfig/,
        );
        await commitIpConfigs(
          dir,
          "vm1",
          (s) => s,
          { fabric: false },
          (s) => s.filter((c) => c.address !== "fd00:db8:deca:1::10"),
        );
        assert.equal(ipv6ConfigsOf(readTopologyFile(dir).vms[0]).length, 3);
        assert.equal(readTopologyFile(dir).vms[0].nic.secondaries.length, 8);
      } finally {
        removeStateDir(dir);
      }
    });
  });

  describe("fabric rules", () => {
    it("leaves the IPv4 rules as they were", () => {
      assert.equal(fullRuleset(dualStack()), fullRuleset(defaultTopology()));
    });

    it("checks MAC, source and neighbour advertisement targets per NIC, and lets link-local only talk NDP and MLD", () => {
      const rules = fullRuleset6(dualStack());
      assert.match(rules, /-A AZSIM6-VM-vm1 -m mac ! --mac-source 00:0d:3a:00:00:01 -j AZSIM6-DROP-MAC-vm1/);
      const sources = [...rules.matchAll(/-A AZSIM6-VM-vm1 -s (\S+) -j RETURN/g)].map((m) => m[1]);
      assert.deepEqual(sources, ["fd00:db8:deca:1::4/128", "fd00:db8:deca:1::10/128", "fd00:db8:deca:1::11/128"]);
      assert.match(rules, /-A AZSIM6-VM-vm2 -j AZSIM6-DROP-IP-vm2\n/);
      // vm2's NA may claim fd00:db8:deca:1::5 (and link-local addresses), nothing else.
      const targets = [...rules.matchAll(/-A AZSIM6-NA-vm2 -m u32 --u32 "48=(0x\w+)&&52=(0x\w+)&&56=(0x\w+)&&60=(0x\w+)" -j RETURN/g)];
      assert.deepEqual(
        targets.map((m) => m.slice(1).join(" ")),
        ["0xfd000db8 0xdeca0001 0x00000000 0x00000005"],
      );
      assert.match(rules, /-A AZSIM6-NA-vm2 -j AZSIM6-DROP-NA-vm2\n/);
      assert.doesNotMatch(rules, /-A AZSIM6-LINK -d fe80::\/10 -p ipv6-icmp -m icmp6 --icmpv6-type 128 /);
      assert.match(rules, /-A AZSIM6-LINK -d ff02::\/16 -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j ACCEPT/);
    });

    it("lets only ipconfigs with a public IPv6 out, NATed to it, and counts the rest", () => {
      const rules = fullRuleset6(dualStack());
      const egress = [...rules.matchAll(/-A AZSIM6-EGRESS -s (\S+) -j ACCEPT/g)].map((m) => m[1]);
      assert.deepEqual(egress, ["fd00:db8:deca:1::4/128", "fd00:db8:deca:1::11/128"]);
      assert.match(rules, /-A AZSIM6-EGRESS -j AZSIM6-DROP-NOPUBIP/);
      assert.match(rules, /-A AZSIM6-SNAT -s fd00:db8:deca:1::11\/128 -j SNAT --to-source 2001:db8:200::11/);
      assert.match(rules, /-A AZSIM6-DNAT -d 2001:db8:200::4\/128 -j DNAT --to-destination fd00:db8:deca:1::4/);
      assert.match(rules, /-A AZSIM6-FWD -o f-sink -j AZSIM6-DROP-UNDELIV/);
      assert.match(rules, /:AZSIM6-DROP-NA-vm1 - \[0:0\]/);
      const update = updateRuleset6(dualStack());
      assert.doesNotMatch(update, /:AZSIM6-DROP-/);
      assert.match(update, /:AZSIM6-NA-vm1 - \[0:0\]/);
    });
  });

  describe("metadata documents", () => {
    it("lists the IPv6 ipconfigs in IMDS, primary first, with their public IPv6s and no IPv6 subnet", () => {
      const t = dualStack();
      assert.deepEqual(imdsNetworkDocument(t, "vm1").interface[0].ipv6, {
        ipAddress: [
          { privateIpAddress: "fd00:db8:deca:1::4", publicIpAddress: "2001:db8:200::4" },
          { privateIpAddress: "fd00:db8:deca:1::10", publicIpAddress: "" },
          { privateIpAddress: "fd00:db8:deca:1::11", publicIpAddress: "2001:db8:200::11" },
        ],
      });
      assert.deepEqual(imdsNetworkDocument(t, "vm2").interface[0].ipv4.subnet, [{ address: "10.0.0.0", prefix: "24" }]);
    });

    it("adds the /64 to the wireserver's interface as a second IPSubnet with the IPv6 addresses", () => {
      const subnets = parser.parse(wireserverXml(dualStack(), "vm1")).Interfaces.Interface[0].IPSubnet;
      assert.deepEqual(
        subnets.map((s: { Prefix: string }) => s.Prefix),
        ["10.0.0.0/24", "fd00:db8:deca:1::/64"],
      );
      assert.deepEqual(subnets[1].IPAddress, [
        { Address: "fd00:db8:deca:1::4", IsPrimary: "true" },
        { Address: "fd00:db8:deca:1::10", IsPrimary: "false" },
        { Address: "fd00:db8:deca:1::11", IsPrimary: "false" },
      ]);
      assert.equal(parser.parse(wireserverXml(defaultTopology(), "vm1")).Interfaces.Interface[0].IPSubnet.length, 1);
    });

    it("shows IPv6 ipconfigs in ARM's NIC, and a PUT carrying them back unchanged keeps them", () => {
      const t = dualStack();
      const vm = t.vms[0];
      const nic = armNicDocument(vm.name, nicsOf(vm, t)[0], "Succeeded") as {
        properties: { ipConfigurations: { name: string; properties: Record<string, unknown> }[] };
      };
      const v6 = nic.properties.ipConfigurations.filter((c) => c.properties.privateIPAddressVersion === "IPv6");
      assert.deepEqual(
        v6.map((c) => [c.name, c.properties.privateIPAddress, c.properties.primary]),
        [
          ["ipconfig-v6", "fd00:db8:deca:1::4", false],
          ["ipconfig-v6-fd00-db8-deca-1--10", "fd00:db8:deca:1::10", false],
          ["web6", "fd00:db8:deca:1::11", false],
        ],
      );
      assert.match(JSON.stringify(v6[2].properties.publicIPAddress), /publicIPAddresses\/pip-2001-db8-200--11"/);
      const put = (configs: unknown[]) => planNicPut(t, vm, { properties: { ipConfigurations: configs } }, new Map());
      const same = put(nic.properties.ipConfigurations);
      assert.ok(same.ok, JSON.stringify(same));
      assert.equal(same.ok && same.secondaries.length, 8);
      const changed = structuredClone(nic.properties.ipConfigurations);
      changed.find((c) => c.name === "web6")!.properties.privateIPAddress = "fd00:db8:deca:1::12";
      const refused = put(changed);
      assert.ok(!refused.ok && refused.error.code === "IPv6NotSupported");
      const dropped = put(nic.properties.ipConfigurations.filter((c) => c.name !== "web6"));
      assert.ok(!dropped.ok && dropped.error.code === "IPv6NotSupported" && /does not remove/.test(dropped.error.message));
    });
  });

  describe("with a second NIC", () => {
    /** twoNicTopology (each VM with eth1 in 10.0.1.0/24) with the dual-stack subnet and IPv6 on both VMs' eth0. */
    function dualStackTwoNics(mut: (t: Raw) => void = () => undefined): Topology {
      const v6 = dualStack();
      const t = structuredClone(twoNicTopology()) as Raw;
      t.vnet = { ...t.vnet, addressSpace6: v6.vnet.addressSpace6, subnet6: v6.vnet.subnet6 };
      t.vms.forEach((vm, i) => (vm.nic.ipv6 = v6.vms[i].nic.ipv6));
      mut(t);
      return parseTopology(t);
    }

    it("keeps IPv6 on the primary NIC and refuses it on another", () => {
      const t = dualStackTwoNics();
      assert.deepEqual(
        nicsOf(t.vms[0], t).map((n) => [n.link, n.ipv6?.primary.address]),
        [
          ["eth0", "fd00:db8:deca:1::4"],
          ["eth1", undefined],
        ],
      );
      assert.throws(
        () =>
          dualStackTwoNics((raw) => {
            (raw.vms[0].extraNics[0] as Record<string, unknown>).ipv6 = { primary: { address: "fd00:db8:deca:1::40" } };
          }),
        /vms\.0\.extraNics\.0\.ipv6: IPv6 ipconfigs are only on the primary NIC/,
      );
    });

    it("renders IPv6 rules for eth0's port only, and the IPv4 ones for both", () => {
      const t = dualStackTwoNics();
      const rules6 = fullRuleset6(t);
      assert.match(rules6, /-A PREROUTING -i f-vm1 -j AZSIM6-VM-vm1\n/);
      assert.doesNotMatch(rules6, /f-vm1-e1|vm1-e1/);
      assert.match(fullRuleset(t), /-A PREROUTING -i f-vm1-e1 -j AZSIM-VM-vm1-e1\n/);
    });

    it("lists IPv6 ipconfigs on the primary NIC's interface only in IMDS, the wireserver and ARM", () => {
      const t = dualStackTwoNics();
      assert.deepEqual(
        imdsNetworkDocument(t, "vm1").interface.map((i) => i.ipv6.ipAddress.length),
        [3, 0],
      );
      const interfaces = parser.parse(wireserverXml(t, "vm1")).Interfaces.Interface as { IPSubnet: { Prefix: string }[] }[];
      assert.deepEqual(
        interfaces.map((i) => i.IPSubnet.map((s) => s.Prefix)),
        [["10.0.0.0/24", "fd00:db8:deca:1::/64"], ["10.0.1.0/24"]],
      );
      const versions = nicsOf(t.vms[0], t).map((nic) => {
        const doc = armNicDocument("vm1", nic, "Succeeded") as {
          properties: { ipConfigurations: { properties: Record<string, unknown> }[] };
        };
        return doc.properties.ipConfigurations.filter((c) => c.properties.privateIPAddressVersion === "IPv6").length;
      });
      assert.deepEqual(versions, [3, 0]);
    });

    it("commits eth1's ipconfigs without touching eth0's IPv6 ones, and refuses IPv6 on eth1", async () => {
      const dir = makeStateDir(dualStackTwoNics());
      try {
        await commitIpConfigs(dir, "vm1", (s) => [...s, { address: "10.0.1.40" }], { fabric: false, nic: 1 });
        const after = readTopologyFile(dir);
        assert.deepEqual(
          after.vms[0].extraNics[0].secondaries.map((c) => c.address),
          ["10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13", "10.0.1.40"],
        );
        assert.equal(ipv6ConfigsOf(after.vms[0]).length, 3);
        await assert.rejects(
          commitIpConfigs(
            dir,
            "vm1",
            (s) => s,
            { fabric: false, nic: 1 },
            (s) => [...s, { address: "fd00:db8:deca:1::41" }],
          ),
          /vm1 eth1 has no IPv6 primary ipconfig/,
        );
        await commitIpConfigs(
          dir,
          "vm1",
          (s) => s,
          { fabric: false, nic: 0 },
          (s) => [...s, { address: "fd00:db8:deca:1::41" }],
        );
        assert.equal(ipv6ConfigsOf(readTopologyFile(dir).vms[0]).length, 4);
      } finally {
        removeStateDir(dir);
      }
    });
  });
});

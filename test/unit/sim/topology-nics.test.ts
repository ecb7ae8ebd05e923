/** VMs with more than one NIC: the topology's checks, the fabric's per-NIC rules, the metadata documents, a commit on the second NIC. */
import { strict as assert } from "node:assert";
import { XMLParser } from "fast-xml-parser";
import { defaultTopology, ipConfigsOf, lbBackends, nicsOf, parseTopology, type Topology } from "../../../sim/topology";
import { fullRuleset } from "../../../sim/fabric-rules";
import { fabricNicPort } from "../../../sim/names";
import { imdsNetworkDocument } from "../../../sim/platform/imds-documents";
import { wireserverXml } from "../../../sim/platform/wireserver-xml";
import { vmBySourceAddress } from "../../../sim/platform/identify";
import { commitIpConfigs, readTopologyFile } from "../../../sim/ipconfig-commit";
import { twoNicTopology } from "../../e2e/helpers/topologies";
import { makeStateDir, removeStateDir } from "./platform-helpers";

/** twoNicTopology changed by `mut`, parsed. */
function broken(mut: (t: Topology) => void): () => Topology {
  const t = structuredClone(twoNicTopology());
  mut(t);
  return () => parseTopology(t);
}

describe("simulator topology with more NICs", () => {
  it("keeps a topology without them as it was, with no extra subnets or NICs", () => {
    const t = parseTopology(JSON.parse(JSON.stringify(defaultTopology())));
    assert.deepEqual(t.vnet.extraSubnets, []);
    assert.deepEqual(
      t.vms.map((v) => v.extraNics),
      [[], []],
    );
    assert.deepEqual(
      nicsOf(t.vms[0], t).map((n) => [n.link, n.key, n.subnet, n.gateway, n.subnetName]),
      [["eth0", "vm1", "10.0.0.0/24", "10.0.0.1", "default"]],
    );
  });

  it("lists every NIC in order with its subnet and gateway", () => {
    const t = twoNicTopology();
    assert.deepEqual(
      nicsOf(t.vms[1], t).map((n) => [n.index, n.link, n.key, n.mac, n.subnet, n.gateway, n.subnetName, n.primary.address]),
      [
        [0, "eth0", "vm2", "00:0d:3a:00:00:02", "10.0.0.0/24", "10.0.0.1", "default", "10.0.0.5"],
        [1, "eth1", "vm2/eth1", "00:0d:3a:00:01:02", "10.0.1.0/24", "10.0.1.1", "subnet1", "10.0.1.5"],
      ],
    );
    assert.equal(ipConfigsOf(t.vms[0]).length, 9 + 5);
    assert.equal(vmBySourceAddress(t, "10.0.1.12")?.name, "vm1");
  });

  it("refuses extra subnets outside the VNet, overlapping, with a foreign gateway or host bits", () => {
    assert.throws(
      broken((t) => (t.vnet.extraSubnets[0].subnet = "10.1.1.0/24")),
      /vnet\.extraSubnets\.0\.subnet 10\.1\.1\.0\/24 is not inside vnet\.addressSpace/,
    );
    assert.throws(
      broken((t) => (t.vnet.extraSubnets[0] = { subnet: "10.0.0.128/25", gateway: "10.0.0.129" })),
      /vnet\.extraSubnets\.0\.subnet 10\.0\.0\.128\/25 overlaps vnet\.subnet 10\.0\.0\.0\/24/,
    );
    assert.throws(
      broken((t) => t.vnet.extraSubnets.push({ subnet: "10.0.0.0/16", gateway: "10.0.2.1" })),
      /vnet\.extraSubnets\.1\.subnet 10\.0\.0\.0\/16 overlaps vnet\.subnet/,
    );
    assert.throws(
      broken((t) => t.vnet.extraSubnets.push({ subnet: "10.0.1.0/25", gateway: "10.0.1.1" })),
      /vnet\.extraSubnets\.1\.subnet 10\.0\.1\.0\/25 overlaps vnet\.extraSubnets\.0\.subnet 10\.0\.1\.0\/24/,
    );
    assert.throws(
      broken((t) => (t.vnet.extraSubnets[0].gateway = "10.0.2.1")),
      /vnet\.extraSubnets\.0\.gateway 10\.0\.2\.1 is not inside 10\.0\.1\.0\/24/,
    );
    assert.throws(
      broken((t) => (t.vnet.extraSubnets[0].subnet = "10.0.1.7/24")),
      /vnet\.extraSubnets\.0\.subnet 10\.0\.1\.7\/24 is not a network address/,
    );
    assert.throws(
      broken((t) => (t.vnet.extraSubnets[0].subnet = "10.0.1.0")),
      /vnet\.extraSubnets\.0\.subnet: must be an IPv4 CIDR/,
    );
  });

  it("refuses a NIC in no subnet of the VNet, an address outside its NIC's subnet or on the gateway, and three extra NICs", () => {
    assert.throws(
      broken((t) => (t.vms[0].extraNics[0].subnet = "10.0.2.0/24")),
      /vm1 extraNics\.0\.subnet 10\.0\.2\.0\/24 is neither vnet\.subnet nor one of vnet\.extraSubnets/,
    );
    assert.throws(
      broken((t) => (t.vms[0].extraNics[0].secondaries[0].address = "10.0.0.30")),
      /vm1 eth1 ipconfig 10\.0\.0\.30 is not inside 10\.0\.1\.0\/24/,
    );
    assert.throws(
      broken((t) => (t.vms[1].extraNics[0].primary.address = "10.0.1.1")),
      /vm2 eth1 ipconfig 10\.0\.1\.1 is the subnet gateway/,
    );
    assert.throws(
      broken((t) => {
        const more = structuredClone(t.vms[0].extraNics[0]);
        t.vms[0].extraNics = [0, 1, 2].map((i) => ({
          ...more,
          mac: `00:0d:3a:00:02:0${i}`,
          primary: { address: `10.0.1.${50 + i}` },
          secondaries: [],
        }));
      }),
      /vms\.0\.extraNics: Invalid length: Expected <=2 but received 3/,
    );
    // A second NIC in the primary NIC's subnet is fine.
    const same = broken((t) => {
      t.vms[0].extraNics[0] = { mac: "00:0d:3a:00:01:01", subnet: "10.0.0.0/24", primary: { address: "10.0.0.40" }, secondaries: [] };
    })();
    assert.deepEqual(
      nicsOf(same.vms[0], same).map((n) => [n.subnet, n.gateway]),
      [
        ["10.0.0.0/24", "10.0.0.1"],
        ["10.0.0.0/24", "10.0.0.1"],
      ],
    );
  });

  it("refuses an address on two NICs (of one VM or two), a MAC used twice, two ipconfigs of one name on a NIC", () => {
    assert.throws(
      broken((t) => (t.vms[1].extraNics[0].secondaries[0].address = "10.0.1.10")),
      /ipconfig 10\.0\.1\.10 is on both vm1 eth1 and vm2 eth1/,
    );
    assert.throws(
      broken((t) => {
        t.vms[0].extraNics[0] = { ...t.vms[0].extraNics[0], subnet: "10.0.0.0/24", primary: { address: "10.0.0.40" }, secondaries: [] };
        t.vms[0].extraNics[0].secondaries = [{ address: "10.0.0.10" }];
      }),
      /ipconfig 10\.0\.0\.10 is on both vm1 and vm1 eth1/,
    );
    assert.throws(
      broken((t) => (t.vms[1].extraNics[0].mac = "00:0d:3a:00:00:01")),
      /MAC 00:0d:3a:00:00:01 is used twice/,
    );
    assert.throws(
      broken((t) => (t.vms[0].extraNics[0].mac = t.vms[0].nic.mac)),
      /MAC 00:0d:3a:00:00:01 is used twice/,
    );
    assert.throws(
      broken((t) => {
        t.vms[0].extraNics[0].secondaries[0].name = "web";
        t.vms[0].extraNics[0].secondaries[1].name = "WEB";
      }),
      /vm1 eth1 has two ipconfigs named WEB/,
    );
    // Names are per NIC: each NIC's primary is ipconfig1, and one name may be on two NICs.
    const ok = broken((t) => {
      t.vms[0].nic.secondaries[0].name = "web";
      t.vms[0].extraNics[0].secondaries[0].name = "web";
    })();
    assert.equal(ok.vms[0].extraNics[0].secondaries[0].name, "web");
  });

  it("renders the fabric's rules per NIC: its own MAC and ipconfigs on its own port, egress for the primary NIC's primary only", () => {
    const t = twoNicTopology();
    t.vms[1].extraNics[0].primary.publicIp = "203.0.113.50";
    const rules = fullRuleset(parseTopology(t));
    assert.equal(fabricNicPort("vm1", 1), "f-vm1-e1");
    assert.match(rules, /-A PREROUTING -i f-vm1 -j AZSIM-VM-vm1\n/);
    assert.match(rules, /-A PREROUTING -i f-vm1-e1 -j AZSIM-VM-vm1-e1\n/);
    assert.match(rules, /-A AZSIM-VM-vm1-e1 -m mac ! --mac-source 00:0d:3a:00:01:01 -j AZSIM-DROP-MAC-vm1-e1/);
    const sources = (chain: string) => [...rules.matchAll(new RegExp(`-A ${chain} -s ([\\d.]+)/32 -j RETURN`, "g"))].map((m) => m[1]);
    assert.deepEqual(sources("AZSIM-VM-vm1-e1"), ["10.0.1.4", "10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13"]);
    assert.ok(!sources("AZSIM-VM-vm1").some((a) => a.startsWith("10.0.1.")), "eth0's chain lets eth1's addresses through");
    assert.match(rules, /:AZSIM-DROP-IP-vm2-e1 - \[0:0\]\n/);
    assert.match(rules, /-A INPUT -i f-vm2-e1 -d 198\.18\.0\.10\/32 -j AZSIM-EGRESS/);
    const egress = [...rules.matchAll(/-A AZSIM-EGRESS -s ([\d.]+)\/32 -j ACCEPT/g)].map((m) => m[1]);
    assert.deepEqual(egress, ["10.0.0.4", "10.0.0.17", "10.0.0.5", "10.0.1.5"]);
    assert.match(rules, /-A AZSIM-DNAT -d 203\.0\.113\.50\/32 -j DNAT --to-destination 10\.0\.1\.5/);
    assert.doesNotMatch(rules, /-s 10\.0\.1\.4\/32 -j SNAT/);
  });

  it("counts a second NIC's ipconfigs in load balancer pools", () => {
    const t = twoNicTopology();
    const pool =
      "/subscriptions/5e1a2b3c-0000-4000-8000-00000000a2e0/resourceGroups/sim-rg/providers/Microsoft.Network/loadBalancers/lb1/backendAddressPools/backend";
    t.vms[1].extraNics[0].secondaries[1].loadBalancerBackendAddressPools = [pool];
    assert.deepEqual(lbBackends(t, t.loadBalancers[0]), ["10.0.0.12", "10.0.0.22", "10.0.1.21"]);
  });

  it("lists every NIC in IMDS and the wireserver, the primary NIC first", () => {
    const t = twoNicTopology();
    const doc = imdsNetworkDocument(t, "vm2");
    assert.deepEqual(
      doc.interface.map((i) => [i.macAddress, i.ipv4.subnet, i.ipv4.ipAddress[0].privateIpAddress, i.ipv4.ipAddress.length]),
      [
        ["000D3A000002", [{ address: "10.0.0.0", prefix: "24" }], "10.0.0.5", 9],
        ["000D3A000102", [{ address: "10.0.1.0", prefix: "24" }], "10.0.1.5", 5],
      ],
    );
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(wireserverXml(t, "vm1")) as {
      Interfaces: {
        Interface: {
          MacAddress: string;
          IsPrimary: string;
          IPSubnet: { Prefix: string; IPAddress: { Address: string; IsPrimary: string }[] };
        }[];
      };
    };
    assert.deepEqual(
      xml.Interfaces.Interface.map((i) => [
        i.MacAddress,
        i.IsPrimary,
        i.IPSubnet.Prefix,
        i.IPSubnet.IPAddress.filter((a) => a.IsPrimary === "true").map((a) => a.Address),
      ]),
      [
        ["000D3A000001", "true", "10.0.0.0/24", ["10.0.0.4"]],
        ["000D3A000101", "false", "10.0.1.0/24", ["10.0.1.4"]],
      ],
    );
  });

  it("commits a change to the second NIC's ipconfigs and leaves the first NIC's alone", async () => {
    const dir = makeStateDir(twoNicTopology());
    try {
      await commitIpConfigs(dir, "vm1", (s) => [...s, { address: "10.0.1.40" }], { fabric: false, nic: 1 });
      const t = readTopologyFile(dir);
      assert.deepEqual(
        nicsOf(t.vms[0], t).map((n) => n.secondaries.length),
        [8, 5],
      );
      await assert.rejects(
        commitIpConfigs(dir, "vm1", (s) => [...s, { address: "10.0.0.40" }], { fabric: false, nic: 1 }),
        /vm1 eth1 ipconfig 10\.0\.0\.40 is not inside 10\.0\.1\.0\/24/,
      );
      await assert.rejects(
        commitIpConfigs(dir, "vm1", (s) => s, { fabric: false, nic: 2 }),
        /vm1 has no NIC eth2/,
      );
    } finally {
      removeStateDir(dir);
    }
  });
});
